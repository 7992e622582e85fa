"""The per-invocation context every command receives: the config repo, loaded on demand."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tenantops.config import Project
    from tenantops.fleet import Fleet

__all__ = ["App"]


@dataclass(slots=True)
class App:
    """Built by the group callback and stored in ``ctx.obj``; loads config lazily."""

    root: Path
    debug: bool = False
    _project: Project | None = field(default=None, repr=False)
    _fleet: Fleet | None = field(default=None, repr=False)

    def project(self) -> Project:
        """The config repo at ``root`` (``tenantops.yaml`` read once)."""
        if self._project is None:
            from tenantops.config import load_project

            self._project = load_project(self.root)
        return self._project

    def fleet(self) -> Fleet:
        """The tenant/template loader for this config repo."""
        if self._fleet is None:
            from tenantops.fleet import Fleet

            self._fleet = Fleet(self.project())
        return self._fleet

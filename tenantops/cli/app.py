"""The per-invocation context every command receives: where the config repo is, and flags."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["App"]


@dataclass(slots=True)
class App:
    """Built by the group callback and stored in ``ctx.obj``."""

    root: Path
    debug: bool = False

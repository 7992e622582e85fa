"""The per-invocation context every command receives (``ctx.obj``): what commands share.

The group callback builds one :class:`App`; commands ask it for the config repo, the
fleet, the selected tenants, an API client, the audit journal, the lock store and the
reporter, each built on first use so that ``--help`` and offline commands stay light.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from tenantops.report.reporter import Reporter, RichReporter

if TYPE_CHECKING:
    from tenantops.apply.audit import AuditLog
    from tenantops.apply.locks import LockStore
    from tenantops.backends.base import Backend
    from tenantops.backends.pacing import Pacer
    from tenantops.config import Project
    from tenantops.config.fleet import Fleet
    from tenantops.core.quota import QuotaUse
    from tenantops.core.redact import Redactor

__all__ = ["App", "print_lines"]

T = TypeVar("T")


@dataclass(slots=True)
class App:
    """Built by the group callback and stored in ``ctx.obj``; loads everything lazily."""

    root: Path
    debug: bool = False
    #: ``-v``: each retried API call is shown as a note (see :meth:`backend`).
    verbose: bool = False
    reporter: Reporter = field(default_factory=RichReporter)
    _project: Project | None = field(default=None, repr=False)
    _fleet: Fleet | None = field(default=None, repr=False)
    #: The pacer of the last backend made, when ``api.rateLimit`` paces it.
    _pacer: Pacer | None = field(default=None, repr=False)

    def project(self) -> Project:
        """The config repo at ``root`` (``tenantops.yaml`` read once)."""
        if self._project is None:
            from tenantops.config import load_project

            self._project = load_project(self.root)
        return self._project

    def fleet(self) -> Fleet:
        """The tenant/template loader for this config repo."""
        if self._fleet is None:
            from tenantops.config.fleet import Fleet

            self._fleet = Fleet(self.project())
        return self._fleet

    @property
    def lockfile(self) -> Path:
        """The lockfile ``tenantops.yaml`` names."""
        project = self.project()
        return project.root / project.config.lockfile

    def select(
        self,
        tenants: Sequence[str],
        *,
        changed_since: str | None = None,
        shard: tuple[int, int] | None = None,
    ) -> list[Path]:
        """Tenant files for TENANT arguments (all when none), then ``--changed-since``, ``--shard``."""
        from tenantops.config.selection import changed_since as changed
        from tenantops.config.selection import select

        paths = self.fleet().tenant_paths(tenants)
        if changed_since:
            paths = changed(self.project(), changed_since, paths)
        return select(paths, shard)

    def journal(self, redactor: Redactor | None = None) -> AuditLog:
        """The audit trail ``tenantops.yaml`` names, acting as whoever runs tenantops."""
        from tenantops.apply.audit import AuditLog, detect_actor

        project = self.project()
        return AuditLog(
            project.root / project.config.audit, actor=detect_actor(), redactor=redactor
        )

    def locks(self, lock_url: str | None) -> LockStore:
        """The tenant lock store ``--lock-url`` names (lease files in the repo by default)."""
        from tenantops.apply.locks import LOCKS_DIR, open_locks

        return open_locks(lock_url, self.project().root / LOCKS_DIR)

    def backend(self, *, parallelism: int = 8) -> Backend:
        """The platform ``api.flavor`` names, from ``api:`` and the environment.

        Retries show as the reporter's notes with ``-v``, and not at all without it. When
        ``api.rateLimit`` paces the calls, the reporter reads the quota's use as it goes,
        and so does :meth:`quota`.
        """
        from tenantops.backends.factory import open_backend
        from tenantops.backends.pacing import Pacer
        from tenantops.backends.retry import report_retries
        from tenantops.config import resolve_api

        report_retries(self.reporter.note if self.verbose else None)
        api = resolve_api(self.project())
        self._pacer = Pacer(api.rate_limit) if api.rate_limit is not None else None
        if self._pacer is not None:
            self.reporter.meter(self._pacer.usage)
        return open_backend(api, max_connections=max(parallelism, 8), pacer=self._pacer)

    def quota(self, tenants: int) -> QuotaUse | None:
        """The last backend's use of the quota, for a run over ``tenants`` now finished.

        ``None`` when the calls were not paced (no ``api.rateLimit``) or no backend was made.
        """
        return self._pacer.usage(tenants, tenants) if self._pacer is not None else None

    def run(self, work: Callable[[Backend], Awaitable[T]], *, parallelism: int = 8) -> T:
        """Run ``work`` with a backend that is closed afterwards."""
        import asyncio

        async def main() -> T:
            backend = self.backend(parallelism=parallelism)
            try:
                return await work(backend)
            finally:
                await backend.aclose()

        return asyncio.run(main())


def print_lines(lines: Iterable[object], *, width: int | None = None, stderr: bool = False) -> None:
    """Print rich lines to stdout: coloured on a terminal, plain when piped or with NO_COLOR.

    Args:
        lines: rich renderables or strings.
        width: columns to lay tables out in (default: the terminal's, 80 when piped).
        stderr: print to stderr instead (stdout is kept for a JSON document).
    """
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True, width=width, stderr=stderr)
    for line in lines:
        console.print(line)

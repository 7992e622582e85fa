"""The per-invocation context every command receives: the config repo, loaded on demand."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from tenantops.backends.contract.client import PlatformClient
    from tenantops.config import Project
    from tenantops.config.fleet import Fleet

__all__ = ["App", "print_lines", "progress"]

T = TypeVar("T")


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
            from tenantops.config.fleet import Fleet

            self._fleet = Fleet(self.project())
        return self._fleet

    def client(self, *, parallelism: int = 8) -> PlatformClient:
        """An API client from ``api:`` and the environment (errors name what to set)."""
        from tenantops.backends.contract.client import PlatformClient
        from tenantops.config import resolve_api

        return PlatformClient.from_settings(
            resolve_api(self.project()), max_connections=max(parallelism, 8)
        )

    def run(self, work: Callable[[PlatformClient], Awaitable[T]], *, parallelism: int = 8) -> T:
        """Run ``work`` with a client that is closed afterwards."""
        import asyncio

        async def main() -> T:
            async with self.client(parallelism=parallelism) as client:
                return await work(client)

        return asyncio.run(main())


@contextmanager
def progress(total: int, label: str) -> Iterator[Callable[[object], None]]:
    """A progress bar on stderr when it is a terminal and there is more than one item."""
    if total <= 1 or not sys.stderr.isatty():
        yield lambda _: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(label, total=total)
    with bar:
        yield lambda _: bar.advance(task)


def print_lines(lines: Iterable[object]) -> None:
    """Print rich lines to stdout: coloured on a terminal, plain when piped or with NO_COLOR."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    for line in lines:
        console.print(line)

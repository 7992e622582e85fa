"""Reporters: where plan, drift and apply send progress, so that the core never prints.

The engines call a :class:`Reporter` as they go (a phase starts, one item is done, a
note worth showing). :class:`RichReporter` draws a progress bar on a terminal,
:class:`NullReporter` drops everything (``serve``, library use) and
:class:`CapturingReporter` keeps every event for tests.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["CapturingReporter", "NullReporter", "Reporter", "RichReporter"]


class Reporter(Protocol):
    """Receives progress events; must never raise into the engine that calls it."""

    def begin(self, label: str, total: int) -> None:
        """A phase (``planning``, ``applying``) over ``total`` items starts."""
        ...

    def advance(self, item: object) -> None:
        """One item of the current phase is done; ``item`` is its result."""
        ...

    def note(self, message: str) -> None:
        """Something the user should see while the phase runs (never a secret)."""
        ...

    def end(self) -> None:
        """The current phase is over."""
        ...


class NullReporter:
    """Reports nothing."""

    def begin(self, label: str, total: int) -> None:
        """Ignore the phase."""

    def advance(self, item: object) -> None:
        """Ignore the item."""

    def note(self, message: str) -> None:
        """Ignore the note."""

    def end(self) -> None:
        """Ignore the end."""


@dataclass(slots=True)
class CapturingReporter:
    """Keeps every event as a tuple, in order, for tests to assert on."""

    events: list[tuple[str, object]] = field(default_factory=list)

    def begin(self, label: str, total: int) -> None:
        """Record ``("begin", (label, total))``."""
        self.events.append(("begin", (label, total)))

    def advance(self, item: object) -> None:
        """Record ``("advance", item)``."""
        self.events.append(("advance", item))

    def note(self, message: str) -> None:
        """Record ``("note", message)``."""
        self.events.append(("note", message))

    def end(self) -> None:
        """Record ``("end", None)``."""
        self.events.append(("end", None))

    @property
    def items(self) -> list[object]:
        """The items advanced, in order."""
        return [item for kind, item in self.events if kind == "advance"]


class RichReporter:
    """A transient progress bar on stderr when it is a terminal and a phase has 2+ items."""

    def __init__(self, *, force_terminal: bool | None = None) -> None:
        self._terminal = sys.stderr.isatty() if force_terminal is None else force_terminal
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def begin(self, label: str, total: int) -> None:
        """Start a bar for the phase (nothing when piped or for a single item)."""
        self.end()
        if total <= 1 or not self._terminal:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._bar.add_task(label, total=total)
        self._bar.start()

    def advance(self, item: object) -> None:
        """Move the bar on by one."""
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task)

    def note(self, message: str) -> None:
        """Print the note on stderr, above the bar."""
        from rich.console import Console

        console = self._bar.console if self._bar is not None else Console(stderr=True)
        # One line each, however long: a note is a log line, not a paragraph.
        console.print(message, highlight=False, markup=False, soft_wrap=True)

    def end(self) -> None:
        """Remove the bar."""
        if self._bar is not None:
            self._bar.stop()
        self._bar = None
        self._task = None

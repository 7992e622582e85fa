"""Reporters: where plan, drift and apply send progress, so that the core never prints.

The engines call a :class:`Reporter` as they go (a phase starts, one item is done, a
note worth showing); the CLI hands it a quota meter when the API is paced, so that the
bar shows the time left under the quota. :class:`RichReporter` draws a progress bar on a terminal,
:class:`NullReporter` drops everything (``serve``, library use) and
:class:`CapturingReporter` keeps every event for tests.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID
    from rich.text import Text

    from tenantops.core.quota import QuotaMeter, QuotaUse

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

    def meter(self, quota: QuotaMeter) -> None:
        """Read the API quota's use from ``quota`` while phases run (the run is paced)."""
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

    def meter(self, quota: QuotaMeter) -> None:
        """Ignore the quota."""


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

    def meter(self, quota: QuotaMeter) -> None:
        """Record ``("meter", quota)``."""
        self.events.append(("meter", quota))

    @property
    def items(self) -> list[object]:
        """The items advanced, in order."""
        return [item for kind, item in self.events if kind == "advance"]


class RichReporter:
    """A transient progress bar on stderr when it is a terminal and a phase has 2+ items.

    With a quota meter (:meth:`meter`), the bar ends with the time the phase has left
    under the API quota, e.g. ``≈ 4m12s left at 1000 calls/5m``
    (:class:`tenantops.core.quota.QuotaUse` says how it is estimated).
    """

    def __init__(self, *, force_terminal: bool | None = None) -> None:
        self._terminal = sys.stderr.isatty() if force_terminal is None else force_terminal
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._meter: QuotaMeter | None = None
        #: The quota's use when the phase began, so that the estimate is the phase's own.
        self._start: QuotaUse | None = None
        self._done = 0
        self._total = 0

    @property
    def quota_status(self) -> str:
        """What the bar shows about the quota now (empty without a meter or a phase)."""
        if self._meter is None or self._start is None:
            return ""
        return self._meter(self._done, self._total).since(self._start).label()

    def meter(self, quota: QuotaMeter) -> None:
        """Show the time left under the quota from the next phase on."""
        self._meter = quota

    def begin(self, label: str, total: int) -> None:
        """Start a bar for the phase (nothing when piped or for a single item)."""
        self.end()
        self._done, self._total = 0, total
        self._start = self._meter(0, total) if self._meter is not None else None
        if total <= 1 or not self._terminal:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            RenderableColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            # Read at every refresh, so the time left counts down while calls wait for quota.
            RenderableColumn(_Status(self)),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._bar.add_task(label, total=total)
        self._bar.start()

    def advance(self, item: object) -> None:
        """Move the bar on by one."""
        self._done += 1
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


class _Status:
    """A rich renderable: the reporter's quota status as it is at each refresh."""

    def __init__(self, reporter: RichReporter) -> None:
        self._reporter = reporter

    def __rich__(self) -> Text:
        from rich.text import Text

        return Text(self._reporter.quota_status)

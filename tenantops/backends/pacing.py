"""Client-side pacing to a platform quota such as 1,000 requests per 5 minutes (both flavours).

A request holds one of ``requests`` slots from the moment it is let through until one
``period`` after its answer (or failure) arrived. Requests that reach the server
within any window of ``period`` were then all holding a slot at the window's end, so
there are never more than ``requests`` of them, whatever the network delay: this holds
for servers that count a fixed or a sliding window. (A leaky bucket such as aiolimiter
can let up to twice the quota into one window, and a log of send times is fooled when
a request sent earlier arrives later.) Waiters are served in order.

The pacer also counts the calls it let through, so that a fleet run can show the time
it has left under the quota (:meth:`Pacer.usage`, estimated by
:class:`tenantops.core.quota.QuotaUse`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from tenantops.core.model import RateLimit
from tenantops.core.quota import QuotaUse

__all__ = ["Pacer"]


class Pacer:
    """At most ``limit.requests`` requests in any ``limit.period`` seconds, as the server sees it."""

    def __init__(self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic) -> None:
        """Pace to ``limit``; ``clock`` (seconds) times :meth:`usage`."""
        self.limit = limit
        #: Calls let through so far.
        self.calls = 0
        self._slots = asyncio.Semaphore(limit.requests)
        self._clock = clock
        self._first: float | None = None

    def __repr__(self) -> str:
        return f"Pacer({self.limit})"

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a slot for one request; it frees one period after the block ends."""
        await self._slots.acquire()
        self.calls += 1
        if self._first is None:
            self._first = self._clock()
        try:
            yield
        finally:
            asyncio.get_running_loop().call_later(self.limit.period, self._slots.release)

    def usage(self, done: int, total: int) -> QuotaUse:
        """The quota's use now, for a phase with ``done`` of ``total`` tenants finished."""
        elapsed = self._clock() - self._first if self._first is not None else 0.0
        return QuotaUse(self.limit, self.calls, elapsed, done, total)

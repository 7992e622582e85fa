"""Client-side pacing to a platform quota such as 1,000 requests per 5 minutes.

A sliding-window log: at most ``requests`` sends in any ``period`` seconds. A leaky
bucket (aiolimiter) lets up to twice the quota into one window when a burst follows a
quiet spell, and so collects 429s from a server that counts a sliding or fixed window;
this never does. Waiters are served first come, first served.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from tenantops.model import RateLimit

__all__ = ["Pacer"]


class Pacer:
    """Waits as long as needed so that no ``period`` holds more than ``requests`` sends."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        self.limit = limit
        # The server stamps a request a little after the client sent it; a margin keeps
        # two sends a full period apart on the server's clock as well.
        self._period = limit.period + min(0.05 * limit.period, 0.25)
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()
        self._clock = clock
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"Pacer({self.limit})"

    async def wait(self) -> None:
        """Return when one more request may be sent, and count it as sent."""
        async with self._lock:
            while True:
                now = self._clock()
                # A microsecond of slack: a wait that float rounding leaves a hair short
                # must not spin on sleeps too small to move the clock.
                while self._sent and self._sent[0] + self._period <= now + 1e-6:
                    self._sent.popleft()
                if len(self._sent) < self.limit.requests:
                    self._sent.append(now)
                    return
                await self._sleep(max(self._sent[0] + self._period - now, 1e-3))  # type: ignore[misc]

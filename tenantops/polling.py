"""Polling with a growing interval: deploy status, Cognigy.AI tasks and lease waits.

Every poll loop waits 1.5x longer each round, up to a ceiling, and never past its
deadline: a fast answer is seen quickly, a slow one costs few requests (and polls
count against the platform's quota).

A status read that fails for a passing reason (its own retries ran out on 503s or 429s)
is no news, not the end: the deploy or task it watches goes on regardless, and giving up
the watch would leave it in flight with nobody to finish or roll it back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["poll"]

T = TypeVar("T")

#: How much longer each wait is than the one before.
GROWTH = 1.5


async def poll(
    attempt: Callable[[], Awaitable[T]],
    is_done: Callable[[T], bool],
    *,
    first: float,
    longest: float,
    timeout: float,
    transient: Callable[[Exception], bool] | None = None,
) -> tuple[T, bool]:
    """Call ``attempt`` until ``is_done`` accepts its value or ``timeout`` seconds pass.

    Args:
        attempt: one try (a status request, a lease attempt).
        is_done: whether a value ends the polling.
        first: the first wait, in seconds.
        longest: the longest wait between attempts.
        timeout: seconds until the last attempt; at least one attempt is always made.
        transient: which exceptions of ``attempt`` only skip a round (none by default).

    Returns:
        The last value, and whether it was accepted (``False``: the deadline passed).

    Raises:
        Exception: what ``attempt`` raised, when it is not transient, or when no
            attempt at all answered before the deadline.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = first
    answered: list[T] = []  # the last value, once there is one (T may itself be None)
    while True:
        failed: Exception | None = None
        try:
            value = await attempt()
        except Exception as exc:
            if transient is None or not transient(exc):
                raise
            failed = exc
        else:
            if is_done(value):
                return value, True
            answered[:] = [value]
        remaining = deadline - loop.time()
        if remaining <= 0:
            if failed is not None and not answered:
                raise failed
            return answered[0], False
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * GROWTH, longest)

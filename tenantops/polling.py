"""Polling with a growing interval: deploy status, Cognigy.AI tasks and lease waits.

Every poll loop waits 1.5x longer each round, up to a ceiling, and never past its
deadline: a fast answer is seen quickly, a slow one costs few requests (and polls
count against the platform's quota).
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
) -> tuple[T, bool]:
    """Call ``attempt`` until ``is_done`` accepts its value or ``timeout`` seconds pass.

    Args:
        attempt: one try (a status request, a lease attempt).
        is_done: whether a value ends the polling.
        first: the first wait, in seconds.
        longest: the longest wait between attempts.
        timeout: seconds until the last attempt; at least one attempt is always made.

    Returns:
        The last value, and whether it was accepted (``False``: the deadline passed).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = first
    while True:
        value = await attempt()
        if is_done(value):
            return value, True
        remaining = deadline - loop.time()
        if remaining <= 0:
            return value, False
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * GROWTH, longest)

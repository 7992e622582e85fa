"""Pacing: never more than N requests in any window of the period, as the server sees them."""

from __future__ import annotations

import asyncio
import time

from tenantops.backends.pacing import Pacer
from tenantops.core.model import RateLimit

PERIOD = 0.2


async def test_no_window_holds_more_than_the_quota() -> None:
    """15 requests at 5 per 0.2 s: no 0.2 s window holds more than 5 of them."""
    pacer = Pacer(RateLimit(requests=5, period=PERIOD))
    sent: list[float] = []

    async def request() -> None:
        async with pacer.slot():
            sent.append(time.monotonic())
            await asyncio.sleep(0.01)  # the request's own latency

    await asyncio.gather(*(request() for _ in range(15)))
    sent.sort()
    for i, start in enumerate(sent):
        assert sum(start <= t < start + PERIOD for t in sent[i:]) <= 5
    assert sent[-1] - sent[0] >= 2 * PERIOD


async def test_a_slow_request_keeps_its_slot_until_a_period_after_its_answer() -> None:
    """A request that takes long to answer counts until one period after it ends."""
    pacer = Pacer(RateLimit(requests=1, period=PERIOD))
    async with pacer.slot():
        await asyncio.sleep(0.1)
    finished = time.monotonic()
    async with pacer.slot():
        started = time.monotonic()
    assert started - finished >= PERIOD * 0.95


async def test_slots_are_freed_after_failures() -> None:
    """A failed request frees its slot like a successful one."""
    pacer = Pacer(RateLimit(requests=1, period=0.05))
    for _ in range(3):
        try:
            async with pacer.slot():
                raise ConnectionError
        except ConnectionError:
            pass
    async with asyncio.timeout(1):
        async with pacer.slot():
            pass

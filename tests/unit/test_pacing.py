"""Pacing: never more than N sends in any window of the period."""

from __future__ import annotations

import asyncio

from tenantops.model import RateLimit
from tenantops.pacing import Pacer


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def test_no_window_holds_more_than_the_quota() -> None:
    """25 sends at 5 per second: any one-second window holds at most 5 of them."""
    fake = FakeTime()
    pacer = Pacer(RateLimit(requests=5, period=1.0), clock=fake.clock, sleep=fake.sleep)
    sent: list[float] = []
    for _ in range(25):
        await pacer.wait()
        sent.append(fake.now)
    for i, start in enumerate(sent):
        assert sum(start <= t < start + 1.0 for t in sent[i:]) <= 5
    assert sent[:5] == [0.0] * 5
    assert 4.0 <= sent[-1] <= 4.3


async def test_quiet_spells_do_not_allow_double_bursts() -> None:
    """After a pause the burst is the quota, not twice the quota."""
    fake = FakeTime()
    pacer = Pacer(RateLimit(requests=3, period=1.0), clock=fake.clock, sleep=fake.sleep)
    for _ in range(3):
        await pacer.wait()
    fake.now = 0.9
    await pacer.wait()
    assert fake.now >= 1.0

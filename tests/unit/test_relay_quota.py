"""The relay's shared schedule never lets more than the quota into any of its windows."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tenantops.core.model import RateLimit
from tenantops.relay.quota import schedule_for


@given(
    requests=st.integers(min_value=2, max_value=100_000),
    period=st.floats(min_value=0.5, max_value=86_400),
    burst=st.one_of(st.none(), st.integers(min_value=0, max_value=200_000)),
)
def test_schedule_fits_the_quota(requests: int, period: float, burst: int | None) -> None:
    schedule = schedule_for(RateLimit(requests=requests, period=period), burst=burst)
    assert schedule.most_in(period) <= requests
    assert schedule.interval > 0


def test_cognigy_quota_is_spread_over_its_window() -> None:
    """1000/5m: 50 at once, then one every ~0.32 s: 3.2 calls a second, never 1000 in a burst."""
    schedule = schedule_for(RateLimit.parse("1000/5m"))
    assert schedule.burst == 50
    assert round(schedule.interval, 3) == round(300 / 949, 3)
    assert 990 <= schedule.most_in(300) <= 1000  # nearly all of it, never more

"""The time a fleet run has left under the API quota: the estimate and how it is shown."""

from __future__ import annotations

import pytest

from tenantops.backends.pacing import Pacer
from tenantops.core.model import RateLimit
from tenantops.core.quota import QuotaUse, format_duration, format_rate
from tenantops.report.reporter import CapturingReporter, NullReporter, RichReporter

SAAS = RateLimit.parse("1000/5m")


def use(calls: int, elapsed: float, done: int, total: int) -> QuotaUse:
    return QuotaUse(SAAS, calls, elapsed, done, total)


def test_a_quota_bound_fleet_waits_for_its_windows() -> None:
    """100 tenants at 41 calls: 4,100 calls need 4 more windows after the first one's burst."""
    got = use(calls=410, elapsed=20.0, done=10, total=100)
    assert got.calls_per_tenant == 41.0
    # The 4,100th call may start 4 windows (1,200 s) after the first; 20 s are spent.
    assert got.eta == 1180.0
    assert got.label() == "≈ 19m40s left at 1000 calls/5m"


def test_a_fleet_under_the_quota_goes_at_its_own_pace() -> None:
    """Fewer calls than the quota: the time left is the tenants left at the pace so far."""
    got = use(calls=40, elapsed=8.0, done=4, total=10)
    assert got.eta == 12.0
    assert got.label() == "≈ 12s left at 1000 calls/5m"


@pytest.mark.parametrize(
    ("done", "total", "eta", "label"),
    [
        (0, 10, None, "7 calls at 1000 calls/5m"),
        (10, 10, 0.0, "≈ 0s left at 1000 calls/5m"),
    ],
)
def test_no_estimate_before_a_tenant_and_none_left_at_the_end(
    done: int, total: int, eta: float | None, label: str
) -> None:
    """Before the first tenant there is nothing to go by; when all are done, nothing is left."""
    got = use(calls=7, elapsed=3.0, done=done, total=total)
    assert (got.eta, got.label()) == (eta, label)


def test_json_carries_the_facts() -> None:
    """The ``quota`` JSON field: limit, window, calls, per tenant, tenants, elapsed, eta."""
    assert use(calls=410, elapsed=20.0, done=10, total=100).to_json() == {
        "limit": 1000,
        "window": 300.0,
        "calls": 410,
        "callsPerTenant": 41.0,
        "tenants": 100,
        "elapsedSeconds": 20.0,
        "etaSeconds": 1180.0,
    }


def test_since_counts_a_phase_on_its_own() -> None:
    """A phase's use leaves out the calls and time spent before it began."""
    later = use(calls=50, elapsed=30.0, done=2, total=4).since(use(10, 10.0, 0, 4))
    assert (later.calls, later.elapsed, later.eta) == (40, 20.0, 20.0)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (9.2, "10s"), (252, "4m12s"), (3900, "1h05m")]
)
def test_durations_read_at_a_glance(seconds: float, text: str) -> None:
    """Whole seconds, rounded up, in the two largest units."""
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("limit", "text"),
    [("1000/5m", "1000 calls/5m"), ("10/1h", "10 calls/h"), ("5/90s", "5 calls/90s")],
)
def test_rates_read_as_configured(limit: str, text: str) -> None:
    """The quota is written as api.rateLimit writes it."""
    assert format_rate(RateLimit.parse(limit)) == text


async def test_the_pacer_counts_every_call_it_lets_through() -> None:
    """Pacer.usage: the calls let through, timed from the first one."""
    now = [100.0]
    pacer = Pacer(RateLimit(requests=10, period=60), clock=lambda: now[0])
    assert pacer.usage(0, 3) == QuotaUse(pacer.limit, 0, 0.0, 0, 3)
    for _ in range(4):
        async with pacer.slot():
            now[0] += 1.5
    # The first call went through at 100.0, and the clock is at 106.0 now.
    assert pacer.usage(2, 3) == QuotaUse(pacer.limit, 4, 6.0, 2, 3)


def test_the_progress_bar_shows_the_phase_time_left() -> None:
    """RichReporter's quota column follows the meter, counting from the phase's start."""
    calls, clock = [6], [10.0]

    def meter(done: int, total: int) -> QuotaUse:
        return QuotaUse(SAAS, calls[0], clock[0], done, total)

    reporter = RichReporter(force_terminal=False)
    assert reporter.quota_status == ""
    reporter.meter(meter)
    reporter.begin("planning", 100)
    assert reporter.quota_status == "0 calls at 1000 calls/5m"
    calls[0], clock[0] = 6 + 410, 30.0
    for _ in range(10):
        reporter.advance(object())
    assert reporter.quota_status == "≈ 19m40s left at 1000 calls/5m"
    reporter.end()


def test_other_reporters_take_a_meter() -> None:
    """Null ignores the meter; Capturing records it."""

    def meter(done: int, total: int) -> QuotaUse:
        return use(0, 0.0, done, total)

    NullReporter().meter(meter)
    capturing = CapturingReporter()
    capturing.meter(meter)
    assert capturing.events == [("meter", meter)]

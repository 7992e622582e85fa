"""Retry policy: which failures are retried, how long to wait, Retry-After in both forms;
what a retried call shows (one line per retry) and its final error (attempts and cause)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import stamina
from stamina.instrumentation import get_on_retry_hooks
from support.simserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, V2_API_KEY

from tenantops.backends.cognigy_v2.http import V2Http
from tenantops.backends.contract.client import PlatformClient
from tenantops.backends.retry import (
    RetryPolicy,
    is_retryable,
    parse_retry_after,
    report_retries,
    reset,
)
from tenantops.errors import (
    ApiTimeoutError,
    AuthError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
    UnauthorizedError,
    UnprocessableError,
)
from tenantops.servers.sim import cognigy_v2
from tenantops.servers.sim.cognigy_v2 import V2FaultSettings
from tenantops.servers.sim.contract import FaultSettings, SimConfig, create_app

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("0", 0.0), (" 2.5 ", 2.5), ("-4", 0.0), (None, None), ("soon", None)],
)
def test_retry_after_seconds(header: str | None, seconds: float | None) -> None:
    """Retry-After as delta-seconds; unreadable values are ignored, negatives clamp to 0."""
    assert parse_retry_after(header, now=NOW) == seconds


def test_retry_after_http_date() -> None:
    """Retry-After as an HTTP-date is the time left until that date."""
    when = datetime.fromtimestamp(NOW + 7, tz=UTC)
    assert parse_retry_after(format_datetime(when, usegmt=True), now=NOW) == pytest.approx(7.0)
    past = datetime.fromtimestamp(NOW - 60, tz=UTC)
    assert parse_retry_after(format_datetime(past, usegmt=True), now=NOW) == 0.0


def _err(cls: type, status: int) -> Exception:
    return cls("x", status=status)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("exc", "retry"),
    [
        (_err(RateLimitedError, 429), True),
        (_err(ServerError, 500), True),
        (_err(ServerError, 502), True),
        (_err(ServerError, 503), True),
        (_err(ServerError, 504), True),
        (_err(ServerError, 501), False),
        (TransportError("reset"), True),
        (ApiTimeoutError("slow"), True),
        (_err(BadRequestError, 400), False),
        (_err(UnauthorizedError, 401), False),
        (ForbiddenError("x", status=403, scope="bot:deploy"), False),
        (_err(NotFoundError, 404), False),
        (_err(ConflictError, 409), False),
        (_err(UnprocessableError, 422), False),
        (ValueError("bug"), False),
    ],
)
def test_what_is_retried(exc: Exception, retry: bool) -> None:
    """Only 429, 500/502/503/504 and transport failures are retried (contract table)."""
    assert is_retryable(exc) is retry


def test_full_jitter_stays_under_the_exponential_cap() -> None:
    """Each wait is drawn between 0 and min(wait_max, initial * 2^(n-1))."""
    policy = RetryPolicy(wait_initial=0.5, wait_max=3.0)
    highest = lambda lo, hi: hi  # noqa: E731
    assert [policy.backoff(n, highest) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert all(0 <= policy.backoff(4) <= 3.0 for _ in range(200))


def test_retry_after_is_a_floor() -> None:
    """A server's Retry-After is waited in full even when the backoff draw is smaller."""
    hook = RetryPolicy(wait_initial=0.01, timeout=60).hook(started=0.0, clock=lambda: 1.0)
    wait = hook(RateLimitedError("x", status=429, retry_after=4.0))
    assert isinstance(wait, float)
    assert wait >= 4.0


def test_retry_after_beyond_the_budget_gives_up() -> None:
    """A Retry-After longer than the time left stops retrying at once."""
    hook = RetryPolicy(timeout=10).hook(started=0.0, clock=lambda: 8.0)
    assert hook(RateLimitedError("x", status=429, retry_after=5.0)) is False


def test_rate_limits_are_bounded_by_time_other_failures_by_attempts() -> None:
    """Ten 429s in a row are still retried (the budget is time); the 6th 503 ends it."""
    policy = RetryPolicy(attempts=6, timeout=60)
    limited = policy.hook(started=0.0, clock=lambda: 1.0)
    waits = [limited(RateLimitedError("x", status=429)) for _ in range(10)]
    assert all(w is not False for w in waits)
    failing = policy.hook(started=0.0, clock=lambda: 1.0)
    verdicts = [failing(ServerError("x", status=503)) for _ in range(6)]
    assert [v is False for v in verdicts] == [False] * 5 + [True]
    mixed = policy.hook(started=0.0, clock=lambda: 1.0)
    for _ in range(4):
        assert mixed(RateLimitedError("x", status=429)) is not False
    # The 429s did not use up the attempts: five 503s still get their retries.
    assert [mixed(ServerError("x", status=503)) is False for _ in range(6)] == [False] * 5 + [True]


def test_non_retryable_stops() -> None:
    """The hook answers False for errors that must not be retried."""
    hook = RetryPolicy().hook(started=0.0)
    assert hook(NotFoundError("x", status=404)) is False


def _contract_client(app: Any) -> PlatformClient:
    return PlatformClient(
        "http://sim",
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
        transport=httpx.ASGITransport(app=app),
    )


async def test_a_contract_call_given_up_names_attempts_and_cause() -> None:
    """The final error says how many tries over how long, then the last failure as the cause."""
    app = create_app(SimConfig(faults=FaultSettings(error_rate=1.0, retry_after=0)))
    shown: list[str] = []
    report_retries(shown.append)
    with stamina.set_testing(True, attempts=3):
        async with _contract_client(app) as client:
            with pytest.raises(AuthError) as info:
                await client.export_bot("support-bot", workspace_id="ws-acme")
    assert re.fullmatch(
        r"could not get a token: gave up after 3 attempts over \d+\.\d s: POST "
        r"http://sim/api/v4/auth/oauth/token failed on the server \(50[03]\) after every retry.*",
        str(info.value),
    )
    assert len(shown) == 2
    for number, line in enumerate(shown, start=1):
        assert line.startswith(f"retry {number} in 0.0 s (waited 0.0 s so far) after: POST ")
        assert "failed on the server (50" in line


async def test_a_v2_call_given_up_names_attempts_and_cause() -> None:
    """cognigy-v2: a GET retried to the end says so, with the server's last answer."""
    faults = V2FaultSettings(error_rate=1.0, retry_after=0)
    app = cognigy_v2.create_app(cognigy_v2.V2Config(faults=faults))
    http = V2Http("http://sim", api_key=V2_API_KEY, transport=httpx.ASGITransport(app=app))
    shown: list[str] = []
    report_retries(shown.append)
    try:
        with stamina.set_testing(True, attempts=4), pytest.raises(ServerError) as info:
            await http.get("projects")
    finally:
        await http.aclose()
    assert re.fullmatch(
        r"gave up after 4 attempts over \d+\.\d s: GET /new/v2\.0/projects: 50[03] .*",
        str(info.value),
    )
    assert (info.value.attempts, len(shown)) == (4, 3)


async def test_retries_show_nothing_unless_asked() -> None:
    """Without -v, a retried call prints nothing (stamina's raw log line is off too)."""
    report_retries(None)
    assert get_on_retry_hooks() == ()
    reset()
    assert get_on_retry_hooks() != ()


def test_one_try_is_not_given_up() -> None:
    """An error raised at the first try keeps its message: nothing was retried."""
    error = NotFoundError("GET /x found nothing (404)", status=404).after_retries(1, 0.2)
    assert (str(error), error.attempts) == ("GET /x found nothing (404)", 1)

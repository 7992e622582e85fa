"""Retry policy: which failures are retried, how long to wait, Retry-After in both forms."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from tenantops.backends.contract.retry import RetryPolicy, is_retryable, parse_retry_after
from tenantops.errors import (
    ApiTimeoutError,
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


def test_non_retryable_stops() -> None:
    """The hook answers False for errors that must not be retried."""
    hook = RetryPolicy().hook(started=0.0)
    assert hook(NotFoundError("x", status=404)) is False

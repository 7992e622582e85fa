"""When and how long an API client waits before trying a request again, for both flavours.

Pure policy; the contract's :class:`~tenantops.backends.contract.client.PlatformClient`
and cognigy-v2's :class:`~tenantops.backends.cognigy_v2.http.V2Http` run it through stamina, whose testing mode
(``stamina.set_testing``) turns every wait off in tests. Backoff is exponential with
full jitter (a uniform draw between 0 and the exponential cap, as in AWS's
"Exponential Backoff And Jitter"), so that many clients failing together spread out.
A ``Retry-After`` from the server is a floor under that draw, never ignored.

A rate limit is retried for the whole time budget, other failures for a number of
attempts: a 429 is the server asking to be tried later, and a fleet sharing one quota
meets many in a row (16 workers over an 80/s quota gave up after 6 tries in 4 s).

What a scheduled retry shows is set here too, once per process, through stamina's
instrumentation hooks (:func:`report_retries`): by default stamina logs a bare
``stamina.retry_scheduled`` through :mod:`logging`, which Python's last-resort handler
prints on stderr for every retry.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from stamina.instrumentation import RetryDetails, set_on_retry_hooks

from tenantops.errors import RateLimitedError, ServerError, TransportError

__all__ = [
    "RETRYABLE_STATUS",
    "RetryPolicy",
    "is_retryable",
    "parse_retry_after",
    "report_retries",
    "reset",
    "retry_line",
]

#: Statuses worth trying again (contract: 429, 500, 502, 503, 504).
RETRYABLE_STATUS: frozenset[int] = frozenset({429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date.

    Returns ``None`` when the header is absent or unreadable; never a negative number.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:  # pragma: no cover - older Pythons returned None
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds and shape of the retries of one request.

    Attributes:
        attempts: total tries, the first included, of a request failing otherwise
            than by a rate limit (429s are bounded by ``timeout`` alone).
        timeout: seconds the tries and waits of one request may take together.
        wait_initial: cap of the first backoff draw.
        wait_max: largest backoff draw (a longer ``Retry-After`` still wins).
    """

    attempts: int = 6
    timeout: float = 60.0
    wait_initial: float = 0.2
    wait_max: float = 10.0

    def backoff(self, attempt: int, rng: Callable[[float, float], float] = random.uniform) -> float:
        """Full-jitter wait after failed try number ``attempt`` (1-based)."""
        cap = min(self.wait_max, self.wait_initial * 2 ** (attempt - 1))
        return rng(0.0, cap)

    def hook(
        self, *, started: float, clock: Callable[[], float] = time.monotonic
    ) -> Callable[[Exception], bool | float]:
        """A stamina backoff hook: ``False`` to stop, or the seconds to wait.

        Only rate limits, server trouble and transport failures are retried, the last
        two for ``attempts`` tries in all; a ``Retry-After`` longer than the remaining
        time budget ends the retries at once. Run it with stamina's ``attempts=None``:
        the hook counts.
        """
        tries = 0
        failures = 0

        def decide(exc: Exception) -> bool | float:
            nonlocal tries, failures
            tries += 1
            if not is_retryable(exc):
                return False
            if not isinstance(exc, RateLimitedError):
                failures += 1
                if failures >= self.attempts:
                    return False
            wait = self.backoff(tries)
            retry_after = getattr(exc, "retry_after", None)
            if retry_after is not None:
                wait = max(wait, retry_after)
                if clock() - started + retry_after > self.timeout:
                    return False
            return wait

        return decide


def is_retryable(exc: BaseException) -> bool:
    """Whether a failed request may be tried again."""
    if isinstance(exc, RateLimitedError | TransportError):
        return True
    if isinstance(exc, ServerError):
        return exc.status in RETRYABLE_STATUS
    return False


def retry_line(details: RetryDetails) -> str:
    """One readable line for a scheduled retry: which try failed, why, and the wait."""
    return (
        f"retry {details.retry_num} in {details.wait_for:.1f} s "
        f"(waited {details.waited_so_far:.1f} s so far) after: {details.caused_by}"
    )


def report_retries(show: Callable[[str], None] | None) -> None:
    """Send each scheduled retry, as :func:`retry_line`, to ``show``; ``None`` hides them.

    Replaces stamina's default hooks for the whole process (the CLI calls it once, with
    ``-v``); :func:`reset` restores them.
    """

    def hook(details: RetryDetails) -> None:
        assert show is not None
        show(retry_line(details))

    set_on_retry_hooks([hook] if show is not None else [])


def reset() -> None:
    """stamina's default retry hooks again (for tests: :func:`report_retries` is global)."""
    set_on_retry_hooks(None)

"""How long a fleet run has left under the API quota: a pure estimate from what it did so far.

The platform lets ``limit.requests`` calls through in any ``limit.period`` seconds (1,000
per 5 minutes per source IP on Cognigy.AI SaaS) and the client paces itself to that
(:mod:`tenantops.backends.pacing`). Given the calls made and the tenants finished so
far, :class:`QuotaUse` estimates the time left as the larger of two bounds:

- **throughput**: the tenants left at the pace seen so far,
  ``elapsed / done * left``; this rules when the fleet needs less than the quota;
- **quota**: the calls still needed, ``calls / done * left``, can only start once the
  quota lets them. With ``total`` calls in all, the last one cannot start before
  ``floor((total - 1) / requests)`` whole periods after the first call, since every
  call holds its slot until at least one period after it was sent. That moment, minus
  the time already spent, is the bound.

Calls per tenant are taken as the average so far, so the estimate settles as tenants
finish; before the first one finishes there is none. It never reads a clock: the
caller passes ``elapsed``. This module must not do I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from tenantops.core.model import RateLimit

__all__ = ["QuotaMeter", "QuotaUse", "format_duration", "format_rate"]


@dataclass(frozen=True, slots=True)
class QuotaUse:
    """A run's use of the quota at one moment.

    Attributes:
        limit: the quota the client paces to.
        calls: calls sent so far (every one counts, retries and task polls too).
        elapsed: seconds since the first call.
        done: tenants finished in the current phase.
        total: tenants the phase works on.
    """

    limit: RateLimit
    calls: int
    elapsed: float
    done: int
    total: int

    def since(self, earlier: QuotaUse) -> QuotaUse:
        """This use counted from ``earlier`` on: a phase's own calls and time."""
        return replace(
            self, calls=self.calls - earlier.calls, elapsed=self.elapsed - earlier.elapsed
        )

    @property
    def calls_per_tenant(self) -> float | None:
        """The average calls a finished tenant took; ``None`` before one finished."""
        return self.calls / self.done if self.done else None

    @property
    def eta(self) -> float | None:
        """Seconds left (see the module docstring); ``None`` before a tenant finished."""
        per_tenant = self.calls_per_tenant
        if per_tenant is None:
            return None
        left = max(self.total - self.done, 0)
        if left == 0:
            return 0.0
        throughput = self.elapsed / self.done * left
        total_calls = math.ceil(self.calls + per_tenant * left)
        last_start = (total_calls - 1) // self.limit.requests * self.limit.period
        return max(throughput, last_start - self.elapsed, 0.0)

    def label(self) -> str:
        """``≈ 4m12s left at 1000 calls/5m`` for a progress display."""
        eta = self.eta
        rate = format_rate(self.limit)
        if eta is None:
            return f"{self.calls} calls at {rate}"
        return f"≈ {format_duration(eta)} left at {rate}"

    def to_json(self) -> dict[str, Any]:
        """The ``quota`` field of plan and drift JSON: limit, window, calls, times."""
        eta = self.eta
        per_tenant = self.calls_per_tenant
        return {
            "limit": self.limit.requests,
            "window": self.limit.period,
            "calls": self.calls,
            "callsPerTenant": round(per_tenant, 2) if per_tenant is not None else None,
            "tenants": self.total,
            "elapsedSeconds": round(self.elapsed, 3),
            "etaSeconds": round(eta, 1) if eta is not None else None,
        }


#: The use of the quota now, for a phase with (done, total) tenants: ``Pacer.usage``.
QuotaMeter = Callable[[int, int], QuotaUse]


def format_duration(seconds: float) -> str:
    """``4m12s``, ``1h05m``, ``9s``: whole seconds, the two largest units."""
    whole = max(0, math.ceil(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def format_rate(limit: RateLimit) -> str:
    """``1000 calls/5m``: the quota as ``api.rateLimit`` writes it."""
    period = limit.period
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if period >= size and period % size == 0:
            count = int(period // size)
            return f"{limit.requests} calls/{count if count != 1 else ''}{unit}"
    return f"{limit.requests} calls/{period:g}s"

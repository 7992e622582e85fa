"""The relay's Prometheus metrics, in a registry of their own (one per app).

Webhooks by outcome and their timings, for both flavours; on cognigy-v2 also the
injects (by outcome), how long they took and how long they waited for the shared
quota. Accepted webhooks minus sent injects is how many commits were coalesced.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["RelayMetrics"]


@dataclass(slots=True)
class RelayMetrics:
    """Every metric of one relay app."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    requests: Counter = field(init=False)
    transition: Histogram = field(init=False)
    redis: Histogram = field(init=False)
    upstream: Histogram = field(init=False)
    injects: Counter = field(init=False)
    inject_seconds: Histogram = field(init=False)
    pace_wait: Histogram = field(init=False)
    _by_outcome: dict[str, Counter] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_outcome = {}
        self.requests = Counter(
            "tenantops_relay_requests", "Webhooks by outcome.", ["outcome"], registry=self.registry
        )
        self.transition = Histogram(
            "tenantops_relay_transition_seconds",
            "From receipt of a webhook to Cognigy.AI's answer to the PATCH.",
            registry=self.registry,
        )
        self.redis = Histogram(
            "tenantops_relay_redis_seconds", "Redis transition time.", registry=self.registry
        )
        self.upstream = Histogram(
            "tenantops_relay_upstream_seconds",
            "Cognigy.AI PATCH time, retries included (cognigy-v2: queueing the inject).",
            registry=self.registry,
        )
        self.injects = Counter(
            "tenantops_relay_injects",
            "cognigy-v2 context injects by outcome: sent, failed (retried later), rejected "
            "(a 4xx: this state is given up), lost (the lock expired mid-send).",
            ["outcome"],
            registry=self.registry,
        )
        self.inject_seconds = Histogram(
            "tenantops_relay_inject_seconds",
            "cognigy-v2 context inject time (one POST).",
            registry=self.registry,
        )
        self.pace_wait = Histogram(
            "tenantops_relay_pace_wait_seconds",
            "Time an inject waited for its turn under the shared API quota.",
            registry=self.registry,
        )

    def count(self, outcome: str) -> None:
        """Count one webhook under ``outcome``."""
        # labels() takes a lock and validates on every call; a child per outcome is enough.
        child = self._by_outcome.get(outcome)
        if child is None:
            child = self._by_outcome[outcome] = self.requests.labels(outcome)
        child.inc()

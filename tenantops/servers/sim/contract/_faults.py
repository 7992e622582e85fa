"""Fault decisions: which request is slowed, refused, failed or cut off, and which deployment fails.

One ``random.Random(seed)`` makes every random choice, so a run with the same seed,
settings and request sequence injects the same faults. A rate is drawn from only
while it is above zero, so turning one fault on does not shift another's sequence.
This module decides; :mod:`._middleware` and the deploy route carry the decisions out.
"""

from __future__ import annotations

import math
import random
from collections import deque
from typing import Literal

from tenantops.core.model import RateLimit
from tenantops.servers.sim.contract._config import FaultSettings

__all__ = ["FaultInjector"]


class FaultInjector:
    """The fault settings in force, the seeded generator, and per-client rate windows.

    Args:
        settings: the fault settings at start.
        seed: seeds the generator.
    """

    def __init__(self, settings: FaultSettings, seed: int) -> None:
        self._seed = seed
        self._rng = random.Random(seed)
        self._settings = settings
        self._limit: RateLimit | None = settings.parsed_rate_limit()
        # Sliding-window log: the admission times within the last period, per client.
        self._windows: dict[str, deque[float]] = {}

    @property
    def settings(self) -> FaultSettings:
        """The fault settings in force."""
        return self._settings

    def update(self, settings: FaultSettings) -> None:
        """Put new settings in force; a changed rate limit starts every window afresh."""
        if settings.rate_limit != self._settings.rate_limit:
            self._limit = settings.parsed_rate_limit()
            self._windows.clear()
        self._settings = settings

    def restart(self, settings: FaultSettings) -> None:
        """Back to the start of the run: ``settings``, a reseeded generator, empty windows."""
        self._rng.seed(self._seed)
        self._windows.clear()
        self._settings = settings
        self._limit = settings.parsed_rate_limit()

    def admit(self, client_key: str, now: float) -> int | None:
        """Count a request against the client's quota.

        Returns:
            ``None`` when admitted; otherwise the whole seconds (at least 1) until a
            slot frees, for ``Retry-After``. A refused request takes no slot.
        """
        limit = self._limit
        if limit is None:
            return None
        window = self._windows.setdefault(client_key, deque())
        while window and window[0] <= now - limit.period:
            window.popleft()
        if len(window) < limit.requests:
            window.append(now)
            return None
        return max(1, math.ceil(window[0] + limit.period - now))

    def draw_error(self) -> Literal[500, 503] | None:
        """Whether to answer this request with an injected error, and which (50/50)."""
        rate = self._settings.error_rate
        if rate <= 0 or self._rng.random() >= rate:
            return None
        return 500 if self._rng.random() < 0.5 else 503

    def draw_reset(self) -> bool:
        """Whether to drop this request's connection instead of answering it."""
        rate = self._settings.reset_rate
        return rate > 0 and self._rng.random() < rate

    def draw_deploy_failure(self) -> bool:
        """Whether a new deployment will end ``failed``."""
        rate = self._settings.deploy_fail_rate
        return rate > 0 and self._rng.random() < rate

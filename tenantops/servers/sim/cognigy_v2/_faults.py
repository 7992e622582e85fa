"""Fault decisions for the v2.0 simulator: the contract simulator's, failing training tasks,
and scripted faults.

:class:`V2FaultInjector` reuses :class:`tenantops.servers.sim.contract._faults.FaultInjector` for
latency, rate limits, injected 500/503 and dropped connections (one seeded generator,
so a seed repeats a run), and adds the training-failure draw on a generator of its
own, so turning it on never shifts the other faults' sequence. Scripted faults draw
nothing: each meets the next request to its route once (see :class:`ScriptedFault`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tenantops.servers.sim.cognigy_v2._config import V2FaultSettings
from tenantops.servers.sim.contract import FaultSettings
from tenantops.servers.sim.contract._faults import FaultInjector

__all__ = ["ScriptedFault", "V2FaultInjector"]


@dataclass(frozen=True, slots=True)
class ScriptedFault:
    """What the next request to ``route`` meets.

    Attributes:
        route: method and route template, as ``GET /_sim/counters`` names them
            (``DELETE /v2.0/snapshots/{snapshotId}``).
        status: the status answered; 0 cuts the connection instead.
        processed: the request is processed first and its answer is lost (a timeout or
            a gateway error after the work was done); else it is refused unprocessed.
    """

    route: str
    status: int
    processed: bool


class V2FaultInjector(FaultInjector):
    """The fault settings in force and every random fault decision.

    Args:
        settings: the fault settings at start.
        seed: seeds both generators.
    """

    def __init__(self, settings: V2FaultSettings, seed: int) -> None:
        super().__init__(settings, seed)
        self._train_seed = seed
        self._train_rng = random.Random(f"train:{seed}")
        self._v2_settings = settings
        self._scripted: list[ScriptedFault] = []

    @property
    def v2_settings(self) -> V2FaultSettings:
        """The fault settings in force, with the v2-only ones."""
        return self._v2_settings

    def update(self, settings: FaultSettings) -> None:
        """Put new settings in force (see :meth:`FaultInjector.update`)."""
        super().update(settings)
        self._v2_settings = _as_v2(settings)

    def restart(self, settings: FaultSettings) -> None:
        """Back to the start of the run, both generators reseeded."""
        super().restart(settings)
        self._train_rng.seed(f"train:{self._train_seed}")
        self._v2_settings = _as_v2(settings)
        self._scripted.clear()

    def script(self, fault: ScriptedFault, count: int = 1) -> list[ScriptedFault]:
        """Queue ``fault`` for the next ``count`` requests to its route; answers the queue."""
        self._scripted += [fault] * count
        return list(self._scripted)

    def take_scripted(self, route: str) -> ScriptedFault | None:
        """The oldest queued fault for ``route``, taken off the queue; ``None`` if none."""
        for index, fault in enumerate(self._scripted):
            if fault.route == route:
                return self._scripted.pop(index)
        return None

    def draw_train_failure(self) -> bool:
        """Whether a new ``trainIntents`` task will end in ``error``."""
        rate = self._v2_settings.train_fail_rate
        return rate > 0 and self._train_rng.random() < rate


def _as_v2(settings: FaultSettings) -> V2FaultSettings:
    if isinstance(settings, V2FaultSettings):
        return settings
    return V2FaultSettings.model_validate(settings.model_dump())

"""The live parts of one v2.0 simulator, shared by its routes, middleware and admin API.

:class:`V2Runtime` bundles the store, the token store, the fault injector, the task
runner, the chart operations and the per-route call counter, so that a route receives
one object. :func:`build_runtime` wires them; nothing here decides anything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from tenantops.servers.sim.cognigy_v2._chart import Chart
from tenantops.servers.sim.cognigy_v2._config import ApiKey, OAuthClient, V2Config
from tenantops.servers.sim.cognigy_v2._faults import V2FaultInjector
from tenantops.servers.sim.cognigy_v2._snapshots import (
    SnapshotCreate,
    SnapshotDelete,
    SnapshotRestore,
)
from tenantops.servers.sim.cognigy_v2._store import Store
from tenantops.servers.sim.cognigy_v2._tasks import TaskHandler, TaskRunner, Training
from tenantops.servers.sim.contract._tokens import TokenStore

__all__ = ["RouteCounter", "RuntimeDep", "V2Runtime", "build_runtime"]


@dataclass(slots=True)
class RouteCounter:
    """API calls received per route (``"GET /v2.0/flows/{flowId}/intents"``) and status."""

    calls: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)

    def count(self, route: str, status: int) -> None:
        """Record one finished call."""
        self.calls[route] += 1
        self.statuses.setdefault(route, Counter())[status] += 1

    def report(self) -> dict[str, Any]:
        """``{"total", "routes": {route: n}, "statuses": {route: {status: n}}}``."""
        return {
            "total": sum(self.calls.values()),
            "routes": dict(sorted(self.calls.items())),
            "statuses": {
                route: {str(s): n for s, n in sorted(by_status.items())}
                for route, by_status in sorted(self.statuses.items())
            },
        }

    def clear(self) -> None:
        """Forget every count."""
        self.calls.clear()
        self.statuses.clear()


@dataclass(slots=True)
class V2Runtime:
    """One simulator's live parts; ``app.state.runtime`` holds it."""

    config: V2Config
    store: Store
    tokens: TokenStore
    faults: V2FaultInjector
    tasks: TaskRunner
    chart: Chart
    keys: dict[str, ApiKey]
    clients: dict[str, OAuthClient]
    counter: RouteCounter = field(default_factory=RouteCounter)

    @property
    def clock(self) -> Callable[[], float]:
        """Wall-clock seconds (a fake in tests)."""
        return self.config.clock

    def ensure_credential_users(self) -> None:
        """Create the users the configured keys and clients act as, if missing."""
        for email in {k.email for k in self.keys.values()} | {
            c.email for c in self.clients.values()
        }:
            self.store.ensure_user(email)
        self.store.save_if_dirty()


def build_runtime(config: V2Config) -> V2Runtime:
    """Wire one simulator's parts from its settings.

    Raises:
        tenantops.errors.ConfigError: ``config.state_dir`` holds an invalid ``state.json``.
    """
    store = Store(config)
    handlers: dict[str, TaskHandler] = {
        "trainIntents": Training(),
        "createSnapshot": SnapshotCreate(store, config.max_snapshots),
        "restoreSnapshot": SnapshotRestore(store),
        "deleteSnapshot": SnapshotDelete(store),
    }
    runtime = V2Runtime(
        config=config,
        store=store,
        tokens=TokenStore(config.token_ttl),
        faults=V2FaultInjector(config.faults, config.seed),
        tasks=TaskRunner(store, config, handlers),
        chart=Chart(store),
        keys={k.key: k for k in config.accepted_keys()},
        clients={c.client_id: c for c in config.accepted_clients()},
    )
    runtime.ensure_credential_users()
    return runtime


async def _runtime(request: Request) -> V2Runtime:
    runtime = request.app.state.runtime
    assert isinstance(runtime, V2Runtime)
    return runtime


#: A route parameter that receives the :class:`V2Runtime`.
RuntimeDep = Annotated[V2Runtime, Depends(_runtime)]

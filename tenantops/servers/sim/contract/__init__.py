"""The Cognigy.AI simulator: an ASGI app that follows ``shared/cognigy-api-contract.md``.

``tenantops sim`` serves it over HTTP; tests build it with :func:`create_app` and
talk to it through ``httpx.ASGITransport``. It speaks OAuth2 client credentials,
exports and deploys bots into workspaces, runs deployments through pending,
processing and success or failed, rolls them back, assigns roles and versions
session contexts, with faults injected on demand and reproducibly under a seed.
State lives in memory, or in ``DIR/state.json`` (format in :mod:`._state`); the
optional admin API is described in :mod:`._admin`.
"""

from __future__ import annotations

from tenantops.servers.sim.contract._app import create_app
from tenantops.servers.sim.contract._config import FaultSettings, SimClient, SimConfig
from tenantops.servers.sim.contract._state import SimState

__all__ = ["FaultSettings", "SimClient", "SimConfig", "SimState", "create_app"]

"""Assemble one simulator: state, tokens, faults, routes and middleware, as an ASGI app.

Owns the wiring and nothing else: which routers are mounted (the admin API only on
request), which error handlers apply, and that :class:`SimMiddleware` wraps the whole
FastAPI stack.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import ASGIApp

from tenantops import __version__
from tenantops.servers.sim.contract import _admin, _auth, _routes, _sessions
from tenantops.servers.sim.contract._config import SimConfig
from tenantops.servers.sim.contract._faults import FaultInjector
from tenantops.servers.sim.contract._middleware import SimMiddleware
from tenantops.servers.sim.contract._problems import JsonResponse, install_handlers
from tenantops.servers.sim.contract._runtime import Runtime
from tenantops.servers.sim.contract._schemas import Health
from tenantops.servers.sim.contract._state import SimState
from tenantops.servers.sim.contract._tokens import TokenStore

__all__ = ["create_app"]

_DESCRIPTION = """\
The Cognigy.AI API surface tenantops speaks, served by `tenantops sim`: OAuth2 client
credentials, bot export and deploy, deployments, roles and session context. Every
error answers `{"error", "message", "details"}`.
"""


class _SimApp(FastAPI):
    """FastAPI with :class:`SimMiddleware` outside its whole middleware stack."""

    runtime: Runtime

    def build_middleware_stack(self) -> ASGIApp:
        # Outermost, so that `send` is still the server's own and can abort the connection.
        return SimMiddleware(super().build_middleware_stack(), self.runtime)


async def _healthz() -> Response:
    """Answer 200 once the simulator serves; needs no token and is never faulted."""
    return JsonResponse({"status": "ok"})


def create_app(config: SimConfig | None = None) -> FastAPI:
    """Build a simulator as an ASGI app.

    Args:
        config: the run's settings; the defaults serve ``demo-client`` from memory.

    Returns:
        The app; serve it with uvicorn, or test it through ``httpx.ASGITransport``.

    Raises:
        tenantops.errors.ConfigError: ``config.state_dir`` holds an invalid ``state.json``.
    """
    config = config or SimConfig()
    runtime = Runtime(
        config=config,
        state=SimState(config),
        tokens=TokenStore(config.token_ttl),
        faults=FaultInjector(config.faults, config.seed),
    )
    app = _SimApp(
        title="Cognigy.AI API (tenantops simulator)",
        version=__version__,
        description=_DESCRIPTION,
    )
    app.runtime = runtime
    app.state.runtime = runtime
    app.add_api_route(
        "/healthz", _healthz, methods=["GET"], response_model=Health, tags=["simulator"]
    )
    routers = [_auth.router, _routes.router, _sessions.router]
    if config.admin:
        routers.append(_admin.router)
    for router in routers:
        app.include_router(router)
    install_handlers(app, [*app.routes, *(r for router in routers for r in router.routes)])
    return app

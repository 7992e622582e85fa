"""Assemble one v2.0 simulator: runtime, routers, error handlers and middleware, as an ASGI app.

Owns the wiring and nothing else: which routers are mounted (the admin API only on
request), that every error is an RFC 7807 problem, and that :class:`V2Middleware`
wraps the whole FastAPI stack with the API's route templates.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.types import ASGIApp

from tenantops import __version__
from tenantops.servers.sim.cognigy_v2 import (
    _admin,
    _auth,
    _routes_access,
    _routes_chart,
    _routes_intents,
    _routes_lexicons,
    _routes_projects,
    _routes_sentences,
    _routes_tasks,
)
from tenantops.servers.sim.cognigy_v2._config import V2Config
from tenantops.servers.sim.cognigy_v2._middleware import PREFIX, PathResolver, V2Middleware
from tenantops.servers.sim.cognigy_v2._problems import install_handlers
from tenantops.servers.sim.cognigy_v2._runtime import V2Runtime, build_runtime
from tenantops.servers.sim.contract._problems import JsonResponse

__all__ = ["create_app"]

_DESCRIPTION = """\
The subset of the Cognigy.AI REST API v2.0 that tenantops uses, served by
`tenantops sim --flavor cognigy-v2`: under `/new/v2.0` and `/v2.0`, authenticated by
`X-API-Key`, `?api_key=` or an OAuth2 token from `/auth/oauth2/token`. Lists answer
`{items, total, nextCursor, previousCursor}`; errors are RFC 7807 problems.
"""


class _V2App(FastAPI):
    """FastAPI with :class:`V2Middleware` outside its whole middleware stack."""

    runtime: V2Runtime
    resolver: PathResolver

    def build_middleware_stack(self) -> ASGIApp:
        # Outermost, so that `send` is still the server's own and can abort the connection.
        return V2Middleware(super().build_middleware_stack(), self.runtime, self.resolver)


async def _healthz() -> Response:
    """Answer 200 once the simulator serves; needs no credentials and is never faulted."""
    return JsonResponse({"status": "ok", "flavor": "cognigy-v2"})


def create_app(config: V2Config | None = None) -> FastAPI:
    """Build a v2.0 simulator as an ASGI app.

    Args:
        config: the run's settings; the defaults serve ``demo-api-key`` and
            ``demo-client``/``demo-secret`` from memory.

    Returns:
        The app; serve it with uvicorn, or test it through ``httpx.ASGITransport``.

    Raises:
        tenantops.errors.ConfigError: ``config.state_dir`` holds an invalid ``state.json``.
    """
    config = config or V2Config()
    runtime = build_runtime(config)
    app = _V2App(
        title="Cognigy.AI REST API v2.0 (tenantops simulator)",
        version=__version__,
        description=_DESCRIPTION,
    )
    app.runtime = runtime
    app.state.runtime = runtime
    app.add_api_route("/healthz", _healthz, methods=["GET"], tags=["simulator"])
    routers = [
        _auth.router,
        _routes_projects.router,
        _routes_intents.router,
        _routes_sentences.router,
        _routes_lexicons.router,
        _routes_chart.router,
        _routes_tasks.router,
        _routes_access.router,
    ]
    if config.admin:
        routers.append(_admin.router)
    for router in routers:
        app.include_router(router)
    install_handlers(app)
    templates = [
        route.path
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
        and (route.path.startswith(PREFIX + "/") or route.path == _auth.TOKEN_PATH)
    ]
    app.resolver = PathResolver(templates)
    return app

"""The outermost ASGI layer: paths, trace ids, route counts, body limit, injected faults.

For every request it stamps a trace id (``X-Trace-Id``, and ``traceId`` in problems)
and applies due task events. API requests (``/new/v2.0/...``, ``/v2.0/...`` and
``/auth/oauth2/token``; never ``/_sim/``, ``/healthz`` or ``/openapi.json``) are then:

1. normalised: either prefix becomes ``/v2.0`` and the path's fixed words match
   case-insensitively (``/NEW/V2.0/Flows/{id}`` serves as ``/v2.0/flows/{id}``) while
   ids keep their case;
2. slowed by ``latency_ms``; refused beyond the caller's quota (429 with
   ``Retry-After``; the quota is per API key or OAuth client, ``anonymous`` for
   requests without credentials); answered with an injected 500/503 (not
   processed); refused with 413 when the body exceeds the limit (60 kB);
3. processed, and then, with ``reset_rate``, cut off: the connection is aborted
   instead of answered;
4. met by a scripted fault (``POST /_sim/faults/next``) when one is queued for the
   route: refused unprocessed with its status, or processed and then answered with
   its status or cut off; it takes the place of the ``reset_rate`` draw;
5. counted per route template and status for ``GET /_sim/counters``.

State changes are saved once the request is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from tenantops.servers.sim.asgi import Answer, buffered, stamped
from tenantops.servers.sim.cognigy_v2._auth import TOKEN_PATH, principal_of
from tenantops.servers.sim.cognigy_v2._faults import ScriptedFault
from tenantops.servers.sim.cognigy_v2._problems import TRACE_KEY, Problem, new_trace_id
from tenantops.servers.sim.cognigy_v2._runtime import V2Runtime

# Connection aborts are uvicorn-specific; the contract simulator already knows how.
from tenantops.servers.sim.contract._middleware import _drop_connection

__all__ = ["PREFIX", "PathResolver", "V2Middleware"]

#: The canonical prefix of every API route.
PREFIX = "/v2.0"
_PREFIXES = ("/new/v2.0", "/v2.0")


@dataclass(frozen=True, slots=True)
class _Template:
    path: str
    parts: tuple[str, ...]
    literals: int


class PathResolver:
    """Maps request paths onto route templates, case-insensitively on their fixed words.

    Args:
        templates: every API route's path template (``/v2.0/flows/{flowId}``).
    """

    def __init__(self, templates: Iterable[str]) -> None:
        parsed = []
        for path in set(templates):
            parts = tuple(path.strip("/").split("/"))
            literals = sum(1 for p in parts if not p.startswith("{"))
            parsed.append(_Template(path, parts, literals))
        # Most fixed words first: /users/me wins over /users/{userId}.
        self._templates = sorted(parsed, key=lambda t: (-t.literals, t.path))

    def resolve(self, path: str) -> tuple[str, str | None] | None:
        """``(canonical path, template)`` for an API path, else ``None``.

        The template is ``None`` for a path under an API prefix that no route serves;
        its canonical path still starts with ``/v2.0``.
        """
        lowered = path.lower()
        if lowered.rstrip("/") == TOKEN_PATH:
            return TOKEN_PATH, TOKEN_PATH
        prefix = next((p for p in _PREFIXES if lowered.startswith(p + "/")), None)
        if prefix is None:
            return None
        parts = tuple((PREFIX + path[len(prefix) :]).strip("/").split("/"))
        for template in self._templates:
            if len(template.parts) == len(parts) and all(
                t.startswith("{") or t.lower() == p.lower()
                for t, p in zip(template.parts, parts, strict=True)
            ):
                canonical = (
                    p if t.startswith("{") else t
                    for t, p in zip(template.parts, parts, strict=True)
                )
                return "/" + "/".join(canonical), template.path
        return "/" + "/".join(parts), None


class V2Middleware:
    """Wraps the FastAPI app; see the module docstring.

    Args:
        app: the FastAPI app with its own middleware stack.
        runtime: the simulator's live parts.
        resolver: the API's route templates.
    """

    def __init__(self, app: ASGIApp, runtime: V2Runtime, resolver: PathResolver) -> None:
        self.app = app
        self.runtime = runtime
        self.resolver = resolver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace_id = new_trace_id()
        scope[TRACE_KEY] = trace_id
        self.runtime.tasks.tick()
        path = str(scope["path"])
        resolved = self.resolver.resolve(path)
        try:
            if resolved is None:
                await self.app(scope, receive, stamped(send, "X-Trace-Id", trace_id))
                return
            canonical, template = resolved
            scope = {**scope, "path": canonical, "raw_path": canonical.encode()}
            route = f"{scope['method']} {template or '(no such route)'}"
            await self._api_call(scope, receive, send, route)
        finally:
            self.runtime.store.save_if_dirty()

    async def _api_call(self, scope: Scope, receive: Receive, send: Send, route: str) -> None:
        runtime = self.runtime
        body, receive = await buffered(receive)
        if runtime.faults.settings.latency_ms > 0:
            await asyncio.sleep(runtime.faults.settings.latency_ms / 1000)
        problem = self._injected_problem(self._principal(scope, body), len(body))
        scripted = runtime.faults.take_scripted(route) if problem is None else None
        if scripted is not None and scripted.status and not scripted.processed:
            problem, scripted = _scripted_problem(scripted), None
        # A scripted fault takes the place of the random cut-off draw.
        drop = problem is None and (scripted is not None or runtime.faults.draw_reset())
        trace_id = str(scope[TRACE_KEY])
        answer = Answer(send, "X-Trace-Id", trace_id, drop=drop)

        try:
            if problem is not None:
                response = problem.response(str(scope["path"]), trace_id)
                await response(scope, receive, answer)
            elif scripted is None or scripted.processed:
                await self.app(scope, receive, answer)
        finally:
            lost = scripted.status if scripted is not None else 0
            runtime.counter.count(route, lost if drop else answer.status)
        if scripted is not None and scripted.status:
            # Processed, and its answer replaced by the scripted error.
            response = _scripted_problem(scripted).response(str(scope["path"]), trace_id)
            await response(scope, receive, stamped(send, "X-Trace-Id", trace_id))
        elif drop:
            await _drop_connection(send)

    def _principal(self, scope: Scope, body: bytes) -> str:
        headers = Headers(scope=scope)
        if scope["path"] == TOKEN_PATH:
            client_id = dict(parse_qsl(body.decode("utf-8", "replace"))).get("client_id")
            return f"client:{client_id}" if client_id else "anonymous"
        query = QueryParams(scope.get("query_string", b""))
        return principal_of(self.runtime, headers, query) or "anonymous"

    def _injected_problem(self, principal: str, body_size: int) -> Problem | None:
        faults, now = self.runtime.faults, self.runtime.clock()
        wait = faults.admit(principal, now)
        if wait is not None:
            header = faults.settings.retry_after_header(wait, now)
            detail = f"Too many requests: over the quota {faults.settings.rate_limit}; retry after {wait}s"
            return Problem(429, detail, headers={"Retry-After": header})
        status = faults.draw_error()
        if status == 500:
            return Problem(500, "injected server error (--error-rate); retry with backoff")
        if status == 503:
            header = faults.settings.retry_after_header(faults.settings.retry_after, now)
            detail = "injected unavailability (--error-rate); retry with backoff"
            return Problem(503, detail, headers={"Retry-After": header})
        limit = self.runtime.config.body_limit
        if body_size > limit:
            return Problem(413, f"the request body has {body_size} bytes; the limit is {limit}")
        return None


def _scripted_problem(fault: ScriptedFault) -> Problem:
    when = "after processing the request" if fault.processed else "without processing it"
    return Problem(fault.status, f"scripted fault (POST /_sim/faults/next), {when}")

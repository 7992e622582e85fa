"""The outermost ASGI layer: request ids, injected faults, the request log, dropped connections.

Every response gets an ``X-Request-Id``. Requests under ``/api/`` (never ``/_sim/``,
``/healthz`` or ``/openapi.json``) are then, in this order: slowed by ``latency_ms``,
refused beyond the client's rate limit (429), answered with an injected 500/503 (the
request is not processed), or processed and then cut off: the TCP connection is
aborted instead of answered. Each is recorded in the request log.

It sits outside FastAPI's own middleware so that ``send`` is still uvicorn's bound
method, whose ``__self__.transport`` can be aborted.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from tenantops.servers.sim.asgi import Answer, buffered, stamped
from tenantops.servers.sim.contract._auth import TOKEN_PATH, bearer_token, claimed_client_id
from tenantops.servers.sim.contract._problems import ApiProblem
from tenantops.servers.sim.contract._records import rfc3339
from tenantops.servers.sim.contract._runtime import NOTE_KEY, RequestNote, Runtime

__all__ = ["SimMiddleware"]


class SimMiddleware:
    """Wraps the FastAPI app; see the module docstring.

    Args:
        app: the FastAPI app with its own middleware stack.
        runtime: the simulator's live parts.
    """

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        note = RequestNote(request_id=uuid.uuid4().hex)
        scope[NOTE_KEY] = note
        # Deployments advance lazily: settle any whose time is up before anything reads.
        self.runtime.state.tick(self.runtime.clock())
        if str(scope["path"]).startswith("/api/"):
            await self._api_call(scope, receive, send, note)
        else:
            await self.app(scope, receive, stamped(send, "X-Request-Id", note.request_id))

    async def _api_call(
        self, scope: Scope, receive: Receive, send: Send, note: RequestNote
    ) -> None:
        runtime = self.runtime
        headers = Headers(scope=scope)
        receive = await self._identify(scope, receive, headers, note)
        if runtime.faults.settings.latency_ms > 0:
            await asyncio.sleep(runtime.faults.settings.latency_ms / 1000)
        started = runtime.clock()
        problem, fault = self._injected_problem(note, started)
        drop = problem is None and runtime.faults.draw_reset()
        answer = Answer(send, "X-Request-Id", note.request_id, drop=drop)

        try:
            if problem is not None:
                await problem.response()(scope, receive, answer)
            else:
                await self.app(scope, receive, answer)
        finally:
            self._record(
                scope, headers, note, started, answer.status, fault or ("reset" if drop else None)
            )
        if drop:
            await _drop_connection(send)

    async def _identify(
        self, scope: Scope, receive: Receive, headers: Headers, note: RequestNote
    ) -> Receive:
        """Note the client a request claims, for rate limits and the log."""
        if scope["path"] == TOKEN_PATH:
            body, receive = await buffered(receive)
            note.client_id = claimed_client_id(headers, body)
            return receive
        token = bearer_token(headers.get("authorization"))
        grant = self.runtime.tokens.lookup(token) if token else None
        note.client_id = grant.client_id if grant else None
        return receive

    def _injected_problem(
        self, note: RequestNote, now: float
    ) -> tuple[ApiProblem | None, str | None]:
        faults = self.runtime.faults
        retry_after = faults.admit(note.client_id or "anonymous", now)
        if retry_after is not None:
            message = (
                f"over the rate limit {faults.settings.rate_limit}; retry after {retry_after}s"
            )
            problem = ApiProblem(
                429,
                "rate_limited",
                message,
                headers={"Retry-After": faults.settings.retry_after_header(retry_after, now)},
            )
            return problem, "rate_limited"
        status = faults.draw_error()
        if status == 500:
            message = "injected server error (--error-rate); retry with backoff"
            return ApiProblem(500, "internal_error", message), "error"
        if status == 503:
            message = "injected unavailability (--error-rate); retry with backoff"
            header = faults.settings.retry_after_header(faults.settings.retry_after, now)
            headers = {"Retry-After": header}
            return ApiProblem(503, "service_unavailable", message, headers=headers), "error"
        return None, None

    def _record(
        self,
        scope: Scope,
        headers: Headers,
        note: RequestNote,
        started: float,
        status: int,
        fault: str | None,
    ) -> None:
        entry: dict[str, Any] = {
            "time": rfc3339(started),
            "at": round(started, 6),
            "requestId": note.request_id,
            "method": scope["method"],
            "path": scope["path"],
            "clientId": note.client_id,
            "status": status,
            "idempotencyKey": headers.get("idempotency-key"),
            "workspaceId": note.workspace_id,
            "fault": fault,
        }
        self.runtime.log.add(entry)


async def _drop_connection(send: Send) -> None:
    """Abort the TCP connection under ``send`` without answering.

    uvicorn's ``send`` (h11 and httptools alike) is a bound method of the request's
    cycle, which holds the transport. Without one (an in-process test transport),
    raise instead, so the caller still sees the request fail.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionResetError("connection dropped by the simulator (reset_rate)")
    transport.abort()
    # uvicorn notices the loss in connection_lost, a loop pass or two later; returning
    # before it does would make it log the unanswered request and try to send a 500.
    for _ in range(10):
        if getattr(cycle, "disconnected", True):
            return
        await asyncio.sleep(0)

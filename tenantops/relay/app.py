"""The session relay: an ASGI app that takes Cognigy.AI webhooks, keeps session state in
Redis and writes the session context back to Cognigy.AI.

``POST /webhook``: size (413), signature (401), shape (422), then one atomic transition
in Redis (:mod:`tenantops.relay.store`: 409 stale version, 410 no session, a repeated
``webhook-id`` answered as the first time), then the context goes upstream through an
:class:`Upstream`: on the contract flavour a ``PATCH`` with ``If-Match`` before the
answer (409 → fetch, merge, retry; 429/503 handled by the client's retries); on
cognigy-v2, where Redis is the only truth, the answer follows the Redis commit and the
:class:`~tenantops.relay.injector.Injector` converges Cognigy.AI to it. Redis down: 503
with ``Retry-After``, never 500. No state lives in the process, so replicas scale out.
Also ``/healthz``, ``/readyz``, ``/metrics`` (Prometheus). Logs are JSON lines with
the session id, outcome and latency, never secrets or context values.

Which answer each situation gets is decided, as data, in :mod:`tenantops.relay.answer`;
this module reads the request, runs the I/O that decision asks for and sends the reply.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Protocol, assert_never

from prometheus_client import generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tenantops.backends.base import Backend
from tenantops.errors import ApiError, ConflictError, SignatureError, StateError
from tenantops.relay import answer
from tenantops.relay.answer import Forward, Reply
from tenantops.relay.metrics import RelayMetrics
from tenantops.relay.signatures import WebhookVerifier
from tenantops.relay.store import SessionStore
from tenantops.relay.wire import as_context_value

__all__ = [
    "MAX_BODY",
    "Forwarder",
    "JsonLogFormatter",
    "RelayMetrics",
    "Upstream",
    "WebhookPayload",
    "create_app",
    "openapi_document",
]

#: Largest webhook body accepted (64 KiB).
MAX_BODY = 64 * 1024
_LOG = logging.getLogger("tenantops.relay.app")


class WebhookPayload(BaseModel):
    """The contract's webhook body."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    session_id: str = Field(alias="sessionId", min_length=1, max_length=256, pattern=r"^[^{}\s]+$")
    user_id: str = Field(default="", alias="userId", max_length=256)
    node_name: str = Field(default="", alias="nodeName", max_length=512)
    context: dict[str, Any] = Field(default_factory=dict)
    # Versions are compared in Redis Lua, whose numbers are doubles: stay exact.
    version: int = Field(ge=0, le=2**53 - 2)
    timestamp: int = Field(ge=0)


class Upstream(Protocol):
    """Where an accepted webhook's context goes: the flavour's way to Cognigy.AI."""

    async def accepting(self, session_id: str) -> None:
        """Called before a webhook of the session may be committed to Redis.

        Raises:
            StateError: Redis failed (the webhook is answered 503, nothing committed).
        """
        ...

    async def forward(
        self, session_id: str, context: Mapping[str, str | None], version: int, *, user_id: str
    ) -> int:
        """Send (or queue) the context; answers the session's version to report.

        Raises:
            ApiError: the context could not be sent (the webhook is answered 502).
        """
        ...


class Forwarder:
    """Contract flavour: PATCH the webhook's context, merging over a newer version on 409.

    The webhook is answered after Cognigy.AI's answer. (On cognigy-v2 the
    :class:`~tenantops.relay.injector.Injector` queues an inject instead.)
    """

    def __init__(self, backend: Backend, *, conflict_retries: int = 3) -> None:
        self.backend = backend
        self.conflict_retries = conflict_retries

    async def accepting(self, session_id: str) -> None:
        """Nothing to prepare: the PATCH goes out before the webhook is answered."""

    async def forward(
        self, session_id: str, context: Mapping[str, str | None], version: int, *, user_id: str = ""
    ) -> int:
        """PATCH from ``version``; on 409, fetch, merge the webhook's context over it, retry.

        Returns:
            The session's version at Cognigy.AI after the write.

        Raises:
            ApiError: the PATCH failed for good (after the client's own retries).
        """
        body: dict[str, str | None] = dict(context)
        from_version = version
        for attempt in range(self.conflict_retries + 1):
            try:
                return await self.backend.patch_session_context(
                    session_id, body, from_version=from_version
                )
            except ConflictError:
                if attempt == self.conflict_retries:
                    raise
            current = await self.backend.get_session_context(session_id)
            body = {**current.context, **context}
            from_version = current.version
        raise AssertionError("unreachable")  # pragma: no cover


def _json(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    return JSONResponse(dict(body), status_code=status, headers=dict(headers or {}))


def _respond(reply: Reply) -> Response:
    return JSONResponse(dict(reply.body), status_code=reply.status, headers=dict(reply.headers))


async def _read_body(request: Request) -> bytes | None:
    """The body, or ``None`` when it is larger than :data:`MAX_BODY` (read no further)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _field_errors(exc: ValidationError) -> list[dict[str, str]]:
    aliases = {"session_id": "sessionId", "user_id": "userId", "node_name": "nodeName"}
    return [
        {
            "path": "/" + "/".join(aliases.get(str(p), str(p)) for p in err["loc"]),
            "message": err["msg"],
        }
        for err in exc.errors()
    ]


class _Relay:
    """Request handling; built by :func:`create_app`."""

    def __init__(
        self,
        store: SessionStore,
        forwarder: Upstream,
        verifier: WebhookVerifier | None,
        metrics: RelayMetrics,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.forwarder = forwarder
        self.verifier = verifier
        self.metrics = metrics
        self.clock = clock

    async def webhook(self, request: Request) -> Response:
        started = time.perf_counter()
        reply, session_id = await self._handle(request)
        elapsed = time.perf_counter() - started
        self.metrics.count(reply.outcome)
        if reply.outcome == "accepted":
            self.metrics.transition.observe(elapsed)
        _LOG.info(
            "webhook",
            extra={
                "session_id": session_id,
                "outcome": reply.outcome,
                "status": reply.status,
                "latency_ms": round(elapsed * 1000, 2),
            },
        )
        return _respond(reply)

    async def _handle(self, request: Request) -> tuple[Reply, str | None]:
        body = await _read_body(request)
        if body is None:
            return answer.too_large(MAX_BODY), None
        if self.verifier is not None:
            try:
                webhook_id = self.verifier.verify(request.headers, body)
            except SignatureError as exc:
                return answer.unauthorized(exc.reason), None
        else:
            webhook_id = request.headers.get("webhook-id") or ""
        try:
            payload = WebhookPayload.model_validate_json(body)
        except ValidationError as exc:
            return answer.invalid(_field_errors(exc)), None
        if not webhook_id:
            # Insecure mode without a webhook-id: the body itself identifies the delivery.
            webhook_id = hashlib.sha256(body).hexdigest()
        try:
            return await self._transition(payload, webhook_id), payload.session_id
        except StateError as exc:
            return answer.state_failed(exc), payload.session_id

    async def _transition(self, payload: WebhookPayload, webhook_id: str) -> Reply:
        """Apply the webhook to the session in Redis, then carry out the decided answer."""
        context = {k: as_context_value(v) for k, v in payload.context.items()}
        redis_started = time.perf_counter()
        await self.forwarder.accepting(payload.session_id)
        result = await self.store.transition(
            session_id=payload.session_id,
            webhook_id=webhook_id,
            version=payload.version,
            context=context,
            node=payload.node_name,
            user_id=payload.user_id,
            now=int(self.clock()),
        )
        self.metrics.redis.observe(time.perf_counter() - redis_started)
        decision = answer.decide(result, session_id=payload.session_id, version=payload.version)
        match decision:
            case Reply():
                return decision
            case Forward():
                return await self._forward(payload, webhook_id, context)
            case _:
                assert_never(decision)

    async def _forward(
        self, payload: WebhookPayload, webhook_id: str, context: Mapping[str, str | None]
    ) -> Reply:
        """PATCH the context upstream; record the answer for redeliveries, or the failure."""
        sid = payload.session_id
        upstream_started = time.perf_counter()
        try:
            version = await self.forwarder.forward(
                sid, context, payload.version, user_id=payload.user_id
            )
        except ApiError as exc:
            self.metrics.upstream.observe(time.perf_counter() - upstream_started)
            await self.store.upstream_failed(sid, webhook_id)
            return answer.upstream_failed(exc)
        self.metrics.upstream.observe(time.perf_counter() - upstream_started)
        reply = answer.forwarded(version)
        await self.store.finish(sid, webhook_id, {"status": reply.status, "body": reply.body})
        return reply

    async def healthz(self, request: Request) -> Response:
        return _json(200, {"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        if await self.store.ping():
            return _json(200, {"status": "ready"})
        down = answer.problem(
            503, "redis_unavailable", "Redis does not answer", "redis_unavailable"
        )
        return _respond(down)

    async def metrics_endpoint(self, request: Request) -> Response:
        return Response(
            generate_latest(self.metrics.registry), media_type="text/plain; version=0.0.4"
        )

    async def openapi(self, request: Request) -> Response:
        return _json(200, openapi_document())


#: The error answers of ``POST /webhook``, all with a :data:`_PROBLEM` body.
_WEBHOOK_ERRORS = {
    "401": "bad signature",
    "409": "stale version",
    "410": "no live session",
    "413": "body over 64 KiB",
    "422": "not a webhook payload",
    "502": "Cognigy.AI refused the context",
    "503": "Redis unavailable, or this delivery is in progress",
}
_PROBLEM = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "details": {"type": "array"},
        "currentVersion": {"type": "integer"},
    },
}
_ACCEPTED = {
    "type": "object",
    "required": ["status", "version"],
    "properties": {"status": {"const": "accepted"}, "version": {"type": "integer"}},
}


def _content(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": dict(schema)}}}


def _answers(ok: str, errors: Mapping[str, str], ok_schema: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAPI ``responses`` object: a 200 and the given problem answers."""
    problem = _content({"$ref": "#/components/schemas/Problem"})
    return {
        "200": {"description": ok, **_content(ok_schema)},
        **{code: {"description": text, **problem} for code, text in errors.items()},
    }


def openapi_document() -> dict[str, Any]:
    """The relay's OpenAPI 3.1 description (the payload schema comes from the model)."""
    headers = [
        {"name": name, "in": "header", "required": False, "schema": {"type": "string"}}
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    ]
    webhook = {
        "summary": "A Cognigy.AI dialog webhook (Standard Webhooks signed).",
        "parameters": headers,
        "requestBody": {
            "required": True,
            **_content({"$ref": "#/components/schemas/WebhookPayload"}),
        },
        "responses": _answers("accepted", _WEBHOOK_ERRORS, _ACCEPTED),
    }
    json_object = {"type": "object"}
    ready_errors = {"503": "Redis does not answer"}
    document = {
        "openapi": "3.1.0",
        "info": {"title": "tenantops session relay", "version": "1"},
        "paths": {
            "/webhook": {"post": webhook},
            "/healthz": {"get": {"responses": _answers("alive", {}, json_object)}},
            "/readyz": {"get": {"responses": _answers("Redis answers", ready_errors, json_object)}},
        },
        "components": {
            "schemas": {
                "WebhookPayload": WebhookPayload.model_json_schema(by_alias=True),
                "Problem": _PROBLEM,
            }
        },
    }
    return copy.deepcopy(document)  # the tables above are shared; the caller may change its copy


def create_app(
    store: SessionStore,
    forwarder: Upstream,
    verifier: WebhookVerifier | None,
    *,
    metrics: RelayMetrics | None = None,
    clock: Callable[[], float] = time.time,
    on_startup: Callable[[], Awaitable[None]] | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> Starlette:
    """The relay as an ASGI app.

    Args:
        store: session state in Redis.
        forwarder: writes contexts back to Cognigy.AI (:class:`Forwarder` on the
            contract flavour, :class:`~tenantops.relay.injector.Injector` on cognigy-v2).
        verifier: Standard Webhooks signature check; ``None`` only with
            ``--insecure-skip-signature``.
        metrics: Prometheus metrics (a fresh registry by default).
        clock: Unix seconds (tests move it).
        on_startup: starts background work (the injector) when the server starts.
        on_shutdown: stops it and closes clients when the server stops.
    """
    relay = _Relay(store, forwarder, verifier, metrics or RelayMetrics(), clock)
    routes = [
        Route("/webhook", relay.webhook, methods=["POST"]),
        Route("/healthz", relay.healthz, methods=["GET"]),
        Route("/readyz", relay.readyz, methods=["GET"]),
        Route("/metrics", relay.metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", relay.openapi, methods=["GET"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if on_startup is not None:
            await on_startup()
        try:
            yield
        finally:
            if on_shutdown is not None:
                await on_shutdown()

    return Starlette(routes=routes, lifespan=lifespan)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, message and the record's safe extras."""

    FIELDS = ("session_id", "outcome", "status", "latency_ms", "attempt", "error")
    #: One encoder for every line (``json.dumps`` with options builds one per call).
    _ENCODER = json.JSONEncoder(separators=(",", ":"))

    def __init__(self) -> None:
        super().__init__()
        # The relay logs every webhook: format each second's timestamp once.
        self._second = -1
        self._stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        data: dict[str, Any] = {
            "time": f"{self._stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in self.FIELDS:
            if hasattr(record, name):
                data[name] = getattr(record, name)
        return self._ENCODER.encode(data)

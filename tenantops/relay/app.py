"""The session relay: an ASGI app that takes Cognigy.AI webhooks, keeps session state in
Redis and writes the session context back to Cognigy.AI.

``POST /webhook``: size (413), signature (401), shape (422), then one atomic transition
in Redis (:mod:`tenantops.relay.store`: 409 stale version, 410 no session, a repeated
``webhook-id`` answered as the first time), then ``PATCH`` upstream with ``If-Match``
(409 → fetch, merge, retry; 429/503 handled by the client's retries). Redis down: 503
with ``Retry-After``, never 500. No state lives in the process, so replicas scale out.
Also ``/healthz``, ``/readyz``, ``/metrics`` (Prometheus). Logs are JSON lines with
the session id, outcome and latency, never secrets or context values.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tenantops.backends.base import Backend
from tenantops.errors import ApiError, ConflictError, StateError
from tenantops.relay.signatures import SignatureError, WebhookVerifier
from tenantops.relay.store import SessionStore, Transition
from tenantops.relay.wire import as_context_value

__all__ = ["MAX_BODY", "Forwarder", "RelayMetrics", "WebhookPayload", "create_app"]

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


@dataclass(slots=True)
class RelayMetrics:
    """The relay's Prometheus metrics, in a registry of their own (one per app)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    requests: Counter = field(init=False)
    transition: Histogram = field(init=False)
    redis: Histogram = field(init=False)
    upstream: Histogram = field(init=False)

    def __post_init__(self) -> None:
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
            "Cognigy.AI PATCH time, retries included.",
            registry=self.registry,
        )


class Forwarder:
    """Writes a webhook's context to Cognigy.AI, merging over a newer version on 409."""

    def __init__(self, backend: Backend, *, conflict_retries: int = 3) -> None:
        self.backend = backend
        self.conflict_retries = conflict_retries

    async def forward(
        self, session_id: str, context: Mapping[str, str | None], version: int
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


def _problem(status: int, error: str, message: str, **extra: Any) -> Response:
    headers = {"Retry-After": "1"} if status == 503 else None
    return _json(status, {"error": error, "message": message, **extra}, headers)


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
        forwarder: Forwarder,
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
        response, session_id, outcome = await self._handle(request)
        elapsed = time.perf_counter() - started
        self.metrics.requests.labels(outcome).inc()
        if outcome == "accepted":
            self.metrics.transition.observe(elapsed)
        _LOG.info(
            "webhook",
            extra={
                "session_id": session_id,
                "outcome": outcome,
                "status": response.status_code,
                "latency_ms": round(elapsed * 1000, 2),
            },
        )
        return response

    async def _handle(self, request: Request) -> tuple[Response, str | None, str]:
        body = await _read_body(request)
        if body is None:
            return (
                _problem(413, "payload_too_large", f"the body exceeds {MAX_BODY} bytes"),
                None,
                "too_large",
            )
        if self.verifier is not None:
            try:
                webhook_id = self.verifier.verify(request.headers, body)
            except SignatureError as exc:
                return _problem(401, "invalid_signature", exc.reason), None, "unauthorized"
        else:
            webhook_id = request.headers.get("webhook-id") or ""
        try:
            payload = WebhookPayload.model_validate_json(body)
        except ValidationError as exc:
            details = _field_errors(exc)
            message = f"invalid webhook payload at {details[0]['path']}: {details[0]['message']}"
            return _problem(422, "invalid_payload", message, details=details), None, "invalid"
        sid = payload.session_id
        if not webhook_id:
            # Insecure mode without a webhook-id: the body itself identifies the delivery.
            webhook_id = hashlib.sha256(body).hexdigest()
        try:
            response, outcome = await self._transition(payload, webhook_id)
        except StateError as exc:
            if exc.unavailable:
                return _problem(503, "state_unavailable", str(exc)), sid, "redis_unavailable"
            return _problem(500, "state_error", str(exc)), sid, "state_error"
        return response, sid, outcome

    async def _transition(self, payload: WebhookPayload, webhook_id: str) -> tuple[Response, str]:
        context = {k: as_context_value(v) for k, v in payload.context.items()}
        redis_started = time.perf_counter()
        result: Transition = await self.store.transition(
            session_id=payload.session_id,
            webhook_id=webhook_id,
            version=payload.version,
            context=context,
            node=payload.node_name,
            user_id=payload.user_id,
            now=int(self.clock()),
        )
        self.metrics.redis.observe(time.perf_counter() - redis_started)
        return await self._answer(result, payload, webhook_id, context)

    async def _answer(
        self,
        result: Transition,
        payload: WebhookPayload,
        webhook_id: str,
        context: Mapping[str, str | None],
    ) -> tuple[Response, str]:
        sid = payload.session_id
        if result.kind == "duplicate":
            answer = dict(result.answer or {})
            return _json(int(answer.get("status", 200)), answer.get("body", {})), "duplicate"
        if result.kind == "in_progress":
            message = "this delivery is being processed; retry shortly"
            return _problem(503, "delivery_in_progress", message), "in_progress"
        if result.kind == "conflict":
            message = f"session {sid} is at version {result.current_version}; this webhook holds {payload.version}"
            return _problem(
                409, "version_conflict", message, currentVersion=result.current_version
            ), "conflict"
        if result.kind == "gone":
            message = f"session {sid} has expired or never opened; open it with version 0"
            return _problem(410, "session_gone", message), "gone"
        upstream_started = time.perf_counter()
        try:
            version = await self.forwarder.forward(sid, context, payload.version)
        except ApiError as exc:
            self.metrics.upstream.observe(time.perf_counter() - upstream_started)
            await self.store.upstream_failed(sid, webhook_id)
            message = f"Cognigy.AI did not take the context ({type(exc).__name__}); redeliver later"
            return _problem(502, "upstream_failed", message), "upstream_failed"
        self.metrics.upstream.observe(time.perf_counter() - upstream_started)
        answer = {"status": "accepted", "version": version}
        await self.store.finish(sid, webhook_id, {"status": 200, "body": answer})
        return _json(200, answer), "accepted"

    async def healthz(self, request: Request) -> Response:
        return _json(200, {"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        if await self.store.ping():
            return _json(200, {"status": "ready"})
        return _problem(503, "redis_unavailable", "Redis does not answer")

    async def metrics_endpoint(self, request: Request) -> Response:
        return Response(
            generate_latest(self.metrics.registry), media_type="text/plain; version=0.0.4"
        )

    async def openapi(self, request: Request) -> Response:
        return _json(200, openapi_document())


def openapi_document() -> dict[str, Any]:
    """The relay's OpenAPI 3.1 description (the payload schema comes from the model)."""
    problem = {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string"},
            "message": {"type": "string"},
            "details": {"type": "array"},
            "currentVersion": {"type": "integer"},
        },
    }
    problem_answer = {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    }
    headers = [
        {"name": name, "in": "header", "required": False, "schema": {"type": "string"}}
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    ]
    accepted = {
        "type": "object",
        "required": ["status", "version"],
        "properties": {"status": {"const": "accepted"}, "version": {"type": "integer"}},
    }
    codes = {
        "401": "bad signature",
        "409": "stale version",
        "410": "no live session",
        "413": "body over 64 KiB",
        "422": "not a webhook payload",
        "502": "Cognigy.AI refused the context",
        "503": "Redis unavailable, or this delivery is in progress",
    }
    json_object = {"content": {"application/json": {"schema": {"type": "object"}}}}
    webhook = {
        "summary": "A Cognigy.AI dialog webhook (Standard Webhooks signed).",
        "parameters": headers,
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/WebhookPayload"}}
            },
        },
        "responses": {
            "200": {
                "description": "accepted",
                "content": {"application/json": {"schema": accepted}},
            },
            **{code: {"description": text, **problem_answer} for code, text in codes.items()},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "tenantops session relay", "version": "1"},
        "paths": {
            "/webhook": {"post": webhook},
            "/healthz": {"get": {"responses": {"200": {"description": "alive", **json_object}}}},
            "/readyz": {
                "get": {
                    "responses": {
                        "200": {"description": "Redis answers", **json_object},
                        "503": {"description": "Redis does not answer", **problem_answer},
                    }
                }
            },
        },
        "components": {
            "schemas": {
                "WebhookPayload": WebhookPayload.model_json_schema(by_alias=True),
                "Problem": problem,
            }
        },
    }


def create_app(
    store: SessionStore,
    forwarder: Forwarder,
    verifier: WebhookVerifier | None,
    *,
    metrics: RelayMetrics | None = None,
    clock: Callable[[], float] = time.time,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> Starlette:
    """The relay as an ASGI app.

    Args:
        store: session state in Redis.
        forwarder: writes contexts back to Cognigy.AI.
        verifier: Standard Webhooks signature check; ``None`` only with
            ``--insecure-skip-signature``.
        metrics: Prometheus metrics (a fresh registry by default).
        clock: Unix seconds (tests move it).
        on_shutdown: closes clients when the server stops.
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
        try:
            yield
        finally:
            if on_shutdown is not None:
                await on_shutdown()

    return Starlette(routes=routes, lifespan=lifespan)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, message and the record's safe extras."""

    FIELDS = ("session_id", "outcome", "status", "latency_ms")

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in self.FIELDS:
            if hasattr(record, name):
                data[name] = getattr(record, name)
        return json.dumps(data, separators=(",", ":"))

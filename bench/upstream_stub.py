"""Servers for ``bench/relay.py``: a minimal Cognigy.AI upstream and a bare Starlette endpoint.

``app`` (``uvicorn upstream_stub:app --app-dir bench``) is the upstream that "answers the
PATCH at once": a raw ASGI callable, no framework, no state, so that it takes as little
of the shared CPU as possible away from the relay it serves.

- ``POST /api/v4/auth/oauth/token``: a bearer token valid for an hour (credentials unchecked);
- ``PATCH /api/v4/session/{id}/context``: 200 ``{"sessionId", "version"}`` with the
  body's ``version`` and ``ETag: "<version>"``;
- ``GET /api/v4/session/{id}/context``: 200, empty context at version 0;
- ``GET /healthz``: 200.

``bare`` (``uvicorn upstream_stub:bare --app-dir bench``) is the comparison point: one
Starlette ``POST /webhook`` that reads the body and answers a small JSON, nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["app", "bare"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_PREFIX = "/api/v4/session/"
_SUFFIX = "/context"
_TOKEN = json.dumps(
    {"access_token": "bench-token", "token_type": "Bearer", "expires_in": 3600}
).encode()
_JSON = (b"content-type", b"application/json")


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [_JSON, (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The upstream stub (raw ASGI)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    method, path = scope["method"], scope["path"]
    if path.startswith(_PREFIX) and path.endswith(_SUFFIX):
        session_id = path[len(_PREFIX) : -len(_SUFFIX)]
        if method == "PATCH":
            raw = await _body(receive)
            try:
                version = int(json.loads(raw)["version"])
            except (ValueError, KeyError, TypeError):
                await _answer(send, 400, b'{"error":"invalid_request"}')
                return
            body = json.dumps({"sessionId": session_id, "version": version}).encode()
            await _answer(send, 200, body, [(b"etag", f'"{version}"'.encode())])
            return
        if method == "GET":
            body = json.dumps({"sessionId": session_id, "context": {}, "version": 0}).encode()
            await _answer(send, 200, body, [(b"etag", b'"0"')])
            return
    elif path == "/api/v4/auth/oauth/token" and method == "POST":
        await _body(receive)
        await _answer(send, 200, _TOKEN)
        return
    elif path == "/healthz":
        await _answer(send, 200, b'{"status":"ok"}')
        return
    await _answer(send, 404, b'{"error":"not_found"}')


async def _webhook(request: Request) -> Response:
    await request.body()
    return JSONResponse({"status": "accepted", "version": 1})


async def _healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


#: The bare Starlette endpoint the relay is compared with.
bare = Starlette(
    routes=[
        Route("/webhook", _webhook, methods=["POST"]),
        Route("/healthz", _healthz, methods=["GET"]),
    ]
)

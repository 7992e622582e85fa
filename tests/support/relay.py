"""The session relay for tests: in-process over real Redis and a real simulator, and signing."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from redis.asyncio import Redis
from standardwebhooks.webhooks import Webhook

from support.redisserver import standalone_url
from support.simserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from tenantops.backends.contract.client import PlatformClient
from tenantops.backends.retry import RetryPolicy
from tenantops.relay.app import Forwarder, create_app
from tenantops.relay.signatures import WebhookVerifier
from tenantops.relay.store import SessionStore

SECRET = "whsec_" + base64.b64encode(b"relay-test-secret-0123456789abcdef").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"an-older-secret-being-rotated-out").decode()
FAST = RetryPolicy(attempts=4, timeout=10, wait_initial=0.02, wait_max=0.2)


def signed(
    payload: Mapping[str, Any], *, secret: str = SECRET, webhook_id: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """A body and Standard Webhooks headers, signed with the official library."""
    body = json.dumps(payload)
    msg_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, now, body)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    return body.encode(), headers


def payload(session_id: str, version: int, **context: Any) -> dict[str, Any]:
    return {
        "sessionId": session_id,
        "userId": "u-1",
        "nodeName": "order_lookup",
        "context": context,
        "version": version,
        "timestamp": int(datetime.now(UTC).timestamp()),
    }


@dataclass
class Relay:
    http: httpx.AsyncClient
    store: SessionStore
    upstream: PlatformClient

    async def send(self, data: Mapping[str, Any], **kwargs: Any) -> httpx.Response:
        body, headers = signed(data, **kwargs)
        return await self.http.post("/webhook", content=body, headers=headers)


@asynccontextmanager
async def relay(
    sim_url: str,
    *,
    redis_url: str | None = None,
    redis_client: Any = None,
    session_ttl: int = 1800,
    verify: bool = True,
) -> AsyncIterator[Relay]:
    """The relay app in-process (ASGI), over real Redis (or ``redis_client``) and the simulator.

    ``redis_url`` defaults to the tests' standalone Redis: a test that relies on it
    requests the ``standalone_redis`` fixture, which starts one when none answers.
    """
    upstream = PlatformClient(
        sim_url, client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET, retry=FAST
    )
    redis = redis_client or Redis.from_url(
        redis_url or standalone_url(), socket_connect_timeout=0.5, socket_timeout=1.0
    )
    store = SessionStore(redis, session_ttl=session_ttl)
    verifier = WebhookVerifier([OLD_SECRET, SECRET]) if verify else None
    app = create_app(store, Forwarder(upstream), verifier)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://relay"
    ) as http:
        try:
            yield Relay(http, store, upstream)
        finally:
            await upstream.aclose()
            await store.aclose()

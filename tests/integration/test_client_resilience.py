"""The client under faults, against the simulator as a real server.

Token refresh (expiry and 401), one token fetch for 50 concurrent calls, Retry-After in
both forms, backoff on 5xx, no retry of other 4xx, no duplicate deployment when
responses are lost, client-side pacing, and bounded retries.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from support.simserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SimServer, run_sim

from tenantops.backends.contract.client import PlatformClient
from tenantops.backends.retry import RetryPolicy
from tenantops.core.model import RateLimit
from tenantops.errors import AuthError, NotFoundError, ServerError, TransportError

pytestmark = pytest.mark.integration

FAST = RetryPolicy(attempts=8, timeout=30, wait_initial=0.05, wait_max=0.5)
MODEL: dict[str, Any] = {
    "botId": "resilience-bot",
    "intents": [{"name": "hello", "examples": ["hi"], "actions": ["greet"]}],
    "entities": [],
    "dialogs": [{"id": "d1", "node": "start"}],
    "metadata": {"locale": "en-US"},
}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with run_sim("--deploy-seconds", "0.2", "--seed", "11") as server:
        server.admin(
            "PUT", "/_sim/workspaces/ws-r/bots/resilience-bot", json=MODEL
        ).raise_for_status()
        yield server


@pytest.fixture(autouse=True)
def _clean(sim: SimServer) -> None:
    defaults = {
        "latencyMs": 0,
        "errorRate": 0,
        "rateLimit": None,
        "resetRate": 0,
        "deployFailRate": 0,
        "retryAfter": 1,
        "retryAfterFormat": "seconds",
    }
    sim.admin("PUT", "/_sim/faults", json=defaults).raise_for_status()
    sim.admin("DELETE", "/_sim/requests").raise_for_status()


def faults(sim: SimServer, **settings: Any) -> None:
    sim.admin("PUT", "/_sim/faults", json=settings).raise_for_status()


def requests_log(sim: SimServer) -> list[dict[str, Any]]:
    return list(sim.admin("GET", "/_sim/requests").json()["requests"])


def client(sim: SimServer, **kwargs: Any) -> PlatformClient:
    options: dict[str, Any] = {
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "retry": FAST,
    }
    options.update(kwargs)
    return PlatformClient(sim.base_url, **options)


def token_requests(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in log if r["path"].endswith("/oauth/token")]


async def test_one_token_fetch_for_fifty_concurrent_calls(sim: SimServer) -> None:
    """50 concurrent first calls share a single token request (no thundering herd)."""
    async with client(sim) as c:
        await asyncio.gather(
            *(c.export_bot("resilience-bot", workspace_id="ws-r") for _ in range(50))
        )
        assert c.tokens.fetches == 1
    assert len(token_requests(requests_log(sim))) == 1


async def test_refresh_after_401(sim: SimServer) -> None:
    """A token the server revoked is replaced once and the call succeeds."""
    async with client(sim) as c:
        await c.export_bot("resilience-bot", workspace_id="ws-r")
        sim.admin("POST", "/_sim/tokens/expire").raise_for_status()
        await c.export_bot("resilience-bot", workspace_id="ws-r")
        assert c.tokens.fetches == 2
    statuses = [r["status"] for r in requests_log(sim) if "/bot/export" in r["path"]]
    assert statuses == [200, 401, 200]


async def test_refresh_before_expiry() -> None:
    """With short-lived tokens the client refreshes before they expire: no 401 at all."""
    with run_sim("--token-ttl", "2") as short:
        short.admin("PUT", "/_sim/workspaces/w/bots/resilience-bot", json=MODEL).raise_for_status()
        async with client(short) as c:
            for _ in range(6):
                await c.export_bot("resilience-bot", workspace_id="w")
                await asyncio.sleep(0.5)
            assert c.tokens.fetches >= 2
        log = requests_log(short)
    assert all(r["status"] != 401 for r in log)
    assert len(token_requests(log)) == c.tokens.fetches


@pytest.mark.parametrize("form", ["seconds", "http-date"])
async def test_retry_after_is_honoured(sim: SimServer, form: str) -> None:
    """After a 429, the next try comes no sooner than Retry-After (seconds or HTTP-date)."""
    faults(sim, rateLimit="3/2s", retryAfterFormat=form)
    async with client(sim) as c:
        for _ in range(5):
            await c.export_bot("resilience-bot", workspace_id="ws-r")
    log = [r for r in requests_log(sim)]
    limited = [i for i, r in enumerate(log) if r["status"] == 429]
    assert limited, "the rate limit never triggered"
    for i in limited:
        retry = log[i + 1]
        assert retry["at"] - log[i]["at"] >= 0.9, (log[i], retry)
    assert sum(r["status"] == 200 and "/bot/export" in r["path"] for r in log) == 5


async def test_server_errors_are_retried(sim: SimServer) -> None:
    """With half of all requests failing 500/503, every call still succeeds through retries."""
    faults(sim, errorRate=0.5, retryAfter=0)
    async with client(sim) as c:
        for _ in range(20):
            await c.export_bot("resilience-bot", workspace_id="ws-r")
    log = requests_log(sim)
    assert any(r["status"] in (500, 503) for r in log)
    assert sum(r["status"] == 200 and "/bot/export" in r["path"] for r in log) == 20


BOUNDED = RetryPolicy(attempts=3, timeout=10, wait_initial=0.01, wait_max=0.05)


async def test_retries_are_bounded(sim: SimServer) -> None:
    """When the server always fails, the client gives up after its attempts."""
    async with client(sim, retry=BOUNDED) as c:
        await c.tokens.get()
        sim.admin("DELETE", "/_sim/requests").raise_for_status()
        faults(sim, errorRate=1.0, retryAfter=0)
        with pytest.raises(ServerError, match="after every retry"):
            await c.deployment_status("dep-x")
    assert len(requests_log(sim)) == 3


async def test_token_endpoint_down_is_an_auth_error(sim: SimServer) -> None:
    """A token endpoint that keeps failing ends in one AuthError, not nested retries."""
    faults(sim, errorRate=1.0, retryAfter=0)
    async with client(sim, retry=BOUNDED) as c:
        with pytest.raises(AuthError, match="could not get a token"):
            await c.export_bot("resilience-bot", workspace_id="ws-r")
    assert len(requests_log(sim)) == 3


async def test_no_retry_on_other_4xx(sim: SimServer) -> None:
    """A 404 is final: one request, no retry."""
    async with client(sim) as c:
        with pytest.raises(NotFoundError):
            await c.export_bot("missing", workspace_id="ws-r")
    assert [r["status"] for r in requests_log(sim) if "/bot/export" in r["path"]] == [404]


async def test_lost_deploy_responses_never_deploy_twice(sim: SimServer) -> None:
    """With connections dropped after processing, retries reuse the key: one deployment each."""
    faults(sim, resetRate=0.5)
    keys = [uuid.uuid4().hex for _ in range(10)]
    async with client(sim) as c:
        ids = [
            (
                await c.deploy(
                    dict(MODEL, botId=f"b{i}"), target_workspace=f"ws-reset-{i}", idempotency_key=k
                )
            ).deployment_id
            for i, k in enumerate(keys)
        ]
    log = requests_log(sim)
    assert any(r["fault"] == "reset" for r in log), "no connection was dropped"
    deployments = sim.admin("GET", "/_sim/deployments").json()["deployments"]
    mine = [d for d in deployments if d["idempotencyKey"] in keys]
    assert len(mine) == 10
    assert sorted(d["deploymentId"] for d in mine) == sorted(ids)


async def test_pacing_keeps_under_the_quota(sim: SimServer) -> None:
    """Client-side pacing at the platform's quota collects no 429 at all."""
    faults(sim, rateLimit="5/1s")
    started = time.monotonic()
    async with client(sim, rate_limit=RateLimit(requests=5, period=1.0)) as c:
        await asyncio.gather(
            *(c.export_bot("resilience-bot", workspace_id="ws-r") for _ in range(14))
        )
    assert time.monotonic() - started >= 1.5
    assert all(r["status"] != 429 for r in requests_log(sim))


async def test_unreachable_server_is_a_transport_error() -> None:
    """A closed port ends, after bounded retries, in an error caused by a TransportError."""
    async with PlatformClient(
        "http://127.0.0.1:9",
        client_id="x",
        client_secret="y",
        retry=RetryPolicy(attempts=2, timeout=5, wait_initial=0.01, wait_max=0.02),
    ) as c:
        with pytest.raises(AuthError) as info:
            await c.export_bot("b", workspace_id="w")
    # The token request is the first to fail; its cause says why.
    assert isinstance(info.value.__cause__, TransportError)
    assert "127.0.0.1:9" in str(info.value)

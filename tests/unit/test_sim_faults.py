"""The simulator's fault injection: errors, rate limits, resets, latency, and seeded determinism."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from support.simserver import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    TOKEN_PATH,
    FakeClock,
    bearer,
    fetch_token,
    sim_client,
)

from tenantops.servers.sim.contract import FaultSettings, SimClient, SimConfig
from tenantops.servers.sim.contract._faults import FaultInjector

CLIENTS = (
    SimClient(client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET),
    SimClient(client_id="other", client_secret="other-secret"),
)
SESSION = "/api/v4/session/s-1/context"
DEPLOY = {"model": {"botId": "bot-1"}, "targetWorkspace": "ws-1"}


def config(clock: FakeClock | None = None, seed: int = 0, **faults: object) -> SimConfig:
    return SimConfig(
        clients=CLIENTS,
        admin=True,
        seed=seed,
        faults=FaultSettings.model_validate(faults),
        clock=clock or FakeClock(),
    )


@pytest.fixture
async def admin() -> AsyncIterator[httpx.AsyncClient]:
    async with sim_client(config()) as client:
        yield client


async def test_error_rate_one_answers_500_or_503_without_processing() -> None:
    """Every API request fails with 500 or 503 (503 with Retry-After) and changes nothing."""
    async with sim_client(config(errorRate=1.0, retryAfter=4)) as client:
        statuses = set()
        for _ in range(12):
            response = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"})
            statuses.add(response.status_code)
            body = response.json()
            if response.status_code == 503:
                assert response.headers["retry-after"] == "4"
                assert body["error"] == "service_unavailable"
            else:
                assert body["error"] == "internal_error"
        assert statuses == {500, 503}
        await client.put("/_sim/faults", json={"errorRate": 0})
        token = await fetch_token(client)
        await client.put("/_sim/faults", json={"errorRate": 1})
        for _ in range(5):
            await client.post("/api/v1/bot/deploy", json=DEPLOY, headers=bearer(token))
        assert (await client.get("/_sim/deployments")).json() == {"deployments": []}


async def test_faults_spare_health_openapi_and_admin() -> None:
    """Faults apply to ``/api/...`` only, never to /healthz, /openapi.json or /_sim/."""
    async with sim_client(config(errorRate=1.0, resetRate=1.0, rateLimit="1/1h")) as client:
        for path in ("/healthz", "/openapi.json", "/_sim/faults", "/healthz", "/_sim/state"):
            assert (await client.get(path)).status_code == 200


async def _statuses(seed: int) -> list[int]:
    async with sim_client(config(seed=seed, errorRate=0.5)) as client:
        responses = [await client.get("/api/v4/session/s/context") for _ in range(24)]
    return [r.status_code for r in responses]


async def test_faults_repeat_under_the_same_seed() -> None:
    """The same seed injects the same faults into the same request sequence; another differs."""
    first, again, other = await _statuses(7), await _statuses(7), await _statuses(8)
    assert first == again
    assert first != other
    assert {500, 503, 401} <= set(first)


def _failures(seed: int, count: int = 1000) -> list[bool]:
    injector = FaultInjector(FaultSettings(deploy_fail_rate=0.3), seed)
    return [injector.draw_deploy_failure() for _ in range(count)]


def test_deploy_failures_repeat_under_the_same_seed() -> None:
    """Deployment outcomes repeat under the same seed, differ under another, and follow the rate."""
    assert _failures(1) == _failures(1)
    assert _failures(1) != _failures(2)
    assert 250 < sum(_failures(5)) < 350


async def test_rate_limit_is_per_client_with_retry_after() -> None:
    """Beyond N per period a client gets 429 with Retry-After; other clients are unaffected."""
    clock = FakeClock()
    async with sim_client(config(clock, rateLimit="3/1m")) as client:
        token = await fetch_token(client)  # the token request counts too
        clock.advance(10)
        ok = [await client.get(SESSION, headers=bearer(token)) for _ in range(2)]
        assert [r.status_code for r in ok] == [200, 200]
        limited = await client.get(SESSION, headers=bearer(token))
        assert limited.status_code == 429
        assert limited.json()["error"] == "rate_limited"
        assert limited.headers["retry-after"] == "50"
        other = await fetch_token(client, "other", "other-secret")
        assert (await client.get(SESSION, headers=bearer(other))).status_code == 200
        clock.advance(50)
        assert (await client.get(SESSION, headers=bearer(token))).status_code == 200


async def test_token_requests_count_for_the_client_they_name() -> None:
    """Token requests are limited per the client id in the Basic header or the form."""
    async with sim_client(config(rateLimit="1/1h")) as client:
        assert (
            await client.post(
                TOKEN_PATH,
                data={
                    "grant_type": "client_credentials",
                    "client_id": "other",
                    "client_secret": "other-secret",
                },
            )
        ).status_code == 200
        await fetch_token(client)
        response = await client.post(
            TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=("other", "other-secret")
        )
        assert response.status_code == 429
        assert response.headers["retry-after"] == "3600"


async def test_reset_processes_the_request_then_drops_the_connection() -> None:
    """With reset_rate 1 the deployment is created but the caller gets no answer."""
    async with sim_client(config()) as client:
        token = await fetch_token(client)
        await client.put("/_sim/faults", json={"resetRate": 1.0})
        with pytest.raises(ConnectionResetError):
            await client.post("/api/v1/bot/deploy", json=DEPLOY, headers=bearer(token))
        deployments = (await client.get("/_sim/deployments")).json()["deployments"]
        assert [d["deploymentId"] for d in deployments] == ["dep-1"]
        log = (await client.get("/_sim/requests")).json()["requests"]
        assert (log[-1]["status"], log[-1]["fault"]) == (201, "reset")


async def test_latency_delays_api_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """``latency_ms`` sleeps that long before each API request, and not before others."""
    delays: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(delay: float, *args: Any) -> Any:
        delays.append(delay)
        return await real_sleep(0, *args)

    async with sim_client(config(latencyMs=60)) as client:
        monkeypatch.setattr(asyncio, "sleep", recording_sleep)
        await client.get(SESSION)
        await client.get("/healthz")
    assert delays == [0.06]


async def test_admin_changes_faults_partially(admin: httpx.AsyncClient) -> None:
    """PUT /_sim/faults changes only the settings it names and answers them all."""
    response = await admin.put("/_sim/faults", json={"rateLimit": "10/1s", "latencyMs": 5})
    assert response.status_code == 200
    assert response.json() == {
        "latencyMs": 5.0,
        "errorRate": 0.0,
        "rateLimit": "10/1s",
        "deployFailRate": 0.0,
        "resetRate": 0.0,
        "retryAfter": 1,
        "retryAfterFormat": "seconds",
    }
    await admin.put("/_sim/faults", json={"rateLimit": None})
    assert (await admin.get("/_sim/faults")).json()["rateLimit"] is None
    assert (await admin.get("/_sim/faults")).json()["latencyMs"] == 5.0


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"errorRate": 2}, "/errorRate"),
        ({"rateLimit": "lots"}, "/rateLimit"),
        ({"bogus": 1}, "/bogus"),
    ],
)
async def test_admin_refuses_invalid_faults(
    admin: httpx.AsyncClient, body: dict[str, object], pointer: str
) -> None:
    """An out-of-range, unparsable or unknown fault setting answers 422 and changes nothing."""
    response = await admin.put("/_sim/faults", json=body)
    assert response.status_code == 422
    assert [d["path"] for d in response.json()["details"]] == [pointer]
    assert (await admin.get("/_sim/faults")).json()["errorRate"] == 0.0


def test_rate_window_slides() -> None:
    """A slot frees one period after the request that took it, not at a fixed boundary."""
    injector = FaultInjector(FaultSettings(rate_limit="2/10s"), 0)
    assert injector.admit("c", 0.0) is None
    assert injector.admit("c", 6.0) is None
    assert injector.admit("c", 9.5) == 1
    assert injector.admit("c", 10.0) is None
    assert injector.admit("c", 12.0) == 4

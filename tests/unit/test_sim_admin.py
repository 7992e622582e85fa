"""The simulator's admin API under /_sim/: live edits, sources, inspection, reset."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from support.simserver import (
    DEFAULT_CLIENT_SECRET,
    FakeClock,
    bearer,
    fetch_token,
    sim_client,
)

from tenantops.servers.sim.contract import SimConfig

EXPORT = "/api/v1/bot/export"


def model(example: str = "hello", bot_id: str = "bot-1") -> dict[str, Any]:
    return {"botId": bot_id, "intents": [{"name": "greet", "examples": [example]}]}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with sim_client(SimConfig(admin=True, clock=FakeClock(), deploy_seconds=0)) as client:
        client.headers.update(bearer(await fetch_token(client)))
        yield client


async def test_admin_api_is_off_without_admin() -> None:
    """Without ``admin`` every /_sim/ path is an unknown endpoint (404 in the error shape)."""
    async with sim_client() as client:
        response = await client.get("/_sim/state")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_live_edit_replaces_the_bot_and_bumps_its_version(client: httpx.AsyncClient) -> None:
    """PUT a bot as if edited in the UI: the next export serves it with a new version."""
    first = await client.put("/_sim/workspaces/ws-1/bots/bot-1", json=model("hello"))
    assert first.json() == {"workspaceId": "ws-1", "botId": "bot-1", "version": "1.0.1"}
    exported = (
        await client.post(EXPORT, json={"botId": "bot-1", "format": "json", "workspaceId": "ws-1"})
    ).json()
    assert (exported["version"], exported["intents"][0]["examples"]) == ("1.0.1", ["hello"])
    await client.put("/_sim/workspaces/ws-1/bots/bot-1", json=model("hi there"))
    exported = (
        await client.post(EXPORT, json={"botId": "bot-1", "format": "json", "workspaceId": "ws-1"})
    ).json()
    assert (exported["version"], exported["intents"][0]["examples"]) == ("1.0.2", ["hi there"])


@pytest.mark.parametrize(
    ("body", "pointer"),
    [(model(bot_id="other"), "/botId"), ({"botId": "bot-1", "intents": [{}]}, "/intents/0/name")],
)
async def test_live_edit_refuses_invalid_models(
    client: httpx.AsyncClient, body: dict[str, Any], pointer: str
) -> None:
    """A PUT whose model is invalid, or names another bot than the path, answers 422."""
    response = await client.put("/_sim/workspaces/ws-1/bots/bot-1", json=body)
    assert response.status_code == 422
    assert [d["path"] for d in response.json()["details"]] == [pointer]


async def test_delete_bot_is_204_then_404(client: httpx.AsyncClient) -> None:
    """DELETE removes a live bot (exports then 404); deleting it again answers 404."""
    await client.put("/_sim/workspaces/ws-1/bots/bot-1", json=model())
    assert (await client.delete("/_sim/workspaces/ws-1/bots/bot-1")).status_code == 204
    assert (await client.delete("/_sim/workspaces/ws-1/bots/bot-1")).status_code == 404
    body = {"botId": "bot-1", "format": "json", "workspaceId": "ws-1"}
    assert (await client.post(EXPORT, json=body)).status_code == 404


async def test_source_lets_export_omit_the_workspace(client: httpx.AsyncClient) -> None:
    """After PUT /_sim/sources/{bot}, an export without workspaceId reads that workspace."""
    await client.put("/_sim/workspaces/ws-src/bots/bot-1", json=model())
    response = await client.put("/_sim/sources/bot-1", json={"workspaceId": "ws-src"})
    assert response.json() == {"botId": "bot-1", "workspaceId": "ws-src"}
    exported = await client.post(EXPORT, json={"botId": "bot-1", "format": "json"})
    assert exported.status_code == 200
    assert exported.json()["intents"] == model()["intents"]


@pytest.mark.parametrize("body", [{}, {"workspaceId": ""}, {"workspaceId": 3}])
async def test_source_needs_a_workspace(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    """A source body without a workspace id answers 422."""
    response = await client.put("/_sim/sources/bot-1", json=body)
    assert response.status_code == 422


async def test_state_dump_leaves_out_secrets_and_tokens(client: httpx.AsyncClient) -> None:
    """GET /_sim/state lists clients and sessions but no secret or token."""
    await client.patch(
        "/api/v4/session/s-1/context",
        json={"context": {"k": "v"}, "version": 1},
        headers={"If-Match": "0"},
    )
    response = await client.get("/_sim/state")
    text = response.text
    assert DEFAULT_CLIENT_SECRET not in text
    assert client.headers["authorization"].split()[1] not in text
    state = response.json()
    assert state["clients"][0]["clientId"] == "demo-client"
    assert state["sessions"] == {"s-1": {"context": {"k": "v"}, "version": 1}}


async def test_deployments_and_requests_are_listed(client: httpx.AsyncClient) -> None:
    """/_sim/deployments shows each deployment's status; /_sim/requests logs each API call."""
    headers = {"Idempotency-Key": "k-1"}
    deployed = await client.post(
        "/api/v1/bot/deploy", json={"model": model(), "targetWorkspace": "ws-1"}, headers=headers
    )
    deployments = (await client.get("/_sim/deployments")).json()["deployments"]
    assert [(d["deploymentId"], d["status"], d["workspaceId"]) for d in deployments] == [
        ("dep-1", "success", "ws-1")
    ]
    log = (await client.get("/_sim/requests")).json()["requests"]
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("POST", "/api/v4/auth/oauth/token", 200),
        ("POST", "/api/v1/bot/deploy", 201),
    ]
    assert log[1]["clientId"] == "demo-client"
    assert (log[1]["idempotencyKey"], log[1]["workspaceId"]) == ("k-1", "ws-1")
    assert log[1]["requestId"] == deployed.headers["x-request-id"]
    assert (await client.delete("/_sim/requests")).status_code == 204
    assert (await client.get("/_sim/requests")).json() == {"requests": []}


async def test_reset_returns_to_the_start(client: httpx.AsyncClient) -> None:
    """POST /_sim/reset forgets bots, tokens and faults changed since start."""
    await client.put("/_sim/workspaces/ws-1/bots/bot-1", json=model())
    await client.put("/_sim/faults", json={"errorRate": 0.5})
    assert (await client.post("/_sim/reset")).status_code == 204
    assert (await client.get("/_sim/state")).json()["workspaces"] == {}
    assert (await client.get("/_sim/faults")).json()["errorRate"] == 0.0
    assert (await client.get("/api/v4/session/s/context")).status_code == 401

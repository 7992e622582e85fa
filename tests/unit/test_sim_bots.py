"""The simulator's bot export and deploy, deployment lifecycle, idempotency and rollback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from support.simserver import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    FakeClock,
    bearer,
    fetch_token,
    sim_client,
)

from tenantops.servers.sim.contract import FaultSettings, SimClient, SimConfig

WS = "ws-target"
CLIENTS = (
    SimClient(client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET),
    SimClient(client_id="other", client_secret="other-secret"),
)
DEPLOY_SECONDS = 3.0


def make_model(*examples: str, bot_id: str = "bot-1") -> dict[str, Any]:
    return {
        "botId": bot_id,
        "intents": [{"name": "order_status", "examples": list(examples) or ["where is it"]}],
        "entities": [{"name": "carrier", "values": ["ups"], "synonyms": {"ups": ["united"]}}],
        "dialogs": [{"id": "d1", "node": "greeting", "next": "order_lookup"}],
        "metadata": {"locale": "en-US"},
    }


class Api:
    """A client with a token, and the calls these tests repeat."""

    def __init__(self, client: httpx.AsyncClient, token: str, clock: FakeClock) -> None:
        self.client, self.headers, self.clock = client, bearer(token), clock

    async def export(self, bot_id: str = "bot-1", workspace: str | None = WS) -> httpx.Response:
        body = {
            "botId": bot_id,
            "format": "json",
            **({"workspaceId": workspace} if workspace else {}),
        }
        return await self.client.post("/api/v1/bot/export", json=body, headers=self.headers)

    async def deploy(
        self, model: dict[str, Any], key: str | None = None, workspace: str = WS
    ) -> httpx.Response:
        headers = {**self.headers, **({"Idempotency-Key": key} if key else {})}
        body = {"model": model, "targetWorkspace": workspace}
        return await self.client.post("/api/v1/bot/deploy", json=body, headers=headers)

    async def status(self, deployment_id: str) -> httpx.Response:
        return await self.client.get(
            f"/api/v1/deployment/{deployment_id}/status", headers=self.headers
        )

    async def rollback(self, deployment_id: str) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/deployment/{deployment_id}/rollback", headers=self.headers
        )

    async def deploy_and_finish(self, model: dict[str, Any]) -> str:
        response = await self.deploy(model)
        assert response.status_code == 201, response.text
        self.clock.advance(DEPLOY_SECONDS)
        deployment_id = str(response.json()["deploymentId"])
        assert (await self.status(deployment_id)).json()["status"] == "success"
        return deployment_id


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def _api(clock: FakeClock, faults: FaultSettings) -> AsyncIterator[Api]:
    config = SimConfig(
        deploy_seconds=DEPLOY_SECONDS, clock=clock, faults=faults, clients=CLIENTS, admin=True
    )
    async with sim_client(config) as client:
        yield Api(client, await fetch_token(client), clock)


@pytest.fixture
async def api(clock: FakeClock) -> AsyncIterator[Api]:
    async for value in _api(clock, FaultSettings()):
        yield value


@pytest.fixture
async def failing_api(clock: FakeClock) -> AsyncIterator[Api]:
    async for value in _api(clock, FaultSettings(deploy_fail_rate=1.0)):
        yield value


async def test_export_of_an_undeployed_bot_is_404(api: Api) -> None:
    """A workspace without the bot, or a bot without a source workspace, answers 404."""
    for response in (await api.export(), await api.export(workspace=None)):
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"


async def test_deployment_moves_pending_processing_success(api: Api, clock: FakeClock) -> None:
    """Status is pending for a third of the time, processing until the end, then success."""
    response = await api.deploy(make_model())
    assert response.status_code == 201
    accepted = response.json()
    assert accepted["status"] == "pending"
    assert accepted["deploymentId"].startswith("dep-")
    assert accepted["timestamp"] == "2024-05-20T10:00:00Z"
    seen = []
    for step in (0.0, 0.9, 0.2, 1.8, 0.1):
        clock.advance(step)
        seen.append((await api.status(accepted["deploymentId"])).json())
    assert [s["status"] for s in seen] == [
        "pending",
        "pending",
        "processing",
        "processing",
        "success",
    ]
    assert "errorDetail" not in seen[-1]


async def test_export_serves_the_model_only_after_success(api: Api, clock: FakeClock) -> None:
    """The workspace serves a deployed model once it succeeds, with version and exportedAt set."""
    response = await api.deploy(make_model("a"))
    clock.advance(DEPLOY_SECONDS - 0.1)
    assert (await api.export()).status_code == 404
    clock.advance(0.1)
    exported = await api.export()
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/json"
    body = exported.json()
    assert body["intents"] == make_model("a")["intents"]
    assert body["metadata"] == {"locale": "en-US", "exportedAt": "2024-05-20T10:00:03Z"}
    assert body["version"] == "1.0.1"
    assert (await api.status(response.json()["deploymentId"])).json()["status"] == "success"


async def test_each_deploy_bumps_the_version_and_exported_at_follows_the_clock(
    api: Api, clock: FakeClock
) -> None:
    """A second successful deploy bumps ``version``; ``exportedAt`` is the export's time."""
    await api.deploy_and_finish(make_model("a"))
    first = (await api.export()).json()
    await api.deploy_and_finish(make_model("b"))
    clock.advance(7)
    second = (await api.export()).json()
    assert (first["version"], second["version"]) == ("1.0.1", "1.0.2")
    assert second["metadata"]["exportedAt"] == "2024-05-20T10:00:13Z"
    assert second["intents"][0]["examples"] == ["b"]


async def test_failed_deployment_keeps_the_previous_model(
    failing_api: Api, clock: FakeClock
) -> None:
    """With ``deploy_fail_rate`` 1 a deployment ends failed with errorDetail, serving nothing new."""
    response = await failing_api.deploy(make_model())
    clock.advance(DEPLOY_SECONDS)
    status = (await failing_api.status(response.json()["deploymentId"])).json()
    assert status["status"] == "failed"
    assert status["errorDetail"]
    assert (await failing_api.export()).status_code == 404


@pytest.mark.parametrize(
    ("model", "pointer"),
    [
        ({"intents": []}, "/model/botId"),
        ({"botId": "b", "intents": [{"examples": []}]}, "/model/intents/0/name"),
        ({"botId": "b", "entities": [{"name": "e", "values": "ups"}]}, "/model/entities/0/values"),
        ({"botId": "b", "dialogs": [{"id": "d"}]}, "/model/dialogs/0/node"),
        ({"botId": "b", "intents": [{"name": "x"}, {"name": "x"}]}, "/model"),
    ],
)
async def test_invalid_model_is_422_with_pointers(
    api: Api, model: dict[str, Any], pointer: str
) -> None:
    """A well-formed body with an invalid model answers 422 with a JSON pointer to the fault."""
    response = await api.deploy(model)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_failed"
    assert pointer in [d["path"] for d in body["details"]]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"model": make_model()}, "/targetWorkspace"),
        ({"model": make_model(), "targetWorkspace": ""}, "/targetWorkspace"),
        ({"model": make_model(), "targetWorkspace": 7}, "/targetWorkspace"),
        ({"targetWorkspace": WS}, "/model"),
    ],
)
async def test_invalid_deploy_body_is_422(api: Api, body: dict[str, Any], pointer: str) -> None:
    """Missing or mistyped deploy fields answer 422 naming the field."""
    response = await api.client.post("/api/v1/bot/deploy", json=body, headers=api.headers)
    assert response.status_code == 422
    assert [d["path"] for d in response.json()["details"]] == [pointer]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"botId": "b", "format": "xml"}, "/format"),
        ({"botId": "b"}, "/format"),
        ({"format": "json"}, "/botId"),
        ({"botId": "b", "format": "json", "workspaceId": ""}, "/workspaceId"),
    ],
)
async def test_invalid_export_body_is_422(api: Api, body: dict[str, Any], pointer: str) -> None:
    """Only format "json" is served; missing or empty fields answer 422 naming them."""
    response = await api.client.post("/api/v1/bot/export", json=body, headers=api.headers)
    assert response.status_code == 422
    assert [d["path"] for d in response.json()["details"]] == [pointer]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"", "application/json"),
        (b'{"botId": "b"}', "text/plain"),
    ],
)
async def test_malformed_body_is_400(api: Api, content: bytes, content_type: str) -> None:
    """A body that is not a JSON object (or not sent as JSON) answers 400 invalid_request."""
    headers = {**api.headers, "Content-Type": content_type}
    response = await api.client.post("/api/v1/bot/export", content=content, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_same_idempotency_key_answers_the_same_deployment(api: Api) -> None:
    """A retry with the same key and body answers 200 with the first deployment; no second starts."""
    first = await api.deploy(make_model(), key="key-1")
    again = await api.deploy(make_model(), key="key-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    deployments = (await api.client.get("/_sim/deployments")).json()["deployments"]
    assert [d["idempotencyKey"] for d in deployments] == ["key-1"]


async def test_reused_key_with_another_body_is_422(api: Api) -> None:
    """The same key with a different body answers 422 idempotency_key_reused."""
    await api.deploy(make_model("a"), key="key-1")
    response = await api.deploy(make_model("b"), key="key-1")
    assert response.status_code == 422
    assert response.json()["error"] == "idempotency_key_reused"


async def test_keys_are_per_client(api: Api) -> None:
    """Another client's identical key starts its own deployment."""
    first = await api.deploy(make_model(), key="key-1")
    other = Api(api.client, await fetch_token(api.client, "other", "other-secret"), api.clock)
    second = await other.deploy(make_model(), key="key-1")
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["deploymentId"] != second.json()["deploymentId"]


async def test_unknown_deployment_is_404(api: Api) -> None:
    """Status and rollback of an unknown deployment answer 404."""
    assert (await api.status("dep-404")).status_code == 404
    assert (await api.rollback("dep-404")).status_code == 404


async def test_rollback_restores_the_previous_model(api: Api) -> None:
    """Rolling back a successful deployment serves the model from before it again."""
    await api.deploy_and_finish(make_model("a"))
    before = (await api.export()).json()
    second = await api.deploy_and_finish(make_model("b"))
    response = await api.rollback(second)
    assert response.status_code == 200
    assert response.json() == {"deploymentId": second, "status": "rolled_back"}
    after = (await api.export()).json()
    assert after["intents"] == before["intents"]
    assert after["version"] == before["version"]
    assert (await api.status(second)).json()["status"] == "rolled_back"


async def test_rolling_back_the_first_deployment_removes_the_bot(api: Api) -> None:
    """A rollback of the first deployment leaves the workspace without the bot."""
    first = await api.deploy_and_finish(make_model())
    await api.rollback(first)
    assert (await api.export()).status_code == 404


async def test_rollback_of_a_running_deployment_cancels_it(api: Api, clock: FakeClock) -> None:
    """A pending deployment rolled back never applies, even after its time is up."""
    response = await api.deploy(make_model())
    deployment_id = response.json()["deploymentId"]
    assert (await api.rollback(deployment_id)).json()["status"] == "rolled_back"
    clock.advance(DEPLOY_SECONDS * 2)
    assert (await api.status(deployment_id)).json()["status"] == "rolled_back"
    assert (await api.export()).status_code == 404


async def test_rollback_of_failed_deployment_and_twice_is_accepted(
    failing_api: Api, clock: FakeClock
) -> None:
    """A failed deployment rolls back to rolled_back, and a second rollback answers the same."""
    deployment_id = (await failing_api.deploy(make_model())).json()["deploymentId"]
    clock.advance(DEPLOY_SECONDS)
    first = await failing_api.rollback(deployment_id)
    second = await failing_api.rollback(deployment_id)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == {"deploymentId": deployment_id, "status": "rolled_back"}

"""The v2.0 simulator's admin side door, faults and persistence."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.simserver import FakeClock, v2_sim_client
from support.simv2 import config, seed_project

from tenantops.errors import ConfigError
from tenantops.servers.sim.cognigy_v2 import ApiKey, V2FaultSettings, create_app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with v2_sim_client(config()) as client:
        yield client


async def test_seed_builds_a_whole_project(client: httpx.AsyncClient) -> None:
    """The seed answers ids by name, and the API serves what it built."""
    project = await seed_project(client)
    flow = project["flows"][0]
    assert set(project["locales"]) == {"en-US", "de-DE"}
    assert set(flow["intents"]) == {"greet", "bye"}
    assert set(flow["nodes"]) == {
        "Welcome",
        "Known?",
        "Yes",
    }
    entries = (await client.get(f"/v2.0/lexicons/{project['lexicons']['colors']}/entries")).json()[
        "items"
    ]
    assert [(e["mainKeyphrase"], [k["value"] for k in e["keyphrases"]]) for e in entries] == [
        ("red", ["crimson"])
    ]
    members = (await client.get(f"/v2.0/projects/{project['_id']}/members")).json()["items"]
    assert [m["email"] for m in members] == ["carol@example.com"]
    snapshots = (await client.get("/v2.0/snapshots", params={"projectId": project["_id"]})).json()[
        "items"
    ]
    assert [s["_id"] for s in snapshots] == [project["snapshots"]["baseline"]]


async def test_ui_edit_changes_a_node_label(client: httpx.AsyncClient) -> None:
    """PATCH /_sim/docs/nodes/{n} edits a node as the UI would; the API then serves the edit."""
    project = await seed_project(client)
    flow = project["flows"][0]
    node = flow["nodes"]["Welcome"]
    edited = await client.patch(f"/_sim/docs/nodes/{node}", json={"label": "Hi there"})
    assert edited.json()["lastChangedBy"] == "ui"
    served = (await client.get(f"/v2.0/flows/{flow['_id']}/chart/nodes/{node}")).json()
    assert served["label"] == "Hi there"
    assert (await client.patch(f"/_sim/docs/nodes/{node}", json={"_id": "x"})).status_code == 400
    assert (await client.patch("/_sim/docs/nope/" + node, json={})).status_code == 404


async def test_ui_adds_a_sentence_and_deletes_an_intent(client: httpx.AsyncClient) -> None:
    """The admin API adds a sentence and deletes an intent (with its sentences)."""
    project = await seed_project(client)
    flow = project["flows"][0]
    greet = flow["intents"]["greet"]
    added = await client.post(f"/_sim/intents/{greet}/sentences", json={"text": "hey"})
    assert added.status_code == 201
    texts = [
        s["text"]
        for s in (await client.get(f"/v2.0/flows/{flow['_id']}/intents/{greet}/sentences")).json()[
            "items"
        ]
    ]
    assert texts == ["hi", "hello", "hey"]
    assert (await client.delete(f"/_sim/docs/intents/{greet}")).status_code == 204
    assert (
        await client.get(f"/v2.0/flows/{flow['_id']}/intents/{greet}/sentences")
    ).status_code == 404


async def test_counters_count_calls_per_route_and_reset(client: httpx.AsyncClient) -> None:
    """Every API call is counted under its route template and status; admin calls are not."""
    project = await seed_project(client)
    flow = project["flows"][0]["_id"]
    await client.get(f"/new/v2.0/flows/{flow}/intents")
    await client.get(f"/v2.0/FLOWS/{flow}/intents")
    await client.get("/v2.0/flows/" + "e" * 24 + "/intents")
    counters = (await client.get("/_sim/counters")).json()
    assert counters["routes"] == {"GET /v2.0/flows/{flowId}/intents": 3}
    assert counters["statuses"]["GET /v2.0/flows/{flowId}/intents"] == {"200": 2, "404": 1}
    assert counters["total"] == 3
    await client.delete("/_sim/counters")
    assert (await client.get("/_sim/counters")).json()["total"] == 0


async def test_rate_limit_is_per_api_key_with_retry_after() -> None:
    """Beyond the quota a key gets 429 with Retry-After; another key still gets through."""
    clock = FakeClock()
    keys = (ApiKey(key="k-1"), ApiKey(key="k-2"))
    faults = V2FaultSettings(rate_limit="2/10s")
    async with v2_sim_client(config(api_keys=keys, faults=faults, clock=clock)) as client:
        one = {"X-API-Key": "k-1"}
        statuses = [(await client.get("/v2.0/projects", headers=one)).status_code for _ in range(3)]
        limited = await client.get("/v2.0/projects", headers=one)
        other = await client.get("/v2.0/projects", headers={"X-API-Key": "k-2"})
        clock.advance(10)
        later = await client.get("/v2.0/projects", headers=one)
    assert statuses == [200, 200, 429]
    assert limited.headers["retry-after"] == "10"
    assert (limited.json()["title"], limited.json()["code"]) == ("Too Many Requests Error", 429)
    assert other.status_code == later.status_code == 200


async def test_faults_change_at_run_time(client: httpx.AsyncClient) -> None:
    """PUT /_sim/faults turns errors on; the API then fails 500/503 without processing."""
    settings = (await client.put("/_sim/faults", json={"errorRate": 1.0, "retryAfter": 3})).json()
    assert settings["errorRate"] == 1.0
    assert settings["trainFailRate"] == 0.0
    statuses = set()
    for _ in range(10):
        response = await client.post("/v2.0/projects", json={"name": "x"})
        statuses.add(response.status_code)
        if response.status_code == 503:
            assert response.headers["retry-after"] == "3"
    assert statuses <= {500, 503}
    assert statuses
    assert (await client.put("/_sim/faults", json={"nope": 1})).status_code == 400
    await client.put("/_sim/faults", json={"errorRate": 0})
    assert (await client.get("/v2.0/projects")).json()["total"] == 0


async def test_reset_rate_drops_the_connection_after_processing(client: httpx.AsyncClient) -> None:
    """With resetRate=1 the request is processed but never answered."""
    await client.put("/_sim/faults", json={"resetRate": 1.0})
    with pytest.raises(ConnectionResetError):
        await client.post("/v2.0/projects", json={"name": "dropped"})
    await client.put("/_sim/faults", json={"resetRate": 0.0})
    assert [p["name"] for p in (await client.get("/v2.0/projects")).json()["items"]] == ["dropped"]


async def test_scripted_faults_meet_the_next_requests_to_their_route(
    client: httpx.AsyncClient,
) -> None:
    """POST /_sim/faults/next: a processed request answered 502 (its work done), an
    unprocessed 409, each once and only on its route; a cut without processing."""
    queued = await client.post(
        "/_sim/faults/next",
        json={"route": "POST /v2.0/projects", "status": 502, "processed": True},
    )
    assert queued.json() == {
        "next": [{"route": "POST /v2.0/projects", "status": 502, "processed": True}]
    }
    await client.post("/_sim/faults/next", json={"route": "GET /v2.0/projects", "status": 409})
    lost = await client.post("/v2.0/projects", json={"name": "kept"})
    assert (lost.status_code, lost.json()["code"]) == (502, 502)
    refused = await client.get("/v2.0/projects")
    assert (refused.status_code, refused.json()["code"]) == (409, 1004)
    listed = (await client.get("/v2.0/projects")).json()["items"]
    assert [p["name"] for p in listed] == ["kept"]
    await client.post("/_sim/faults/next", json={"route": "POST /v2.0/projects", "status": 0})
    with pytest.raises(ConnectionResetError):
        await client.post("/v2.0/projects", json={"name": "never"})
    assert (await client.get("/v2.0/projects")).json()["total"] == 1
    statuses = (await client.get("/_sim/counters")).json()["statuses"]
    assert statuses["POST /v2.0/projects"] == {"0": 1, "502": 1}


@pytest.mark.parametrize(
    "body",
    [
        {"route": "POST /v2.0/projects", "status": 200},
        {"route": "/v2.0/projects", "status": 500},
        {"route": "GET /_sim/state", "status": 500},
        {"route": "GET /v2.0/projects", "status": 500, "count": 0},
    ],
)
async def test_scripted_faults_refuse_what_cannot_happen(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    """A success status, a route without method or outside the API, no count: 400."""
    assert (await client.post("/_sim/faults/next", json=body)).status_code == 400


async def test_faults_repeat_under_a_seed() -> None:
    """The same seed and settings inject the same faults in the same order."""
    runs = []
    for _ in range(2):
        async with v2_sim_client(config(seed=7, faults=V2FaultSettings(error_rate=0.5))) as client:
            runs.append([(await client.get("/v2.0/projects")).status_code for _ in range(12)])
    assert runs[0] == runs[1]
    assert len(set(runs[0])) > 1


async def test_reset_goes_back_to_the_start(client: httpx.AsyncClient) -> None:
    """POST /_sim/reset forgets seeded projects, counters and fault changes."""
    await seed_project(client)
    await client.put("/_sim/faults", json={"latencyMs": 5})
    assert (await client.post("/_sim/reset")).status_code == 204
    assert (await client.get("/_sim/faults")).json()["latencyMs"] == 0
    assert (await client.get("/v2.0/projects")).json()["total"] == 0
    assert (await client.get("/_sim/counters")).json()["total"] == 1


async def test_admin_api_needs_the_flag() -> None:
    """Without admin=True, /_sim/ answers 404."""
    async with v2_sim_client(config(admin=False)) as client:
        assert (await client.get("/_sim/state")).status_code == 404


async def test_state_persists_across_restarts(tmp_path: Path) -> None:
    """With a state directory, a second app sees what the first one stored."""
    async with v2_sim_client(config(state_dir=tmp_path)) as client:
        project: dict[str, Any] = await seed_project(client)
    assert (tmp_path / "state.json").exists()
    async with v2_sim_client(config(state_dir=tmp_path)) as client:
        again = (await client.get(f"/v2.0/projects/{project['_id']}")).json()
        created = (await client.post("/v2.0/projects", json={"name": "next"})).json()
    assert again["name"] == "acme"
    assert created["_id"] not in {project["_id"], *project["locales"].values()}


def test_invalid_state_file_is_a_config_error(tmp_path: Path) -> None:
    """A state.json that is not the documented shape refuses to start."""
    (tmp_path / "state.json").write_text('{"tables": []}', encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid simulator state"):
        create_app(config(state_dir=tmp_path))

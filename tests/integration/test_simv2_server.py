"""``tenantops sim --flavor cognigy-v2`` as a real server: HTTP, tasks, dropped connections, restarts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.simserver import V2_API_KEY, SimServer, run_sim

from tenantops.servers.sim.cognigy_v2 import TOKEN_PATH

pytestmark = pytest.mark.integration

SEED = {
    "projects": [
        {
            "name": "acme",
            "flows": [
                {
                    "name": "Main",
                    "context": {"tier": "gold"},
                    "intents": [{"name": "greet", "sentences": ["hi"]}],
                }
            ],
        }
    ]
}


def seed(server: SimServer) -> dict[str, Any]:
    response = server.admin("POST", "/_sim/seed", json=SEED)
    assert response.status_code == 201, response.text
    return dict(response.json()["projects"][0])


def wait_task(client: httpx.Client, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        task = client.get(f"/new/v2.0/tasks/{task_id}").json()
        if task["status"] not in ("queued", "active"):
            return dict(task)
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish")


def test_oauth_snapshot_and_counters_over_http() -> None:
    """An OAuth token drives a snapshot task to done; the snapshot is found by name; calls are counted."""
    with run_sim("--task-seconds", "0.2", flavor="cognigy-v2") as server:
        project = seed(server)
        with server.client() as client:
            form = {
                "grant_type": "client_credentials",
                "client_id": "demo-client",
                "client_secret": "demo-secret",
            }
            grant = client.post(TOKEN_PATH, data=form).json()
            client.headers["Authorization"] = f"{grant['token_type']} {grant['access_token']}"
            reply = client.post(
                "/new/v2.0/snapshots", json={"projectId": project["_id"], "name": "rel-1"}
            )
            assert reply.status_code == 202
            task = wait_task(client, reply.json()["_id"])
            found = client.get(
                "/new/v2.0/snapshots", params={"projectId": project["_id"], "filter": "rel-1"}
            )
        counters = server.admin("GET", "/_sim/counters").json()
    assert task["status"] == "done"
    assert [s["name"] for s in found.json()["items"]] == ["rel-1"]
    assert found.headers["x-trace-id"].startswith("api--")
    assert counters["routes"]["POST /v2.0/snapshots"] == 1
    assert counters["routes"]["GET /v2.0/tasks/{taskId}"] >= 1


def test_reset_rate_drops_connections_after_processing() -> None:
    """With --reset-rate 1 the server processes a call and then cuts the connection."""
    with run_sim("--reset-rate", "1", flavor="cognigy-v2") as server:
        with (
            server.client(headers={"X-API-Key": V2_API_KEY}) as client,
            pytest.raises(httpx.TransportError),
        ):
            client.post("/new/v2.0/projects", json={"name": "dropped"})
        state = server.admin("GET", "/_sim/state").json()
    assert [p["name"] for p in state["tables"]["projects"]] == ["dropped"]


def test_state_survives_a_restart(tmp_path: Path) -> None:
    """With --state, a seeded project and an injected context survive a restart."""
    with run_sim(state_dir=tmp_path, flavor="cognigy-v2") as server:
        project = seed(server)
        with server.client(headers={"X-API-Key": V2_API_KEY}) as client:
            client.post(
                "/new/v2.0/sessions/s-1/context/inject", json={"userId": "u", "context": {"k": "v"}}
            )
    with run_sim(state_dir=tmp_path, flavor="cognigy-v2") as server:
        with server.client(headers={"X-API-Key": V2_API_KEY}) as client:
            flow = client.get(f"/new/v2.0/flows/{project['flows'][0]['_id']}").json()
        session = server.admin("GET", "/_sim/sessions/s-1").json()
    assert flow["context"] == {"tier": "gold"}
    assert session["context"] == {"k": "v"}

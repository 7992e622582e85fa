"""``tenantops sim`` as a real server: HTTP, restarts with --state, dropped connections."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.simserver import SimServer, run_sim

pytestmark = pytest.mark.integration

MODEL = {"botId": "bot-1", "intents": [{"name": "greet", "examples": ["hi"]}]}
EXPORT = {"botId": "bot-1", "format": "json", "workspaceId": "ws-1"}


def deploy_and_wait(server: SimServer, model: dict[str, Any]) -> str:
    headers = {"Authorization": f"Bearer {server.token()}"}
    with server.client(headers=headers) as client:
        response = client.post(
            "/api/v1/bot/deploy", json={"model": model, "targetWorkspace": "ws-1"}
        )
        assert response.status_code == 201, response.text
        deployment_id = str(response.json()["deploymentId"])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status = client.get(f"/api/v1/deployment/{deployment_id}/status").json()["status"]
            if status not in ("pending", "processing"):
                assert status == "success"
                return deployment_id
            time.sleep(0.05)
    raise AssertionError(f"{deployment_id} did not finish")


def test_token_deploy_and_export_over_http() -> None:
    """A token from the server deploys a bot that a later export returns."""
    with run_sim("--deploy-seconds", "0.2") as server:
        deploy_and_wait(server, MODEL)
        with server.client(headers={"Authorization": f"Bearer {server.token()}"}) as client:
            exported = client.post("/api/v1/bot/export", json=EXPORT)
    assert exported.status_code == 200
    assert exported.json()["intents"] == MODEL["intents"]
    assert exported.headers["x-request-id"]


def test_state_persists_across_restart(tmp_path: Path) -> None:
    """With --state, a deployed bot and a session survive a restart of the server."""
    with run_sim("--deploy-seconds", "0.2", state_dir=tmp_path) as server:
        deploy_and_wait(server, MODEL)
        with server.client(headers={"Authorization": f"Bearer {server.token()}"}) as client:
            client.patch(
                "/api/v4/session/s-1/context",
                json={"context": {"k": "v"}, "version": 1},
                headers={"If-Match": '"0"'},
            )
    with run_sim(state_dir=tmp_path) as server, server.client() as client:
        client.headers["Authorization"] = f"Bearer {server.token()}"
        exported = client.post("/api/v1/bot/export", json=EXPORT)
        session = client.get("/api/v4/session/s-1/context")
    assert exported.status_code == 200
    assert session.json()["context"] == {"k": "v"}


def test_reset_rate_drops_the_connection_after_processing() -> None:
    """With --reset-rate 1 the client sees a transport error, yet the request took effect."""
    with run_sim("--reset-rate", "1") as server, server.client() as client:
        with pytest.raises(httpx.TransportError):
            client.post(
                "/api/v4/auth/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=("demo-client", "demo-secret"),
            )
        log = server.admin("GET", "/_sim/requests").json()["requests"]
        assert [(e["path"], e["status"], e["fault"]) for e in log] == [
            ("/api/v4/auth/oauth/token", 200, "reset")
        ]
        # The server survives and answers what faults never touch.
        assert client.get("/healthz").status_code == 200


def test_openapi_json_is_served() -> None:
    """/openapi.json describes the contract's calls."""
    with run_sim() as server, server.client() as client:
        document = client.get("/openapi.json").json()
    assert "/api/v1/bot/deploy" in document["paths"]


def test_start_failure_reports_the_servers_stderr(tmp_path: Path) -> None:
    """A server that cannot start fails run_sim with its error output."""
    (tmp_path / "state.json").write_text("{broken")
    with (
        pytest.raises(RuntimeError, match="cannot read the simulator state"),
        run_sim(state_dir=tmp_path),
    ):
        pass

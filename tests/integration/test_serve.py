"""`tenantops serve` as a real server against the simulator."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.demo import DEMO_ENV, demo_sim
from support.simserver import SimServer, wait_healthy

from tenantops.apply.audit import verify

pytestmark = pytest.mark.integration

TOKEN, ROTATED = "api-token-current-0123456789", "api-token-previous-9876543210"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    with demo_sim(tmp_path_factory.mktemp("sim-state")) as server:
        yield server


@contextmanager
def serving(repo: Path, sim: SimServer, *args: str) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        **DEMO_ENV,
        "COGNIGY_BASE_URL": sim.base_url,
        "TENANTOPS_API_TOKEN": f"{TOKEN} {ROTATED}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tenantops", "-C", str(repo), "serve", "--port", str(port), *args],
        env=env,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, name="tenantops serve")
        yield base
    finally:
        proc.terminate()
        proc.communicate(timeout=15)


@pytest.fixture
def api(repo: Path, sim: SimServer) -> Iterator[str]:
    sim.admin("POST", "/_sim/reset").raise_for_status()
    with serving(repo, sim) as base:
        yield base


def tenant(name: str, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "workspace": f"ws-{name}",
        "template": "support-bot",
        "params": {
            "webhookUrl": f"https://{name}.example/hook",
            "langCode": "en-US",
            "envPrefix": name.replace("-", "_"),
        },
        "vars": {"brand": name.title(), "supportEmail": f"help@{name}.example"},
        "secrets": {"crmToken": "${env:STARK_CRM_TOKEN}"},
        "roles": [{"userId": f"admin@{name}.example", "roleId": "admin"}],
    }
    data.update(overrides)
    return data


def provision(
    base: str, body: dict[str, Any], *, headers: dict[str, str] | None = None, dry_run: bool = False
) -> httpx.Response:
    return httpx.post(
        f"{base}/api/v1/tenant/provision",
        json={"tenant": body, "dryRun": dry_run},
        headers=AUTH if headers is None else headers,
        timeout=60,
    )


def test_unauthorized(api: str) -> None:
    """No token or a wrong one is 401; every configured token (rotation) works."""
    assert provision(api, tenant("newco"), headers={}).status_code == 401
    assert (
        provision(api, tenant("newco"), headers={"Authorization": "Bearer nope"}).status_code == 401
    )
    rotated = provision(
        api, tenant("newco"), headers={"Authorization": f"Bearer {ROTATED}"}, dry_run=True
    )
    assert rotated.status_code == 200


def test_dry_run_plans_only(api: str, sim: SimServer, repo: Path) -> None:
    """dryRun answers the plan and deploys nothing."""
    response = provision(api, tenant("newco"), dry_run=True)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "planned"
    assert any(c["resource"] == "intent" and c["action"] == "create" for c in body["changes"])
    assert DEMO_ENV["STARK_CRM_TOKEN"] not in response.text
    assert sim.admin("GET", "/_sim/deployments").json()["deployments"] == []
    assert not (repo / "tenants/newco.yaml").exists()


def test_dry_run_lists_the_steps_apply_would_take(api: str) -> None:
    """dryRun answers the decided steps: deploy, roles, lock entry, as apply --dry-run does."""
    response = provision(api, tenant("stepsco"), dry_run=True)
    assert response.status_code == 200, response.text
    steps = response.json()["steps"]
    assert steps[0].startswith("deploy the planned model with idempotency key tenantops-")
    assert "assign role admin to admin@stepsco.example" in steps
    assert steps[-1] == "record the planned model as applied in the lockfile"


def test_validation_errors_list_every_pointer(api: str) -> None:
    """An invalid tenant is 422 with every error and its JSON pointer."""
    bad = tenant("newco", params={"langCode": "English", "maxRetries": -1}, colour="blue")
    bad.pop("workspace")
    response = provision(api, bad)
    assert response.status_code == 422
    pointers = {d["path"] for d in response.json()["details"]}
    assert {"/params/langCode", "/params/maxRetries", "/colour"} <= pointers
    assert any("workspace" in d["message"] for d in response.json()["details"])


def test_template_error_names_the_variable_and_template_line(api: str) -> None:
    """A tenant the template fails on is 422 naming the variable, the template file and line."""
    bad = tenant("newco", vars={"supportEmail": "help@newco.example"})
    response = provision(api, bad)
    assert response.status_code == 422, response.text
    (detail,) = response.json()["details"]
    assert detail["message"] == "undefined variable 'vars.brand'"
    assert detail["file"].endswith("templates/support-bot/overrides.yaml.j2")
    assert int(detail["line"]) == 3
    assert detail["location"].startswith("tenants/newco.yaml: ")


def test_success(api: str, repo: Path) -> None:
    """A new tenant is deployed, its roles assigned, recorded; the answer carries the audit trail."""
    response = provision(api, tenant("newco"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["tenantId"] == "newco"
    assert body["status"] == "applied"
    assert body["deploymentId"]
    events = [r["event"] for r in body["auditTrail"]]
    assert events[:3] == ["deploy_requested", "deploy_accepted", "deploy_succeeded"]
    assert events[-2:] == ["role_assign", "applied"]
    assert body["completedAt"].endswith("Z")
    state = httpx.get(f"{api}/api/v1/tenant/newco", headers=AUTH).json()
    assert state["deployment_id"] == body["deploymentId"]
    assert state["workspace"] == "ws-newco"
    assert httpx.get(f"{api}/api/v1/tenant/nobody", headers=AUTH).status_code == 404
    assert verify(repo / "audit") == []


def test_failed_deployment_is_rolled_back(api: str, sim: SimServer) -> None:
    """Cognigy.AI failing the deployment: 502, rolled back, and said so."""
    sim.admin("PUT", "/_sim/faults", json={"deployFailRate": 1}).raise_for_status()
    try:
        response = provision(api, tenant("failco"))
    finally:
        sim.admin("PUT", "/_sim/faults", json={"deployFailRate": 0}).raise_for_status()
    assert response.status_code == 502
    body = response.json()
    assert body["rolledBack"] is True
    assert "rolled_back" in [r["event"] for r in body["auditTrail"]]


def test_locked_tenant_is_409(api: str, repo: Path) -> None:
    """A tenant another run holds is 409, naming the holder."""
    locks = repo / ".tenantops/locks"
    locks.mkdir(parents=True, exist_ok=True)
    now = time.time()
    (locks / "lockedco.lease").write_text(
        json.dumps(
            {
                "tenant": "lockedco",
                "holder": "ci-run-7",
                "token": "t",
                "acquired_at": now,
                "expires_at": now + 600,
            }
        )
    )
    response = provision(api, tenant("lockedco"))
    assert response.status_code == 409
    assert "ci-run-7" in response.json()["message"]


def test_twenty_at_once(api: str, sim: SimServer, repo: Path) -> None:
    """20 tenants provisioned concurrently: all deployed once, all recorded."""

    async def all_of_them() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        f"{api}/api/v1/tenant/provision",
                        json={"tenant": tenant(f"t{i:02d}")},
                        headers=AUTH,
                    )
                    for i in range(20)
                )
            )

    responses = asyncio.run(all_of_them())
    assert [r.status_code for r in responses] == [201] * 20, [
        r.text for r in responses if r.status_code != 201
    ]
    deployed = [
        d["workspaceId"] for d in sim.admin("GET", "/_sim/deployments").json()["deployments"]
    ]
    assert sorted(deployed) == sorted(f"ws-t{i:02d}" for i in range(20))
    lock = json.loads((repo / "tenantops.lock").read_text())
    assert len(lock["tenants"]) == 20
    assert verify(repo / "audit") == []


def test_client_disconnect_does_not_abort(api: str, repo: Path) -> None:
    """A client that hangs up mid-deployment: the deployment finishes and is recorded."""
    with pytest.raises(httpx.TimeoutException):
        httpx.post(
            f"{api}/api/v1/tenant/provision",
            json={"tenant": tenant("goneco")},
            headers=AUTH,
            timeout=0.3,
        )
    deadline = time.monotonic() + 20
    while httpx.get(f"{api}/api/v1/tenant/goneco", headers=AUTH).status_code != 200:
        assert time.monotonic() < deadline, "the provisioning did not finish after the client left"
        time.sleep(0.2)
    events = [
        json.loads(line)["event"] for line in (repo / "audit/goneco.jsonl").read_text().splitlines()
    ]
    assert "applied" in events


def test_write_tenant_files(repo: Path, sim: SimServer) -> None:
    """With --write-tenant-files the provisioned tenant lands in tenants/ and validates."""
    sim.admin("POST", "/_sim/reset").raise_for_status()
    with serving(repo, sim, "--write-tenant-files") as base:
        assert provision(base, tenant("filed")).status_code == 201
    text = (repo / "tenants/filed.yaml").read_text()
    assert "name: filed" in text
    assert "${env:STARK_CRM_TOKEN}" in text
    env = {**os.environ, **DEMO_ENV}
    out = subprocess.run(
        [sys.executable, "-m", "tenantops", "-C", str(repo), "validate", "filed"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr

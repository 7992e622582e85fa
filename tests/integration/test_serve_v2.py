"""`tenantops serve` on the cognigy-v2 flavour: serve and the v2 simulator as real servers."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.demo import DEMO_ENV, ROOT
from support.simserver import SimServer, run_sim, wait_healthy

from tenantops.apply.audit import verify

pytestmark = pytest.mark.integration

API_KEY = "serve-v2-key-0123456789"
TOKEN = "serve-v2-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ADMIN = "admin@newco.example"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    args = ("--task-seconds", "0.2", "--api-key", f"{API_KEY}:ops@example.com")
    with run_sim(*args, flavor="cognigy-v2") as server:
        yield server


def admin(sim: SimServer, method: str, path: str, **kwargs: Any) -> Any:
    response = sim.admin(method, path, **kwargs)
    assert response.is_success, response.text
    return response.json() if response.content else None


@pytest.fixture
def project(sim: SimServer) -> str:
    """A fresh project with an empty flow Main, in an organisation that knows the admin."""
    body = {
        "users": [{"email": ADMIN}],
        "projects": [
            {
                "name": "newco",
                "locales": [{"name": "en-US", "primary": True}],
                "flows": [{"name": "Main", "context": {}}],
            }
        ],
    }
    return str(admin(sim, "POST", "/_sim/seed", json=body)["projects"][0]["_id"])


@pytest.fixture(scope="module")
def v2_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example templates, no tenants, and ``api.flavor: cognigy-v2`` with an API key."""
    dest = tmp_path_factory.mktemp("serve-v2") / "repo"
    shutil.copytree(ROOT / "templates", dest / "templates")
    (dest / "tenants").mkdir()
    config = re.sub(
        r"(?s)^api:.*?\n(?=\S)",
        "api:\n  flavor: cognigy-v2\n  baseUrl: ${env:COGNIGY_BASE_URL}\n"
        "  apiKey: ${env:COGNIGY_API_KEY}\n",
        (ROOT / "tenantops.yaml").read_text(),
        flags=re.M,
    )
    (dest / "tenantops.yaml").write_text(config)
    return dest


def _env(sim: SimServer) -> dict[str, str]:
    env = {**os.environ, **DEMO_ENV}
    for name in ("OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET"):
        env.pop(name, None)
    return env | {"COGNIGY_BASE_URL": sim.base_url, "COGNIGY_API_KEY": API_KEY}


@contextmanager
def serving(repo: Path, sim: SimServer, *args: str) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tenantops", "-C", str(repo), "serve", "--port", str(port), *args],
        env=_env(sim) | {"TENANTOPS_API_TOKEN": TOKEN},
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, name="tenantops serve")
    except RuntimeError as exc:
        proc.kill()
        raise RuntimeError(f"{exc}: {proc.communicate(timeout=15)[1].decode()}") from None
    try:
        yield base
    finally:
        proc.terminate()
        proc.communicate(timeout=15)


@pytest.fixture(scope="module")
def api(v2_repo: Path, sim: SimServer) -> Iterator[str]:
    with serving(v2_repo, sim, "--write-tenant-files") as base:
        yield base


def tenant(name: str, workspace: object, **overrides: Any) -> dict[str, Any]:
    return {
        "name": name,
        "workspace": workspace,
        "template": "support-bot",
        "params": {
            "webhookUrl": "https://newco.example/hook",
            "langCode": "en-US",
            "envPrefix": "newco",
        },
        "vars": {"brand": "Newco", "supportEmail": "help@newco.example"},
        "secrets": {"crmToken": "${env:STARK_CRM_TOKEN}"},
        "roles": [{"userId": ADMIN, "roleId": "admin"}],
        **overrides,
    }


def provision(base: str, body: dict[str, Any], *, dry_run: bool = False) -> httpx.Response:
    return httpx.post(
        f"{base}/api/v1/tenant/provision",
        json={"tenant": body, "dryRun": dry_run},
        headers=AUTH,
        timeout=60,
    )


def live(sim: SimServer, project: str) -> dict[str, Any]:
    """The project as the simulator holds it: intents with sentences, lexicons, nodes, members."""
    tables = admin(sim, "GET", "/_sim/state")["tables"]
    (flow,) = [f for f in tables["flows"] if f["projectReference"] == project]
    intents = {i["_id"]: i["name"] for i in tables["intents"] if i["flowReference"] == flow["_id"]}
    sentences: dict[str, list[str]] = {name: [] for name in intents.values()}
    for sentence in tables["sentences"]:
        if sentence["intentReference"] in intents:
            sentences[intents[sentence["intentReference"]]].append(sentence["text"])
    users = {u["_id"]: u["email"] for u in tables["users"]}
    return {
        "intents": {name: sorted(texts) for name, texts in sentences.items()},
        "lexicons": sorted(
            x["name"] for x in tables["lexicons"] if x["projectReference"] == project
        ),
        "nodes": sorted(
            n["analyticsLabel"]
            for n in tables["nodes"]
            if n["flowReference"] == flow["_id"] and n.get("analyticsLabel")
        ),
        "members": {
            users[m["userReference"]]: m["roles"]
            for m in tables["members"]
            if m["projectReference"] == project
        },
        "snapshots": [s["name"] for s in tables["snapshots"] if s["projectReference"] == project],
    }


def test_dry_run_answers_the_plan_and_steps_and_writes_nothing(
    api: str, sim: SimServer, project: str, v2_repo: Path
) -> None:
    """dryRun on cognigy-v2: 200 with the creates and the steps; the project stays empty."""
    before = live(sim, project)
    response = provision(api, tenant("dryco", project), dry_run=True)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "planned"
    creates = {(c["resource"], c["key"]) for c in body["changes"] if c["action"] == "create"}
    assert ("intent", "order_status") in creates
    assert ("role", ADMIN) in creates
    steps = body["steps"]
    assert steps[0].startswith("deploy the planned model with idempotency key tenantops-")
    assert f"assign role admin to {ADMIN}" in steps
    assert steps[-1] == "record the planned model as applied in the lockfile"
    assert live(sim, project) == before
    assert not (v2_repo / "tenants/dryco.yaml").exists()


def test_provision_deploys_the_model_into_the_project(
    api: str, sim: SimServer, project: str, v2_repo: Path
) -> None:
    """Apply: backup snapshot, writes, training, role; the live project then plans clean."""
    planned = provision(api, tenant("newco", project), dry_run=True).json()["changes"]
    response = provision(api, tenant("newco", project))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "applied"
    assert body["deploymentId"].startswith(f"{project}/")
    events = [r["event"] for r in body["auditTrail"]]
    assert events[:4] == [
        "deploy_requested",
        "backup_snapshot",
        "deploy_accepted",
        "deploy_succeeded",
    ]
    assert events[-2:] == ["role_assign", "applied"]
    project_now = live(sim, project)
    intents = {c["key"]: c["after"] for c in planned if c["resource"] == "intent"}
    assert project_now["intents"] == {k: sorted(v["examples"]) for k, v in intents.items()}
    assert project_now["members"] == {ADMIN: ["admin"]}
    assert [n.startswith("tenantops-") for n in project_now["snapshots"]] == [True]
    state = httpx.get(f"{api}/api/v1/tenant/newco", headers=AUTH).json()
    assert state["workspace"] == project
    assert verify(v2_repo / "audit") == []
    # The written tenant file plans clean against the live project: it holds the model.
    plan = subprocess.run(
        [
            sys.executable,
            "-m",
            "tenantops",
            "-C",
            str(v2_repo),
            "plan",
            "newco",
            "--detailed-exitcode",
        ],
        env=_env(sim),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr
    again = provision(api, tenant("newco", project))
    assert (again.status_code, again.json()["status"]) == (201, "unchanged")


def test_failed_training_is_rolled_back(api: str, sim: SimServer, project: str) -> None:
    """Training ending in error: 502, rolledBack, and the project is as it was before."""
    before = live(sim, project)
    admin(sim, "POST", f"/_sim/projects/{project}/fail-next-training", json={})
    response = provision(api, tenant("failco", project))
    assert response.status_code == 502, response.text
    body = response.json()
    assert body["rolledBack"] is True
    assert "rolled_back" in [r["event"] for r in body["auditTrail"]]
    after = live(sim, project)
    assert (after["intents"], after["lexicons"], after["nodes"]) == (
        before["intents"],
        before["lexicons"],
        before["nodes"],
    )


@pytest.mark.parametrize("workspace", ["ws-badco", "0123456789ABCDEF01234567"])
def test_a_workspace_that_is_not_a_project_id_is_422(api: str, workspace: str) -> None:
    """On cognigy-v2 the workspace is a project id: anything else is refused before any call."""
    response = provision(api, tenant("badco", workspace))
    assert response.status_code == 422, response.text
    (detail,) = response.json()["details"]
    assert detail["path"] == "/workspace"
    assert "24-hex id of the tenant's Cognigy.AI project" in detail["message"]

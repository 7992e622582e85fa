"""`tenantops apply` against the simulator: deploy, poll, roll back, lock, audit, lockfile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.demo import DEMO_ENV, demo_sim, run
from support.simserver import SimServer, run_sim

from tenantops.apply.audit import verify
from tenantops.apply.lockfile import read_lockfile
from tenantops.core.model import model_sha256

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    with demo_sim(tmp_path_factory.mktemp("sim-state")) as server:
        yield server


@pytest.fixture(autouse=True)
def _env(sim: SimServer, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sim.admin("POST", "/_sim/reset").raise_for_status()
    sim.admin(
        "PUT",
        "/_sim/faults",
        json={"errorRate": 0, "deployFailRate": 0, "resetRate": 0, "rateLimit": None},
    ).raise_for_status()
    for key, value in DEMO_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("COGNIGY_BASE_URL", sim.base_url)


def deployments(sim: SimServer) -> list[dict[str, Any]]:
    return list(sim.admin("GET", "/_sim/deployments").json()["deployments"])


def live(sim: SimServer, workspace: str) -> dict[str, Any] | None:
    bots = sim.admin("GET", "/_sim/state").json()["workspaces"].get(workspace, {}).get("bots", {})
    return bots.get("support-bot")


def plan_file(tmp_path: Path, *tenants: str) -> Path:
    out = tmp_path / "plan.json"
    code, _, err = run("plan", *tenants, "--out", str(out))
    assert code == 0, err
    return out


def test_apply_a_saved_plan(sim: SimServer, repo: Path, tmp_path: Path) -> None:
    """The happy path: every change deployed once, lockfile and audit written, drift clean."""
    code, out, _ = run("apply", str(plan_file(tmp_path)))
    assert code == 0, out
    assert "Apply complete: 5 applied, 1 unchanged, 0 failed." in out
    deployed = {d["workspaceId"] for d in deployments(sim)}
    assert deployed == {"ws-globex", "ws-initech", "ws-stark"}
    lock = read_lockfile(repo / "tenantops.lock")
    assert sorted(lock.tenants) == ["acme", "globex", "initech", "stark", "umbrella", "wayne"]
    stark = live(sim, "ws-stark")
    assert stark is not None
    assert model_sha256(stark) == lock.tenants["stark"].model_sha256
    assert lock.tenants["stark"].deployment_id == next(
        d["deploymentId"] for d in deployments(sim) if d["workspaceId"] == "ws-stark"
    )
    assert verify(repo / "audit") == []
    assert run("drift")[0] == 0
    assert run("plan", "--detailed-exitcode")[0] == 0


def test_dry_run_prints_the_steps_and_changes_nothing(
    sim: SimServer, repo: Path, tmp_path: Path
) -> None:
    """apply --dry-run PLANFILE prints each tenant's steps; no deploy, lockfile or audit."""
    code, out, err = run("apply", "--dry-run", str(plan_file(tmp_path, "stark", "acme")))
    assert code == 0, err
    lines = out.splitlines()
    stark = lines[lines.index("tenant stark:") + 1 :]
    assert stark[0].startswith("  - deploy the planned model with idempotency key tenantops-")
    assert stark[-1] == "  - record the planned model as applied in the lockfile"
    assert "tenant acme:" in lines
    assert deployments(sim) == []
    assert not (repo / "tenantops.lock").exists()
    assert not (repo / "audit").exists()


def test_dry_run_needs_a_plan_file(repo: Path) -> None:
    """--dry-run explains a saved plan; without one it is a usage error."""
    code, _, err = run("apply", "--dry-run", "stark")
    assert code == 2
    assert "--dry-run explains a saved plan" in err


def test_roles_are_assigned_and_revoked(sim: SimServer, tmp_path: Path) -> None:
    """Missing roles are assigned and unlisted ones revoked in managed workspaces."""
    assert run("apply", str(plan_file(tmp_path, "acme", "umbrella")))[0] == 0
    users = sim.admin("GET", "/_sim/state").json()["workspaces"]
    assert {u: r["roleId"] for u, r in users["ws-acme"]["users"].items()} == {
        "alice@acme.example": "admin",
        "bob@acme.example": "editor",
    }
    assert users["ws-umbrella"].get("users", {}) == {}


def test_reapplying_does_nothing(sim: SimServer, tmp_path: Path) -> None:
    """Applying the same plan twice, or planning and applying again, deploys nothing more."""
    plan = plan_file(tmp_path, "stark")
    assert run("apply", str(plan))[0] == 0
    assert len(deployments(sim)) == 1
    code, out, _ = run("apply", str(plan))
    assert code == 0
    assert "unchanged" in out
    assert run("apply", "--auto-approve", "stark")[0] == 0
    assert len(deployments(sim)) == 1


def test_failed_deployment_is_rolled_back(sim: SimServer, repo: Path, tmp_path: Path) -> None:
    """A deployment that fails is rolled back, recorded, and the run exits 1."""
    before = live(sim, "ws-globex")
    sim.admin("PUT", "/_sim/faults", json={"deployFailRate": 1}).raise_for_status()
    code, out, _ = run("apply", str(plan_file(tmp_path, "globex")))
    assert code == 1
    assert "rolled_back" in out
    assert live(sim, "ws-globex") == before
    events = [
        json.loads(line)["event"] for line in (repo / "audit/globex.jsonl").read_text().splitlines()
    ]
    assert events[-3:] == ["deploy_accepted", "rollback_requested", "rolled_back"]
    assert "globex" not in read_lockfile(repo / "tenantops.lock").tenants


def test_deadline_is_rolled_back(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment still running at --deploy-timeout is rolled back and never lands."""
    with run_sim("--deploy-seconds", "30") as slow:
        monkeypatch.setenv("COGNIGY_BASE_URL", slow.base_url)
        started = time.monotonic()
        code, out, _ = run("apply", "--auto-approve", "--deploy-timeout", "1", "stark")
        assert time.monotonic() - started < 15
        assert code == 1
        assert "no result within --deploy-timeout" in out
        (dep,) = slow.admin("GET", "/_sim/deployments").json()["deployments"]
        status = (
            slow.admin("GET", "/_sim/state")
            .json()["workspaces"]
            .get("ws-stark", {})
            .get("bots", {})
        )
        assert status == {}
        assert dep["status"] == "rolled_back"


def test_stale_plan_is_refused(sim: SimServer, tmp_path: Path) -> None:
    """A live bot edited after planning makes the plan stale for that tenant."""
    plan = plan_file(tmp_path, "globex", "initech")
    model = live(sim, "ws-initech")
    assert model is not None
    model.pop("version")
    model["metadata"]["tier"] = "premium"
    sim.admin("PUT", "/_sim/workspaces/ws-initech/bots/support-bot", json=model).raise_for_status()
    code, out, _ = run("apply", str(plan))
    assert code == 1
    assert "refused" in out
    assert "the live bot changed since the plan was made" in out
    assert {d["workspaceId"] for d in deployments(sim)} == {"ws-globex"}


def test_changed_config_is_refused(repo: Path, sim: SimServer, tmp_path: Path) -> None:
    """A config edited after planning is refused: plan again."""
    plan = plan_file(tmp_path, "stark")
    path = repo / "tenants/stark.yaml"
    path.write_text(path.read_text().replace("brand: Stark", "brand: Stark Industries"))
    code, out, _ = run("apply", str(plan))
    assert code == 1
    assert "the config changed since the plan was made" in out
    assert deployments(sim) == []


def test_lost_responses_never_deploy_twice(sim: SimServer, tmp_path: Path) -> None:
    """With connections dropped after processing, every tenant is deployed exactly once."""
    plan = plan_file(tmp_path)
    sim.admin("PUT", "/_sim/faults", json={"resetRate": 0.3}).raise_for_status()
    code, out, _ = run("apply", str(plan))
    assert code == 0, out
    per_workspace: dict[str, int] = {}
    for d in deployments(sim):
        per_workspace[d["workspaceId"]] = per_workspace.get(d["workspaceId"], 0) + 1
    assert per_workspace == {"ws-globex": 1, "ws-initech": 1, "ws-stark": 1}


def test_secrets_never_reach_lockfile_or_audit(repo: Path, tmp_path: Path) -> None:
    """Neither the lockfile nor the audit trail holds a secret value."""
    assert run("apply", str(plan_file(tmp_path)))[0] == 0
    texts = [(repo / "tenantops.lock").read_text()] + [
        p.read_text() for p in (repo / "audit").glob("*.jsonl")
    ]
    for text in texts:
        for name, value in DEMO_ENV.items():
            if name.endswith("_CRM_TOKEN") or name == "OAUTH_CLIENT_SECRET":
                assert value not in text


def test_tampered_audit_is_detected(repo: Path, tmp_path: Path) -> None:
    """Editing one audit record makes `audit verify` fail and name it."""
    assert run("apply", str(plan_file(tmp_path, "stark")))[0] == 0
    assert run("audit", "verify")[0] == 0
    path = repo / "audit/stark.jsonl"
    lines = path.read_text().splitlines()
    record = json.loads(lines[1])
    record["details"]["deployment_id"] = "dep-forged"
    lines[1] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    code, out, err = run("audit", "verify")
    assert code == 1
    assert "stark" in out + err


def test_no_terminal_needs_auto_approve_or_plan_file() -> None:
    """Without a terminal, apply refuses to go on without --auto-approve or a plan file."""
    code, _, err = run("apply", "stark")
    assert code == 1
    assert "--auto-approve" in err


def test_confirmation_must_be_yes(sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal, anything but 'yes' cancels."""
    monkeypatch.setattr("tenantops.cli.apply._interactive", lambda: True)
    code, out, err = run("apply", "stark", stdin="y\n")
    assert code == 1
    assert "Only 'yes' will be accepted" in out
    assert "Apply cancelled." in err
    assert deployments(sim) == []


def _apply_subprocess(repo: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ}
    return subprocess.Popen(
        [sys.executable, "-m", "tenantops", "apply", "--auto-approve", *args],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_concurrent_applies_on_one_tenant_are_serialised(sim: SimServer, repo: Path) -> None:
    """Two applies of one tenant at once: one deploys, the other waits, then finds nothing to do."""
    first = _apply_subprocess(repo, "stark")
    second = _apply_subprocess(repo, "stark")
    outputs = [p.communicate(timeout=60)[0] for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert len(deployments(sim)) == 1
    assert verify(repo / "audit") == []


def test_expired_lease_is_taken_over(repo: Path) -> None:
    """A lease left by a killed run expires on its own and the next apply takes it."""
    locks = repo / ".tenantops/locks"
    locks.mkdir(parents=True)
    now = time.time()
    lease = {
        "tenant": "stark",
        "holder": "ci-job-killed",
        "token": "t",
        "acquired_at": now - 600,
        "expires_at": now - 1,
    }
    (locks / "stark.lease").write_text(json.dumps(lease))
    code, out, _ = run("apply", "--auto-approve", "--lock-timeout", "2", "stark")
    assert code == 0, out


def test_live_lease_blocks_then_fails_clearly(repo: Path) -> None:
    """A lease held by another run makes apply wait up to --lock-timeout, then fail naming it."""
    locks = repo / ".tenantops/locks"
    locks.mkdir(parents=True)
    now = time.time()
    lease = {
        "tenant": "stark",
        "holder": "alice@laptop pid 42",
        "token": "t",
        "acquired_at": now,
        "expires_at": now + 600,
    }
    (locks / "stark.lease").write_text(json.dumps(lease))
    code, out, _ = run("apply", "--auto-approve", "--lock-timeout", "0.5", "stark")
    assert code == 1
    assert "locked" in out
    assert "alice@laptop pid 42" in out
    assert run("unlock", "stark")[0] == 0
    assert run("apply", "--auto-approve", "--lock-timeout", "0.5", "stark")[0] == 0

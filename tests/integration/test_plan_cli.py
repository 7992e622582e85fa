"""`tenantops plan` and `tenantops drift` as a user runs them, against the simulator."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.demo import DEMO_ENV, demo_sim, run
from support.livebots import edit_bot, live_bot, use_demo_sim
from support.simserver import SimServer

from tenantops.apply.lockfile import LockEntry, Lockfile, write_lockfile
from tenantops.config import load_project
from tenantops.config.fleet import Fleet
from tenantops.core.model import model_sha256

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    with demo_sim(tmp_path_factory.mktemp("sim-state")) as server:
        yield server


@pytest.fixture(autouse=True)
def _env(sim: SimServer, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_demo_sim(sim, monkeypatch)


def test_plan_of_the_demo_fleet() -> None:
    """Each tenant's situation shows in Terraform's idiom, ending with the summary line."""
    code, out, _ = run("plan")
    assert code == 0
    assert (
        '# tenant globex (workspace ws-globex)\n  ~ intent order_status\n      examples: -"wo ist mein Paket"\n  ~ metadata.maxRetries: 9 -> 5\n'
        in out
    )
    assert (
        "# tenant initech (workspace ws-initech)\n  - intent international_shipping\n  - intent price_match\n"
        in out
    )
    assert "  + role bob@acme.example (editor)\n  - role contractor@acme.example (editor)\n" in out
    assert "  - role intern@umbrella.example (viewer)\n" in out
    assert "# tenant wayne (workspace ws-wayne): no changes\n" in out
    assert out.rstrip().endswith("Plan: 61 to add, 2 to change, 4 to destroy.")
    assert "\x1b[" not in out


def test_detailed_exitcode() -> None:
    """--detailed-exitcode: 2 with changes, 0 without."""
    assert run("plan", "--detailed-exitcode", "globex")[0] == 2
    assert run("plan", "--detailed-exitcode", "wayne")[0] == 0
    assert run("plan", "globex")[0] == 0


def test_reordering_is_no_change(sim: SimServer) -> None:
    """A live bot with every list in another order plans as no change."""
    model = live_bot(sim, "ws-wayne")
    model["intents"] = [dict(i, examples=i["examples"][::-1]) for i in reversed(model["intents"])]
    model["dialogs"].reverse()
    model["entities"] = [dict(e, values=e["values"][::-1]) for e in reversed(model["entities"])]
    edit_bot(sim, "ws-wayne", model)
    code, out, _ = run("plan", "wayne", "--detailed-exitcode")
    assert (code, "no changes" in out) == (0, True)


def test_updates_of_each_resource_kind(sim: SimServer) -> None:
    """Edits to intents, entities, dialogs and metadata come back as creates/updates/deletes."""
    model = live_bot(sim, "ws-wayne")
    model["intents"] = [i for i in model["intents"] if i["name"] != "thanks"]
    model["intents"][0]["actions"] = ["something_else"]
    first_intent = model["intents"][0]["name"]
    model["entities"][0]["synonyms"] = {"changed": ["yes"]}
    model["dialogs"][0]["next"] = "nowhere"
    model["metadata"]["addedInUi"] = True
    edit_bot(sim, "ws-wayne", model)
    data = json.loads(run("plan", "wayne", "--format", "json")[1])
    changes = {(c["resource"], c["key"], c["action"]) for c in data["tenants"][0]["changes"]}
    assert changes == {
        ("intent", "thanks", "create"),
        ("intent", first_intent, "update"),
        ("entity", model["entities"][0]["name"], "update"),
        ("dialog", model["dialogs"][0]["id"], "update"),
        ("metadata", "addedInUi", "delete"),
    }


def test_ignored_fields_are_no_change(sim: SimServer) -> None:
    """A template's ignoreChanges path (metadata.channel) never shows as a change."""
    model = live_bot(sim, "ws-wayne")
    model["metadata"]["channel"] = "voice"
    edit_bot(sim, "ws-wayne", model)
    assert run("plan", "wayne", "--detailed-exitcode")[0] == 0


def test_missing_bot_is_all_creates() -> None:
    """A workspace without the bot plans every item and metadata key as a create."""
    data = json.loads(run("plan", "stark", "--format", "json")[1])
    (stark,) = data["tenants"]
    assert stark["summary"]["update"] == stark["summary"]["delete"] == 0
    assert stark["summary"]["create"] == 30 + 5 + 15 + 10


def test_secrets_masked_in_every_format(tmp_path: Path) -> None:
    """The secret never shows in text, markdown, JSON or a plan file; (sensitive) does."""
    plan_file = tmp_path / "plan.json"
    outputs = [run("plan", "stark", "--format", fmt)[1] for fmt in ("text", "markdown", "json")]
    run("plan", "stark", "--out", str(plan_file))
    outputs.append(plan_file.read_text())
    for text in outputs:
        assert DEMO_ENV["STARK_CRM_TOKEN"] not in text
        assert "(sensitive)" in text


def test_json_format_pinned_names() -> None:
    """JSON output carries the pinned fields."""
    data = json.loads(run("plan", "--format", "json")[1])
    assert data["format_version"] == 1
    assert set(data["summary"]) == {
        "create",
        "update",
        "delete",
        "tenants_with_changes",
        "tenants_errored",
    }
    tenant = data["tenants"][0]
    assert {"tenant", "workspace", "status", "error", "changes", "summary"} <= set(tenant)
    change = next(t for t in data["tenants"] if t["changes"])["changes"][0]
    assert {"resource", "key", "action", "before", "after"} <= set(change)


def test_one_tenant_failing_does_not_stop_the_others(repo: Path) -> None:
    """A broken tenant is reported as an error; the rest are planned; exit code 1."""
    (repo / "tenants/initech.yaml").write_text("name: initech\nworkspace: [broken\n")
    code, out, _ = run("plan")
    assert code == 1
    assert "# tenant initech" in out
    assert ": error" in out
    assert "# tenant globex (workspace ws-globex)" in out
    assert "1 tenant(s) failed to plan." in out


def test_missing_scope_is_that_tenants_error(repo: Path) -> None:
    """A 403 (the client asks only for bot:export; roles need user:role:assign) fails the tenants that need it."""
    text = (repo / "tenantops.yaml").read_text()
    text = text.replace("    - bot:deploy\n    - deployment:read\n    - user:role:assign\n", "")
    (repo / "tenantops.yaml").write_text(text)
    data = json.loads(run("plan", "--format", "json")[1])
    status = {t["tenant"]: t["status"] for t in data["tenants"]}
    assert status["acme"] == "error"
    assert status["globex"] == "changes"
    acme = next(t for t in data["tenants"] if t["tenant"] == "acme")
    assert "user:role:assign" in acme["error"]


def test_shards_partition_the_fleet() -> None:
    """--shard 1/3, 2/3, 3/3 cover every tenant exactly once."""
    seen: list[str] = []
    for i in (1, 2, 3):
        data = json.loads(run("plan", "--shard", f"{i}/3", "--format", "json")[1])
        seen += [t["tenant"] for t in data["tenants"]]
    assert sorted(seen) == ["acme", "globex", "initech", "stark", "umbrella", "wayne"]
    assert run("plan", "--shard", "4/3")[0] == 2


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_changed_since(repo: Path) -> None:
    """--changed-since plans the tenants whose file, template or tenantops.yaml changed."""
    git(repo, "init", "-q")
    git(repo, "-c", "user.email=t@e", "-c", "user.name=t", "add", ".")
    git(repo, "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "base")

    def planned() -> list[str]:
        data = json.loads(run("plan", "--changed-since", "HEAD", "--format", "json")[1])
        return [t["tenant"] for t in data["tenants"]]

    assert planned() == []
    path = repo / "tenants/globex.yaml"
    path.write_text(path.read_text().replace("maxRetries: 5", "maxRetries: 4"))
    assert planned() == ["globex"]
    (repo / "tenants/newco.yaml").write_text(
        (repo / "tenants/stark.yaml").read_text().replace("stark", "newco")
    )
    assert planned() == ["globex", "newco"]
    template = repo / "templates/support-bot/overrides.yaml.j2"
    template.write_text(template.read_text() + "\n")
    assert len(planned()) == 7


# --------------------------------------------------------------------------- drift


def lock_as_applied(repo: Path, *names: str) -> None:
    """Record tenants in the lockfile as if tenantops had applied today's config."""
    fleet = Fleet(load_project(repo))
    lock = Lockfile()
    for name in names:
        desired = fleet.build(repo / f"tenants/{name}.yaml")
        assert desired.model is not None
        lock.tenants[name] = LockEntry(
            workspace=desired.tenant.workspace,
            model_sha256=model_sha256(desired.model),
            deployment_id="dep-test",
            status="success",
            applied_at=datetime.now(UTC).isoformat(timespec="seconds"),
            model=desired.redactor.redact(desired.model),
        )
    write_lockfile(repo / "tenantops.lock", lock)


def test_no_drift_and_never_applied(repo: Path) -> None:
    """An applied tenant whose bot is untouched has no drift; others are 'never applied'."""
    lock_as_applied(repo, "wayne")
    code, out, _ = run("drift")
    assert code == 0
    assert "# tenant wayne (workspace ws-wayne): no drift" in out
    assert "# tenant acme (workspace ws-acme): never applied" in out


def test_drift_made_in_the_ui(sim: SimServer, repo: Path) -> None:
    """An edit in the UI is drift: shown from the applied model to the live one; exit 2."""
    lock_as_applied(repo, "wayne")
    model = live_bot(sim, "ws-wayne")
    model["metadata"]["tier"] = "standard"
    edit_bot(sim, "ws-wayne", model)
    code, out, _ = run("drift", "wayne")
    assert code == 2
    assert "drifted" in out
    assert '~ metadata.tier: "premium" -> "standard"' in out
    data = json.loads(run("drift", "wayne", "--format", "json")[1])
    assert data["tenants"][0]["status"] == "drift"
    assert DEMO_ENV["WAYNE_CRM_TOKEN"] not in json.dumps(data)


def test_pending_config_change_is_not_drift(repo: Path) -> None:
    """A config change not yet applied is reported as pending, and is not drift."""
    lock_as_applied(repo, "wayne")
    path = repo / "tenants/wayne.yaml"
    path.write_text(path.read_text().replace("brand: Wayne Retail", "brand: Wayne Stores"))
    code, out, _ = run("drift", "wayne")
    assert code == 0
    assert "no drift" in out
    assert "the config also changed since it was applied (not drift)" in out


def test_drift_of_a_secret_value_is_drift_but_never_shown(sim: SimServer, repo: Path) -> None:
    """Someone changes a secret in the UI: drift, without printing either value."""
    lock_as_applied(repo, "wayne")
    model = live_bot(sim, "ws-wayne")
    model["metadata"]["crmAuthToken"] = "typed-in-the-ui-secret"
    edit_bot(sim, "ws-wayne", model)
    code, out, _ = run("drift", "wayne")
    assert code == 2
    assert "typed-in-the-ui-secret" not in out
    assert DEMO_ENV["WAYNE_CRM_TOKEN"] not in out


@pytest.mark.parametrize("command", ["plan", "drift"])
def test_json_carries_the_quota_use(sim: SimServer, repo: Path, command: str) -> None:
    """plan/drift JSON's quota field: api.rateLimit, the calls the simulator saw, the times."""
    lock_as_applied(repo, "acme", "globex", "wayne")
    code, out, _ = run(command, "--format", "json")
    assert code in (0, 2)
    data = json.loads(out)
    tenants = len(data["tenants"])
    served = len(sim.admin("GET", "/_sim/requests").json()["requests"])
    quota = data["quota"]
    assert (quota["limit"], quota["window"], quota["tenants"]) == (1000, 300.0, tenants)
    assert quota["calls"] == served
    assert quota["callsPerTenant"] == round(served / tenants, 2)
    assert 0 < quota["elapsedSeconds"] < 60
    assert quota["etaSeconds"] == 0.0
    assert {"format_version", "tenants", "summary"} <= set(data)

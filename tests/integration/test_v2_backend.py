"""plan, apply and drift on the cognigy-v2 flavour, against its simulator as a real server."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.demo import DEMO_ENV, ROOT, run
from support.simserver import SimServer, run_sim

from tenantops.apply.audit import verify
from tenantops.apply.lockfile import read_lockfile

pytestmark = pytest.mark.integration

API_KEY = "v2-test-key-0123456789"
TENANTS = ("acme", "globex")
USERS = ["alice@acme.example", "bob@acme.example", "carol@globex.example", "ops@example.com"]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with run_sim(
        "--task-seconds", "0.2", "--api-key", f"{API_KEY}:ops@example.com", flavor="cognigy-v2"
    ) as server:
        yield server


def admin(sim: SimServer, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, f"{sim.base_url}{path}", timeout=10, **kwargs)
    assert response.is_success, response.text
    return response.json() if response.content else None


def seed(sim: SimServer, name: str, **extra: Any) -> str:
    """An empty project (one locale, flow Main with empty context); answers its id."""
    project = {
        "name": name,
        "locales": [{"name": "en-US", "primary": True}],
        "flows": [{"name": "Main", "context": {}}],
        **extra,
    }
    body = {"users": [{"email": e} for e in USERS], "projects": [project]}
    answer = admin(sim, "POST", "/_sim/seed", json=body)
    return str(answer["projects"][0]["_id"])


@pytest.fixture
def repo(tmp_path: Path, sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example repo on cognigy-v2: two tenants, each in a fresh project."""
    dest = tmp_path / "repo"
    shutil.copytree(ROOT / "templates", dest / "templates")
    (dest / "tenants").mkdir()
    for name in TENANTS:
        text = (ROOT / f"tenants/{name}.yaml").read_text()
        text = re.sub(r"(?m)^workspace: .*$", f"workspace: {seed(sim, name)}", text)
        text = re.sub(r"langCode: \S+", "langCode: en-US", text)
        (dest / f"tenants/{name}.yaml").write_text(text)
    config = (ROOT / "tenantops.yaml").read_text()
    config = re.sub(
        r"(?s)^api:.*?\n(?=\S)",
        "api:\n  flavor: cognigy-v2\n  baseUrl: ${env:COGNIGY_BASE_URL}\n"
        "  apiKey: ${env:COGNIGY_API_KEY}\n",
        config,
        flags=re.M,
    )
    (dest / "tenantops.yaml").write_text(config)
    for key, value in DEMO_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("OAUTH_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("COGNIGY_BASE_URL", sim.base_url)
    monkeypatch.setenv("COGNIGY_API_KEY", API_KEY)
    monkeypatch.chdir(dest)
    return dest


def workspace(repo: Path, tenant: str) -> str:
    match = re.search(r"(?m)^workspace: (\S+)$", (repo / f"tenants/{tenant}.yaml").read_text())
    assert match is not None
    return match.group(1)


def state(sim: SimServer) -> dict[str, Any]:
    return dict(admin(sim, "GET", "/_sim/state"))


def docs(sim: SimServer, table: str, **where: str) -> list[dict[str, Any]]:
    """The simulator's documents of ``table`` whose fields equal ``where``."""
    rows = state(sim)["tables"][table]
    return [d for d in rows if all(d.get(k) == v for k, v in where.items())]


def flow_of(sim: SimServer, project: str) -> str:
    (flow,) = docs(sim, "flows", projectReference=project, name="Main")
    return str(flow["_id"])


def test_plan_apply_drift_converge(sim: SimServer, repo: Path) -> None:
    """A first apply creates everything once; a second plan is empty and drift is clean."""
    code, out, err = run("plan", "--detailed-exitcode")
    assert code == 2, out + err
    assert "+ intent greeting" in out
    code, out, err = run("apply", "--auto-approve")
    assert code == 0, out + err
    assert "Apply complete: 2 applied, 0 unchanged, 0 failed." in out
    code, out, err = run("plan", "--detailed-exitcode")
    assert code == 0, out + err
    assert run("drift")[0] == 0
    assert verify(repo / "audit") == []
    lock = read_lockfile(repo / "tenantops.lock")
    assert sorted(lock.tenants) == list(TENANTS)
    trail = (repo / "audit/acme.jsonl").read_text().splitlines()
    events = [json.loads(line)["event"] for line in trail]
    assert events.index("backup_snapshot") < events.index("deploy_accepted")
    assert API_KEY not in (repo / "tenantops.lock").read_text() + out + err
    assert "acme-crm-token" not in (repo / "tenantops.lock").read_text()


def test_ui_edit_is_drift(sim: SimServer, repo: Path) -> None:
    """A sentence added in the UI is drift (exit 2) naming the intent."""
    assert run("apply", "--auto-approve")[0] == 0
    flow = flow_of(sim, workspace(repo, "acme"))
    (intent,) = docs(sim, "intents", flowReference=flow, name="greeting")
    admin(sim, "POST", f"/_sim/intents/{intent['_id']}/sentences", json={"text": "yo there"})
    code, out, _ = run("drift", "acme")
    assert code == 2
    assert "greeting" in out


def ui_snapshot(sim: SimServer, project: str, name: str) -> None:
    """A snapshot taken by someone else (through the API, as the UI does), once it is done."""
    headers = {"X-API-Key": API_KEY}
    with httpx.Client(base_url=f"{sim.base_url}/new/v2.0", headers=headers, timeout=10) as api:
        task = api.post("/snapshots", json={"projectId": project, "name": name}).json()
        for _ in range(100):
            if api.get(f"/tasks/{task['_id']}").json()["status"] == "done":
                return
            time.sleep(0.05)
    raise AssertionError(f"snapshot {name} was not taken")


def export(repo: Path, tenant: str) -> str:
    """The tenant's live model as tenantops reads it (canonical JSON via render-like plan)."""
    code, out, err = run("plan", tenant, "--format", "json")
    assert code == 0, err
    return out


def test_failed_training_is_rolled_back_to_the_pre_deploy_export(
    sim: SimServer, repo: Path
) -> None:
    """A training that fails restores the backup: the project matches its export from before."""
    assert run("apply", "--auto-approve", "acme")[0] == 0
    overrides = repo / "templates/support-bot/overrides.yaml.j2"
    overrides.write_text(overrides.read_text().replace("- opening hours", "- opening hours please"))
    before = json.loads(export(repo, "acme"))["tenants"][0]["changes"]
    assert before, "the edit must plan a change"
    project = workspace(repo, "acme")
    admin(sim, "POST", f"/_sim/projects/{project}/fail-next-training", json={})
    code, out, _ = run("apply", "--auto-approve", "acme")
    assert code == 1
    assert "rolled_back" in out
    records = [json.loads(line) for line in (repo / "audit/acme.jsonl").read_text().splitlines()]
    (rolled,) = [r for r in records if r["event"] == "rolled_back"]
    assert rolled["details"]["verified"] is True
    after = json.loads(export(repo, "acme"))["tenants"][0]["changes"]
    assert after == before
    assert verify(repo / "audit") == []


def test_snapshots_stay_under_the_cap_and_foreign_ones_are_kept(sim: SimServer, repo: Path) -> None:
    """Repeated deploys prune only tenantops backups beyond keep; foreign snapshots stay."""
    project = workspace(repo, "acme")
    foreign = [f"release-{i}" for i in range(6)]
    for name in foreign:
        ui_snapshot(sim, project, name)
    overrides = repo / "templates/support-bot/overrides.yaml.j2"
    for round_ in range(5):
        text = overrides.read_text().replace("- opening hours", f"- opening hours {round_}", 1)
        overrides.write_text(text)
        code, out, err = run("apply", "--auto-approve", "acme")
        assert code == 0, out + err
        names = [s["name"] for s in docs(sim, "snapshots", projectReference=project)]
        assert len(names) <= 10
        assert set(foreign) <= set(names)
        assert sum(n.startswith("tenantops-") for n in names) <= 3


def test_all_foreign_snapshots_refuse_the_deploy_and_change_nothing(
    sim: SimServer, repo: Path
) -> None:
    """Ten foreign snapshots: apply fails with a clear error before any write."""
    project = workspace(repo, "acme")
    for i in range(10):
        ui_snapshot(sim, project, f"ui-{i}")
    code, out, _ = run("apply", "--auto-approve", "acme")
    assert code == 1
    assert "none is tenantops'" in out
    assert docs(sim, "intents", flowReference=flow_of(sim, project)) == []
    assert len(docs(sim, "snapshots", projectReference=project)) == 10


def test_plan_json_carries_the_quota_use(sim: SimServer, repo: Path) -> None:
    """cognigy-v2 paces to 1000/5m by default; plan JSON counts the calls the simulator saw."""
    admin(sim, "DELETE", "/_sim/counters")
    code, out, err = run("plan", "--format", "json")
    assert code == 0, err
    quota = json.loads(out)["quota"]
    served = admin(sim, "GET", "/_sim/counters")["total"]
    assert (quota["limit"], quota["window"], quota["tenants"]) == (1000, 300.0, len(TENANTS))
    assert quota["calls"] == served
    assert quota["callsPerTenant"] == round(served / len(TENANTS), 2)
    assert 0 < quota["elapsedSeconds"] < 60
    assert quota["etaSeconds"] == 0.0


def test_apply_json_carries_results_and_the_quota_use(sim: SimServer, repo: Path) -> None:
    """`apply --format json`: one document on stdout (the plan shown goes to stderr)."""
    admin(sim, "DELETE", "/_sim/counters")
    code, out, err = run("apply", "--auto-approve", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    served = admin(sim, "GET", "/_sim/counters")["total"]
    assert [(r["tenant"], r["outcome"]) for r in doc["results"]] == [
        (t, "applied") for t in TENANTS
    ]
    assert all(r["deploymentId"].startswith(workspace(repo, r["tenant"])) for r in doc["results"])
    assert doc["summary"] == {"applied": len(TENANTS), "unchanged": 0, "failed": 0}
    assert doc["planId"]
    assert "+ intent greeting" in err  # the plan it applied, for the log
    # The apply phase's own calls (the plan before it is paced and counted apart).
    assert 0 < doc["quota"]["calls"] < served
    assert (doc["quota"]["tenants"], doc["quota"]["etaSeconds"]) == (len(TENANTS), 0.0)


def test_without_lang_code_the_deploy_writes_the_primary_locale(sim: SimServer, repo: Path) -> None:
    """No langCode: export reads the primary locale, so the deploy writes there too (not
    the base's metadata.locale) and a second plan is empty."""
    locales = [{"name": "de-DE", "primary": True}, {"name": "en-US"}]
    project = seed(sim, "acme-de", locales=locales)
    path = repo / "tenants/acme.yaml"
    text = re.sub(r"(?m)^workspace: .*$", f"workspace: {project}", path.read_text())
    path.write_text(re.sub(r"(?m)^  langCode: .*\n", "", text))

    code, out, err = run("apply", "--auto-approve", "acme")
    assert code == 0, out + err

    code, out, err = run("plan", "acme", "--detailed-exitcode")
    assert code == 0, out + err
    (german,) = docs(sim, "locales", projectReference=project, name="de-DE")
    flow = flow_of(sim, project)
    intents = {i["_id"] for i in docs(sim, "intents", flowReference=flow)}
    sentences = [s for s in state(sim)["tables"]["sentences"] if s["intentReference"] in intents]
    assert sentences
    assert {s["localeReference"] for s in sentences} == {german["_id"]}


def test_the_acting_user_s_role_is_never_changed(sim: SimServer, repo: Path) -> None:
    """A tenant that lists the user tenantops acts as: apply refuses to change its role
    (an admin made editor would lock tenantops out), and the member keeps its role."""
    members = [{"email": "ops@example.com", "roles": ["admin"]}]
    project = seed(sim, "acme-ops", members=members)
    path = repo / "tenants/acme.yaml"
    text = re.sub(r"(?m)^workspace: .*$", f"workspace: {project}", path.read_text())
    path.write_text(text + "  - userId: ops@example.com\n    roleId: editor\n")

    code, out, err = run("apply", "--auto-approve", "acme")

    assert code == 1, out + err
    assert "refusing to change the role of ops@example.com" in out
    (ops,) = [u for u in docs(sim, "users") if u["email"] == "ops@example.com"]
    (member,) = docs(sim, "members", projectReference=project, userReference=ops["_id"])
    assert member["roles"] == ["admin"]


def set_faq(repo: Path, examples: list[str]) -> None:
    """Give acme's FAQ intent ``faq_loyalty_points`` these examples."""
    path = repo / "tenants/acme.yaml"
    text = re.sub(
        r"(?m)^(      examples: ).*$", lambda m: m.group(1) + json.dumps(examples), path.read_text()
    )
    path.write_text(text)


def test_an_intent_at_200_sentences_takes_a_replaced_one(sim: SimServer, repo: Path) -> None:
    """An intent holding the 200 sentences the API allows gets one replaced: the delete
    goes before the create, and the next plan is empty (the create came first: 400)."""
    examples = [f"how many loyalty points do I have, question {i:03d}" for i in range(200)]
    set_faq(repo, examples)
    code, out, err = run("apply", "--auto-approve", "acme")
    assert code == 0, out + err
    set_faq(repo, [*examples[1:], "what is my loyalty balance now"])

    code, out, err = run("apply", "--auto-approve", "acme")

    assert code == 0, out + err
    code, out, err = run("plan", "acme", "--detailed-exitcode")
    assert code == 0, out + err
    flow = flow_of(sim, workspace(repo, "acme"))
    (intent,) = docs(sim, "intents", flowReference=flow, name="faq_loyalty_points")
    texts = {s["text"] for s in docs(sim, "sentences", intentReference=intent["_id"])}
    assert len(texts) == 200
    assert "what is my loyalty balance now" in texts


def test_a_lexicon_over_the_body_limit_converges_in_one_apply(sim: SimServer, repo: Path) -> None:
    """1,000 entries with a synonym each pass the API's 60 kB body limit in one batch (413):
    the batches are split, and after one apply the plan is empty."""
    values = [f"sku-{i:04d}-widget" for i in range(1000)]
    entity = {
        "name": "sku",
        "values": values,
        "synonyms": {v: [f"widget number {v[4:8]}"] for v in values},
    }
    overrides = repo / "templates/support-bot/overrides.yaml.j2"
    overrides.write_text(overrides.read_text() + f"\nentities:\n  - {json.dumps(entity)}\n")

    code, out, err = run("apply", "--auto-approve", "acme")

    assert code == 0, out + err
    code, out, err = run("plan", "acme", "--detailed-exitcode")
    assert code == 0, out + err
    project = workspace(repo, "acme")
    (lexicon,) = docs(sim, "lexicons", projectReference=project, name="sku")
    entries = docs(sim, "entries", lexiconReference=lexicon["_id"])
    assert sorted(e["mainKeyphrase"] for e in entries) == values
    synonyms = {e["mainKeyphrase"]: [k["value"] for k in e["keyphrases"]] for e in entries}
    assert synonyms == entity["synonyms"]

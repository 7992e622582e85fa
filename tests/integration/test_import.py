"""`tenantops import` against the simulator: adopt live bots, then plan and drift agree."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.demo import DEMO_ENV, ROOT, demo_sim, run
from support.livebots import edit_bot, live_bot, use_demo_sim
from support.simserver import SimServer, run_sim

from tenantops.apply.audit import AuditLog, verify
from tenantops.apply.importer import Importer, ImportRequest
from tenantops.apply.lockfile import read_lockfile
from tenantops.backends.factory import open_backend
from tenantops.config import load_project, resolve_api
from tenantops.config.fleet import Fleet
from tenantops.errors import NotFoundError
from tenantops.report.reporter import CapturingReporter

pytestmark = pytest.mark.integration

TENANTS = ("acme", "globex", "initech", "stark", "umbrella", "wayne")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    with demo_sim(tmp_path_factory.mktemp("sim-state")) as server:
        yield server


@pytest.fixture(autouse=True)
def _env(sim: SimServer, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_demo_sim(sim, monkeypatch)


def forget_config(repo: Path) -> None:
    """Leave only the live bots: no tenant files, no lockfile."""
    for path in (repo / "tenants").glob("*.yaml"):
        path.unlink()
    (repo / "tenantops.lock").unlink(missing_ok=True)


def audit_events(repo: Path, tenant: str) -> list[str]:
    lines = (repo / f"audit/{tenant}.jsonl").read_text().splitlines()
    return [json.loads(line)["event"] for line in lines]


def test_a_matching_fleet_imports_with_an_empty_plan_and_clean_drift(
    sim: SimServer, repo: Path
) -> None:
    """Bots that match what their tenants render import to no plan changes and no drift."""
    originals = {t: (repo / f"tenants/{t}.yaml").read_text() for t in TENANTS}
    assert run("apply", "--auto-approve")[0] == 0
    forget_config(repo)
    for tenant in TENANTS:
        code, out, err = run("import", tenant, "--workspace", f"ws-{tenant}")
        assert code == 0, out + err
        assert f"# tenant {tenant} (workspace ws-{tenant}): no changes" in out
        assert f"set {tenant.upper()}_CRM_TOKEN to the value live at /metadata/crmAuthToken" in out
    code, out, err = run("plan", "--detailed-exitcode")
    assert code == 0, out + err
    assert "Plan: 0 to add, 0 to change, 0 to destroy." in out
    assert run("drift")[0] == 0
    lock = read_lockfile(repo / "tenantops.lock")
    assert sorted(lock.tenants) == list(TENANTS)
    assert all(entry.imported for entry in lock.tenants.values())
    assert "vars:\n  brand: Acme" in (repo / "tenants/acme.yaml").read_text()
    assert "faqs:" in (repo / "tenants/umbrella.yaml").read_text()
    assert (
        "disabledIntents:\n  - international_shipping\n  - price_match"
        in (repo / "tenants/initech.yaml").read_text()
    )
    assert "crmToken: ${env:ACME_CRM_TOKEN}" in (repo / "tenants/acme.yaml").read_text()
    written = "".join(p.read_text() for p in (repo / "tenants").iterdir())
    stored = (repo / "tenantops.lock").read_text() + written
    stored += "".join(p.read_text() for p in (repo / "audit").iterdir())
    assert not any(secret in stored for secret in DEMO_ENV.values() if "crm" in secret)
    assert audit_events(repo, "acme")[-1] == "imported"
    assert verify(repo / "audit") == []
    assert originals["acme"] != (repo / "tenants/acme.yaml").read_text()  # inferred, not copied


def test_hand_edits_are_exactly_the_plan(sim: SimServer, repo: Path) -> None:
    """A bot edited by hand imports; the plan shows exactly the edits the template can't make."""
    assert run("apply", "--auto-approve", "acme")[0] == 0
    bot = live_bot(sim, "ws-acme")
    goodbye = next(i for i in bot["intents"] if i["name"] == "goodbye")
    goodbye["examples"].append("ciao for now")
    bot["intents"].append({"name": "hand_made", "examples": ["made by hand"], "actions": []})
    next(d for d in bot["dialogs"] if d["id"] == "d3")["next"] = "handoff"
    edit_bot(sim, "ws-acme", bot)
    forget_config(repo)
    code, out, err = run("import", "acme", "--workspace", "ws-acme")
    assert code == 0, out + err
    plan = out[out.index("# tenant acme") :].splitlines()
    assert plan == [
        "# tenant acme (workspace ws-acme)",
        "  ~ intent goodbye",
        '      examples: -"ciao for now"',
        "  - intent hand_made",
        "  ~ dialog d3",
        '      next: "handoff" -> "intent_router"',
        "",
        "Plan: 0 to add, 2 to change, 1 to destroy.",
    ]
    assert run("plan", "acme")[1].splitlines() == plan
    assert run("drift", "acme")[0] == 0


def test_importing_twice_changes_nothing(sim: SimServer, repo: Path) -> None:
    """A second import refuses to overwrite; with --force the file and lockfile stay identical."""
    forget_config(repo)
    assert run("import", "acme", "--workspace", "ws-acme", "--roles")[0] == 0
    first = [(repo / name).read_bytes() for name in ("tenants/acme.yaml", "tenantops.lock")]
    code, out, err = run("import", "acme", "--workspace", "ws-acme")
    assert code == 1
    assert "error: tenants/acme.yaml: the tenant file already exists; pass --force" in err
    assert "Traceback" not in out + err
    time.sleep(1.1)  # a rewritten entry would carry a new applied_at second
    code, out, err = run("import", "acme", "--workspace", "ws-acme", "--roles", "--force")
    assert code == 0, out + err
    assert "tenants/acme.yaml (unchanged)" in out
    assert [(repo / n).read_bytes() for n in ("tenants/acme.yaml", "tenantops.lock")] == first
    assert audit_events(repo, "acme") == ["imported"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["nobody", "--workspace", "ws-nowhere"],
            "workspace 'ws-nowhere' has no bot 'support-bot'",
        ),
        (["source", "--workspace", "ws-acme", "--template", "nope"], "unknown template 'nope'"),
        (["bad/name", "--workspace", "ws-acme"], "'bad/name' is not a tenant name"),
    ],
)
def test_a_bad_request_is_one_clear_error(repo: Path, args: list[str], message: str) -> None:
    """An unknown workspace, template or a bad name: one line, exit 1, nothing written."""
    forget_config(repo)
    code, out, err = run("import", *args)
    assert code == NotFoundError.exit_code == 1
    assert err.startswith("error: ")
    assert message in err
    assert "Traceback" not in out + err
    assert list((repo / "tenants").iterdir()) == []
    assert not (repo / "tenantops.lock").exists()


@pytest.fixture(scope="module")
def crowd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    """A simulator whose workspaces ws-t000 to ws-t194 all run acme's live bot."""
    state = json.loads((ROOT / "demo/sim-state/state.json").read_text())
    workspaces = state["workspaces"]
    workspaces.update({f"ws-{name}": workspaces["ws-acme"] for name in CROWD})
    folder = tmp_path_factory.mktemp("crowd-state")
    (folder / "state.json").write_text(json.dumps(state))
    with run_sim(state_dir=folder) as server:
        yield server


CROWD = [f"t{i:03d}" for i in range(195)]


def test_from_a_csv_of_200_rows_reports_partial_failure(
    crowd: SimServer, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Good rows are imported; bad rows are listed by line, and the run exits 1."""
    forget_config(repo)
    monkeypatch.setenv("COGNIGY_BASE_URL", crowd.base_url)
    names = CROWD
    rows = ["name,workspace,template", *(f"{n},ws-{n},support-bot" for n in names)]
    rows += ["ghost,ws-ghost,", "t000,ws-t000,", "bad name,ws-t001,", "lonely,,", "x,ws-t002,nope"]
    (repo / "rows.csv").write_text("\n".join(rows) + "\n")
    started = time.monotonic()
    code, out, err = run("import", "--from", "rows.csv")
    elapsed = time.monotonic() - started
    assert code == 1
    failures = [line for line in err.splitlines() if line.startswith("failed: ")]
    assert [f.split(": ")[1] for f in failures] == [f"rows.csv:{n}" for n in range(197, 202)]
    assert "rows.csv:197: ghost: workspace 'ws-ghost' has no bot" in failures[0]
    assert "tenant 't000' is listed twice (first on line 2)" in failures[1]
    assert "Import: 195 imported, 5 failed." in err
    assert "Plan: 0 to add, 0 to change, 0 to destroy." in out
    assert sorted(p.stem for p in (repo / "tenants").iterdir()) == names
    assert len(read_lockfile(repo / "tenantops.lock").tenants) == 195
    assert elapsed < 60, f"200 rows took {elapsed:.1f} s"
    print(f"import of 200 rows: {elapsed:.2f} s")


def test_progress_is_reported_per_row(
    crowd: SimServer, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The importer tells its Reporter of each row, then of the plan, as planner and applier do."""
    forget_config(repo)
    monkeypatch.setenv("COGNIGY_BASE_URL", crowd.base_url)
    names = CROWD[:20]
    project = load_project(repo)
    reporter = CapturingReporter()

    async def main() -> Any:
        backend = open_backend(resolve_api(project))
        try:
            importer = Importer(
                Fleet(project),
                backend,
                journal=lambda r: AuditLog(repo / "audit", redactor=r),
                lockfile=repo / "tenantops.lock",
                reporter=reporter,
            )
            return await importer.run([ImportRequest(n, f"ws-{n}") for n in names])
        finally:
            await backend.aclose()

    report = asyncio.run(main())
    assert report.failed == ()
    kinds = [kind for kind, _ in reporter.events]
    assert reporter.events[0] == ("begin", ("importing", 20))
    assert kinds[:22] == ["begin", *["advance"] * 20, "end"]
    assert ("begin", ("planning", 20)) in reporter.events


V2_KEY = "v2-import-key-0123456789"


@pytest.fixture(scope="module")
def v2sim() -> Iterator[SimServer]:
    with run_sim(
        "--task-seconds", "0.1", "--api-key", f"{V2_KEY}:ops@example.com", flavor="cognigy-v2"
    ) as server:
        yield server


def v2_project(sim: SimServer) -> str:
    """A fresh Cognigy.AI project (en-US, flow Main) with two members; answers its id."""
    project = {"name": "acme", "locales": [{"name": "en-US", "primary": True}]}
    project["flows"] = [{"name": "Main", "context": {}}]
    users = [{"email": e} for e in ("alice@acme.example", "bob@acme.example", "ops@example.com")]
    answer = sim.admin("POST", "/_sim/seed", json={"users": users, "projects": [project]})
    answer.raise_for_status()
    return str(answer.json()["projects"][0]["_id"])


def test_cognigy_v2_import_round_trips(
    v2sim: SimServer, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On cognigy-v2 an applied project imports (with its members) to an empty plan and no drift."""
    project = v2_project(v2sim)
    config = (repo / "tenantops.yaml").read_text().split("\n# Merged under", 1)[1]
    api = "api:\n  flavor: cognigy-v2\n  baseUrl: ${env:COGNIGY_BASE_URL}\n"
    (repo / "tenantops.yaml").write_text(api + "  apiKey: ${env:COGNIGY_API_KEY}\n# " + config)
    acme = (repo / "tenants/acme.yaml").read_text().replace("ws-acme", project)
    forget_config(repo)
    (repo / "tenants/acme.yaml").write_text(acme)
    monkeypatch.setenv("COGNIGY_BASE_URL", v2sim.base_url)
    monkeypatch.setenv("COGNIGY_API_KEY", V2_KEY)
    code, out, err = run("apply", "--auto-approve")
    assert code == 0, out + err
    forget_config(repo)
    v2sim.admin("DELETE", "/_sim/counters").raise_for_status()
    code, out, err = run("import", "acme", "--workspace", project, "--roles")
    assert code == 0, out + err
    assert f"# tenant acme (workspace {project}): no changes" in out
    # Read in the default locale, then in the tenant's; the plan reuses the second read.
    routes = v2sim.admin("GET", "/_sim/counters").json()["routes"]
    assert routes["GET /v2.0/flows/{flowId}/intents"] == 2
    text = (repo / "tenants/acme.yaml").read_text()
    roles = "roles:\n- userId: alice@acme.example\n  roleId: admin\n- userId: bob@acme.example\n"
    assert roles in text
    assert "ops@example.com" not in text  # the key's own user is never managed
    assert run("plan", "--detailed-exitcode")[0] == 0
    assert run("drift")[0] == 0
    entry = read_lockfile(repo / "tenantops.lock").tenants["acme"]
    assert entry.imported
    assert [r.userId for r in entry.roles or []] == ["alice@acme.example", "bob@acme.example"]

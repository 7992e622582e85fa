"""Chaos on cognigy-v2: SIGKILL mid-apply, a flaky rate-limited API, and secrets kept out of sight.

Every test runs the CLI as a subprocess against the Cognigy.AI v2.0 simulator served on
a free port; the checks read the simulator's documents through ``GET /_sim/state``.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from support.demo import DEMO_ENV, ROOT
from support.simserver import SimServer, run_sim

from tenantops.apply.audit import verify
from tenantops.apply.lockfile import read_lockfile

pytestmark = pytest.mark.integration

API_KEY = "v2-chaos-key-5b1e0c7d93a2f4"
ACTING_USER = "ops@example.com"
USERS = ("alice@acme.example", "bob@acme.example", "lucius@wayne.example", ACTING_USER)
#: The tenants' secret values (``secrets: crmToken: ${env:..._CRM_TOKEN}``).
TENANT_SECRETS = {k: v for k, v in DEMO_ENV.items() if k.endswith("_CRM_TOKEN")}
#: The repo's tenantops.yaml; client-side pacing far above what a run sends, so that the
#: simulator's own quota (429) is what the flaky-API test exercises.
CONFIG = """\
api:
  flavor: cognigy-v2
  baseUrl: ${env:COGNIGY_BASE_URL}
  apiKey: ${env:COGNIGY_API_KEY}
  rateLimit: 100000/1m
defaults:
  template: support-bot
  params:
    maxRetries: 3
  vars:
    tier: standard
lockfile: tenantops.lock
audit: audit/
"""
#: Seconds a killed run's tenant leases block the next run.
LOCK_TTL = "1"


def v2_sim(*args: str) -> Any:
    """The v2.0 simulator as a server, accepting :data:`API_KEY` as :data:`ACTING_USER`."""
    return run_sim("--api-key", f"{API_KEY}:{ACTING_USER}", *args, flavor="cognigy-v2")


def seed(sim: SimServer, name: str) -> str:
    """An empty project (one locale, flow Main with empty context); answers its id."""
    project = {
        "name": name,
        "locales": [{"name": "en-US", "primary": True}],
        "flows": [{"name": "Main", "context": {}}],
    }
    body = {"users": [{"email": e} for e in USERS], "projects": [project]}
    response = sim.admin("POST", "/_sim/seed", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["projects"][0]["_id"])


def make_repo(dest: Path, sim: SimServer, tenants: Iterable[str]) -> Path:
    """The example config repo on cognigy-v2, each tenant in a fresh project of its own."""
    shutil.copytree(ROOT / "templates", dest / "templates")
    (dest / "tenants").mkdir()
    for name in tenants:
        text = (ROOT / f"tenants/{name}.yaml").read_text()
        text = re.sub(r"(?m)^workspace: .*$", f"workspace: {seed(sim, name)}", text)
        text = re.sub(r"langCode: \S+", "langCode: en-US", text)
        (dest / f"tenants/{name}.yaml").write_text(text)
    (dest / "tenantops.yaml").write_text(CONFIG)
    return dest


def env_for(sim: SimServer) -> dict[str, str]:
    """The CLI's environment: the API key, the tenants' secrets, no OAuth client."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OAUTH_", "COGNIGY_"))}
    return {**env, **TENANT_SECRETS, "COGNIGY_BASE_URL": sim.base_url, "COGNIGY_API_KEY": API_KEY}


def command(repo: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "tenantops", "-C", str(repo), *args]


def tenantops(
    repo: Path, sim: SimServer, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(repo, *args),
        env=env_for(sim),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def apply_args(*extra: str) -> tuple[str, ...]:
    return ("apply", "--auto-approve", "--lock-ttl", LOCK_TTL, "--lock-timeout", "30", *extra)


def apply_until_converged(
    repo: Path, sim: SimServer, attempts: int
) -> list[subprocess.CompletedProcess[str]]:
    """Apply again until a run exits 0 (at most ``attempts`` runs); answers every run."""
    runs = []
    for _ in range(attempts):
        runs.append(tenantops(repo, sim, *apply_args()))
        if runs[-1].returncode == 0:
            return runs
    last = runs[-1]
    raise AssertionError(
        f"apply did not converge in {attempts} runs:\n{last.stdout[-4000:]}\n{last.stderr[-2000:]}"
    )


def tables(sim: SimServer) -> dict[str, list[dict[str, Any]]]:
    response = sim.admin("GET", "/_sim/state")
    assert response.status_code == 200, response.text
    return dict(response.json()["tables"])


def duplicates(state: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Every resource the simulator holds twice (where names must be unique), and every
    project over the 10-snapshot cap."""
    found: list[str] = []

    def once(kind: str, keys: Iterable[Any]) -> None:
        found.extend(f"{kind} {key} x{n}" for key, n in Counter(keys).items() if n > 1)

    once("intent (flow, name)", ((i["flowReference"], i["name"]) for i in state["intents"]))
    once(
        "sentence (intent, text, locale)",
        ((s["intentReference"], s["text"], s.get("localeReference")) for s in state["sentences"]),
    )
    once("lexicon (project, name)", ((x["projectReference"], x["name"]) for x in state["lexicons"]))
    once(
        "entry (lexicon, mainKeyphrase)",
        ((e["lexiconReference"], e["mainKeyphrase"]) for e in state["entries"]),
    )
    for entry in state["entries"]:
        values = [k["value"] for k in entry.get("keyphrases") or []]
        once(f"keyphrase of entry {entry['mainKeyphrase']!r} ({entry['_id']})", values)
    once(
        "node (flow, analyticsLabel)",
        (
            (n["flowReference"], n["analyticsLabel"])
            for n in state["nodes"]
            if n.get("analyticsLabel")
        ),
    )
    per_project = Counter(s["projectReference"] for s in state["snapshots"])
    found += [f"project {p} holds {n} snapshots" for p, n in per_project.items() if n > 10]
    return found


def audit_records(repo: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted((repo / "audit").glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]


# --------------------------------------------------------------------------- SIGKILL


def new_wave(repo: Path, wave: int) -> None:
    """Change the template: a new intent, entity and dialog replace the last wave's, and
    every other wave drops two base intents (deletes, then re-creates with sentences)."""
    overrides = repo / "templates/support-bot/overrides.yaml.j2"
    pristine = (ROOT / "templates/support-bot/overrides.yaml.j2").read_text()
    intent = (
        f"  - name: wave_{wave}\n"
        f'    examples: ["wave {wave} hello", "wave {wave} again", "wave {wave} third"]\n'
        f"    actions: [wave_{wave}]\n"
    )
    entity = (
        "entities:\n"
        f"  - name: wave_{wave}\n"
        f"    values: [alpha{wave}, beta{wave}, gamma{wave}]\n"
        "    synonyms:\n"
        f'      alpha{wave}: ["first {wave}", "a {wave}"]\n'
        f'      gamma{wave}: ["third {wave}"]\n\n'
    )
    dialog = f"  - id: w{wave}\n    node: wave_{wave}\n    next: greeting\n"
    text = pristine.replace("intents:\n", "intents:\n" + intent, 1)
    text = text.replace("dialogs:\n", entity + "dialogs:\n" + dialog, 1)
    if wave % 4 == 0:
        dropped = '["cancel_order", "order_status"]'
        text = text.replace(
            "{{ vars.disabledIntents | default([]) | tojson }}",
            f"{{{{ ((vars.disabledIntents | default([])) + {dropped}) | tojson }}}}",
        )
    overrides.write_text(text)


def writes(sim: SimServer) -> int:
    """API calls that change something (POST, PATCH, PUT, DELETE) the simulator answered."""
    routes = sim.admin("GET", "/_sim/counters").json()["routes"]
    return sum(int(n) for route, n in routes.items() if not route.startswith("GET "))


def start_apply(repo: Path, sim: SimServer) -> subprocess.Popen[bytes]:
    """An apply running in the background, its output discarded (it is to be killed)."""
    return subprocess.Popen(
        command(repo, *apply_args()),
        env=env_for(sim),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def kill_after_writes(repo: Path, sim: SimServer, count: int, extra: float) -> bool:
    """Start an apply and SIGKILL it ``extra`` seconds after its ``count``-th write call;
    answers whether it was still running then (else it ended first)."""
    before = writes(sim)
    victim = start_apply(repo, sim)
    deadline = time.monotonic() + 60
    while victim.poll() is None and writes(sim) - before < count:
        assert time.monotonic() < deadline, "the apply made no progress for 60 s"
        time.sleep(0.01)
    time.sleep(extra)
    running = victim.poll() is None
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    return running


def test_sigkills_mid_apply_leave_no_duplicates(tmp_path: Path) -> None:
    """8 SIGKILLs mid-apply leave no duplicated resource; re-runs converge; audit verify passes."""
    tenants = ("acme", "globex", "initech", "umbrella")
    rng = random.Random(2027)
    # Each kill lands after a seeded random number of write calls (plus up to 0.3 s), so
    # it hits a write, a snapshot or training task just started, or the polls between,
    # however loaded the machine is. The first deploy makes about 250 writes, a template
    # wave about 45, and a resumed run fewer.
    budgets = (200, 40, 45, 20, 45, 20, 45, 20)
    sim_args = ("--task-seconds", "0.3", "--latency-ms", "5", "--seed", "11")
    with v2_sim(*sim_args) as sim:
        repo = make_repo(tmp_path / "repo", sim, tenants)
        moments = []
        for moment, budget in enumerate(budgets):
            # Moments 0 and 1 kill the first deploy; from then on a new template wave every
            # other moment, so that a kill leaves either a deploy the next run resumes or
            # one that the next run's new model is deployed over.
            if moment >= 2 and moment % 2 == 0:
                new_wave(repo, moment)
            count, extra = rng.randint(1, budget), round(rng.uniform(0, 0.3), 2)
            running = kill_after_writes(repo, sim, count, extra)
            moments.append((count, extra, running))
            read_lockfile(repo / "tenantops.lock")  # parses: the old or the new version
            assert verify(repo / "audit") == [], f"audit broken by the kill at {moments[-1]}"
            assert duplicates(tables(sim)) == [], f"after the kill at {moments[-1]}"
        assert sum(running for *_, running in moments) >= 5, moments

        apply_until_converged(repo, sim, attempts=4)

        plan = tenantops(repo, sim, "plan", "--detailed-exitcode")
        assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-2000:]
        drift = tenantops(repo, sim, "drift")
        assert drift.returncode == 0, drift.stdout[-3000:] + drift.stderr[-2000:]
        audit = tenantops(repo, sim, "audit", "verify")
        assert audit.returncode == 0, audit.stdout + audit.stderr
        assert duplicates(tables(sim)) == []
        assert sorted(read_lockfile(repo / "tenantops.lock").tenants) == sorted(tenants)
        requested = [r for r in audit_records(repo) if r["event"] == "deploy_requested"]
        assert any(r["details"].get("resumed") for r in requested), (
            f"no kill ({moments}) left a deploy in flight: the resume path went untested"
        )


# --------------------------------------------------------------------------- flaky API


def test_flaky_rate_limited_api_converges(tmp_path: Path) -> None:
    """With about 20% 429/503 answers, re-runs converge the fleet without a duplicate."""
    tenants = ("acme", "globex", "initech", "umbrella", "stark")
    faults = ("--error-rate", "0.1", "--retry-after", "0", "--rate-limit", "300/2s")
    faults += ("--reset-rate", "0.01", "--seed", "5", "--task-seconds", "0.2")
    with v2_sim(*faults) as sim:
        repo = make_repo(tmp_path / "repo", sim, tenants)
        apply_until_converged(repo, sim, attempts=8)
        plan = tenantops(repo, sim, "plan", "--detailed-exitcode")
        assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-2000:]
        assert duplicates(tables(sim)) == []
        assert verify(repo / "audit") == []
        assert sorted(read_lockfile(repo / "tenantops.lock").tenants) == sorted(tenants)
        statuses: Counter[str] = Counter()
        for per_route in sim.admin("GET", "/_sim/counters").json()["statuses"].values():
            statuses.update({code: int(n) for code, n in per_route.items()})
        answered = sum(statuses.values())
        faulty = statuses["429"] + statuses["500"] + statuses["503"]
        assert statuses["429"] > 0, statuses
        assert statuses["503"] > 0, statuses
        assert faulty / answered >= 0.12, statuses


# --------------------------------------------------------------------------- secrets


def test_no_secret_appears_anywhere(tmp_path: Path) -> None:
    """No API key or tenant secret appears in any output, lockfile, plan file or audit record."""
    with v2_sim("--task-seconds", "0.1") as sim:
        repo = make_repo(tmp_path / "repo", sim, ("acme", "globex"))
        seen: dict[str, str] = {}

        def run(name: str, *args: str, expect: int = 0) -> None:
            result = tenantops(repo, sim, *args)
            assert result.returncode == expect, f"{name}: {result.stdout}{result.stderr}"
            seen[f"{name} stdout"] = result.stdout
            seen[f"{name} stderr"] = result.stderr

        for fmt in ("text", "json", "markdown"):
            run(f"plan --format {fmt}", "plan", "--format", fmt)
        saved = tmp_path / "reviewed.plan"
        run("plan --out", "plan", "--out", str(saved))
        run("apply PLANFILE", "apply", str(saved))

        # The secret is on the platform (in the flow's context): every output that shows
        # the live bot must mask it. A UI edit drops it from acme's, so that drift, plan
        # and apply all show that very field.
        token = TENANT_SECRETS["ACME_CRM_TOKEN"]
        (flow,) = [
            f for f in tables(sim)["flows"] if (f.get("context") or {}).get("crmAuthToken") == token
        ]
        context = {k: v for k, v in flow["context"].items() if k != "crmAuthToken"}
        edited = sim.admin("PATCH", f"/_sim/docs/flows/{flow['_id']}", json={"context": context})
        assert edited.status_code == 200, edited.text
        for fmt in ("text", "json", "markdown"):
            run(f"drift --format {fmt}", "drift", "--format", fmt, expect=2)
        run("apply --auto-approve", *apply_args())

        files = [repo / "tenantops.lock", saved, *sorted((repo / "audit").glob("*"))]
        seen |= {str(p.relative_to(tmp_path)): p.read_text() for p in files}
        assert "crmAuthToken" in seen["drift --format json stdout"]
        assert "crmAuthToken" in seen["apply --auto-approve stdout"]
        secrets = {"COGNIGY_API_KEY": API_KEY, **TENANT_SECRETS}
        leaks = [
            f"{var} in {where}"
            for where, text in seen.items()
            for var, value in secrets.items()
            if value in text
        ]
        assert leaks == []


# --------------------------------------------------------------------------- known bugs


def test_role_with_expiry_converges(tmp_path: Path) -> None:
    """A role with expiresAt (wayne's) leaves an empty plan once applied."""
    with v2_sim("--task-seconds", "0.1") as sim:
        repo = make_repo(tmp_path / "repo", sim, ("wayne",))
        applied = tenantops(repo, sim, *apply_args())
        assert applied.returncode == 0, applied.stdout + applied.stderr
        plan = tenantops(repo, sim, "plan", "--detailed-exitcode")
        assert plan.returncode == 0, plan.stdout


def kill_once_a_failing_training_reaches(repo: Path, sim: SimServer, task: str) -> None:
    """Make the next training of the (only) project fail, start an apply, and SIGKILL it
    as soon as a ``task`` task exists (``trainIntents``, or the ``restoreSnapshot`` of
    the rollback that follows the failure)."""
    (project,) = tables(sim)["projects"]
    failing = sim.admin("POST", f"/_sim/projects/{project['_id']}/fail-next-training", json={})
    assert failing.status_code == 200, failing.text
    victim = start_apply(repo, sim)
    deadline = time.monotonic() + 60
    while not any(t["name"] == task for t in tables(sim)["tasks"]):
        assert victim.poll() is None, f"the apply ended before a {task} task began"
        assert time.monotonic() < deadline, f"no {task} task began"
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()


def test_training_that_failed_after_a_kill_is_not_recorded_as_success(tmp_path: Path) -> None:
    """Killed while its training runs (and then fails), a deploy is not recorded as succeeded."""
    with v2_sim("--task-seconds", "1.5") as sim:
        repo = make_repo(tmp_path / "repo", sim, ("acme",))
        kill_once_a_failing_training_reaches(repo, sim, "trainIntents")
        time.sleep(1.5)  # the training ends, in error
        tenantops(repo, sim, *apply_args())
        failed = {
            t["_id"]
            for t in tables(sim)["tasks"]
            if t["name"] == "trainIntents" and t["failReason"]
        }
        assert failed, "the injected training failure did not happen"
        succeeded = {
            str(r["details"].get("deployment_id")).rsplit("/", 1)[-1]
            for r in audit_records(repo)
            if r["event"] == "deploy_succeeded"
        }
        assert not succeeded & failed, "a training that ended in error was recorded as success"


def test_a_rotated_secret_does_not_appear_in_the_plan(tmp_path: Path) -> None:
    """After ACME_CRM_TOKEN is rotated, plan shows neither the old value nor the new one."""
    with v2_sim("--task-seconds", "0.1") as sim:
        repo = make_repo(tmp_path / "repo", sim, ("acme",))
        applied = tenantops(repo, sim, *apply_args())
        assert applied.returncode == 0, applied.stdout + applied.stderr
        rotated = {**env_for(sim), "ACME_CRM_TOKEN": "rotated-acme-crm-token-9d2f"}
        plan = subprocess.run(
            command(repo, "plan", "--format", "json"),
            env=rotated,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert plan.returncode == 0, plan.stdout + plan.stderr
        assert "crmAuthToken" in plan.stdout
        assert "rotated-acme-crm-token-9d2f" not in plan.stdout
        assert TENANT_SECRETS["ACME_CRM_TOKEN"] not in plan.stdout


# --------------------------------------------------------------------------- rollbacks


def planned_changes(repo: Path, sim: SimServer, tenant: str) -> list[Any]:
    """What plan would change for ``tenant``: the same list means the same live bot."""
    plan = tenantops(repo, sim, "plan", tenant, "--format", "json")
    assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-2000:]
    return list(json.loads(plan.stdout)["tenants"][0]["changes"])


def add_faq(repo: Path, tenant: str, name: str, examples: Iterable[str]) -> None:
    """A tenant FAQ (an intent of the rendered model) with these examples."""
    path = repo / f"tenants/{tenant}.yaml"
    faq = f"    - name: {name}\n      examples: {json.dumps(list(examples))}\n"
    path.write_text(path.read_text().replace("  faqs:\n", "  faqs:\n" + faq, 1))


def test_a_deploy_refused_after_its_first_write_is_rolled_back(tmp_path: Path) -> None:
    """A 400 part-way through the writes (an intent over the API's 200 sentences) restores
    the backup: no half-deployed bot, recorded as rolled back, not as rejected."""
    with v2_sim("--task-seconds", "0.1") as sim:
        repo = make_repo(tmp_path / "repo", sim, ("acme",))
        assert tenantops(repo, sim, *apply_args()).returncode == 0
        add_faq(repo, "acme", "too_many", (f"question number {i}" for i in range(201)))
        before = planned_changes(repo, sim, "acme")
        assert any("too_many" in json.dumps(c) for c in before)

        applied = tenantops(repo, sim, *apply_args())

        assert applied.returncode == 1, applied.stdout + applied.stderr
        assert "rolled_back" in applied.stdout
        assert "refused part-way" in applied.stdout
        assert not [i for i in tables(sim)["intents"] if i["name"] == "too_many"]
        assert planned_changes(repo, sim, "acme") == before
        events = [r["event"] for r in audit_records(repo)]
        assert "deploy_rejected" not in events
        (rolled,) = [r for r in audit_records(repo) if r["event"] == "rolled_back"]
        assert rolled["details"]["verified"] is True
        assert verify(repo / "audit") == []


def test_a_rollback_killed_mid_restore_is_finished_by_the_next_run(tmp_path: Path) -> None:
    """Killed while its restore runs, a rollback is finished by the next run before any
    write: nothing is duplicated and the project matches its export from before."""
    with v2_sim("--task-seconds", "1.0") as sim:
        repo = make_repo(tmp_path / "repo", sim, ("acme",))
        assert tenantops(repo, sim, *apply_args()).returncode == 0
        new_wave(repo, 1)
        before = planned_changes(repo, sim, "acme")
        kill_once_a_failing_training_reaches(repo, sim, "restoreSnapshot")

        finished = tenantops(repo, sim, *apply_args())

        assert finished.returncode == 1, finished.stdout + finished.stderr
        assert "a killed run began this rollback" in finished.stdout
        assert duplicates(tables(sim)) == []
        assert planned_changes(repo, sim, "acme") == before
        assert verify(repo / "audit") == []
        # The rollback is over: the next run deploys the wave, and plan is empty after it.
        assert tenantops(repo, sim, *apply_args()).returncode == 0
        assert planned_changes(repo, sim, "acme") == []
        assert duplicates(tables(sim)) == []

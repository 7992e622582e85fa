"""Count Cognigy.AI v2.0 API calls per route for the issue's reference tenant.

Usage: python bench/v2_calls.py

The reference tenant: 1 flow, 1 locale, 30 intents x 10 sentences, 5 lexicons x 20
entries x 2 synonyms, 15 chart nodes. Against ``tenantops sim --flavor cognigy-v2``
(tasks take 0.3 s), through the in-process CLI, it measures from the simulator's
``/_sim/counters``:

1. the first deploy (``apply --auto-approve`` into an empty project);
2. planning it (``plan``, no changes): ceiling 45 calls;
3. applying a change to 2 intents, everything included (backup snapshot, training,
   polls, lockfile), as CI applies a reviewed plan: ``apply PLANFILE`` (the plan saved by
   ``plan --out`` beforehand, as in a pull request): ceiling 80 calls;
4. a drift check (``drift``);
5. for comparison, ``apply --auto-approve`` of 2 more changed intents, which plans and
   applies in one run and so reads the project twice (once to plan, once under the lease).

Then the ETA of 100 such tenants under a 1000/5m quota. Exits 1 when a ceiling is
exceeded, naming it.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from support.simserver import SimServer, run_sim  # noqa: E402

from tenantops.cli import cli  # noqa: E402

API_KEY = "bench-v2-key-0123456789"
EMAIL = "ops@example.com"
INTENTS, SENTENCES = 30, 10
LEXICONS, ENTRIES, SYNONYMS = 5, 20, 2
NODES = 15
CHANGED_INTENTS = 2
#: Calls allowed per phase (the issue's ceilings); phases without one are only reported.
CEILINGS: dict[str, int] = {"plan": 45, "apply PLANFILE (2 intents changed)": 80}
FLEET, QUOTA, WINDOW = 100, 1000, 300


def base_model(changed: int = 0) -> dict[str, Any]:
    """The reference bot; the first ``changed`` intents carry one more sentence."""
    intents = [
        {
            "name": f"intent_{i:02d}",
            "examples": [f"intent {i} sentence {s}" for s in range(SENTENCES)]
            + (["one more way to say it"] if i < changed else []),
            "actions": ["a"],
        }
        for i in range(INTENTS)
    ]
    entities = []
    for n in range(LEXICONS):
        values = [f"lex{n}_value{v:02d}" for v in range(ENTRIES)]
        synonyms = {v: [f"{v} syn{k}" for k in range(SYNONYMS)] for v in values}
        entities.append({"name": f"lexicon_{n}", "values": values, "synonyms": synonyms})
    dialogs = [
        {
            "id": f"d{d:02d}",
            "node": f"node {d}",
            "next": f"d{d + 1:02d}" if d + 1 < NODES else "end",
        }
        for d in range(NODES)
    ]
    return {"botId": "Main", "intents": intents, "entities": entities, "dialogs": dialogs}


def seed_project(sim: SimServer) -> str:
    """An empty project: locale en-US (primary) and flow Main; answers its id."""
    project = {
        "name": "ref",
        "locales": [{"name": "en-US", "primary": True}],
        "flows": [{"name": "Main", "context": {}}],
    }
    body = {"users": [{"email": EMAIL}], "projects": [project]}
    response = sim.admin("POST", "/_sim/seed", json=body)
    response.raise_for_status()
    return str(response.json()["projects"][0]["_id"])


def write_repo(root: Path, project: str) -> None:
    """tenantops.yaml on cognigy-v2, template ``ref`` and tenant ``ref`` in ``project``."""
    root.mkdir(parents=True)
    (root / "tenantops.yaml").write_text(
        "api:\n  flavor: cognigy-v2\n  baseUrl: ${env:COGNIGY_BASE_URL}\n"
        "  apiKey: ${env:COGNIGY_API_KEY}\ndefaults:\n  template: ref\n"
    )
    template = root / "templates/ref"
    template.mkdir(parents=True)
    (template / "template.yaml").write_text("base:\n  file: base.json\n")
    (template / "base.json").write_text(json.dumps(base_model(), indent=2))
    (template / "overrides.yaml.j2").write_text("metadata:\n  brand: {{ vars.brand | tojson }}\n")
    (template / "schema.json").write_text('{"type": "object"}\n')
    (root / "tenants").mkdir()
    (root / "tenants/ref.yaml").write_text(
        f"name: ref\nworkspace: {project}\nparams:\n  langCode: en-US\nvars:\n  brand: Ref\n"
    )


def run_cli(sim: SimServer, repo: Path, *args: str) -> tuple[int, str]:
    """The CLI in-process against the simulator: (exit code, stdout + stderr)."""
    env = {"COGNIGY_BASE_URL": sim.base_url, "COGNIGY_API_KEY": API_KEY}
    result = CliRunner().invoke(cli, ["-C", str(repo), *args], env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout + result.stderr


def measure(
    sim: SimServer, repo: Path, args: tuple[str, ...], expect: tuple[int, ...]
) -> dict[str, Any]:
    """Reset the counters, run the CLI, answer ``/_sim/counters``; exit if the CLI fails."""
    sim.admin("DELETE", "/_sim/counters").raise_for_status()
    code, out = run_cli(sim, repo, *args)
    if code not in expect:
        sys.exit(f"tenantops {' '.join(args)} exited {code}, wanted {expect}:\n{out[-3000:]}")
    response = sim.admin("GET", "/_sim/counters")
    response.raise_for_status()
    return dict(response.json())


def print_phase(phase: str, counters: dict[str, Any]) -> bool:
    """Print route -> count (most first) and the total vs the ceiling; answers whether within."""
    routes: dict[str, int] = counters["routes"]
    ceiling = CEILINGS.get(phase)
    print(f"\n{phase}")
    width = max((len(r) for r in routes), default=10)
    for route, n in sorted(routes.items(), key=lambda kv: (-kv[1], kv[0])):
        statuses = counters["statuses"].get(route, {})
        odd = {s: c for s, c in statuses.items() if not s.startswith("2")}
        note = f"  (non-2xx: {odd})" if odd else ""
        print(f"  {route:<{width}}  {n:>5}{note}")
    total = int(counters["total"])
    within = ceiling is None or total <= ceiling
    verdict = "" if ceiling is None else f" / ceiling {ceiling}: {'ok' if within else 'EXCEEDED'}"
    print(f"  {'total':<{width}}  {total:>5}{verdict}")
    return within


def eta(label: str, calls: int) -> None:
    """Seconds for :data:`FLEET` tenants at ``calls`` each under QUOTA per WINDOW."""
    windows = math.ceil(FLEET * calls / QUOTA)
    print(
        f"  {label}: ceil({FLEET} x {calls} / {QUOTA}) x {WINDOW} s"
        f" = {windows} x {WINDOW} s = {windows * WINDOW} s (~{windows * WINDOW / 60:.0f} min)"
    )


def main() -> None:
    args = ("--task-seconds", "0.3", "--api-key", f"{API_KEY}:{EMAIL}")
    with tempfile.TemporaryDirectory() as tmp, run_sim(*args, flavor="cognigy-v2") as sim:
        repo = Path(tmp) / "repo"
        write_repo(repo, seed_project(sim))
        apply = ("apply", "--auto-approve")
        phases: dict[str, dict[str, Any]] = {}
        phases["first deploy (full create)"] = measure(sim, repo, apply, (0,))
        phases["plan"] = measure(sim, repo, ("plan", "--detailed-exitcode"), (0,))
        base = repo / "templates/ref/base.json"
        base.write_text(json.dumps(base_model(changed=CHANGED_INTENTS), indent=2))
        saved = str(Path(tmp) / "plan.json")
        measure(sim, repo, ("plan", "--out", saved), (0,))
        phases["apply PLANFILE (2 intents changed)"] = measure(sim, repo, ("apply", saved), (0,))
        phases["drift"] = measure(sim, repo, ("drift",), (0,))
        # For comparison: 2 more intents changed, planned and applied in one run.
        base.write_text(json.dumps(base_model(changed=2 * CHANGED_INTENTS), indent=2))
        phases["apply --auto-approve (plan + apply, 2 more intents)"] = measure(
            sim, repo, apply, (0,)
        )
    print(
        f"reference tenant: {INTENTS} intents x {SENTENCES} sentences, {LEXICONS} lexicons x "
        f"{ENTRIES} entries x {SYNONYMS} synonyms, {NODES} nodes; sim --task-seconds 0.3"
    )
    exceeded = [p for p, c in phases.items() if not print_phase(p, c)]
    print(f"\nETA for {FLEET} reference tenants under {QUOTA}/{WINDOW // 60}m:")
    eta("plan", int(phases["plan"]["total"]))
    applied = int(phases["apply PLANFILE (2 intents changed)"]["total"])
    eta("apply PLANFILE (2 intents changed)", applied)
    if exceeded:
        for phase in exceeded:
            print(f"CEILING EXCEEDED: {phase} ({phases[phase]['total']} > {CEILINGS[phase]})")
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except httpx.HTTPError as exc:
        sys.exit(f"simulator admin call failed: {exc}")

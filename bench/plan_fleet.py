"""Plan a generated fleet against the simulator; print wall time, CPU per tenant, memory.

Usage: python bench/plan_fleet.py [--tenants 1000] [--latency-ms 200] [--parallelism 32]

1. Generates N tenants (bench/fleetgen.py) and seeds the simulator so that 90% of
   them have a deployed bot (a third of those edited, so diffs find work) and 10% none.
2. Runs ``tenantops plan --parallelism P --format json`` as a subprocess against
   ``tenantops sim --latency-ms L``: wall time against the ideal N x L / P, and the
   peak RSS of the plan process.
3. Measures in-process CPU time per tenant of render, schema validation and diff.
4. Plans a single tenant whose bot has 10,000 intents of 20 examples each.
Targets: wall <= 1.3x ideal; render+validate+diff < 3 ms/tenant; 10k intents < 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from fleetgen import generate  # noqa: E402
from support.simserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, run_sim  # noqa: E402

from tenantops.config import load_project  # noqa: E402
from tenantops.config.fleet import Fleet  # noqa: E402
from tenantops.core.diff import diff_models  # noqa: E402

SECRET = "bench-secret"


def seed_state(repo: Path, out: Path) -> dict[str, Any]:
    """Render every tenant and write a simulator state where most are deployed."""
    os.environ["TENANT_CRM_TOKEN"] = SECRET
    fleet = Fleet(load_project(repo))
    workspaces: dict[str, Any] = {}
    lives: dict[str, Any] = {}
    for i, path in enumerate(fleet.tenant_paths()):
        desired = fleet.build(path)
        if i % 10 == 9:
            workspaces[desired.tenant.workspace] = {"bots": {}}
            continue
        model = json.loads(json.dumps(desired.model))
        if i % 3 == 0:
            model["intents"][0]["examples"].append("edited in the UI")
            model["metadata"]["maxRetries"] = 7
        workspaces[desired.tenant.workspace] = {"bots": {"support-bot": model}}
        lives[path.stem] = model
    out.mkdir(parents=True, exist_ok=True)
    (out / "state.json").write_text(json.dumps({"workspaces": workspaces}))
    return lives


def cpu_per_tenant(repo: Path, lives: dict[str, Any]) -> tuple[float, float]:
    """Mean CPU ms per tenant of (render + validate) and of diff, in-process."""
    fleet = Fleet(load_project(repo))
    paths = fleet.tenant_paths()
    fleet.template("support-bot")  # load the template once, as a plan run does
    start = time.process_time()
    built = [fleet.build(p) for p in paths]
    render = (time.process_time() - start) / len(paths) * 1000
    start = time.process_time()
    for d in built:
        assert d.model is not None
        diff_models(d.model, lives.get(d.name), ignore=d.template.spec.ignore_changes)
    diff = (time.process_time() - start) / len(paths) * 1000
    return render, diff


def run_plan(
    repo: Path, base_url: str, parallelism: int, *tenants: str
) -> tuple[float, float, dict[str, Any]]:
    env = {
        **os.environ,
        "COGNIGY_BASE_URL": base_url,
        "OAUTH_CLIENT_ID": DEFAULT_CLIENT_ID,
        "OAUTH_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "TENANT_CRM_TOKEN": SECRET,
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tenantops",
            "-C",
            str(repo),
            "plan",
            "--parallelism",
            str(parallelism),
            "--format",
            "json",
            *tenants,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    if proc.returncode != 0:
        sys.exit(f"plan failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall, peak, json.loads(proc.stdout)


def big_tenant(tmp: Path) -> float:
    repo = generate(tmp / "big", 1, intents=10_000)
    state = tmp / "big-state"
    lives = seed_state(repo, state)
    del lives
    data = json.loads((state / "state.json").read_text())
    for ws in data["workspaces"].values():
        for bot in ws["bots"].values():
            for intent in bot["intents"][::100]:
                intent["examples"].append("changed")
    (state / "state.json").write_text(json.dumps(data))
    if not data["workspaces"]["ws-tenant-00000"]["bots"]:
        sys.exit("the big tenant should have a deployed bot")
    with run_sim(state_dir=state) as sim:
        wall, _, plan = run_plan(repo, sim.base_url, 1)
    print(
        f"  10,000-intent tenant: plan in {wall:.2f} s (CLI start-up included), {plan['summary']['update']} updates found"
    )
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--parallelism", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        repo = generate(tmp / "fleet", args.tenants)
        lives = seed_state(repo, tmp / "state")
        render, diff = cpu_per_tenant(repo, lives)
        with run_sim("--latency-ms", str(args.latency_ms), state_dir=tmp / "state") as sim:
            wall, peak, plan = run_plan(repo, sim.base_url, args.parallelism)
        ideal = args.tenants * args.latency_ms / 1000 / args.parallelism
        s = plan["summary"]
        print(
            f"plan of {args.tenants} tenants, sim --latency-ms {args.latency_ms}, --parallelism {args.parallelism}:"
        )
        print(
            f"  wall {wall:.2f} s vs ideal {ideal:.2f} s = {wall / ideal:.2f}x (CLI start-up included)"
        )
        print(f"  {s['tenants_with_changes']} tenants with changes, {s['tenants_errored']} errored")
        print(f"  peak RSS of the plan process: {peak:.0f} MiB")
        print(
            f"  CPU per tenant: render + validate {render:.2f} ms, diff {diff:.2f} ms, total {render + diff:.2f} ms"
        )
        shutil.rmtree(tmp / "state")
        big_tenant(tmp)


if __name__ == "__main__":
    main()

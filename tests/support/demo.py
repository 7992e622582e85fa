"""The demo fleet for CLI tests: its environment, a simulator seeded like the demo, the CLI."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from click.testing import CliRunner

from support.simserver import SimServer, run_sim
from tenantops.cli import cli

ROOT = Path(__file__).resolve().parents[2]

#: demo/env.sh as a mapping: the simulator's client and the tenants' demo secrets.
DEMO_ENV = dict(
    line.removeprefix("export ").split("=", 1)
    for line in (ROOT / "demo/env.sh").read_text().splitlines()
    if line.startswith("export ")
)


@contextmanager
def demo_sim(state_dir: Path) -> Iterator[SimServer]:
    """A simulator seeded with demo/sim-state (deployments take 0.2 s)."""
    shutil.copy(ROOT / "demo/sim-state/state.json", state_dir / "state.json")
    with run_sim("--deploy-seconds", "0.2", state_dir=state_dir) as server:
        yield server


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    result = CliRunner().invoke(cli, list(args), input=stdin)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr

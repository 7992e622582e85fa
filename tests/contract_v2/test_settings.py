"""The suite's own settings: a real URL it cannot run safely on is refused before any call."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.v2contract import (
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_DESTRUCTIVE,
    ENV_PROJECT_ID,
    target_from_env,
)

HERE = Path(__file__).parent
PROJECT = "0123456789abcdef01234567"


def test_a_real_url_without_a_project_id_stops_the_run_in_one_sentence() -> None:
    """``pytest tests/contract_v2`` with a URL but no project id names the variable, runs nothing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTOPS_CONTRACT_")}
    env |= {ENV_BASE_URL: "http://127.0.0.1:9", ENV_API_KEY: "k"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(HERE), "-q", "-p", "no:randomly"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = run.stdout + run.stderr
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, output
    (line,) = [line for line in output.splitlines() if line.startswith("ERROR: ")]
    assert line.startswith(f"ERROR: {ENV_BASE_URL} is set but {ENV_PROJECT_ID} is not"), line


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({ENV_API_KEY: "k", ENV_PROJECT_ID: "my-project"}, ENV_PROJECT_ID),
        ({ENV_PROJECT_ID: PROJECT}, ENV_API_KEY),
    ],
    ids=["project not an id", "no key"],
)
def test_every_missing_setting_is_named(settings: dict[str, str], named: str) -> None:
    """A project id that is not 24 hex, or a missing key, is refused naming the variable."""
    with pytest.raises(ValueError, match=f"but {named} is not"):
        target_from_env({ENV_BASE_URL: "https://api-trial.cognigy.ai", **settings})


@pytest.mark.parametrize(("flag", "destructive"), [(None, False), ("1", True), ("yes", False)])
def test_destructive_checks_need_the_explicit_opt_in(flag: str | None, destructive: bool) -> None:
    """Only ``TENANTOPS_CONTRACT_DESTRUCTIVE=1`` lets restores and the cap run on a real project."""
    env = {ENV_BASE_URL: "https://api-trial.cognigy.ai/", ENV_API_KEY: "k", ENV_PROJECT_ID: PROJECT}
    target = target_from_env(env | ({ENV_DESTRUCTIVE: flag} if flag else {}))
    assert target is not None
    assert (target.base_url, target.simulated) == ("https://api-trial.cognigy.ai", False)
    assert target.destructive is destructive

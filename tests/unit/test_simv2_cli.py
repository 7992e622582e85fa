"""``tenantops sim --flavor cognigy-v2``: flags become the v2.0 simulator's config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner

from tenantops.cli.sim import sim
from tenantops.servers.sim.cognigy_v2._runtime import V2Runtime


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    calls: dict[str, Any] = {}

    def fake_run(app: Any, **kwargs: Any) -> None:
        calls.update(kwargs, runtime=app.state.runtime, app=app)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    return calls


def test_v2_defaults(served: dict[str, Any]) -> None:
    """--flavor cognigy-v2 alone serves the demo key and client, 1.5 s tasks, no admin API."""
    result = CliRunner().invoke(sim, ["--flavor", "cognigy-v2"])
    assert result.exit_code == 0, result.output
    runtime = served["runtime"]
    assert isinstance(runtime, V2Runtime)
    assert list(runtime.keys) == ["demo-api-key"]
    assert list(runtime.clients) == ["demo-client"]
    assert (runtime.config.task_seconds, runtime.config.max_snapshots) == (1.5, 10)
    assert runtime.config.context_mode == "merge"
    assert not runtime.config.admin


def test_v2_flags_reach_the_config(served: dict[str, Any], tmp_path: Path) -> None:
    """Every v2 flag lands in the config and fault settings."""
    args = [
        "--flavor", "cognigy-v2", "--api-key", "k-1:ci@example.com", "--api-key", "k-2",
        "--oauth-client", "ci:s3cret:bot@example.com", "--task-seconds", "0.1",
        "--max-snapshots", "3", "--context-mode", "replace", "--train-fail-rate", "0.5",
        "--rate-limit", "1000/5m", "--error-rate", "0.1", "--seed", "4", "--admin",
        "--state", str(tmp_path), "--port", "9001",
    ]  # fmt: skip
    result = CliRunner().invoke(sim, args)
    assert result.exit_code == 0, result.output
    config = served["runtime"].config
    assert [(k.key, k.email) for k in config.api_keys] == [
        ("k-1", "ci@example.com"),
        ("k-2", "admin@example.com"),
    ]
    assert config.oauth_clients[0].email == "bot@example.com"
    assert (config.task_seconds, config.max_snapshots, config.context_mode) == (0.1, 3, "replace")
    assert (config.faults.train_fail_rate, config.faults.rate_limit) == (0.5, "1000/5m")
    assert (config.seed, config.admin, config.state_dir, served["port"]) == (
        4,
        True,
        tmp_path,
        9001,
    )


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--task-seconds", "1"], "--task-seconds"),
        (["--flavor", "cognigy-v2", "--client", "a:b"], "--client"),
    ],
)
def test_options_of_the_other_flavor_are_refused(
    served: dict[str, Any], args: list[str], flag: str
) -> None:
    """An option only the other flavour understands is a usage error."""
    result = CliRunner().invoke(sim, args)
    assert result.exit_code == 2
    assert flag in result.output
    assert not served


def test_bad_api_key_option(served: dict[str, Any]) -> None:
    """An --api-key without a key is refused."""
    result = CliRunner().invoke(sim, ["--flavor", "cognigy-v2", "--api-key", ":x@example.com"])
    assert result.exit_code == 2
    assert "--api-key" in result.output

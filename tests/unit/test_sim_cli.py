"""``tenantops sim``: flags become the simulator's config, and uvicorn serves it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner

from tenantops.cli.sim import sim
from tenantops.errors import ConfigError
from tenantops.servers.sim.contract._runtime import Runtime


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    calls: dict[str, Any] = {}

    def fake_run(app: Any, **kwargs: Any) -> None:
        calls.update(kwargs, runtime=app.state.runtime, app=app)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    return calls


def test_defaults(served: dict[str, Any]) -> None:
    """Without flags: 127.0.0.1:8765, one worker, no access log, demo-client, no admin API."""
    result = CliRunner().invoke(sim, [])
    assert result.exit_code == 0, result.output
    assert {k: served[k] for k in ("host", "port", "log_level", "access_log", "workers")} == {
        "host": "127.0.0.1",
        "port": 8765,
        "log_level": "warning",
        "access_log": False,
        "workers": 1,
    }
    runtime: Runtime = served["runtime"]
    assert list(runtime.state.clients) == ["demo-client"]
    assert runtime.config.token_ttl == 3600
    assert runtime.config.deploy_seconds == 2.0
    assert not any(getattr(r, "path", "").startswith("/_sim") for r in served["app"].routes)


def test_flags_reach_the_config(served: dict[str, Any], tmp_path: Path) -> None:
    """Every flag lands in the simulator's config and fault settings."""
    args = [
        "--host", "0.0.0.0", "--port", "9000", "--state", str(tmp_path), "--token-ttl", "5",
        "--deploy-seconds", "0.2", "--seed", "3", "--latency-ms", "7", "--error-rate", "0.1",
        "--rate-limit", "10/1s", "--deploy-fail-rate", "0.2", "--reset-rate", "0.3",
        "--retry-after", "2", "--admin", "--client", "ci:s:bot:export,bot:deploy",
        "--log-level", "info",
    ]  # fmt: skip
    result = CliRunner().invoke(sim, args)
    assert result.exit_code == 0, result.output
    assert (served["host"], served["port"], served["log_level"]) == ("0.0.0.0", 9000, "info")
    config = served["runtime"].config
    assert (config.state_dir, config.token_ttl, config.deploy_seconds, config.seed, config.admin) == (
        tmp_path, 5, 0.2, 3, True
    )  # fmt: skip
    assert config.faults.model_dump() == {
        "latency_ms": 7.0,
        "error_rate": 0.1,
        "rate_limit": "10/1s",
        "deploy_fail_rate": 0.2,
        "reset_rate": 0.3,
        "retry_after": 2,
        "retry_after_format": "seconds",
    }
    assert served["runtime"].state.clients["ci"].scopes == ("bot:export", "bot:deploy")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate-limit", "lots"], "N/PERIOD"),
        (["--client", "no-secret"], "ID:SECRET"),
        (["--client", "ci:s:root"], "unknown scope"),
        (["--error-rate", "1.5"], "1.5"),
    ],
)
def test_bad_flags_are_usage_errors(served: dict[str, Any], args: list[str], message: str) -> None:
    """An unparsable rate limit, client or rate exits 2 naming the problem."""
    result = CliRunner().invoke(sim, args)
    assert result.exit_code == 2
    assert message in result.output
    assert not served


def test_invalid_state_file_is_a_config_error(served: dict[str, Any], tmp_path: Path) -> None:
    """A broken state.json stops the command with a ConfigError before serving."""
    (tmp_path / "state.json").write_text("[]")
    result = CliRunner().invoke(sim, ["--state", str(tmp_path)])
    assert isinstance(result.exception, ConfigError)
    assert not served

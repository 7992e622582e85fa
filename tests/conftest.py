"""Shared fixtures: an isolated environment, and example config repos to break on purpose."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.redisserver import ServerNotFoundError, standalone, standalone_url

from tenantops.backends import retry

ROOT = Path(__file__).resolve().parent.parent

#: Values for the secrets the example tenants reference.
EXAMPLE_SECRETS = {
    f"{name.upper()}_CRM_TOKEN": f"{name}-crm-token-s3cr3t"
    for name in ("acme", "globex", "initech", "umbrella", "wayne", "stark")
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests without a marker are fast: ``pytest -m fast`` is the inner loop."""
    slow = {"integration", "contract"}
    for item in items:
        if not any(item.get_closest_marker(m) for m in slow):
            item.add_marker(pytest.mark.fast)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Print the random order's seed last, where a failed run's reader looks."""
    seed = getattr(config.option, "randomly_seed", None)
    if isinstance(seed, int):
        terminalreporter.write_line(
            f"random test order seed {seed}: replay with "
            f"`make test PYTEST_ARGS=--randomly-seed={seed}` or `pytest -p randomly --randomly-seed={seed}`"
        )


@pytest.fixture(autouse=True)
def _isolate_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's Cognigy or OAuth settings."""
    for var in (
        "COGNIGY_BASE_URL",
        "OAUTH_TOKEN_URL",
        "OAUTH_CLIENT_ID",
        "OAUTH_CLIENT_SECRET",
        "COGNIGY_TENANT_ID",
        "NO_COLOR",
    ):
        monkeypatch.delenv(var, raising=False)
    for var, value in EXAMPLE_SECRETS.items():
        monkeypatch.setenv(var, value)


@pytest.fixture(autouse=True)
def _reset_retry_reporting() -> Iterator[None]:
    """stamina's retry hooks are process-wide: a test (or the CLI's -v) may change them."""
    yield
    retry.reset()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the example config repo as the working directory."""
    dest = tmp_path / "repo"
    dest.mkdir()
    shutil.copytree(ROOT / "templates", dest / "templates")
    shutil.copytree(ROOT / "tenants", dest / "tenants")
    shutil.copy(ROOT / "tenantops.yaml", dest / "tenantops.yaml")
    monkeypatch.chdir(dest)
    return dest


@pytest.fixture(scope="session")
def standalone_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of the tests' standalone Redis: ``TENANTOPS_TEST_REDIS_URL`` (127.0.0.1:6379/0).

    One that answers there is used as it is. Otherwise ``redis-server``, or the packaged
    ``valkey-server`` of the dev extras, is started on that port for the session. With
    neither, the tests that need Redis fail saying what to install.
    """
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(
                standalone(standalone_url(), tmp_path_factory.mktemp("redis"))
            )
        except ServerNotFoundError as exc:
            missing = str(exc)
        else:
            missing = ""
        if missing:  # failing outside the except keeps the chained traceback out
            pytest.fail(missing, pytrace=False)
        yield url

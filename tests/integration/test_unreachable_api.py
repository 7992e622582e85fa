"""`tenantops plan` at an API that is not there: the error names the cause, retries show with -v."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.demo import DEMO_ENV

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

V2_CONFIG = """\
api:
  flavor: cognigy-v2
  baseUrl: ${env:COGNIGY_BASE_URL}
  apiKey: ${env:COGNIGY_API_KEY}
defaults:
  template: support-bot
  params: {maxRetries: 3}
  vars: {tier: standard}
"""


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, never listening, held by the test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def _config_repo(tmp_path: Path, flavor: str) -> Path:
    repo = tmp_path / flavor
    shutil.copytree(ROOT / "templates", repo / "templates")
    (repo / "tenants").mkdir()
    acme = (ROOT / "tenants/acme.yaml").read_text()
    if flavor == "cognigy-v2":
        acme = re.sub(r"(?m)^workspace: .*$", "workspace: 65a000000000000000000001", acme)
        (repo / "tenantops.yaml").write_text(V2_CONFIG)
    else:
        shutil.copy(ROOT / "tenantops.yaml", repo / "tenantops.yaml")
    (repo / "tenants/acme.yaml").write_text(acme)
    return repo


def _plan(repo: Path, port: int, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **DEMO_ENV,
        "COGNIGY_BASE_URL": f"http://127.0.0.1:{port}",
        "COGNIGY_API_KEY": "any-key",
    }
    return subprocess.run(
        [sys.executable, "-m", "tenantops", "-C", str(repo), *flags, "plan"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("flavor", ["contract", "cognigy-v2"])
def test_connection_refused_is_named_with_its_address(
    tmp_path: Path, closed_port: int, flavor: str
) -> None:
    """A closed port reads as connection refused (never timed out), after every retry, with -v."""
    done = _plan(_config_repo(tmp_path, flavor), closed_port, "-v")
    assert done.returncode == 1
    address = f"127.0.0.1:{closed_port}"
    error = done.stdout.split("\n")[1].strip()
    assert re.match(r"(could not get a token: )?gave up after 6 attempts over \d+\.\d s: ", error)
    assert f": connection refused by {address}; check api.baseUrl" in error
    retries = done.stderr.splitlines()
    assert len(retries) >= 5
    assert all(re.match(r"retry \d in \d+\.\d s \(waited", line) for line in retries)
    assert all(f"connection refused by {address}" in line for line in retries)
    assert "timed out" not in done.stdout + done.stderr


def test_retries_are_silent_without_verbose(tmp_path: Path, closed_port: int) -> None:
    """Without -v nothing is printed per retry, least of all stamina's raw event name."""
    done = _plan(_config_repo(tmp_path, "contract"), closed_port)
    assert done.returncode == 1
    assert done.stderr == ""
    assert f"connection refused by 127.0.0.1:{closed_port}" in done.stdout

"""The simulator for tests: as a real server (:func:`run_sim`) or in-process (:func:`sim_client`).

``run_sim`` starts ``python -m tenantops sim --admin`` on a free loopback port, waits
for ``/healthz``, and stops it (SIGTERM, then kill) on exit; ``flavor="cognigy-v2"``
runs the Cognigy.AI v2.0 simulator instead of the contract one. ``sim_client`` serves
:func:`tenantops.servers.sim.contract.create_app` through ``httpx.ASGITransport``, and ``v2_sim_client``
:func:`tenantops.servers.sim.cognigy_v2.create_app`, for unit tests that need no sockets.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import httpx

from tenantops.servers.sim import cognigy_v2
from tenantops.servers.sim.contract import SimConfig, create_app

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "TOKEN_PATH",
    "V2_API_KEY",
    "FakeClock",
    "SimServer",
    "bearer",
    "fetch_token",
    "run_sim",
    "sim_client",
    "v2_sim_client",
    "wait_healthy",
]

#: The client every simulator serves when none is configured.
DEFAULT_CLIENT_ID = "demo-client"
DEFAULT_CLIENT_SECRET = "demo-secret"
TOKEN_PATH = "/api/v4/auth/oauth/token"
#: The API key the v2.0 simulator accepts when none is configured.
V2_API_KEY = cognigy_v2.DEFAULT_API_KEY.key

_START_TIMEOUT = 20.0


@dataclass(frozen=True)
class SimServer:
    """A running simulator subprocess."""

    base_url: str
    process: subprocess.Popen[bytes]
    flavor: str = "contract"

    def client(self, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` pointed at the simulator."""
        return httpx.Client(base_url=self.base_url, **kwargs)

    def token(self, client_id: str = DEFAULT_CLIENT_ID, secret: str = DEFAULT_CLIENT_SECRET) -> str:
        """A fresh access token for the client, with all its scopes."""
        with self.client() as client:
            response = client.post(
                TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=(client_id, secret)
            )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call the admin API, e.g. ``admin("GET", "/_sim/requests")``."""
        with self.client() as client:
            return client.request(method, path, **kwargs)

    def seed_project(self, **project: Any) -> dict[str, Any]:
        """cognigy-v2: seed one project (``POST /_sim/seed``); answers its id map."""
        response = self.admin("POST", "/_sim/seed", json={"projects": [project]})
        assert response.status_code == 201, response.text
        return dict(response.json()["projects"][0])

    def fault_next(self, route: str, status: int, *, processed: bool = False) -> None:
        """cognigy-v2: the next request to ``route`` (``DELETE /v2.0/lexicons/{lexiconId}``)
        meets ``status``, after processing it with ``processed`` (``POST /_sim/faults/next``)."""
        body = {"route": route, "status": status, "processed": processed}
        response = self.admin("POST", "/_sim/faults/next", json=body)
        assert response.status_code == 200, response.text


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(
    base_url: str,
    process: subprocess.Popen[bytes],
    *,
    name: str = "tenantops sim",
    timeout: float = _START_TIMEOUT,
) -> None:
    """Poll ``base_url/healthz`` until it answers 200; fail early if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not become healthy at {base_url} (exit code {process.poll()})")


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], stderr: IO[bytes]) -> None:
    try:
        wait_healthy(base_url, process)
    except RuntimeError as exc:
        stderr.seek(0)
        raise RuntimeError(f"{exc}:\n{stderr.read().decode(errors='replace')}") from None


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def run_sim(
    *extra_args: str,
    state_dir: Path | None = None,
    flavor: Literal["contract", "cognigy-v2"] = "contract",
) -> Iterator[SimServer]:
    """Run ``tenantops sim --admin`` with ``extra_args`` until the block ends.

    Args:
        extra_args: further ``tenantops sim`` flags, e.g. ``"--reset-rate", "1"``.
        state_dir: passed as ``--state``.
        flavor: passed as ``--flavor``.

    Raises:
        RuntimeError: the server did not answer ``/healthz`` within 20 s (its stderr
            is in the message).
    """
    port = _free_port()
    args = [sys.executable, "-m", "tenantops", "sim", "--flavor", flavor, "--port", str(port)]
    args.append("--admin")
    args += [*extra_args, *(["--state", str(state_dir)] if state_dir else [])]
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            _wait_healthy(base_url, process, stderr)
            yield SimServer(base_url=base_url, process=process, flavor=flavor)
        finally:
            _stop(process)


@contextlib.asynccontextmanager
async def sim_client(config: SimConfig | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` talking to a fresh in-process simulator."""
    transport = httpx.ASGITransport(app=create_app(config))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        yield client


@contextlib.asynccontextmanager
async def v2_sim_client(
    config: cognigy_v2.V2Config | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` talking to a fresh in-process Cognigy.AI v2.0 simulator.

    The client sends the default API key; pass ``headers=`` per request to change it.
    """
    app = cognigy_v2.create_app(config or cognigy_v2.V2Config(admin=True, task_seconds=0))
    transport = httpx.ASGITransport(app=app)
    headers = {"X-API-Key": V2_API_KEY, "Accept": "application/json"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://sim", headers=headers
    ) as client:
        yield client


async def fetch_token(
    client: httpx.AsyncClient,
    client_id: str = DEFAULT_CLIENT_ID,
    secret: str = DEFAULT_CLIENT_SECRET,
    scope: str | None = None,
) -> str:
    """A token from the in-process simulator (all the client's scopes unless ``scope``)."""
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    response = await client.post(TOKEN_PATH, data=data, auth=(client_id, secret))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


class FakeClock:
    """A wall clock that moves only when told; pass it as ``SimConfig(clock=...)``."""

    def __init__(self, start: float = 1_716_199_200.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header for ``token``."""
    return {"Authorization": f"Bearer {token}"}

"""Property-based fuzzing of the OpenAPI descriptions of ``sim``, ``session-relay`` and ``serve``.

schemathesis reads each app's OpenAPI description (what it serves at ``/openapi.json``)
and sends generated requests, valid and invalid, to every operation: a fixed seed (:data:`support.fuzz.SEED`), a bounded
number of examples per operation and no example database, so every run sends the same
requests. Each answer is checked for exactly what the issue asks: no 5xx
(``not_a_server_error``) and a body that matches the schema documented for its status
code (``response_schema_conformance``).

How each app runs:

- ``sim`` in-process, through schemathesis's ASGI transport (``call(app=...)``): it
  holds no client of its own, so schemathesis's event loop is all it needs.
- ``session-relay`` and ``serve`` hold aiohttp and Redis clients bound to the event
  loop they first run in, so each runs as a real uvicorn server on a loopback port in a
  thread with its own loop (:func:`support.fuzz.serve_in_thread`), as the CLI runs it,
  and is fuzzed over HTTP. Both talk to a real simulator subprocess.

The descriptions are loaded when the module is collected (``from_dict``), so that
``schema.parametrize()`` makes one test per operation; schemathesis's
``pytest.from_fixture`` does not work with pytest 9.2 (it sets ``Node._nodeid``, which
pytest 9.2 no longer has). The fixtures check that the apps they build serve the very
same descriptions.

The simulator's cross-field rules that a schema cannot state (``If-Match`` against the
body's ``version``, an ``Idempotency-Key`` reused with another body) answer documented
4xx problems, so they need no special case here.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import schemathesis
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from schemathesis import Case
from support.demo import DEMO_ENV
from support.fuzz import CHECKS, fuzz_config, serve_in_thread
from support.redisserver import standalone_url
from support.simserver import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    TOKEN_PATH,
    SimServer,
    bearer,
    run_sim,
)

from tenantops.apply.audit import AuditLog
from tenantops.apply.locks import FileLocks
from tenantops.backends.contract.client import PlatformClient
from tenantops.config import load_project, resolve_api
from tenantops.relay.app import Forwarder, openapi_document
from tenantops.relay.app import create_app as create_relay
from tenantops.relay.store import SessionStore
from tenantops.servers.provision import Provisioner
from tenantops.servers.serve import create_app as create_api
from tenantops.servers.sim.contract import SimConfig
from tenantops.servers.sim.contract import create_app as create_sim

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
#: A database of its own in the tests' standalone Redis (see ``relay_url``).
FUZZ_REDIS_URL = standalone_url(db=13)
API_TOKEN = "fuzz-api-token-0123456789abcdef"
BASIC = (
    "Basic " + base64.b64encode(f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}".encode()).decode()
)


def _serve_document() -> dict[str, Any]:
    # The description depends on neither the provisioner nor the tokens: no provisioner
    # is needed to read it.
    return create_api(cast(Provisioner, None), ["-"]).openapi()


SIM_DOCUMENT = create_sim(SimConfig()).openapi()
sim_schema = schemathesis.openapi.from_dict(SIM_DOCUMENT, config=fuzz_config(max_examples=50))
relay_schema = schemathesis.openapi.from_dict(
    openapi_document(), config=fuzz_config(max_examples=60)
)
serve_schema = schemathesis.openapi.from_dict(
    _serve_document(), config=fuzz_config(max_examples=50)
)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    """The simulator that ``session-relay`` and ``serve`` talk to."""
    with run_sim("--deploy-seconds", "0.2") as server:
        yield server


# ---------------------------------------------------------------------------- sim


@pytest.fixture(scope="module")
def sim_app() -> Any:
    app = create_sim(SimConfig(deploy_seconds=0.2))
    assert app.openapi() == SIM_DOCUMENT
    return app


@pytest.fixture(scope="module")
def sim_token(sim_app: Any) -> str:
    case = sim_schema[TOKEN_PATH]["POST"].Case(
        body={"grant_type": "client_credentials"},
        headers={"Authorization": BASIC},
        media_type="application/x-www-form-urlencoded",
    )
    response = case.call(app=sim_app)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@sim_schema.parametrize()
def test_sim(case: Case[Any], sim_app: Any, sim_token: str) -> None:
    """No generated request makes the simulator answer 5xx or break its documented schema."""
    # The token endpoint takes the client's Basic credentials; every other one a bearer token.
    auth = BASIC if case.path == TOKEN_PATH else f"Bearer {sim_token}"
    case.call_and_validate(headers={"Authorization": auth}, checks=CHECKS, app=sim_app)


# ---------------------------------------------------------------------------- session-relay


@pytest.fixture(scope="module")
def relay_url(sim: SimServer, standalone_redis: str) -> Iterator[str]:
    upstream = PlatformClient(
        sim.base_url, client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET
    )
    # A database of its own, emptied first: with a fixed seed the same session ids and
    # bodies (hence delivery ids) come back every run, so state left by an earlier run
    # would change the answers. No other test uses this database.
    with SyncRedis.from_url(FUZZ_REDIS_URL) as sync:
        sync.flushdb()
    redis = Redis.from_url(FUZZ_REDIS_URL, socket_connect_timeout=1.0, socket_timeout=2.0)
    store = SessionStore(redis)
    # verifier=None: unsigned webhooks (--insecure-skip-signature), so that the fuzzed
    # bodies reach payload validation, Redis and the upstream PATCH instead of all
    # stopping at 401 for want of a signature.
    app = create_relay(store, Forwarder(upstream), None)
    assert openapi_document() == relay_schema.raw_schema

    async def close() -> None:
        await upstream.aclose()
        await store.aclose()

    with serve_in_thread(app, on_stop=close) as base_url:
        yield base_url
    with SyncRedis.from_url(FUZZ_REDIS_URL) as sync:
        sync.flushdb()


@relay_schema.parametrize()
def test_session_relay(case: Case[Any], relay_url: str) -> None:
    """No generated webhook makes the relay answer 5xx or break its documented schema."""
    case.call_and_validate(base_url=relay_url, checks=CHECKS)


# ---------------------------------------------------------------------------- serve


@pytest.fixture(scope="module")
def serve_url(sim: SimServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    repo = tmp_path_factory.mktemp("fuzz-repo")
    shutil.copytree(ROOT / "templates", repo / "templates")
    shutil.copytree(ROOT / "tenants", repo / "tenants")
    shutil.copy(ROOT / "tenantops.yaml", repo / "tenantops.yaml")
    project = load_project(repo, {**DEMO_ENV, "COGNIGY_BASE_URL": sim.base_url})
    client = PlatformClient.from_settings(resolve_api(project))
    locks = FileLocks(repo / ".tenantops" / "locks")
    provisioner = Provisioner(
        project,
        client,
        audit=AuditLog(repo / "audit", actor="fuzz"),
        locks=locks,
        deadline=30.0,
    )
    app = create_api(provisioner, [API_TOKEN])
    assert app.openapi() == _serve_document()

    async def close() -> None:
        await provisioner.drain()
        await client.aclose()
        await locks.aclose()

    with serve_in_thread(app, on_stop=close) as base_url:
        yield base_url


@serve_schema.parametrize()
def test_serve(case: Case[Any], serve_url: str) -> None:
    """No generated provisioning request makes ``serve`` answer 5xx or break its documented schema."""
    case.call_and_validate(base_url=serve_url, headers=bearer(API_TOKEN), checks=CHECKS)

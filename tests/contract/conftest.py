"""Where the contract suite runs: the simulator by default, or any server you name.

Set ``TENANTOPS_CONTRACT_BASE_URL`` (plus ``TENANTOPS_CONTRACT_CLIENT_ID``,
``TENANTOPS_CONTRACT_CLIENT_SECRET``, optionally ``TENANTOPS_CONTRACT_TOKEN_URL`` and
``TENANTOPS_CONTRACT_SOURCE_BOT`` — a bot id exportable without a workspace) to run
the same tests against another implementation of the contract. Every test works in
workspaces and sessions of its own, named ``contract-<random>``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.simserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, run_sim

from tenantops.backends.contract.client import PlatformClient
from tenantops.backends.retry import RetryPolicy
from tenantops.core.model import ALL_SCOPES

SOURCE_BOT = "contract-source-bot"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark this folder's tests ``contract`` before the root conftest marks the rest fast."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.contract)


@dataclass(frozen=True)
class Server:
    base_url: str
    client_id: str
    client_secret: str
    token_url: str | None
    source_bot: str

    def client(self, **kwargs: object) -> PlatformClient:
        options: dict[str, object] = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "token_url": self.token_url,
            "retry": RetryPolicy(attempts=4, timeout=30, wait_initial=0.05, wait_max=1.0),
        }
        options.update(kwargs)
        return PlatformClient(self.base_url, **options)  # type: ignore[arg-type]


def _model(bot_id: str, tag: str = "v1") -> dict[str, object]:
    return {
        "botId": bot_id,
        "intents": [
            {"name": "hello", "examples": ["hi", f"hello {tag}"], "actions": ["greet"]},
            {"name": "bye", "examples": ["bye"], "actions": ["part"]},
        ],
        "entities": [{"name": "carrier", "values": ["ups"], "synonyms": {"ups": ["united"]}}],
        "dialogs": [{"id": "d1", "node": "start", "next": "d2"}, {"id": "d2", "node": "end"}],
        "metadata": {"locale": "en-US", "tag": tag},
    }


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    base_url = os.environ.get("TENANTOPS_CONTRACT_BASE_URL")
    if base_url:
        yield Server(
            base_url=base_url,
            client_id=os.environ["TENANTOPS_CONTRACT_CLIENT_ID"],
            client_secret=os.environ["TENANTOPS_CONTRACT_CLIENT_SECRET"],
            token_url=os.environ.get("TENANTOPS_CONTRACT_TOKEN_URL"),
            source_bot=os.environ.get("TENANTOPS_CONTRACT_SOURCE_BOT", SOURCE_BOT),
        )
        return
    with run_sim("--deploy-seconds", "0.3") as sim:
        response = sim.admin(
            "PUT",
            f"/_sim/workspaces/contract-source/bots/{SOURCE_BOT}",
            json=_model(SOURCE_BOT, "source"),
        )
        response.raise_for_status()
        sim.admin(
            "PUT", f"/_sim/sources/{SOURCE_BOT}", json={"workspaceId": "contract-source"}
        ).raise_for_status()
        yield Server(sim.base_url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, None, SOURCE_BOT)


@pytest.fixture
async def client(server: Server) -> AsyncIterator[PlatformClient]:
    async with server.client(scopes=ALL_SCOPES) as c:
        yield c


@pytest.fixture
def workspace() -> str:
    return f"contract-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def model() -> dict[str, object]:
    return _model(f"contract-bot-{uuid.uuid4().hex[:8]}")


make_model = _model

"""cognigy-v2 backups against the simulator as a real server: a snapshot delete whose
answer was lost."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from support.simserver import SimServer, run_sim

from tenantops.backends.cognigy_v2.http import V2Http
from tenantops.backends.cognigy_v2.snapshots import take_backup
from tenantops.backends.retry import RetryPolicy

pytestmark = pytest.mark.integration

API_KEY = "v2-snapshots-key-93c0aa"
#: Retries without waits, so that a retried call takes no time.
NO_WAIT = RetryPolicy(wait_initial=0.0, wait_max=0.0, timeout=20.0)


@pytest.fixture(scope="module")
def instant_sim() -> Iterator[SimServer]:
    """Tasks end by the next request: a retried snapshot DELETE finds it gone (404)."""
    with run_sim("--api-key", API_KEY, "--task-seconds", "0", flavor="cognigy-v2") as server:
        yield server


@pytest.fixture(scope="module")
def slow_sim() -> Iterator[SimServer]:
    """Tasks take 0.4 s: a retried snapshot DELETE starts a second task."""
    with run_sim("--api-key", API_KEY, "--task-seconds", "0.4", flavor="cognigy-v2") as server:
        yield server


@pytest.fixture
async def http_for() -> AsyncIterator[Callable[[SimServer], V2Http]]:
    clients: list[V2Http] = []

    def make(sim: SimServer) -> V2Http:
        clients.append(V2Http(sim.base_url, api_key=API_KEY, retry=NO_WAIT))
        return clients[-1]

    yield make
    for client in clients:
        await client.aclose()


def seed(sim: SimServer, *snapshots: str) -> dict[str, Any]:
    """A project with snapshots of these names; answers the seed's id map."""
    return sim.seed_project(name="snapshots", snapshots=[{"name": n} for n in snapshots])


@pytest.mark.parametrize("which", ["instant_sim", "slow_sim"])
async def test_a_backup_is_taken_when_a_snapshot_delete_lost_its_answer(
    which: str, request: pytest.FixtureRequest, http_for: Callable[[SimServer], V2Http]
) -> None:
    """The oldest backup's DELETE is processed but answered 502: the retry finds it gone
    (404) or starts a second task that fails on the gone snapshot; either way it is
    deleted and the backup is taken (the 404 and the failed task were raised)."""
    sim: SimServer = request.getfixturevalue(which)
    http = http_for(sim)
    project = seed(sim, "tenantops-a-pre", "tenantops-b-pre", "tenantops-c-pre")
    sim.fault_next("DELETE /v2.0/snapshots/{snapshotId}", 502, processed=True)

    backup = await take_backup(http, project["_id"], "tenantops-d-pre", keep=3, timeout=20)

    snapshots = await http.list_all("snapshots", projectId=project["_id"])
    names = {s["name"]: s["_id"] for s in snapshots}
    assert len(names) == 3
    assert names["tenantops-d-pre"] == backup
    assert http.calls["DELETE snapshots/{id}"] == 2

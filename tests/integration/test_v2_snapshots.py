"""cognigy-v2 backups and restores against the simulator as a real server: a snapshot
delete whose answer was lost, and a restore refused with 409."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from support.simserver import SimServer, run_sim

from tenantops.backends.cognigy_v2.http import V2Http
from tenantops.backends.cognigy_v2.snapshots import restore, take_backup
from tenantops.backends.retry import RetryPolicy
from tenantops.errors import ConflictError

pytestmark = pytest.mark.integration

API_KEY = "v2-snapshots-key-93c0aa"
#: Retries without waits, so that a retried call takes no time.
NO_WAIT = RetryPolicy(wait_initial=0.0, wait_max=0.0, timeout=20.0)
RESTORE_ROUTE = "POST /v2.0/snapshots/{snapshotId}/restore"


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


async def restore_tasks(http: V2Http, project: str) -> list[dict[str, Any]]:
    tasks = await http.list_all("tasks", projectId=project)
    return [t for t in tasks if t["name"] == "restoreSnapshot"]


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


async def test_a_restore_refused_409_waits_for_the_running_restore_of_its_snapshot(
    slow_sim: SimServer, http_for: Callable[[SimServer], V2Http]
) -> None:
    """409 while this snapshot's restore runs: that restore is waited for, and no other
    task (a training about to fail was waited for, and its failure raised)."""
    http = http_for(slow_sim)
    project = seed(slow_sim, "tenantops-a-pre")
    pid, snapshot = project["_id"], project["snapshots"]["tenantops-a-pre"]
    slow_sim.admin("POST", f"/_sim/projects/{pid}/fail-next-training", json={})
    await http.post(f"flows/{project['flows'][0]['_id']}/intents/train", {"mode": "full"})
    running = await http.post(f"snapshots/{snapshot}/restore", {"projectId": pid})
    slow_sim.fault_next(RESTORE_ROUTE, 409)

    await restore(http, pid, snapshot, timeout=20)

    (task,) = await restore_tasks(http, pid)
    assert (task["_id"], task["status"]) == (running["_id"], "done")


async def test_a_restore_refused_409_without_a_restore_of_its_snapshot_is_raised(
    slow_sim: SimServer, http_for: Callable[[SimServer], V2Http]
) -> None:
    """409 while only another snapshot's restore runs: the conflict is raised, saying so
    (it waited for that restore and reported this one done)."""
    http = http_for(slow_sim)
    project = seed(slow_sim, "tenantops-a-pre", "release-1")
    pid, ours = project["_id"], project["snapshots"]["tenantops-a-pre"]
    other = project["snapshots"]["release-1"]
    await http.post(f"snapshots/{other}/restore", {"projectId": pid})
    slow_sim.fault_next(RESTORE_ROUTE, 409)

    with pytest.raises(ConflictError) as info:
        await restore(http, pid, ours, timeout=20)

    assert f"no restore of snapshot {ours} runs" in str(info.value)
    assert [t["data"]["snapshotId"] for t in await restore_tasks(http, pid)] == [other]

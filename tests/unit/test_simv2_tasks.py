"""The v2.0 simulator's tasks: timing, cancelling, snapshots (cap, restore, delete), training failures."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from support.simserver import FakeClock, v2_sim_client
from support.simv2 import config, seed_project, settle

from tenantops.servers.sim.cognigy_v2 import V2FaultSettings


async def _status(client: httpx.AsyncClient, task_id: str) -> str:
    return str((await client.get(f"/v2.0/tasks/{task_id}")).json()["status"])


async def _train(client: httpx.AsyncClient, project: dict[str, Any]) -> str:
    reply = await client.post(f"/v2.0/flows/{project['flows'][0]['_id']}/intents/train", json={})
    assert reply.status_code == 202
    return str(reply.json()["_id"])


async def test_task_goes_queued_active_done_with_time() -> None:
    """A task is queued, then active with progress, then done with lastRunAt/lastFinishedAt."""
    clock = FakeClock()
    async with v2_sim_client(config(task_seconds=4.0, clock=clock)) as client:
        task_id = await _train(client, await seed_project(client))
        queued = (await client.get(f"/v2.0/tasks/{task_id}")).json()
        clock.advance(2.5)
        active = (await client.get(f"/v2.0/tasks/{task_id}")).json()
        clock.advance(2)
        done = (await client.get(f"/v2.0/tasks/{task_id}")).json()
    assert (queued["status"], queued["currentStep"], queued["lastRunAt"]) == ("queued", 0, None)
    assert active["status"] == "active"
    assert 0 < active["currentStep"] < 100
    assert (done["status"], done["currentStep"], done["totalStep"]) == ("done", 100, 100)
    assert done["lastFinishedAt"] >= done["lastRunAt"] > 0
    assert {"_id", "name", "data", "failReason"} <= set(done)


async def test_cancel_goes_cancelling_then_cancelled() -> None:
    """Cancelling a running task answers cancelling, then it reads cancelled; cancelling again is 409."""
    clock = FakeClock()
    async with v2_sim_client(config(task_seconds=4.0, clock=clock)) as client:
        task_id = await _train(client, await seed_project(client))
        cancelling = await client.post(f"/v2.0/tasks/{task_id}/cancel")
        clock.advance(1.5)
        cancelled = await _status(client, task_id)
        again = await client.post(f"/v2.0/tasks/{task_id}/cancel")
    assert cancelling.json()["status"] == "cancelling"
    assert cancelled == "cancelled"
    assert (again.status_code, again.json()["code"]) == (409, 1004)


async def test_tasks_list_per_project_newest_first() -> None:
    """GET tasks?projectId lists that project's tasks, newest first, with their status."""
    async with v2_sim_client(config()) as client:
        project = await seed_project(client)
        first, second = await _train(client, project), await _train(client, project)
        listed = (await client.get("/v2.0/tasks", params={"projectId": project["_id"]})).json()
    assert [t["_id"] for t in listed["items"]] == [second, first]
    assert {t["status"] for t in listed["items"]} == {"done"}


async def test_snapshot_create_is_found_by_name_after_done() -> None:
    """The create task names no snapshot; once done, the snapshot is listed under its name."""
    clock = FakeClock()
    async with v2_sim_client(config(task_seconds=2.0, clock=clock)) as client:
        project = await seed_project(client)
        reply = (
            await client.post("/v2.0/snapshots", json={"projectId": project["_id"], "name": "v2"})
        ).json()
        before = (await client.get("/v2.0/snapshots", params={"projectId": project["_id"]})).json()
        clock.advance(2)
        task = await settle(client, reply["_id"])
        after = (
            await client.get(
                "/v2.0/snapshots", params={"projectId": project["_id"], "filter": "v2"}
            )
        ).json()
        snapshot = (await client.get(f"/v2.0/snapshots/{after['items'][0]['_id']}")).json()
    assert (reply["type"], reply["parameters"]["name"]) == ("createSnapshot", "v2")
    assert [s["name"] for s in before["items"]] == ["baseline"]
    assert task["status"] == "done"
    assert "snapshotId" not in task["data"]
    assert {"_id", "name", "description", "hash", "createdAt", "isPackaged"} <= set(snapshot)


async def test_eleventh_snapshot_task_ends_in_error() -> None:
    """With 10 snapshots, a create is accepted but its task ends in error with a failReason."""
    async with v2_sim_client(config()) as client:
        project = await seed_project(client, snapshots=[{"name": f"s{i}"} for i in range(10)])
        reply = await client.post(
            "/v2.0/snapshots", json={"projectId": project["_id"], "name": "s10"}
        )
        task = await settle(client, reply.json()["_id"])
        listed = (await client.get("/v2.0/snapshots", params={"projectId": project["_id"]})).json()
    assert reply.status_code == 202
    assert task["status"] == "error"
    assert "maximum number of snapshots (10)" in task["failReason"]
    assert listed["total"] == 10


async def test_delete_snapshot_is_a_task() -> None:
    """DELETE snapshots/{s} answers a task; the snapshot is gone once it is done."""
    async with v2_sim_client(config()) as client:
        project = await seed_project(client)
        snapshot = project["snapshots"]["baseline"]
        reply = await client.delete(f"/v2.0/snapshots/{snapshot}")
        await settle(client, reply.json()["_id"])
        gone = await client.get(f"/v2.0/snapshots/{snapshot}")
    assert (reply.status_code, reply.json()["type"]) == (202, "deleteSnapshot")
    assert gone.status_code == 404


async def _export(client: httpx.AsyncClient, flow: str) -> dict[str, Any]:
    intents = (await client.get(f"/v2.0/flows/{flow}/intents")).json()["items"]
    chart = (await client.get(f"/v2.0/flows/{flow}/chart")).json()
    context = (await client.get(f"/v2.0/flows/{flow}")).json()["context"]
    return {"intents": intents, "nodes": chart["nodes"], "context": context}


async def test_restore_rebuilds_with_new_ids_and_same_reference_ids() -> None:
    """Restore brings back intents, nodes and context with new _ids; referenceIds and names stay."""
    clock = FakeClock()
    async with v2_sim_client(config(task_seconds=2.0, clock=clock)) as client:
        project = await seed_project(client)
        flow = project["flows"][0]["_id"]
        before = await _export(client, flow)
        await client.patch(f"/v2.0/flows/{flow}", json={"context": {"tier": "changed"}})
        await client.delete(f"/v2.0/flows/{flow}/intents/{project['flows'][0]['intents']['bye']}")
        body = {"projectId": project["_id"]}
        reply = await client.post(
            f"/v2.0/snapshots/{project['snapshots']['baseline']}/restore", json=body
        )
        clock.advance(1)
        during = (await client.get(f"/v2.0/flows/{flow}/intents")).json()["total"]
        clock.advance(1)
        task = await settle(client, reply.json()["_id"])
        after = await _export(client, flow)
    assert task["status"] == "done"
    assert during == 0
    assert after["context"] == {"tier": "gold"}
    for kind in ("intents", "nodes"):
        old = {d["referenceId"]: d for d in before[kind]}
        new = {d["referenceId"]: d for d in after[kind]}
        assert old.keys() == new.keys()
        assert all(new[r]["_id"] != old[r]["_id"] for r in old)
        assert all(
            new[r].get("name", new[r].get("label")) == old[r].get("name", old[r].get("label"))
            for r in old
        )


async def test_restore_needs_project_id_of_the_snapshots_project() -> None:
    """A restore without projectId is 400/1000; into another project it is 400."""
    async with v2_sim_client(config()) as client:
        project = await seed_project(client)
        other = (await client.post("/v2.0/projects", json={"name": "other"})).json()
        url = f"/v2.0/snapshots/{project['snapshots']['baseline']}/restore"
        missing = await client.post(url, json={})
        elsewhere = await client.post(url, json={"projectId": other["_id"]})
    assert (missing.status_code, missing.json()["code"]) == (400, 1000)
    assert elsewhere.status_code == 400


async def test_admin_fails_the_next_training_once() -> None:
    """fail-next-training makes exactly the project's next training end in error with the reason."""
    async with v2_sim_client(config()) as client:
        project = await seed_project(client)
        await client.post(
            f"/_sim/projects/{project['_id']}/fail-next-training", json={"failReason": "boom"}
        )
        failed = await settle(client, await _train(client, project))
        fine = await settle(client, await _train(client, project))
    assert (failed["status"], failed["failReason"]) == ("error", "boom")
    assert (fine["status"], fine["failReason"]) == ("done", None)


@pytest.mark.parametrize(("rate", "status"), [(1.0, "error"), (0.0, "done")])
async def test_train_fail_rate(rate: float, status: str) -> None:
    """train_fail_rate decides the fraction of training tasks that end in error."""
    async with v2_sim_client(config(faults=V2FaultSettings(train_fail_rate=rate))) as client:
        project = await seed_project(client)
        statuses = {
            (await settle(client, await _train(client, project)))["status"] for _ in range(3)
        }
    assert statuses == {status}

"""Tasks and snapshots, as ``backends/cognigy_v2/tasks.py`` and ``snapshots.py`` use them.

Training, snapshot create and delete run in a ``tenantops-contract-*`` flow or snapshot
and are safe on a real project with room for one more snapshot. Restoring a snapshot
(it rebuilds the whole project) and filling the 10-snapshot cap are destructive: they
run on the simulator, and on a real installation only with
``TENANTOPS_CONTRACT_DESTRUCTIVE=1``.
"""

from __future__ import annotations

from typing import Any

import pytest
from support.v2contract import (
    OBJECT_ID,
    Findings,
    Scratch,
    Target,
    V2Api,
    scratch_name,
)

_ORDER = ["queued", "active", "done"]
#: Snapshots a project may hold (Cognigy's MAX_AMOUNT_SNAPSHOTS_IN_AGENT).
CAP = 10


def _room_for(api: V2Api, target: Target, count: int) -> list[dict[str, Any]]:
    snapshots = api.items("snapshots", projectId=target.project_id)
    assert len(snapshots) + count <= CAP, (
        f"project {target.project_id} holds {len(snapshots)} snapshots: the check needs "
        f"{count} more under the cap of {CAP}; delete one in Cognigy.AI"
    )
    return snapshots


def test_training_goes_queued_active_done(api: V2Api, target: Target, scratch: Scratch) -> None:
    """``POST intents/train`` answers a task whose status moves forward only, ending done."""
    flow = scratch.flow()["_id"]
    intent = api.ok("POST", f"flows/{flow}/intents", json={"name": "greet"})["_id"]
    for text in ("hello", "hi there", "good morning"):
        api.ok("POST", f"flows/{flow}/intents/{intent}/sentences", json={"text": text})
    locales = api.items("locales", projectId=target.project_id)
    locale = next((loc for loc in locales if loc.get("primary")), locales[0])["_id"]
    started = api.ok(
        "POST", f"flows/{flow}/intents/train", json={"localeId": locale, "mode": "full"}
    )
    assert OBJECT_ID.match(str(started.get("_id"))), f"train answered no task: {started}"
    task, seen = api.wait_task(str(started["_id"]))
    assert task["status"] == "done", f"training went {seen}: {task.get('failReason')}"
    assert all(s in _ORDER for s in seen), f"unknown task states in {seen}"
    assert seen == sorted(seen, key=_ORDER.index), f"task states went backwards: {seen}"
    if target.simulated:
        # Polled every 20 ms over 0.4 s: every state shows.
        assert seen == _ORDER


def test_snapshot_create_and_delete_are_tasks(
    api: V2Api, target: Target, scratch: Scratch, findings: Findings
) -> None:
    """Create answers a task, the snapshot is found by name after it; delete is a task too."""
    _room_for(api, target, 1)
    name = scratch_name("snapshot-")
    body = {"projectId": target.project_id, "name": name, "description": "tenantops contract"}
    started = api.ok("POST", "snapshots", json=body)
    scratch.adopt_snapshot(name)  # deleted at the end even if a check below fails
    findings.note("created-task reply keys", ", ".join(sorted(started)))
    task, _ = api.wait_task(str(started["_id"]))
    assert task["status"] == "done", task
    scratch.adopt_snapshot(name)
    (snapshot,) = scratch.snapshots_named(name)
    assert OBJECT_ID.match(snapshot["_id"])
    one = api.ok("GET", f"snapshots/{snapshot['_id']}")
    assert (one["name"], one["description"]) == (name, "tenantops contract")
    assert one.get("createdAt"), one
    deleting = api.ok("DELETE", f"snapshots/{snapshot['_id']}")
    assert OBJECT_ID.match(str(deleting.get("_id"))), f"delete answered no task: {deleting}"
    assert api.wait_task(str(deleting["_id"]))[0]["status"] == "done"
    assert scratch.snapshots_named(name) == []


@pytest.mark.usefixtures("destructive")
def test_restore_rebuilds_the_project_with_new_ids(
    api: V2Api, target: Target, scratch: Scratch, findings: Findings
) -> None:
    """A restore (body ``{projectId}``) brings back what the snapshot held, under new ``_id``s."""
    _room_for(api, target, 1)
    flow = scratch.flow()
    path = f"flows/{flow['_id']}/intents"
    kept = api.ok("POST", path, json={"name": "kept", "data": {"actions": ["a"]}})
    snapshot = scratch.snapshot()
    api.ok("PATCH", path, json={"operations": [{"op": "delete", "id": kept["_id"]}]})
    api.ok("POST", path, json={"name": "after-snapshot"})
    body = {"projectId": target.project_id}
    api.run_task("POST", f"snapshots/{snapshot['_id']}/restore", body)
    flows = [
        f for f in api.items("flows", projectId=target.project_id) if f["name"] == flow["name"]
    ]
    assert len(flows) == 1, f"flow {flow['name']} after the restore: {flows}"
    findings.note(
        "flow _id across a restore", "kept" if flows[0]["_id"] == flow["_id"] else "changed"
    )
    intents = api.items(f"flows/{flows[0]['_id']}/intents")
    assert [(i["name"], i.get("data")) for i in intents] == [("kept", {"actions": ["a"]})]
    assert intents[0]["_id"] != kept["_id"], "the restored intent kept its _id"


@pytest.mark.usefixtures("destructive")
def test_the_eleventh_snapshot_is_refused(
    api: V2Api, target: Target, scratch: Scratch, findings: Findings
) -> None:
    """A project holds at most 10 snapshots, uploads and others' included; the 11th fails."""
    existing = api.items("snapshots", projectId=target.project_id)
    for _ in range(CAP - len(existing)):
        scratch.snapshot()
    name = scratch_name("snapshot-over-")
    body = {"projectId": target.project_id, "name": name}
    response = api.call("POST", "snapshots", json=body)
    scratch.adopt_snapshot(name)
    if response.is_success:
        task, seen = api.wait_task(str(response.json()["_id"]))
        scratch.adopt_snapshot(name)
        how = f"POST {response.status_code}, then the task went {seen}: {task.get('failReason')}"
        refused = task["status"] == "error"
    else:
        problem = response.json()
        how = f"POST {response.status_code} code {problem.get('code')}: {problem.get('detail')}"
        refused = True
    findings.note("11th snapshot", how)
    assert refused, f"the 11th snapshot was not refused: {how}"
    assert len(api.items("snapshots", projectId=target.project_id)) == CAP

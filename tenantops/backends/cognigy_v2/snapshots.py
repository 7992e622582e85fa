"""Backup snapshots: make room under the 10-snapshot cap, take one, restore one.

Only snapshots whose name starts with ``tenantops-`` are tenantops': the oldest of them
beyond ``api.snapshots.keep`` are deleted to make room, and nothing else ever is. A
project whose 10 snapshots are all foreign is refused before anything changes. A
snapshot-create task does not report the new snapshot's id, so it is found by its
unique name once the task is done; a backup whose name already exists is the one a
killed run took, and is used again rather than taken twice. A delete whose answer was
lost may be retried: a snapshot found gone afterwards is deleted, whatever the retry
answered.
"""

from __future__ import annotations

from typing import Any

from tenantops.backends.cognigy_v2.http import V2Http
from tenantops.backends.cognigy_v2.tasks import task_id_of, wait_task
from tenantops.errors import ApiError, ConflictError, NotFoundError, TaskFailedError

__all__ = ["CAP", "PREFIX", "restore", "take_backup"]

#: Snapshots a project may hold, uploads included.
CAP = 10
#: Names of the snapshots tenantops owns.
PREFIX = "tenantops-"
#: The ``name`` of a restore's task.
_RESTORE_TASK = "restoreSnapshot"


async def take_backup(
    http: V2Http, project_id: str, name: str, *, keep: int, timeout: float
) -> str:
    """The id of backup snapshot ``name`` of the project: found, or made room for and taken.

    Raises:
        ApiError: the project holds 10 snapshots and none is tenantops' (nothing changed).
        TaskFailedError: a delete or the create task failed.
    """
    snapshots = await http.list_all("snapshots", projectId=project_id)
    existing = _named(snapshots, name)
    if existing is not None:
        return existing
    await _make_room(http, project_id, snapshots, keep=keep, timeout=timeout)
    answer = await http.post(
        "snapshots",
        {"projectId": project_id, "name": name, "description": "tenantops: before a deploy"},
    )
    await wait_task(http, task_id_of(answer), timeout=timeout, what=f"snapshot {name}")
    found = _named(await http.list_all("snapshots", projectId=project_id, filter=name), name)
    if found is None:
        raise ApiError(f"snapshot {name} was created but is not listed; try again")
    return found


async def _make_room(
    http: V2Http, project_id: str, snapshots: list[dict[str, Any]], *, keep: int, timeout: float
) -> None:
    ours = sorted(
        (s for s in snapshots if str(s.get("name", "")).startswith(PREFIX)),
        key=lambda s: (s.get("createdAt") or 0, str(s.get("_id"))),
    )
    total = len(snapshots)
    if total >= CAP and not ours:
        raise ApiError(
            f"project {project_id} already holds {total} snapshots and none is tenantops' "
            f"(names starting with {PREFIX!r}); delete one in Cognigy.AI so that a backup "
            "can be taken. Nothing was changed."
        )
    # After the new backup there are at most `keep` of ours, and never more than the cap.
    while ours and (len(ours) >= keep or total >= CAP):
        await _delete(http, ours.pop(0), timeout=timeout)
        total -= 1


async def _delete(http: V2Http, snapshot: dict[str, Any], *, timeout: float) -> None:
    """Delete a snapshot and wait until it is gone."""
    path, name = f"snapshots/{snapshot['_id']}", snapshot["name"]
    answer = await http.delete(path)
    if answer is None:
        return  # a retry found it gone: no task to wait for
    try:
        await wait_task(http, task_id_of(answer), timeout=timeout, what=f"delete {name}")
    except TaskFailedError:
        # A retried DELETE whose lost first try was processed started a second task,
        # which fails once the first has deleted the snapshot: gone is what was asked.
        if await _exists(http, path):
            raise


async def _exists(http: V2Http, path: str) -> bool:
    try:
        await http.get(path)
    except NotFoundError:
        return False
    return True


def _named(snapshots: list[dict[str, Any]], name: str) -> str | None:
    return next((str(s["_id"]) for s in snapshots if s.get("name") == name), None)


async def restore(http: V2Http, project_id: str, snapshot_id: str, *, timeout: float) -> None:
    """Restore the project from a snapshot and wait for it (every resource gets new ids).

    A 409 means a restore already runs. One of this snapshot (a killed run started it)
    is waited for instead; one whose task does not name its snapshot is waited for and
    then this one is started. Any other task (a training, a snapshot) is no reason to wait.

    Raises:
        ConflictError: the API refused the restore and no restore of this snapshot runs.
        TaskFailedError: the restore task failed or outlived ``timeout``.
    """
    path, body = f"snapshots/{snapshot_id}/restore", {"projectId": project_id}
    what = f"restore {snapshot_id}"
    try:
        answer = await http.post(path, body)
    except ConflictError as exc:
        ours, unnamed = await _running_restores(http, project_id, snapshot_id)
        if not ours and not unnamed:
            exc.message += (
                f"; no restore of snapshot {snapshot_id} runs in project {project_id}: "
                "another task holds the project (see GET tasks?projectId=); roll back "
                "again once it has ended"
            )
            raise
        for task in ours or unnamed:
            await wait_task(http, str(task["_id"]), timeout=timeout, what=what)
        if ours:
            return
        answer = await http.post(path, body)  # the restore that ran may have been another
    await wait_task(http, task_id_of(answer), timeout=timeout, what=what)


async def _running_restores(
    http: V2Http, project_id: str, snapshot_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The project's queued or active restores: of this snapshot, and of one not named.

    A listed task shows ``name`` and ``data``; the answer that created it shows ``type``
    and ``parameters`` (both are read). ``data.snapshotId`` names the snapshot.
    """
    ours: list[dict[str, Any]] = []
    unnamed: list[dict[str, Any]] = []
    for task in await http.list_all("tasks", projectId=project_id):
        kind = task.get("name") or task.get("type")
        if kind != _RESTORE_TASK or task.get("status") not in ("queued", "active"):
            continue
        data = task.get("data") or task.get("parameters") or {}
        snapshot = data.get("snapshotId") if isinstance(data, dict) else None
        if snapshot is None:
            unnamed.append(task)
        elif str(snapshot) == snapshot_id:
            ours.append(task)
    return ours, unnamed

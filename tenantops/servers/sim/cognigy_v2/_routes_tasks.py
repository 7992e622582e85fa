"""Snapshots and tasks over HTTP: ``snapshots[/{s}[/restore]]``, ``tasks[/{t}[/cancel]]``.

Creating, restoring and deleting a snapshot each answer a task (202,
``{_id, type, parameters, status: "queued", ...}``) whose effect happens as
:mod:`._snapshots` describes; poll ``GET tasks/{t}``. A restore needs ``projectId``
(the documentation requires it) and the snapshot must be that project's (else 400).
Snapshots and tasks list newest first.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from tenantops.servers.sim.cognigy_v2._auth import CallerDep
from tenantops.servers.sim.cognigy_v2._lookup import ok, require
from tenantops.servers.sim.cognigy_v2._paging import PageDep, envelope
from tenantops.servers.sim.cognigy_v2._problems import invalid
from tenantops.servers.sim.cognigy_v2._runtime import RuntimeDep, V2Runtime
from tenantops.servers.sim.cognigy_v2._schemas import RestoreBody, SnapshotCreateBody
from tenantops.servers.sim.cognigy_v2._store import Doc
from tenantops.servers.sim.contract._problems import JsonResponse

__all__ = ["router"]

router = APIRouter(prefix="/v2.0")

ProjectQuery = Annotated[str, Query(alias="projectId")]
OptionalProject = Annotated[str | None, Query(alias="projectId")]
_NEWEST_FIRST = "_id:desc"


def _accepted(runtime: V2Runtime, task: Doc) -> Response:
    return JsonResponse(runtime.tasks.created_reply(task), status_code=202)


@router.post("/snapshots", status_code=202, tags=["snapshots"])
async def post_snapshot(
    body: SnapshotCreateBody, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Start a ``createSnapshot`` task; the new snapshot is found by name once it is done."""
    require(runtime.store, "projects", body.project_id)
    data = {"projectId": body.project_id, "name": body.name, "description": body.description}
    task = runtime.tasks.create(
        "createSnapshot", data, project_id=body.project_id, by=caller.user_id
    )
    return _accepted(runtime, task)


@router.get("/snapshots", tags=["snapshots"])
async def list_snapshots(
    projectId: ProjectQuery, caller: CallerDep, runtime: RuntimeDep, page: PageDep
) -> Response:
    """The project's snapshots, newest first."""
    require(runtime.store, "projects", projectId)
    rows = runtime.store.find("snapshots", projectReference=projectId)
    return JsonResponse(envelope(rows, page, default_sort=_NEWEST_FIRST))


@router.get("/snapshots/{snapshotId}", tags=["snapshots"])
async def get_snapshot(snapshotId: str, caller: CallerDep, runtime: RuntimeDep) -> Response:
    """One snapshot: ``{_id, name, description, hash, createdAt, isPackaged, ...}``."""
    return ok(require(runtime.store, "snapshots", snapshotId))


@router.post("/snapshots/{snapshotId}/restore", status_code=202, tags=["snapshots"])
async def restore_snapshot(
    snapshotId: str, body: RestoreBody, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Start a ``restoreSnapshot`` task into the snapshot's own project."""
    snapshot = require(runtime.store, "snapshots", snapshotId)
    require(runtime.store, "projects", body.project_id)
    if snapshot["projectReference"] != body.project_id:
        raise invalid(f"snapshot {snapshotId} belongs to another project; restore it there")
    data = {"snapshotId": snapshotId, "projectId": body.project_id}
    task = runtime.tasks.create(
        "restoreSnapshot", data, project_id=body.project_id, by=caller.user_id
    )
    return _accepted(runtime, task)


@router.delete("/snapshots/{snapshotId}", status_code=202, tags=["snapshots"])
async def delete_snapshot(snapshotId: str, caller: CallerDep, runtime: RuntimeDep) -> Response:
    """Start a ``deleteSnapshot`` task; the snapshot is listed until it is done."""
    snapshot = require(runtime.store, "snapshots", snapshotId)
    task = runtime.tasks.create(
        "deleteSnapshot",
        {"snapshotId": snapshotId},
        project_id=snapshot["projectReference"],
        by=caller.user_id,
    )
    return _accepted(runtime, task)


@router.get("/tasks", tags=["tasks"])
async def list_tasks(
    caller: CallerDep, runtime: RuntimeDep, page: PageDep, projectId: OptionalProject = None
) -> Response:
    """Tasks (of one project with ``projectId``), newest first, with their status now."""
    if projectId is None:
        rows = runtime.store.find("tasks")
    else:
        require(runtime.store, "projects", projectId)
        rows = runtime.store.find("tasks", projectReference=projectId)
    page_body = envelope(rows, page, default_sort=_NEWEST_FIRST, render=runtime.tasks.render)
    return JsonResponse(page_body)


@router.get("/tasks/{taskId}", tags=["tasks"])
async def get_task(taskId: str, caller: CallerDep, runtime: RuntimeDep) -> Response:
    """``{_id, name, data, status, currentStep, totalStep, failReason, lastRunAt, lastFinishedAt}``."""
    return JsonResponse(runtime.tasks.render(require(runtime.store, "tasks", taskId)))


@router.post("/tasks/{taskId}/cancel", tags=["tasks"])
async def cancel_task(taskId: str, caller: CallerDep, runtime: RuntimeDep) -> Response:
    """Cancel a queued or active task: ``cancelling``, then ``cancelled``; 409 once it ended."""
    return JsonResponse(runtime.tasks.cancel(require(runtime.store, "tasks", taskId)))

"""Projects, locales and flows: ``projects``, ``locales?projectId``, ``flows?projectId``, ``flows/{f}``.

A new project gets its primary locale (``locale`` in the body) and a ``Main`` flow
with an empty chart. ``POST flows`` adds a flow (with its chart's start and end);
``DELETE flows/{f}`` removes it with its chart, intents and sentences. ``GET
flows/{f}`` answers the flow with ``context``, its default context, which list items
leave out; ``PATCH flows/{f}`` replaces that context.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from tenantops.servers.sim.cognigy_v2._auth import CallerDep
from tenantops.servers.sim.cognigy_v2._lookup import (
    create_flow,
    create_project,
    created,
    locale_for,
    no_content,
    ok,
    require,
)
from tenantops.servers.sim.cognigy_v2._paging import PageDep, envelope
from tenantops.servers.sim.cognigy_v2._runtime import RuntimeDep
from tenantops.servers.sim.cognigy_v2._schemas import (
    FlowCreate,
    FlowPatch,
    ProjectCreate,
    ProjectPatch,
)
from tenantops.servers.sim.cognigy_v2._store import Doc, public
from tenantops.servers.sim.contract._problems import JsonResponse

__all__ = ["router"]

router = APIRouter(prefix="/v2.0", tags=["projects"])

ProjectQuery = Annotated[str, Query(alias="projectId")]
PreferredLocale = Annotated[str | None, Query(alias="preferredLocaleId")]


def _list_flow(flow: Doc) -> Doc:
    out = public(flow)
    out.pop("context", None)
    return out


@router.get("/projects")
async def list_projects(caller: CallerDep, runtime: RuntimeDep, page: PageDep) -> Response:
    """Every project."""
    return JsonResponse(envelope(runtime.store.find("projects"), page))


@router.post("/projects")
async def post_project(body: ProjectCreate, caller: CallerDep, runtime: RuntimeDep) -> Response:
    """Create a project with its primary locale and a ``Main`` flow; 201."""
    fields = body.changes(exclude={"locale"})
    fields.setdefault("description", "")
    project = create_project(runtime, fields, body.locale, by=caller.user_id)
    return created(project)


@router.get("/projects/{projectId}")
async def get_project(projectId: str, caller: CallerDep, runtime: RuntimeDep) -> Response:
    """One project."""
    return ok(require(runtime.store, "projects", projectId))


@router.patch("/projects/{projectId}")
async def patch_project(
    projectId: str, body: ProjectPatch, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Change a project's name, description or color."""
    require(runtime.store, "projects", projectId)
    return ok(runtime.store.update("projects", projectId, body.changes(), by=caller.user_id))


@router.get("/locales")
async def list_locales(
    projectId: ProjectQuery, caller: CallerDep, runtime: RuntimeDep, page: PageDep
) -> Response:
    """The project's locales (``{_id, referenceId, name, primary, nluLanguage}``)."""
    require(runtime.store, "projects", projectId)
    return JsonResponse(envelope(runtime.store.find("locales", projectReference=projectId), page))


@router.get("/flows")
async def list_flows(
    projectId: ProjectQuery, caller: CallerDep, runtime: RuntimeDep, page: PageDep
) -> Response:
    """The project's flows, without their contexts."""
    require(runtime.store, "projects", projectId)
    flows = runtime.store.find("flows", projectReference=projectId)
    return JsonResponse(envelope(flows, page, render=_list_flow))


@router.post("/flows")
async def post_flow(body: FlowCreate, caller: CallerDep, runtime: RuntimeDep) -> Response:
    """Create a flow with an empty chart in the project; 201 with it."""
    require(runtime.store, "projects", body.project_id)
    flow = create_flow(runtime, body.project_id, body.name, by=caller.user_id)
    if body.description:
        flow = runtime.store.update(
            "flows", flow["_id"], {"description": body.description}, by=caller.user_id
        )
    return created(flow)


@router.delete("/flows/{flowId}", status_code=204)
async def delete_flow(flowId: str, caller: CallerDep, runtime: RuntimeDep) -> Response:
    """Delete a flow with its chart, intents and sentences; 204."""
    require(runtime.store, "flows", flowId)
    runtime.chart.remove_flow(flowId)
    runtime.store.remove_where("sentences", flowReference=flowId)
    runtime.store.remove_where("intents", flowReference=flowId)
    runtime.store.remove("flows", flowId)
    return no_content()


@router.get("/flows/{flowId}")
async def get_flow(
    flowId: str, caller: CallerDep, runtime: RuntimeDep, preferred: PreferredLocale = None
) -> Response:
    """One flow, with ``context`` (its default context)."""
    flow = require(runtime.store, "flows", flowId)
    if preferred is not None:
        locale_for(runtime.store, flow["projectReference"], preferred)
    return ok(flow)


@router.patch("/flows/{flowId}")
async def patch_flow(
    flowId: str, body: FlowPatch, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Change a flow; ``context`` replaces its default context whole."""
    flow = require(runtime.store, "flows", flowId)
    if body.locale_id is not None:
        locale_for(runtime.store, flow["projectReference"], body.locale_id)
    changes = body.changes(exclude={"locale_id"})
    return ok(runtime.store.update("flows", flowId, changes, by=caller.user_id))

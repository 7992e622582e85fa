"""A flow's chart over HTTP: ``flows/{f}/chart`` and ``flows/{f}/chart/nodes[/{n}[/move]]``.

``GET chart`` answers ``{_id, nodes, relations}``; ``POST chart/nodes`` creates a node
and places it (``mode``/``target``/``position``, see :mod:`._chart`), answering it with
201; ``PATCH nodes/{n}`` changes ``label``, ``comment``, ``config``, ``isDisabled``,
``analyticsLabel`` (never ``type``); ``DELETE`` answers 204; ``POST nodes/{n}/move``
answers the chart's new relations. There is no batch: one call per node, as on Cognigy.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from tenantops.servers.sim.cognigy_v2._auth import CallerDep
from tenantops.servers.sim.cognigy_v2._chart import FIXED_TYPES
from tenantops.servers.sim.cognigy_v2._lookup import (
    created,
    locale_for,
    no_content,
    ok,
    require,
    require_child,
)
from tenantops.servers.sim.cognigy_v2._paging import PageDep, envelope
from tenantops.servers.sim.cognigy_v2._problems import Problem, invalid
from tenantops.servers.sim.cognigy_v2._runtime import RuntimeDep, V2Runtime
from tenantops.servers.sim.cognigy_v2._schemas import MoveBody, NodeCreate, NodePatch
from tenantops.servers.sim.cognigy_v2._store import Doc, is_object_id
from tenantops.servers.sim.contract._problems import JsonResponse

__all__ = ["router"]

router = APIRouter(prefix="/v2.0/flows/{flowId}/chart", tags=["chart"])

PreferredLocale = Annotated[str | None, Query(alias="preferredLocaleId")]


def _flow(runtime: V2Runtime, flow_id: str, preferred: str | None = None) -> Doc:
    flow = require(runtime.store, "flows", flow_id)
    if preferred is not None:
        locale_for(runtime.store, flow["projectReference"], preferred)
    return flow


def _node(runtime: V2Runtime, flow_id: str, node_id: str) -> Doc:
    _flow(runtime, flow_id)
    return require_child(runtime.store, "nodes", node_id, flowReference=flow_id)


def _check_target(target: str) -> None:
    if not is_object_id(target):
        raise invalid(f"the target node id {target!r} must be 24 lowercase hex characters")


@router.get("")
async def get_chart(
    flowId: str, caller: CallerDep, runtime: RuntimeDep, preferred: PreferredLocale = None
) -> Response:
    """The whole chart: ``{_id, nodes, relations}``."""
    _flow(runtime, flowId, preferred)
    return JsonResponse(runtime.chart.render(flowId))


@router.get("/nodes")
async def list_nodes(
    flowId: str,
    caller: CallerDep,
    runtime: RuntimeDep,
    page: PageDep,
    preferred: PreferredLocale = None,
) -> Response:
    """The chart's nodes; ``filter`` matches label or comment."""
    _flow(runtime, flowId, preferred)
    rows = runtime.store.find("nodes", flowReference=flowId)
    return JsonResponse(envelope(rows, page, filter_fields=("label", "comment")))


@router.post("/nodes")
async def post_node(
    flowId: str, body: NodeCreate, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Create a node at ``mode`` relative to ``target``; 201 with it."""
    flow = _flow(runtime, flowId)
    if body.type in FIXED_TYPES:
        raise invalid(f"a chart has exactly one {body.type} node; it cannot be created")
    _check_target(body.target)
    require_child(runtime.store, "nodes", body.target, flowReference=flowId)
    locale_id = locale_for(runtime.store, flow["projectReference"], body.locale_id)
    fields = body.changes(exclude={"mode", "target", "position", "locale_id"})
    fields["type"] = body.type
    node = runtime.chart.new_node(flowId, fields, locale_id, by=caller.user_id)
    try:
        runtime.chart.place(node["_id"], body.mode, body.target, body.position)
    except Problem:
        runtime.chart.delete(node["_id"])
        raise
    return created(node)


@router.get("/nodes/{nodeId}")
async def get_node(flowId: str, nodeId: str, caller: CallerDep, runtime: RuntimeDep) -> Response:
    """One node, ``config`` included."""
    return ok(_node(runtime, flowId, nodeId))


@router.patch("/nodes/{nodeId}")
async def patch_node(
    flowId: str, nodeId: str, body: NodePatch, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Change a node's label, comment, config, analytics label or disabled flag."""
    node = _node(runtime, flowId, nodeId)
    changes = body.changes(exclude={"locale_id"})
    if body.locale_id is not None:
        project_id = runtime.store.tables["flows"][flowId]["projectReference"]
        changes["localeReference"] = locale_for(runtime.store, project_id, body.locale_id)
    return ok(runtime.store.update("nodes", node["_id"], changes, by=caller.user_id))


@router.delete("/nodes/{nodeId}", status_code=204)
async def delete_node(flowId: str, nodeId: str, caller: CallerDep, runtime: RuntimeDep) -> Response:
    """Delete a node and its children's branches; 204."""
    node = _node(runtime, flowId, nodeId)
    if node["type"] in FIXED_TYPES:
        raise invalid(f"the {node['type']} node cannot be deleted")
    runtime.chart.delete(nodeId)
    return no_content()


@router.post("/nodes/{nodeId}/move")
async def move_node(
    flowId: str, nodeId: str, body: MoveBody, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Move a node (and its children) to ``mode`` relative to ``target``."""
    node = _node(runtime, flowId, nodeId)
    if node["type"] in FIXED_TYPES:
        raise invalid(f"the {node['type']} node cannot be moved")
    _check_target(body.target)
    require_child(runtime.store, "nodes", body.target, flowReference=flowId)
    runtime.chart.move(nodeId, body.mode, body.target, body.position)
    runtime.store.update("nodes", nodeId, {}, by=caller.user_id)
    return JsonResponse({"relations": runtime.chart.render(flowId)["relations"]})

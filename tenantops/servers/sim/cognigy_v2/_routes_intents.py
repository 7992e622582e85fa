"""Intents and training: ``flows/{f}/intents``, ``.../intents/{i}``, ``.../intents/train``.

Intent names are unique within a flow (a duplicate answers 409, code 1004). List
items carry ``data``; ``localeId`` (or ``localeReference``) in a body names the
intent's locale, the primary one by default. Batch ``PATCH flows/{f}/intents`` takes
``{operations: [{op, id?, value?}]}`` (see :mod:`._batch`). Deleting an intent deletes
its sentences (those live in :mod:`._routes_sentences`). ``POST .../train`` answers a
``trainIntents`` task (202); it ends in ``error`` when the project was told to fail
its next training (admin) or by ``train_fail_rate``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from tenantops.servers.sim.cognigy_v2._auth import Caller, CallerDep
from tenantops.servers.sim.cognigy_v2._batch import empty_result, plan_batch, record
from tenantops.servers.sim.cognigy_v2._lookup import (
    created,
    locale_for,
    no_content,
    ok,
    require,
    require_child,
)
from tenantops.servers.sim.cognigy_v2._paging import PageDep, envelope
from tenantops.servers.sim.cognigy_v2._problems import conflict
from tenantops.servers.sim.cognigy_v2._runtime import RuntimeDep, V2Runtime
from tenantops.servers.sim.cognigy_v2._schemas import (
    BatchBody,
    IntentCreate,
    IntentPatch,
    TrainBody,
)
from tenantops.servers.sim.cognigy_v2._store import Doc
from tenantops.servers.sim.contract._problems import JsonResponse

__all__ = ["router"]

router = APIRouter(prefix="/v2.0/flows/{flowId}/intents", tags=["intents"])

_TRAIN_FAILURE = "Training failed: the NLU model could not be built (simulated)"


# ---------------------------------------------------------------------- intents


def _intent_fields(
    runtime: V2Runtime, flow: Doc, body: IntentCreate | IntentPatch
) -> dict[str, Any]:
    """The body's fields as stored: ``localeId`` becomes ``localeReference``."""
    fields = body.changes(exclude={"locale_id"})
    if body.locale_id is not None or "localeReference" in fields:
        wanted = body.locale_id or fields.get("localeReference")
        fields["localeReference"] = locale_for(runtime.store, flow["projectReference"], wanted)
    if fields.get("parentIntentId"):
        require_child(runtime.store, "intents", fields["parentIntentId"], flowReference=flow["_id"])
    return fields


def _check_name(
    runtime: V2Runtime, flow_id: str, name: str | None, own_id: str | None = None
) -> None:
    if name is None:
        return
    for intent in runtime.store.find("intents", flowReference=flow_id):
        if intent["name"] == name and intent["_id"] != own_id:
            raise conflict(f"the flow already has an intent named {name!r}")


def _create_intent(runtime: V2Runtime, flow: Doc, body: IntentCreate, caller: Caller) -> Doc:
    _check_name(runtime, flow["_id"], body.name)
    fields = body.model_dump(by_alias=True, exclude={"locale_id"}) | _intent_fields(
        runtime, flow, body
    )
    if fields["localeReference"] is None:
        fields["localeReference"] = locale_for(runtime.store, flow["projectReference"], None)
    fields.update(referenceId=runtime.store.new_reference_id(), flowReference=flow["_id"])
    return runtime.store.insert("intents", fields, by=caller.user_id)


def _update_intent(
    runtime: V2Runtime, flow: Doc, intent_id: str, body: IntentPatch, caller: Caller
) -> Doc:
    require_child(runtime.store, "intents", intent_id, flowReference=flow["_id"])
    _check_name(runtime, flow["_id"], body.name, intent_id)
    return runtime.store.update(
        "intents", intent_id, _intent_fields(runtime, flow, body), by=caller.user_id
    )


def _delete_intent(runtime: V2Runtime, intent_id: str) -> None:
    runtime.store.remove("intents", intent_id)
    runtime.store.remove_where("sentences", intentReference=intent_id)


@router.get("")
async def list_intents(
    flowId: str, caller: CallerDep, runtime: RuntimeDep, page: PageDep
) -> Response:
    """The flow's intents, ``data`` included."""
    require(runtime.store, "flows", flowId)
    return JsonResponse(envelope(runtime.store.find("intents", flowReference=flowId), page))


@router.post("")
async def post_intent(
    flowId: str, body: IntentCreate, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Create an intent; 201 with it."""
    flow = require(runtime.store, "flows", flowId)
    return created(_create_intent(runtime, flow, body, caller))


@router.patch("")
async def batch_intents(
    flowId: str, body: BatchBody, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Run create/update/delete operations; answers their ids."""
    flow = require(runtime.store, "flows", flowId)
    plan = plan_batch(
        body.operations,
        {"create": IntentCreate, "update": IntentPatch, "delete": None},
        lambda intent_id: require_child(runtime.store, "intents", intent_id, flowReference=flowId),
    )
    result = empty_result()
    for step in plan:
        if isinstance(step.value, IntentCreate):
            record(result, step.op, _create_intent(runtime, flow, step.value, caller)["_id"])
        elif isinstance(step.value, IntentPatch) and step.id is not None:
            record(
                result, step.op, _update_intent(runtime, flow, step.id, step.value, caller)["_id"]
            )
        elif step.id is not None:
            _delete_intent(runtime, step.id)
            record(result, step.op, step.id)
    return JsonResponse(result)


@router.post("/train", status_code=202)
async def train(flowId: str, body: TrainBody, caller: CallerDep, runtime: RuntimeDep) -> Response:
    """Start a ``trainIntents`` task for one locale (the primary one by default)."""
    flow = require(runtime.store, "flows", flowId)
    project_id = flow["projectReference"]
    locale_id = locale_for(runtime.store, project_id, body.locale_id)
    flags = runtime.store.meta["failNextTraining"]
    reason = flags.pop(project_id, None)
    if reason is not None:
        runtime.store.dirty = True
    elif runtime.faults.draw_train_failure():
        reason = _TRAIN_FAILURE
    data = {"flowId": flowId, "localeId": locale_id, "mode": body.mode}
    task = runtime.tasks.create(
        "trainIntents", data, project_id=project_id, by=caller.user_id, fail_reason=reason
    )
    return JsonResponse(runtime.tasks.created_reply(task), status_code=202)


@router.get("/{intentId}")
async def get_intent(
    flowId: str, intentId: str, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """One intent."""
    require(runtime.store, "flows", flowId)
    return ok(require_child(runtime.store, "intents", intentId, flowReference=flowId))


@router.patch("/{intentId}")
async def patch_intent(
    flowId: str, intentId: str, body: IntentPatch, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Change an intent; answers it."""
    flow = require(runtime.store, "flows", flowId)
    return ok(_update_intent(runtime, flow, intentId, body, caller))


@router.delete("/{intentId}", status_code=204)
async def delete_intent(
    flowId: str, intentId: str, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Delete an intent and its sentences; 204."""
    require(runtime.store, "flows", flowId)
    require_child(runtime.store, "intents", intentId, flowReference=flowId)
    _delete_intent(runtime, intentId)
    return no_content()

"""Example sentences: ``flows/{f}/intents/{i}/sentences`` and ``.../sentences/{s}``.

A sentence is ``{text, slots, localeReference}``; ``localeId`` in a body names its
locale (the project's primary one by default) and ``GET ...?localeId=`` lists one
locale's sentences only. An intent holds at most 200 sentences per locale (Cognigy's
limit; the 201st answers 400). Batch ``PATCH .../sentences`` works as in
:mod:`._batch`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
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
from tenantops.servers.sim.cognigy_v2._problems import invalid
from tenantops.servers.sim.cognigy_v2._runtime import RuntimeDep, V2Runtime
from tenantops.servers.sim.cognigy_v2._schemas import BatchBody, SentenceCreate, SentencePatch
from tenantops.servers.sim.cognigy_v2._store import Doc
from tenantops.servers.sim.contract._problems import JsonResponse

__all__ = ["MAX_SENTENCES", "router"]

router = APIRouter(prefix="/v2.0/flows/{flowId}/intents/{intentId}/sentences", tags=["sentences"])

#: Example sentences per intent and locale.
MAX_SENTENCES = 200

LocaleQuery = Annotated[str | None, Query(alias="localeId")]


def _intent(runtime: V2Runtime, flow_id: str, intent_id: str) -> Doc:
    require(runtime.store, "flows", flow_id)
    return require_child(runtime.store, "intents", intent_id, flowReference=flow_id)


def _project_of(runtime: V2Runtime, intent: Doc) -> str:
    return str(runtime.store.tables["flows"][intent["flowReference"]]["projectReference"])


def _create(runtime: V2Runtime, intent: Doc, body: SentenceCreate, caller: Caller) -> Doc:
    locale_id = locale_for(runtime.store, _project_of(runtime, intent), body.locale_id)
    existing = runtime.store.find(
        "sentences", intentReference=intent["_id"], localeReference=locale_id
    )
    if len(existing) >= MAX_SENTENCES:
        raise invalid(f"an intent holds at most {MAX_SENTENCES} sentences per locale")
    doc = {
        "text": body.text,
        "slots": body.slots,
        "localeReference": locale_id,
        "intentReference": intent["_id"],
        "flowReference": intent["flowReference"],
    }
    return runtime.store.insert("sentences", doc, by=caller.user_id)


def _update(
    runtime: V2Runtime, intent: Doc, sentence_id: str, body: SentencePatch, caller: Caller
) -> Doc:
    require_child(runtime.store, "sentences", sentence_id, intentReference=intent["_id"])
    changes = body.changes(exclude={"locale_id"})
    if body.locale_id is not None:
        changes["localeReference"] = locale_for(
            runtime.store, _project_of(runtime, intent), body.locale_id
        )
    return runtime.store.update("sentences", sentence_id, changes, by=caller.user_id)


@router.get("")
async def list_sentences(
    flowId: str,
    intentId: str,
    caller: CallerDep,
    runtime: RuntimeDep,
    page: PageDep,
    localeId: LocaleQuery = None,
) -> Response:
    """The intent's sentences, of one locale with ``localeId``."""
    intent = _intent(runtime, flowId, intentId)
    match = {"intentReference": intent["_id"]}
    if localeId is not None:
        match["localeReference"] = locale_for(runtime.store, _project_of(runtime, intent), localeId)
    rows = runtime.store.find("sentences", **match)
    return JsonResponse(envelope(rows, page, filter_fields=("text",)))


@router.post("")
async def post_sentence(
    flowId: str, intentId: str, body: SentenceCreate, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Add a sentence; 201 with it."""
    return created(_create(runtime, _intent(runtime, flowId, intentId), body, caller))


@router.patch("")
async def batch_sentences(
    flowId: str, intentId: str, body: BatchBody, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Run create/update/delete operations; answers their ids."""
    intent = _intent(runtime, flowId, intentId)
    plan = plan_batch(
        body.operations,
        {"create": SentenceCreate, "update": SentencePatch, "delete": None},
        lambda s: require_child(runtime.store, "sentences", s, intentReference=intentId),
    )
    result = empty_result()
    for step in plan:
        if isinstance(step.value, SentenceCreate):
            record(result, step.op, _create(runtime, intent, step.value, caller)["_id"])
        elif isinstance(step.value, SentencePatch) and step.id is not None:
            record(result, step.op, _update(runtime, intent, step.id, step.value, caller)["_id"])
        elif step.id is not None:
            runtime.store.remove("sentences", step.id)
            record(result, step.op, step.id)
    return JsonResponse(result)


@router.get("/{sentenceId}")
async def get_sentence(
    flowId: str, intentId: str, sentenceId: str, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """One sentence."""
    _intent(runtime, flowId, intentId)
    return ok(require_child(runtime.store, "sentences", sentenceId, intentReference=intentId))


@router.patch("/{sentenceId}")
async def patch_sentence(
    flowId: str,
    intentId: str,
    sentenceId: str,
    body: SentencePatch,
    caller: CallerDep,
    runtime: RuntimeDep,
) -> Response:
    """Change a sentence; answers it."""
    intent = _intent(runtime, flowId, intentId)
    return ok(_update(runtime, intent, sentenceId, body, caller))


@router.delete("/{sentenceId}", status_code=204)
async def delete_sentence(
    flowId: str, intentId: str, sentenceId: str, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Delete a sentence; 204."""
    _intent(runtime, flowId, intentId)
    require_child(runtime.store, "sentences", sentenceId, intentReference=intentId)
    runtime.store.remove("sentences", sentenceId)
    return no_content()

"""Lexicons, their entries and the entries' keyphrases (synonyms).

An entry is ``{mainKeyphrase, data, slotReferences, keyphrases: [{_id, value}]}``
with ``data`` a JSON *string*. As on Cognigy: adding a keyphrase answers ``{}`` (list
them again to learn its id), removing one is a **POST** to ``.../keyphrases/{k}``
(204), and a batch ``create`` silently drops ``keyphrases`` (synonyms need a second
batch with ``addKeyphrase``). A keyphrase value is unique within its entry (409).
Lexicon names are unique within a project (409). Deleting a lexicon deletes its
entries.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from starlette.responses import Response

from tenantops.servers.sim.cognigy_v2._auth import Caller, CallerDep
from tenantops.servers.sim.cognigy_v2._batch import Planned, empty_result, plan_batch, record
from tenantops.servers.sim.cognigy_v2._lookup import created, no_content, ok, require, require_child
from tenantops.servers.sim.cognigy_v2._paging import PageDep, envelope
from tenantops.servers.sim.cognigy_v2._problems import conflict, not_found
from tenantops.servers.sim.cognigy_v2._runtime import RuntimeDep, V2Runtime
from tenantops.servers.sim.cognigy_v2._schemas import (
    EntryBatchBody,
    EntryCreate,
    EntryPatch,
    KeyphraseBody,
    KeyphraseRef,
    LexiconCreate,
    LexiconPatch,
)
from tenantops.servers.sim.cognigy_v2._store import Doc
from tenantops.servers.sim.contract._problems import JsonResponse

__all__ = ["router"]

router = APIRouter(prefix="/v2.0/lexicons", tags=["lexicons"])

ProjectQuery = Annotated[str, Query(alias="projectId")]


def _check_name(
    runtime: V2Runtime, project_id: str, name: str | None, own: str | None = None
) -> None:
    for lexicon in runtime.store.find("lexicons", projectReference=project_id):
        if name is not None and lexicon["name"] == name and lexicon["_id"] != own:
            raise conflict(f"the project already has a lexicon named {name!r}")


def _entry(runtime: V2Runtime, lexicon_id: str, entry_id: str) -> Doc:
    require(runtime.store, "lexicons", lexicon_id)
    return require_child(runtime.store, "entries", entry_id, lexiconReference=lexicon_id)


def _create_entry(runtime: V2Runtime, lexicon_id: str, body: EntryCreate, caller: Caller) -> Doc:
    doc = {
        **body.model_dump(by_alias=True),
        "keyphrases": [],
        "referenceId": runtime.store.new_reference_id(),
        "lexiconReference": lexicon_id,
    }
    return runtime.store.insert("entries", doc, by=caller.user_id)


def _add_keyphrase(runtime: V2Runtime, entry: Doc, value: str, caller: Caller) -> None:
    if any(k["value"] == value for k in entry["keyphrases"]):
        raise conflict(f"entry {entry['_id']} already has the keyphrase {value!r}")
    keyphrases = [*entry["keyphrases"], {"_id": runtime.store.new_id(), "value": value}]
    runtime.store.update("entries", entry["_id"], {"keyphrases": keyphrases}, by=caller.user_id)


def _remove_keyphrase(runtime: V2Runtime, entry: Doc, keyphrase_id: str, caller: Caller) -> None:
    kept = [k for k in entry["keyphrases"] if k["_id"] != keyphrase_id]
    if len(kept) == len(entry["keyphrases"]):
        raise not_found("keyphrase", keyphrase_id)
    runtime.store.update("entries", entry["_id"], {"keyphrases": kept}, by=caller.user_id)


# ---------------------------------------------------------------------- lexicons


@router.get("")
async def list_lexicons(
    projectId: ProjectQuery, caller: CallerDep, runtime: RuntimeDep, page: PageDep
) -> Response:
    """The project's lexicons."""
    require(runtime.store, "projects", projectId)
    return JsonResponse(envelope(runtime.store.find("lexicons", projectReference=projectId), page))


@router.post("")
async def post_lexicon(body: LexiconCreate, caller: CallerDep, runtime: RuntimeDep) -> Response:
    """Create a lexicon; 201 with it."""
    require(runtime.store, "projects", body.project_id)
    _check_name(runtime, body.project_id, body.name)
    doc = {
        "name": body.name,
        "description": body.description,
        "referenceId": runtime.store.new_reference_id(),
        "projectReference": body.project_id,
    }
    return created(runtime.store.insert("lexicons", doc, by=caller.user_id))


@router.get("/{lexiconId}")
async def get_lexicon(lexiconId: str, caller: CallerDep, runtime: RuntimeDep) -> Response:
    """One lexicon."""
    return ok(require(runtime.store, "lexicons", lexiconId))


@router.patch("/{lexiconId}")
async def patch_lexicon(
    lexiconId: str, body: LexiconPatch, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Rename or describe a lexicon."""
    lexicon = require(runtime.store, "lexicons", lexiconId)
    _check_name(runtime, lexicon["projectReference"], body.name, lexiconId)
    return ok(runtime.store.update("lexicons", lexiconId, body.changes(), by=caller.user_id))


@router.delete("/{lexiconId}", status_code=204)
async def delete_lexicon(lexiconId: str, caller: CallerDep, runtime: RuntimeDep) -> Response:
    """Delete a lexicon and its entries; 204."""
    require(runtime.store, "lexicons", lexiconId)
    runtime.store.remove("lexicons", lexiconId)
    runtime.store.remove_where("entries", lexiconReference=lexiconId)
    return no_content()


@router.patch("/{lexiconId}/keyphrases/{keyphraseId}")
async def patch_keyphrase(
    lexiconId: str, keyphraseId: str, body: KeyphraseBody, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Change a keyphrase's value, wherever in the lexicon it is."""
    require(runtime.store, "lexicons", lexiconId)
    for entry in runtime.store.find("entries", lexiconReference=lexiconId):
        keyphrases = [dict(k) for k in entry["keyphrases"]]
        for keyphrase in keyphrases:
            if keyphrase["_id"] == keyphraseId:
                keyphrase["value"] = body.value
                runtime.store.update(
                    "entries", entry["_id"], {"keyphrases": keyphrases}, by=caller.user_id
                )
                return JsonResponse(keyphrase)
    raise not_found("keyphrase", keyphraseId)


# ---------------------------------------------------------------------- entries


def _without_keyphrases(op: str, value: dict[str, Any]) -> dict[str, Any]:
    # Cognigy's batch create ignores synonyms; so do we, rather than refuse them.
    return {k: v for k, v in value.items() if k != "keyphrases"} if op == "create" else value


@router.get("/{lexiconId}/entries")
async def list_entries(
    lexiconId: str, caller: CallerDep, runtime: RuntimeDep, page: PageDep
) -> Response:
    """The lexicon's entries, keyphrases included."""
    require(runtime.store, "lexicons", lexiconId)
    rows = runtime.store.find("entries", lexiconReference=lexiconId)
    return JsonResponse(envelope(rows, page, filter_fields=("mainKeyphrase",)))


@router.post("/{lexiconId}/entries")
async def post_entry(
    lexiconId: str, body: EntryCreate, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Create an entry (no keyphrases yet); 201 with it."""
    require(runtime.store, "lexicons", lexiconId)
    return created(_create_entry(runtime, lexiconId, body, caller))


_ENTRY_MODELS: dict[str, type[BaseModel] | None] = {
    "create": EntryCreate,
    "update": EntryPatch,
    "delete": None,
    "addKeyphrase": KeyphraseBody,
    "removeKeyphrase": KeyphraseRef,
}


def _check_entry(runtime: V2Runtime, lexicon_id: str, entry_id: str) -> None:
    require_child(runtime.store, "entries", entry_id, lexiconReference=lexicon_id)


def _apply_entry_step(runtime: V2Runtime, lexicon_id: str, step: Planned, caller: Caller) -> str:
    """Apply one checked entry operation; answers the entry's id."""
    if isinstance(step.value, EntryCreate):
        return str(_create_entry(runtime, lexicon_id, step.value, caller)["_id"])
    entry = runtime.store.get("entries", str(step.id))
    if entry is None:  # deleted by an earlier operation of the same batch
        raise not_found("lexicon entry", str(step.id))
    if isinstance(step.value, EntryPatch):
        runtime.store.update("entries", entry["_id"], step.value.changes(), by=caller.user_id)
    elif isinstance(step.value, KeyphraseBody):
        _add_keyphrase(runtime, entry, step.value.value, caller)
    elif isinstance(step.value, KeyphraseRef):
        _remove_keyphrase(runtime, entry, step.value.keyphrase_id, caller)
    else:
        runtime.store.remove("entries", entry["_id"])
    return str(entry["_id"])


@router.patch("/{lexiconId}/entries")
async def batch_entries(
    lexiconId: str, body: EntryBatchBody, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Run create/update/delete/addKeyphrase/removeKeyphrase operations; answers their ids."""
    require(runtime.store, "lexicons", lexiconId)
    plan = plan_batch(
        body.operations,
        _ENTRY_MODELS,
        lambda entry_id: _check_entry(runtime, lexiconId, entry_id),
        prepare=_without_keyphrases,
    )
    for step in plan:
        # Unknown keyphrases are refused before anything changes, like unknown entries.
        if isinstance(step.value, KeyphraseRef):
            keyphrases = runtime.store.tables["entries"][str(step.id)]["keyphrases"]
            if not any(k["_id"] == step.value.keyphrase_id for k in keyphrases):
                raise not_found("keyphrase", step.value.keyphrase_id)
    result = empty_result()
    for step in plan:
        record(result, step.op, _apply_entry_step(runtime, lexiconId, step, caller))
    return JsonResponse(result)


@router.patch("/{lexiconId}/entries/{entryId}")
async def patch_entry(
    lexiconId: str, entryId: str, body: EntryPatch, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Change an entry (not its keyphrases); answers it."""
    _entry(runtime, lexiconId, entryId)
    return ok(runtime.store.update("entries", entryId, body.changes(), by=caller.user_id))


@router.delete("/{lexiconId}/entries/{entryId}", status_code=204)
async def delete_entry(
    lexiconId: str, entryId: str, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Delete an entry; 204."""
    _entry(runtime, lexiconId, entryId)
    runtime.store.remove("entries", entryId)
    return no_content()


@router.get("/{lexiconId}/entries/{entryId}/keyphrases")
async def list_keyphrases(
    lexiconId: str, entryId: str, caller: CallerDep, runtime: RuntimeDep, page: PageDep
) -> Response:
    """The entry's keyphrases (``{_id, value}``)."""
    entry = _entry(runtime, lexiconId, entryId)
    return JsonResponse(envelope(entry["keyphrases"], page, filter_fields=("value",)))


@router.post("/{lexiconId}/entries/{entryId}/keyphrases")
async def post_keyphrase(
    lexiconId: str, entryId: str, body: KeyphraseBody, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Add a keyphrase; answers ``{}``, as Cognigy does."""
    _add_keyphrase(runtime, _entry(runtime, lexiconId, entryId), body.value, caller)
    return JsonResponse({})


@router.post("/{lexiconId}/entries/{entryId}/keyphrases/{keyphraseId}", status_code=204)
async def remove_keyphrase(
    lexiconId: str, entryId: str, keyphraseId: str, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Remove a keyphrase (Cognigy removes with a POST); 204."""
    _remove_keyphrase(runtime, _entry(runtime, lexiconId, entryId), keyphraseId, caller)
    return no_content()

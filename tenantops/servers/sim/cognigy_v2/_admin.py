"""The admin side door under ``/_sim/``, mounted only with ``--admin``: tests and benches drive it.

It needs no credentials, is never faulted or counted, and stays out of
``/openapi.json``. Errors are RFC 7807 problems like the API's.

- ``GET /_sim/state``: every table (bookkeeping stripped) and ``meta``.
- ``POST /_sim/seed``: build users and whole projects (format in :mod:`._seed`);
  answers their ids by name.
- ``PATCH /_sim/docs/{table}/{id}``: a UI-style edit: merge the body's fields into any
  document (a node's ``label``, a flow's ``context``, an intent's ``data``...);
  ``lastChangedBy`` becomes ``"ui"``. ``DELETE`` removes one (a node with its
  branches, an intent with its sentences, a lexicon with its entries).
- ``POST /_sim/intents/{i}/sentences`` ``{text, localeId?}``: add a sentence in the UI.
- ``POST /_sim/projects/{p}/fail-next-training`` ``{failReason?}``: the project's next
  ``trainIntents`` task ends in ``error`` with that reason.
- ``GET /_sim/sessions`` and ``GET /_sim/sessions/{s}``: what was injected:
  ``{sessionId, userId, context, lastInjected, injections}``.
- ``GET /_sim/counters`` (``DELETE`` resets): API calls per route template and status.
- ``GET /_sim/faults``, ``PUT`` (partial, camelCase): the fault settings.
- ``POST /_sim/faults/next`` ``{route, status, processed?, count?}``: the next
  ``count`` (1) requests to ``route`` (``DELETE /v2.0/snapshots/{snapshotId}``, as
  the counters name it) answer ``status`` (0: the connection is cut), unprocessed, or
  with ``processed: true`` after the work was done (the answer is lost); answers the
  queue ``{"next": [{route, status, processed}]}``.
- ``POST /_sim/tokens/expire``: expire every access token; answers ``{"expired": n}``.
- ``POST /_sim/reset``: back to the state at start; counters, tokens and faults too.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.responses import Response

from tenantops.servers.sim.cognigy_v2._config import V2FaultSettings
from tenantops.servers.sim.cognigy_v2._faults import ScriptedFault
from tenantops.servers.sim.cognigy_v2._lookup import locale_for, no_content, ok, require
from tenantops.servers.sim.cognigy_v2._problems import invalid, not_found
from tenantops.servers.sim.cognigy_v2._runtime import RuntimeDep
from tenantops.servers.sim.cognigy_v2._seed import SeedBody, seed
from tenantops.servers.sim.cognigy_v2._store import TABLES, public
from tenantops.servers.sim.contract._problems import JsonResponse

__all__ = ["router"]

router = APIRouter(prefix="/_sim", include_in_schema=False)

JsonObject = Annotated[dict[str, Any], Body()]
_UI = "ui"
_CASCADES = {
    "intents": ("sentences", "intentReference"),
    "lexicons": ("entries", "lexiconReference"),
}


class _UiSentence(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    text: str = Field(min_length=1)
    locale_id: str | None = Field(default=None, alias="localeId")


class _FailNext(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    fail_reason: str = Field(
        default="Training failed: injected by the admin API", alias="failReason", min_length=1
    )


@router.get("/state")
async def get_state(runtime: RuntimeDep) -> Response:
    """Every document, bookkeeping stripped."""
    return JsonResponse(runtime.store.dump())


@router.post("/seed")
async def post_seed(body: SeedBody, runtime: RuntimeDep) -> Response:
    """Build users and projects; answers their ids by name."""
    return JsonResponse(seed(runtime, body), status_code=201)


def _table(table: str) -> str:
    if table not in TABLES:
        raise not_found("table", table)
    return table


@router.patch("/docs/{table}/{docId}")
async def edit_doc(table: str, docId: str, body: JsonObject, runtime: RuntimeDep) -> Response:
    """Merge fields into a document, as an edit in the Cognigy UI would."""
    store = runtime.store
    if store.get(_table(table), docId) is None:
        raise not_found(table, docId)
    fixed = sorted(k for k in body if k.startswith("_"))
    if fixed:
        raise invalid(f"{', '.join(fixed)} cannot be edited")
    return ok(store.update(table, docId, body, by=_UI))


@router.delete("/docs/{table}/{docId}", status_code=204)
async def delete_doc(table: str, docId: str, runtime: RuntimeDep) -> Response:
    """Delete a document (and what hangs off it), as in the UI."""
    store = runtime.store
    if store.get(_table(table), docId) is None:
        raise not_found(table, docId)
    if table == "nodes":
        runtime.chart.delete(docId)
        return no_content()
    store.remove(table, docId)
    if table in _CASCADES:
        child, field = _CASCADES[table]
        store.remove_where(child, **{field: docId})
    return no_content()


@router.post("/intents/{intentId}/sentences")
async def add_sentence(intentId: str, body: _UiSentence, runtime: RuntimeDep) -> Response:
    """Add a sentence to an intent, as in the UI; 201 with it."""
    store = runtime.store
    intent = require(store, "intents", intentId)
    project_id = store.tables["flows"][intent["flowReference"]]["projectReference"]
    doc = {
        "text": body.text,
        "slots": [],
        "localeReference": locale_for(store, project_id, body.locale_id),
        "intentReference": intentId,
        "flowReference": intent["flowReference"],
    }
    return ok(store.insert("sentences", doc, by=_UI), 201)


@router.post("/projects/{projectId}/fail-next-training")
async def fail_next_training(
    projectId: str, runtime: RuntimeDep, body: _FailNext | None = None
) -> Response:
    """Make the project's next training task end in ``error``."""
    require(runtime.store, "projects", projectId)
    reason = (body or _FailNext()).fail_reason
    runtime.store.meta["failNextTraining"][projectId] = reason
    runtime.store.dirty = True
    return JsonResponse({"projectId": projectId, "failReason": reason})


def _session(doc: dict[str, Any]) -> dict[str, Any]:
    out = public(doc)
    return {
        "sessionId": out.pop("_id"),
        **{k: out.get(k) for k in ("userId", "context", "lastInjected", "injections")},
    }


@router.get("/sessions")
async def list_sessions(runtime: RuntimeDep) -> Response:
    """Every session a context was injected into."""
    return JsonResponse({"sessions": [_session(d) for d in runtime.store.find("sessions")]})


@router.get("/sessions/{sessionId}")
async def get_session(sessionId: str, runtime: RuntimeDep) -> Response:
    """A session's context now and the last context injected into it."""
    doc = runtime.store.get("sessions", sessionId)
    if doc is None:
        raise not_found("session", sessionId)
    return JsonResponse(_session(doc))


@router.get("/counters")
async def get_counters(runtime: RuntimeDep) -> Response:
    """API calls per route template, and per status."""
    return JsonResponse(runtime.counter.report())


@router.delete("/counters", status_code=204)
async def reset_counters(runtime: RuntimeDep) -> Response:
    """Start counting afresh."""
    runtime.counter.clear()
    return no_content()


@router.get("/faults")
async def get_faults(runtime: RuntimeDep) -> Response:
    """The fault settings in force."""
    return JsonResponse(runtime.faults.v2_settings.model_dump(by_alias=True))


@router.put("/faults")
async def put_faults(body: JsonObject, runtime: RuntimeDep) -> Response:
    """Change the fault settings the body names (camelCase); the others stay."""
    current = runtime.faults.v2_settings.model_dump(by_alias=True)
    unknown = sorted(set(body) - set(current))
    if unknown:
        raise invalid(f"unknown fault settings {', '.join(unknown)}; known: {', '.join(current)}")
    try:
        settings = V2FaultSettings.model_validate({**current, **body})
    except ValidationError as exc:
        raise invalid(f"invalid fault settings: {exc.errors()[0]['msg']}") from exc
    runtime.faults.update(settings)
    return JsonResponse(settings.model_dump(by_alias=True))


class _NextFault(BaseModel):
    model_config = ConfigDict(extra="forbid")

    route: str = Field(pattern=r"^(GET|POST|PUT|PATCH|DELETE) /(v2\.0/\S+|auth/oauth2/token)$")
    status: int = Field(ge=0, le=599)
    processed: bool = False
    count: int = Field(default=1, ge=1, le=1000)

    @field_validator("status")
    @classmethod
    def _error_or_cut(cls, value: int) -> int:
        if 0 < value < 400:
            raise ValueError("status is an error (400-599), or 0 to cut the connection")
        return value


@router.post("/faults/next")
async def script_fault(body: _NextFault, runtime: RuntimeDep) -> Response:
    """Queue a fault for the next requests to one route."""
    fault = ScriptedFault(body.route, body.status, body.processed)
    queued = runtime.faults.script(fault, body.count)
    return JsonResponse({"next": [asdict(f) for f in queued]})


@router.post("/tokens/expire")
async def expire_tokens(runtime: RuntimeDep) -> Response:
    """Expire every access token now."""
    return JsonResponse({"expired": runtime.tokens.expire_all(runtime.clock())})


@router.post("/reset", status_code=204)
async def reset(runtime: RuntimeDep) -> Response:
    """Back to the start: the state loaded at start, no tokens, counters, changed or
    scripted faults."""
    runtime.store.reset()
    runtime.tasks.reload()
    runtime.ensure_credential_users()
    runtime.tokens.clear()
    runtime.counter.clear()
    runtime.faults.restart(runtime.config.faults)
    return no_content()

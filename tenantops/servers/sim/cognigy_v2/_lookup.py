"""Finding the documents a route names, and the answers every route shares.

A path id that is not 24 hex digits answers 400 (code 1005), an unknown one 404
(code 1002), as on Cognigy. Locales are resolved here too: a resource without an
explicit ``localeId`` belongs to its project's primary locale. Creating a flow (with
its chart) lives here because projects, the admin seed and restores all need it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from tenantops.servers.sim.cognigy_v2._problems import invalid, not_found
from tenantops.servers.sim.cognigy_v2._runtime import V2Runtime
from tenantops.servers.sim.cognigy_v2._store import Doc, Store, is_object_id, public
from tenantops.servers.sim.contract._problems import JsonResponse

__all__ = [
    "create_flow",
    "create_project",
    "created",
    "locale_for",
    "no_content",
    "ok",
    "require",
    "require_child",
]

_KINDS = {
    "projects": "project",
    "locales": "locale",
    "flows": "flow",
    "intents": "intent",
    "sentences": "sentence",
    "lexicons": "lexicon",
    "entries": "lexicon entry",
    "nodes": "node",
    "snapshots": "snapshot",
    "tasks": "task",
    "users": "user",
}


def require(store: Store, table: str, doc_id: str) -> Doc:
    """The stored document with that id.

    Raises:
        Problem: 400 (code 1005) for a malformed id, 404 (code 1002) for an unknown one.
    """
    kind = _KINDS.get(table, table)
    if not is_object_id(doc_id):
        raise invalid(f"the {kind} id {doc_id!r} must be 24 lowercase hex characters")
    doc = store.get(table, doc_id)
    if doc is None:
        raise not_found(kind, doc_id)
    return doc


def require_child(store: Store, table: str, doc_id: str, **parent: str) -> Doc:
    """Like :func:`require`, and the document must belong to ``parent`` (else 404)."""
    doc = require(store, table, doc_id)
    if any(doc.get(field) != value for field, value in parent.items()):
        raise not_found(_KINDS.get(table, table), doc_id)
    return doc


def locale_for(store: Store, project_id: str, locale_id: str | None) -> str:
    """The locale a resource belongs to: ``locale_id`` (checked) or the primary one.

    Raises:
        Problem: 400/404 for a locale that is malformed or not the project's.
    """
    if locale_id is not None:
        return str(require_child(store, "locales", locale_id, projectReference=project_id)["_id"])
    locales = store.find("locales", projectReference=project_id)
    primary = [loc for loc in locales if loc.get("primary")] or locales
    if not primary:
        raise invalid(f"project {project_id} has no locale; add one first")
    return str(primary[0]["_id"])


def create_project(runtime: V2Runtime, fields: Mapping[str, Any], language: str, *, by: str) -> Doc:
    """A project with a primary locale (``language``) and a ``Main`` flow."""
    store = runtime.store
    project = store.insert("projects", {"referenceId": store.new_reference_id(), **fields}, by=by)
    store.insert(
        "locales",
        {
            "name": language,
            "nluLanguage": language,
            "primary": True,
            "fallbackLocaleReference": None,
            "referenceId": store.new_reference_id(),
            "projectReference": project["_id"],
        },
        by=by,
    )
    create_flow(runtime, project["_id"], "Main", by=by)
    return project


def create_flow(
    runtime: V2Runtime,
    project_id: str,
    name: str,
    *,
    by: str,
    context: Mapping[str, Any] | None = None,
) -> Doc:
    """A flow (with an empty chart) in a project."""
    store = runtime.store
    flow = store.insert(
        "flows",
        {
            "name": name,
            "description": "",
            "tags": [],
            "context": dict(context or {}),
            "referenceId": store.new_reference_id(),
            "projectReference": project_id,
        },
        by=by,
    )
    runtime.chart.create(flow["_id"], locale_for(store, project_id, None), by=by)
    return flow


def ok(doc: Mapping[str, Any], status: int = 200) -> Response:
    """A JSON answer of a document (bookkeeping keys stripped)."""
    return JsonResponse(public(doc), status_code=status)


def created(doc: Mapping[str, Any]) -> Response:
    """201 with the created document."""
    return ok(doc, 201)


def no_content() -> Response:
    """204, as for a DELETE."""
    return Response(status_code=204)

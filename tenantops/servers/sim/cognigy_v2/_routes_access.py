"""People and sessions: project members and their roles, users, and context injection.

- ``GET projects/{p}/members`` lists ``{_id: <user id>, id: <email>, email, name,
  roles}``; ``POST projects/{p}/addprojectmember {userId}`` adds a user (409 if a
  member already), ``removeprojectmember`` removes one (204; 404 if not a member);
  ``POST projects/{p}/members/{u}/addroletomember|removerolefrommember {role}``
  change roles, idempotently, and answer the member. Roles are free strings.
- ``GET users?filter=<email>`` finds organisation users (``filter`` matches email or
  name); ``GET users/me`` lives in :mod:`._auth`.
- ``POST sessions/{s}/context/inject {userId, context}`` answers the session's context
  afterwards. With ``context_mode="merge"`` (the default) the injected top-level keys
  replace the stored ones and the others stay; with ``"replace"`` the injected object
  becomes the whole context. A context over 65 kB answers 400. The API has no way to
  read a context back; the admin API does (:mod:`._admin`).
"""

from __future__ import annotations

import json

from fastapi import APIRouter
from starlette.responses import Response

from tenantops.servers.sim.cognigy_v2._auth import CallerDep
from tenantops.servers.sim.cognigy_v2._lookup import no_content, require
from tenantops.servers.sim.cognigy_v2._paging import PageDep, envelope
from tenantops.servers.sim.cognigy_v2._problems import conflict, invalid, not_found
from tenantops.servers.sim.cognigy_v2._runtime import RuntimeDep, V2Runtime
from tenantops.servers.sim.cognigy_v2._schemas import InjectBody, MemberBody, RoleBody
from tenantops.servers.sim.cognigy_v2._store import Doc
from tenantops.servers.sim.contract._problems import JsonResponse

__all__ = ["add_member", "inject_context", "render_member", "router"]

router = APIRouter(prefix="/v2.0")


def render_member(runtime: V2Runtime, membership: Doc) -> Doc:
    """A membership as ``GET projects/{p}/members`` shows it."""
    user = runtime.store.tables["users"].get(membership["userReference"], {})
    return {
        "_id": membership["userReference"],
        "id": user.get("email"),
        "email": user.get("email"),
        "name": user.get("name"),
        "roles": list(membership["roles"]),
    }


def _membership(runtime: V2Runtime, project_id: str, user_id: str) -> Doc | None:
    found = runtime.store.find("members", projectReference=project_id, userReference=user_id)
    return found[0] if found else None


def add_member(runtime: V2Runtime, project_id: str, user_id: str, *, by: str) -> Doc:
    """Make a user a member of a project, with no roles yet.

    Raises:
        Problem: 409 (code 1004) when the user is a member already.
    """
    if _membership(runtime, project_id, user_id) is not None:
        raise conflict(f"user {user_id} is already a member of project {project_id}")
    doc = {"projectReference": project_id, "userReference": user_id, "roles": []}
    return runtime.store.insert("members", doc, by=by)


def _member(runtime: V2Runtime, project_id: str, user_id: str) -> Doc:
    require(runtime.store, "projects", project_id)
    membership = _membership(runtime, project_id, user_id)
    if membership is None:
        raise not_found("project member", user_id)
    return membership


@router.get("/projects/{projectId}/members", tags=["members"])
async def list_members(
    projectId: str, caller: CallerDep, runtime: RuntimeDep, page: PageDep
) -> Response:
    """The project's members and their roles."""
    require(runtime.store, "projects", projectId)
    rows = [
        render_member(runtime, m) for m in runtime.store.find("members", projectReference=projectId)
    ]
    return JsonResponse(envelope(rows, page, filter_fields=("email", "name"), render=dict))


@router.get("/projects/{projectId}/members/{userId}", tags=["members"])
async def get_member(
    projectId: str, userId: str, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """One member."""
    return JsonResponse(render_member(runtime, _member(runtime, projectId, userId)))


@router.post("/projects/{projectId}/addprojectmember", tags=["members"])
async def add_project_member(
    projectId: str, body: MemberBody, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Add a user to the project; answers the new member."""
    require(runtime.store, "projects", projectId)
    require(runtime.store, "users", body.user_id)
    membership = add_member(runtime, projectId, body.user_id, by=caller.user_id)
    return JsonResponse(render_member(runtime, membership))


@router.post("/projects/{projectId}/removeprojectmember", status_code=204, tags=["members"])
async def remove_project_member(
    projectId: str, body: MemberBody, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Remove a user from the project; 204."""
    membership = _member(runtime, projectId, body.user_id)
    runtime.store.remove("members", membership["_id"])
    return no_content()


@router.post("/projects/{projectId}/members/{userId}/addroletomember", tags=["members"])
async def add_role(
    projectId: str, userId: str, body: RoleBody, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Give a member a role (no change if it has it); answers the member."""
    membership = _member(runtime, projectId, userId)
    roles = [*membership["roles"], *([] if body.role in membership["roles"] else [body.role])]
    runtime.store.update("members", membership["_id"], {"roles": roles}, by=caller.user_id)
    return JsonResponse(render_member(runtime, membership))


@router.post("/projects/{projectId}/members/{userId}/removerolefrommember", tags=["members"])
async def remove_role(
    projectId: str, userId: str, body: RoleBody, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Take a role from a member (no change if it lacks it); answers the member."""
    membership = _member(runtime, projectId, userId)
    roles = [r for r in membership["roles"] if r != body.role]
    runtime.store.update("members", membership["_id"], {"roles": roles}, by=caller.user_id)
    return JsonResponse(render_member(runtime, membership))


@router.get("/users", tags=["users"])
async def list_users(caller: CallerDep, runtime: RuntimeDep, page: PageDep) -> Response:
    """Organisation users; ``filter`` matches email or name."""
    rows = runtime.store.find("users")
    return JsonResponse(envelope(rows, page, filter_fields=("email", "name")))


def inject_context(runtime: V2Runtime, session_id: str, body: InjectBody) -> dict[str, object]:
    """Combine ``body.context`` with the session's (see the module docstring); returns it.

    Raises:
        Problem: 400 (code 1005) when the result would exceed the context limit.
    """
    session = runtime.store.get("sessions", session_id)
    stored = dict(session["context"]) if session else {}
    context = (
        {**stored, **body.context} if runtime.config.context_mode == "merge" else dict(body.context)
    )
    size = len(json.dumps(context, ensure_ascii=False).encode())
    if size > runtime.config.context_limit:
        raise invalid(
            f"the context would be {size} bytes; the limit is {runtime.config.context_limit}"
        )
    fields = {
        "userId": body.user_id,
        "context": context,
        "lastInjected": body.context,
        "injections": (session["injections"] if session else 0) + 1,
    }
    if session is None:
        runtime.store.insert("sessions", {"_id": session_id, **fields})
    else:
        runtime.store.update("sessions", session_id, fields)
    return context


@router.post("/sessions/{sessionId}/context/inject", tags=["sessions"])
async def inject(
    sessionId: str, body: InjectBody, caller: CallerDep, runtime: RuntimeDep
) -> Response:
    """Inject a context into a session; answers the context afterwards."""
    return JsonResponse(inject_context(runtime, sessionId, body))

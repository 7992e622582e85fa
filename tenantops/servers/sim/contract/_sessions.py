"""The contract's v4 session context endpoints, versioned with ``ETag`` and ``If-Match``.

A GET answers the context and ``ETag: "<version>"``; a PATCH names the version it
updates from in ``If-Match`` and the one it creates in the body, and answers 428
without ``If-Match``, 409 (with ``currentVersion``) when another writer got there
first. The merge itself is :meth:`SimState.patch_session`.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from tenantops.servers.sim.contract._auth import SessionReadCaller, SessionWriteCaller
from tenantops.servers.sim.contract._problems import (
    API_STATUSES,
    ApiProblem,
    JsonResponse,
    documented,
)
from tenantops.servers.sim.contract._runtime import RuntimeDep
from tenantops.servers.sim.contract._schemas import (
    SessionContextBody,
    SessionPatchBody,
    SessionPatched,
)
from tenantops.servers.sim.contract._state import VersionConflictError, VersionStepError

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["sessions"])

# "7", 7 or W/"7"; at most 18 digits, so the number stays a sane int.
_VERSION = r'^(W/)?("[0-9]{1,18}"|[0-9]{1,18})$'
_ETAG = re.compile(_VERSION)
_ETAG_HEADER = {"ETag": {"schema": {"type": "string"}, "required": True}}
# Documented as required (it is: 428 without it), but read by hand so that its absence
# answers 428 rather than FastAPI's 422.
_IF_MATCH_PARAMETER = {
    "name": "If-Match",
    "in": "header",
    "required": True,
    "description": 'The version the update starts from: "7", 7 or W/"7".',
    "schema": {"type": "string", "pattern": _VERSION},
}

SessionId = Annotated[str, Path(alias="sessionId")]


def _etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


async def _if_match(request: Request) -> int:
    """The version ``If-Match`` names; 428 when absent, 400 when it names none."""
    if_match = request.headers.get("if-match")
    if if_match is None or not if_match.strip():
        raise ApiProblem(
            428,
            "precondition_required",
            'send If-Match with the version you update from, e.g. If-Match: "7"',
        )
    match = _ETAG.match(if_match.strip())
    if match is None:
        raise ApiProblem(400, "invalid_request", f'If-Match {if_match!r} is not a version like "7"')
    return int(match.group(2).strip('"'))


@router.get(
    "/v4/session/{sessionId}/context",
    response_model=SessionContextBody,
    responses={200: {"headers": _ETAG_HEADER}, **documented(*API_STATUSES, 404)},
    summary="Get a session's context",
)
async def get_context(
    caller: SessionReadCaller, session_id: SessionId, runtime: RuntimeDep
) -> Response:
    """Answer the context and its version; a session never written has version 0."""
    record = runtime.state.session(session_id)
    body = {"sessionId": session_id, "context": record.context, "version": record.version}
    return JsonResponse(body, headers=_etag(record.version))


@router.patch(
    "/v4/session/{sessionId}/context",
    response_model=SessionPatched,
    responses={200: {"headers": _ETAG_HEADER}, **documented(*API_STATUSES, 404, 409, 428)},
    openapi_extra={"parameters": [_IF_MATCH_PARAMETER]},
    summary="Merge keys into a session's context",
)
async def patch_context(
    caller: SessionWriteCaller,
    expected: Annotated[int, Depends(_if_match)],
    session_id: SessionId,
    body: SessionPatchBody,
    runtime: RuntimeDep,
) -> Response:
    """Merge the keys (``null`` removes one) and move to the version the body names.

    A stale ``If-Match`` answers 409 before the body's version is checked: the caller
    must refetch either way.
    """
    try:
        version = runtime.state.patch_session(
            session_id, expected=expected, new=body.version, changes=body.context
        )
    except VersionConflictError as exc:
        raise ApiProblem(
            409,
            "version_conflict",
            f"the session is at version {exc.current}; fetch it again, merge, and retry",
            headers=_etag(exc.current),
            extra={"currentVersion": exc.current},
        ) from exc
    except VersionStepError as exc:
        details = [{"path": "/version", "message": f"must be {expected + 1}"}]
        raise ApiProblem(422, "validation_failed", str(exc), details=details) from exc
    return JsonResponse({"sessionId": session_id, "version": version}, headers=_etag(version))

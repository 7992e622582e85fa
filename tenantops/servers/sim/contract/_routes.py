"""The contract's v1 endpoints: export, deploy, deployment status and rollback, roles.

Each route checks the caller's workspace, notes it for the request log, and turns a
:class:`SimState` answer into the contract's response. Sessions live in
:mod:`._sessions`; the token endpoint in :mod:`._auth`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request
from starlette.responses import Response

from tenantops.core.model import BotModel
from tenantops.servers.sim.contract._auth import (
    Caller,
    DeployCaller,
    DeploymentReadCaller,
    ExportCaller,
    RoleCaller,
)
from tenantops.servers.sim.contract._problems import (
    API_STATUSES,
    ApiProblem,
    JsonResponse,
    documented,
)
from tenantops.servers.sim.contract._records import (
    Deployment,
    DeploymentStatus,
    RoleRecord,
    rfc3339,
)
from tenantops.servers.sim.contract._runtime import Runtime, RuntimeDep, note_of
from tenantops.servers.sim.contract._schemas import (
    AssignmentList,
    DeployAccepted,
    DeploymentStatusBody,
    DeployRequest,
    ExportRequest,
    RoleAssignmentBody,
    RollbackResult,
)

__all__ = ["router"]

router = APIRouter(prefix="/api")

_WITH_404 = documented(*API_STATUSES, 404)
_FAILED_WITHOUT_DETAIL = "the deployment failed"

DeploymentId = Annotated[str, Path(alias="deploymentId")]
WorkspaceId = Annotated[str, Path(alias="workspaceId")]


def _not_found(message: str) -> ApiProblem:
    return ApiProblem(404, "not_found", message)


def _use_workspace(request: Request, caller: Caller, workspace_id: str) -> None:
    caller.check_workspace(workspace_id)
    note_of(request).workspace_id = workspace_id


@router.post(
    "/v1/bot/export",
    response_model=BotModel,
    responses=_WITH_404,
    tags=["bots"],
    summary="Export a bot model as its workspace serves it",
)
async def export_bot(
    caller: ExportCaller, body: ExportRequest, runtime: RuntimeDep, request: Request
) -> Response:
    """Answer the deployed model with ``version`` and ``metadata.exportedAt`` set."""
    workspace_id = body.workspace_id or runtime.state.source_of(body.bot_id)
    if workspace_id is None:
        raise _not_found(f"bot {body.bot_id!r} has no source workspace; pass workspaceId")
    _use_workspace(request, caller, workspace_id)
    now = runtime.clock()
    content = runtime.state.export_json(workspace_id, body.bot_id, now, rfc3339(now))
    if content is None:
        raise _not_found(f"workspace {workspace_id!r} has no bot {body.bot_id!r} yet; deploy it")
    return Response(content, media_type="application/json")


def _accepted(deployment: Deployment, status: DeploymentStatus, code: int) -> Response:
    body = {
        "deploymentId": deployment.deployment_id,
        "status": status,
        "timestamp": rfc3339(deployment.created_at),
    }
    return JsonResponse(body, status_code=code)


@router.post(
    "/v1/bot/deploy",
    status_code=201,
    response_model=DeployAccepted,
    responses={
        200: {"model": DeployAccepted, "description": "The deployment this key started before."},
        **documented(*API_STATUSES),
    },
    tags=["bots"],
    summary="Deploy a bot model to a workspace",
)
async def deploy_bot(
    caller: DeployCaller,
    body: DeployRequest,
    runtime: RuntimeDep,
    request: Request,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """Start a deployment; the same ``Idempotency-Key`` again answers the same one."""
    _use_workspace(request, caller, body.target_workspace)
    # Store the model exactly as sent: the validated copy would add defaults.
    raw: dict[str, Any] = await request.json()
    fingerprint = hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()
    now, client_id, key = runtime.clock(), caller.client.client_id, idempotency_key or None
    earlier = runtime.state.replay(client_id, key) if key else None
    if earlier is not None:
        if earlier.fingerprint != fingerprint:
            raise ApiProblem(
                422,
                "idempotency_key_reused",
                "this Idempotency-Key was used with another body; use a new key per request",
                details=[{"path": "", "message": "differs from the first request with this key"}],
            )
        runtime.state.tick(now)
        return _accepted(earlier, runtime.state.status(earlier, now), 200)
    deployment = runtime.state.deploy(
        client_id=client_id,
        workspace_id=body.target_workspace,
        model=raw["model"],
        now=now,
        failed=runtime.faults.draw_deploy_failure(),
        key=key,
        fingerprint=fingerprint,
    )
    return _accepted(deployment, "pending", 201)


def _find_deployment(
    runtime: Runtime, caller: Caller, request: Request, deployment_id: str, now: float
) -> Deployment:
    deployment = runtime.state.deployment(deployment_id, now)
    if deployment is None:
        raise _not_found(f"no deployment {deployment_id!r}")
    _use_workspace(request, caller, deployment.workspace_id)
    return deployment


@router.get(
    "/v1/deployment/{deploymentId}/status",
    response_model=DeploymentStatusBody,
    responses=_WITH_404,
    tags=["deployments"],
    summary="Get a deployment's status",
)
async def deployment_status(
    caller: DeploymentReadCaller, deployment_id: DeploymentId, runtime: RuntimeDep, request: Request
) -> Response:
    """Answer pending, processing, success, failed (with ``errorDetail``) or rolled_back."""
    now = runtime.clock()
    deployment = _find_deployment(runtime, caller, request, deployment_id, now)
    status = runtime.state.status(deployment, now)
    body = {"deploymentId": deployment_id, "status": status}
    if status == "failed":
        body["errorDetail"] = deployment.error_detail or _FAILED_WITHOUT_DETAIL
    return JsonResponse(body)


@router.post(
    "/v1/deployment/{deploymentId}/rollback",
    response_model=RollbackResult,
    responses=_WITH_404,
    tags=["deployments"],
    summary="Roll a deployment back",
)
async def rollback_deployment(
    caller: DeployCaller, deployment_id: DeploymentId, runtime: RuntimeDep, request: Request
) -> Response:
    """Serve the model from before the deployment again; cancel it if still running."""
    now = runtime.clock()
    _find_deployment(runtime, caller, request, deployment_id, now)
    runtime.state.rollback(deployment_id, now)
    return JsonResponse({"deploymentId": deployment_id, "status": "rolled_back"})


@router.post(
    "/v1/workspace/user/assign",
    status_code=201,
    response_model=RoleAssignmentBody,
    response_model_exclude_none=True,
    responses={
        200: {"model": RoleAssignmentBody, "description": "The user's role was replaced."},
        **documented(*API_STATUSES),
    },
    tags=["roles"],
    summary="Assign a user a role in a workspace",
)
async def assign_role(
    caller: RoleCaller, body: RoleAssignmentBody, runtime: RuntimeDep, request: Request
) -> Response:
    """Give the user the role (201), or replace the role the user had (200)."""
    _use_workspace(request, caller, body.workspace_id)
    role = RoleRecord(role_id=body.role_id, expires_at=body.expires_at)
    created = runtime.state.assign_role(body.workspace_id, body.user_id, role)
    echo = body.model_dump(by_alias=True, exclude_none=True)
    return JsonResponse(echo, status_code=201 if created else 200)


@router.get(
    "/v1/workspace/{workspaceId}/users",
    response_model=AssignmentList,
    response_model_exclude_none=True,
    responses=_WITH_404,
    tags=["roles"],
    summary="List a workspace's role assignments",
)
async def list_roles(
    caller: RoleCaller, workspace_id: WorkspaceId, runtime: RuntimeDep, request: Request
) -> Response:
    """Every assignment sorted by ``userId``; an unknown workspace has none."""
    _use_workspace(request, caller, workspace_id)
    assignments = [
        {"userId": user_id, "roleId": role.role_id}
        | ({"expiresAt": role.expires_at} if role.expires_at else {})
        for user_id, role in runtime.state.roles(workspace_id)
    ]
    return JsonResponse({"assignments": assignments})


@router.delete(
    "/v1/workspace/{workspaceId}/users/{userId}",
    status_code=204,
    response_class=Response,
    responses=_WITH_404,
    tags=["roles"],
    summary="Remove a user's role from a workspace",
)
async def revoke_role(
    caller: RoleCaller,
    workspace_id: WorkspaceId,
    user_id: Annotated[str, Path(alias="userId")],
    runtime: RuntimeDep,
    request: Request,
) -> Response:
    """Remove the role (204); 404 when the user has none there."""
    _use_workspace(request, caller, workspace_id)
    if not runtime.state.revoke_role(workspace_id, user_id):
        raise _not_found(f"user {user_id!r} has no role in workspace {workspace_id!r}")
    return Response(status_code=204)

"""The admin API under ``/_sim/``, mounted only with ``--admin``: tests and the demo drive it.

It edits live bots "as someone would in the Cognigy UI", registers bot sources, shows
state, deployments and the requests received, changes fault settings at run time,
expires tokens and resets the simulator. It needs no token, is never subject to
faults, and stays out of ``/openapi.json`` so that fuzzing the contract never turns
faults on or wipes state.

- ``GET /_sim/state``: the whole state; client secrets and tokens left out.
- ``PUT /_sim/workspaces/{ws}/bots/{botId}``, body a bot model: replace the live bot.
- ``DELETE /_sim/workspaces/{ws}/bots/{botId}``: 204, or 404.
- ``PUT /_sim/sources/{botId}``, body ``{"workspaceId"}``: the bot's source workspace.
- ``GET /_sim/deployments``: every deployment and its status now.
- ``GET /_sim/requests`` (``DELETE`` clears): the last 10,000 API requests received.
- ``GET /_sim/faults``, ``PUT`` (partial, camelCase): the fault settings.
- ``POST /_sim/tokens/expire``: expire every token now; answers ``{"expired": n}``.
- ``POST /_sim/reset``: back to the state at start, faults included.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from tenantops.core.model import BotModel, model_sha256
from tenantops.servers.sim.contract._config import FaultSettings
from tenantops.servers.sim.contract._problems import ApiProblem, JsonResponse, pointer_details
from tenantops.servers.sim.contract._records import rfc3339
from tenantops.servers.sim.contract._runtime import RuntimeDep

__all__ = ["router"]

router = APIRouter(prefix="/_sim", include_in_schema=False)

JsonObject = Annotated[dict[str, Any], Body()]


class _SourceBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    workspace_id: str = Field(alias="workspaceId", min_length=1)


def _invalid(exc: ValidationError) -> ApiProblem:
    details = pointer_details(exc.errors())
    return ApiProblem(422, "validation_failed", "the body is invalid; see details", details=details)


@router.get("/state")
async def get_state(runtime: RuntimeDep) -> Response:
    """The whole state, without client secrets or tokens."""
    runtime.state.tick(runtime.clock())
    return JsonResponse(runtime.state.dump())


@router.put("/workspaces/{workspace_id}/bots/{bot_id}")
async def put_bot(
    workspace_id: str, bot_id: str, body: JsonObject, runtime: RuntimeDep
) -> Response:
    """Replace the live bot with the body, bumping its version."""
    try:
        model = BotModel.model_validate(body)
    except ValidationError as exc:
        raise _invalid(exc) from exc
    if model.bot_id != bot_id:
        details = [{"path": "/botId", "message": f"must be {bot_id!r}, as in the path"}]
        raise ApiProblem(422, "validation_failed", "botId differs from the path", details=details)
    version = runtime.state.put_bot(workspace_id, body, runtime.clock())
    return JsonResponse({"workspaceId": workspace_id, "botId": bot_id, "version": version})


@router.delete("/workspaces/{workspace_id}/bots/{bot_id}", status_code=204)
async def delete_bot(workspace_id: str, bot_id: str, runtime: RuntimeDep) -> Response:
    """Remove a bot from a workspace."""
    if not runtime.state.delete_bot(workspace_id, bot_id, runtime.clock()):
        raise ApiProblem(404, "not_found", f"workspace {workspace_id!r} has no bot {bot_id!r}")
    return Response(status_code=204)


@router.put("/sources/{bot_id}")
async def put_source(bot_id: str, body: JsonObject, runtime: RuntimeDep) -> Response:
    """Register the workspace an export without ``workspaceId`` reads ``bot_id`` from."""
    try:
        source = _SourceBody.model_validate(body)
    except ValidationError as exc:
        raise _invalid(exc) from exc
    runtime.state.set_source(bot_id, source.workspace_id)
    return JsonResponse({"botId": bot_id, "workspaceId": source.workspace_id})


@router.get("/deployments")
async def list_deployments(runtime: RuntimeDep) -> Response:
    """Every deployment, oldest first, with its status now."""
    now = runtime.clock()
    runtime.state.tick(now)
    deployments = sorted(runtime.state.data.deployments.values(), key=lambda d: d.created_at)
    rows = [
        {
            "deploymentId": d.deployment_id,
            "clientId": d.client_id,
            "workspaceId": d.workspace_id,
            "botId": d.bot_id,
            "status": runtime.state.status(d, now),
            "createdAt": rfc3339(d.created_at),
            "idempotencyKey": d.idempotency_key,
            "errorDetail": d.error_detail,
            "modelSha256": model_sha256(d.model),
        }
        for d in deployments
    ]
    return JsonResponse({"deployments": rows})


@router.get("/requests")
async def list_requests(runtime: RuntimeDep) -> Response:
    """The API requests received, oldest first."""
    return JsonResponse({"requests": runtime.log.entries()})


@router.delete("/requests", status_code=204)
async def clear_requests(runtime: RuntimeDep) -> Response:
    """Forget the requests received so far."""
    runtime.log.clear()
    return Response(status_code=204)


@router.get("/faults")
async def get_faults(runtime: RuntimeDep) -> Response:
    """The fault settings in force."""
    return JsonResponse(runtime.faults.settings.model_dump(by_alias=True))


@router.put("/faults")
async def put_faults(body: JsonObject, runtime: RuntimeDep) -> Response:
    """Change the fault settings the body names (camelCase); the others stay."""
    current = runtime.faults.settings.model_dump(by_alias=True)
    unknown = sorted(set(body) - set(current))
    if unknown:
        details = [{"path": f"/{key}", "message": "unknown fault setting"} for key in unknown]
        raise ApiProblem(
            422, "validation_failed", f"known settings: {', '.join(current)}", details=details
        )
    try:
        settings = FaultSettings.model_validate({**current, **body})
    except ValidationError as exc:
        raise _invalid(exc) from exc
    runtime.faults.update(settings)
    return JsonResponse(settings.model_dump(by_alias=True))


@router.post("/tokens/expire")
async def expire_tokens(runtime: RuntimeDep) -> Response:
    """Expire every issued token now, so the next call with one answers 401."""
    return JsonResponse({"expired": runtime.tokens.expire_all(runtime.clock())})


@router.post("/reset", status_code=204)
async def reset(runtime: RuntimeDep) -> Response:
    """Back to the start: the state loaded at start, no tokens, no log, the start's faults."""
    runtime.state.reset()
    runtime.tokens.clear()
    runtime.log.clear()
    runtime.faults.restart(runtime.config.faults)
    return Response(status_code=204)

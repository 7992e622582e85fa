"""The provisioning HTTP API (``tenantops serve``): one call provisions one tenant.

HTTP only: bearer-token authentication (several tokens for rotation, constant-time
comparison), request and answer shapes, status codes, metrics and the OpenAPI
description. The work itself is :class:`tenantops.servers.provision.Provisioner`, which runs
the CLI's plan and apply code.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from tenantops.servers.provision import Provisioner, now_iso

__all__ = ["ProvisionRequest", "create_app"]

_STATUS = {
    "invalid": 422,
    "planned": 200,
    "applied": 201,
    "unchanged": 201,
    "locked": 409,
    "failed": 502,
    "in_progress": 202,
}


class ProvisionRequest(BaseModel):
    """A tenant definition (the fields of a tenant file, as JSON) and whether to only plan."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    tenant: dict[str, Any] = Field(
        description="The tenant: name, workspace, template, params, vars, secrets, roles."
    )
    dry_run: bool = Field(default=False, alias="dryRun", description="Plan only; deploy nothing.")


class Problem(BaseModel):
    """Every error answer."""

    error: str
    message: str
    details: list[dict[str, str]] = Field(default_factory=list)


class Provisioned(BaseModel):
    """A provisioning that ran (201), or a plan (200 with ``dryRun``)."""

    model_config = ConfigDict(extra="allow")

    tenantId: str
    status: str
    deploymentId: str | None = None
    changes: list[dict[str, Any]] = Field(default_factory=list)
    auditTrail: list[dict[str, Any]] = Field(default_factory=list)
    completedAt: str


def _problem(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"error": error, "message": message, **extra}, status_code=status, headers=headers
    )


def create_app(provisioner: Provisioner, tokens: Sequence[str]) -> FastAPI:
    """The API; ``tokens`` are the accepted bearer tokens (at least one)."""
    if not tokens:
        raise ValueError("at least one API token is needed")
    keys = [t.encode() for t in tokens]
    registry = CollectorRegistry()
    requests = Counter(
        "tenantops_provision_requests",
        "Provisioning requests by outcome.",
        ["outcome"],
        registry=registry,
    )
    duration = Histogram("tenantops_provision_seconds", "Provisioning time.", registry=registry)
    errors: dict[int | str, dict[str, Any]] = {
        400: {"model": Problem},
        401: {"model": Problem},
        422: {"model": Problem},
    }
    app = FastAPI(
        title="tenantops provisioning API",
        version="1",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )

    def authorized(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        given = token.strip().encode()
        # Compare with every token, so timing tells nothing about which one is close.
        return any([hmac.compare_digest(given, key) for key in keys])

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"path": "/" + "/".join(str(p) for p in e["loc"][1:]), "message": str(e["msg"])}
            for e in exc.errors()
        ]
        return _problem(
            422,
            "invalid_request",
            "the request body is not a provisioning request",
            details=details,
        )

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return _problem(exc.status_code, "http_error", str(exc.detail))

    @app.post(
        "/api/v1/tenant/provision",
        status_code=201,
        response_model=Provisioned,
        responses={
            200: {"model": Provisioned},
            202: {"model": Provisioned},
            409: {"model": Provisioned},
            502: {"model": Provisioned},
            **errors,
        },
    )
    async def provision(request: Request, body: ProvisionRequest) -> Response:
        """Validate, render, deploy, poll, roll back on failure and assign roles for one tenant."""
        if not authorized(request):
            requests.labels("unauthorized").inc()
            return _problem(
                401, "unauthorized", "send Authorization: Bearer <token> (TENANTOPS_API_TOKEN)"
            )
        started = time.perf_counter()
        result = await provisioner.provision(body.tenant, dry_run=body.dry_run)
        duration.observe(time.perf_counter() - started)
        requests.labels(result.outcome).inc()
        status = _STATUS[result.outcome]
        if result.outcome == "invalid":
            return _problem(
                422,
                "validation_failed",
                "the tenant definition is invalid",
                details=result.body["details"],
            )
        answer = {
            "tenantId": result.tenant,
            "status": result.outcome,
            "completedAt": now_iso(),
            **result.body,
        }
        return JSONResponse(answer, status_code=status)

    @app.get("/api/v1/tenant/{tenant_id}", responses={404: {"model": Problem}, **errors})
    async def tenant_state(request: Request, tenant_id: str) -> Response:
        """The tenant's last applied state, from the lockfile."""
        if not authorized(request):
            return _problem(
                401, "unauthorized", "send Authorization: Bearer <token> (TENANTOPS_API_TOKEN)"
            )
        state = provisioner.applied_state(tenant_id)
        if state is None:
            return _problem(404, "not_found", f"tenant {tenant_id} has never been applied")
        return JSONResponse({"tenantId": tenant_id, **state})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    return app

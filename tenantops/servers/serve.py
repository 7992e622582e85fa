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


class _BearerAuth:
    """Accepts any of several tokens, so that one can be rotated without downtime."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if not tokens:
            raise ValueError("at least one API token is needed")
        self._keys = [t.encode() for t in tokens]

    def allows(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        given = token.strip().encode()
        # Compare with every token, so timing tells nothing about which one is close.
        return any([hmac.compare_digest(given, key) for key in self._keys])


_UNAUTHORIZED = "send Authorization: Bearer <token> (TENANTOPS_API_TOKEN)"
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem},
    401: {"model": Problem},
    422: {"model": Problem},
}


class _Api:
    """The routes' handlers, sharing the provisioner, the tokens and the metrics."""

    def __init__(self, provisioner: Provisioner, auth: _BearerAuth) -> None:
        self.provisioner = provisioner
        self.auth = auth
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tenantops_provision_requests",
            "Provisioning requests by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "tenantops_provision_seconds", "Provisioning time.", registry=self.registry
        )

    async def provision(self, request: Request, body: ProvisionRequest) -> Response:
        """Validate, render, deploy, poll, roll back on failure and assign roles for one tenant."""
        if not self.auth.allows(request):
            self.requests.labels("unauthorized").inc()
            return _problem(401, "unauthorized", _UNAUTHORIZED)
        started = time.perf_counter()
        result = await self.provisioner.provision(body.tenant, dry_run=body.dry_run)
        self.duration.observe(time.perf_counter() - started)
        self.requests.labels(result.outcome).inc()
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
        return JSONResponse(answer, status_code=_STATUS[result.outcome])

    async def tenant_state(self, request: Request, tenant_id: str) -> Response:
        """The tenant's last applied state, from the lockfile."""
        if not self.auth.allows(request):
            return _problem(401, "unauthorized", _UNAUTHORIZED)
        state = self.provisioner.applied_state(tenant_id)
        if state is None:
            return _problem(404, "not_found", f"tenant {tenant_id} has never been applied")
        return JSONResponse({"tenantId": tenant_id, **state})

    async def metrics(self) -> Response:
        return Response(generate_latest(self.registry), media_type="text/plain; version=0.0.4")


async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


async def _invalid(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"path": "/" + "/".join(str(p) for p in e["loc"][1:]), "message": str(e["msg"])}
        for e in exc.errors()
    ]
    return _problem(
        422, "invalid_request", "the request body is not a provisioning request", details=details
    )


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _problem(exc.status_code, "http_error", str(exc.detail))


def create_app(provisioner: Provisioner, tokens: Sequence[str]) -> FastAPI:
    """The API; ``tokens`` are the accepted bearer tokens (at least one)."""
    api = _Api(provisioner, _BearerAuth(tokens))
    app = FastAPI(
        title="tenantops provisioning API",
        version="1",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http_error)
    provisioned: dict[int | str, dict[str, Any]] = {
        code: {"model": Provisioned} for code in (200, 202, 409, 502)
    }
    app.add_api_route(
        "/api/v1/tenant/provision",
        api.provision,
        methods=["POST"],
        status_code=201,
        response_model=Provisioned,
        responses={**provisioned, **_ERRORS},
    )
    app.add_api_route(
        "/api/v1/tenant/{tenant_id}",
        api.tenant_state,
        methods=["GET"],
        responses={404: {"model": Problem}, **_ERRORS},
    )
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.add_api_route("/metrics", api.metrics, methods=["GET"], include_in_schema=False)
    return app

"""Error answers as Cognigy sends them: RFC 7807 ``application/problem+json``.

Every non-2xx answer carries ``type``, ``title``, ``status``, ``detail``, ``instance``
(the path under ``/v2.0``), ``code``, ``traceId`` and ``details``, as in the
documentation's example::

    {"type": "Bad Request", "title": "Bad Request Error", "status": 400,
     "detail": "Validation failed. Missing payload.", "instance": "/v2.0/flows/5ce7...",
     "code": 1000, "traceId": "api--f84324f4-...", "details": {}}

``code`` follows ``@cognigy/rest-api-client``'s ``shared/errors``: 400 is 1000 (missing)
or 1005 (invalid), 404 is 1002, 409 is 1004, 500 is 1008, any other status is itself.
This module owns that shape and the handlers that put FastAPI's own errors into it;
it never decides *when* to fail: routes, auth and the middleware raise :class:`Problem`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from tenantops.servers.sim.contract._problems import JsonResponse, json_pointer

__all__ = [
    "CODE_INVALID",
    "CODE_MISSING",
    "TRACE_KEY",
    "Problem",
    "ProblemResponse",
    "conflict",
    "install_handlers",
    "invalid",
    "new_trace_id",
    "not_found",
    "trace_id_of",
]

#: 400 codes: a required value is absent / a value is malformed.
CODE_MISSING = 1000
CODE_INVALID = 1005
_CODES = {404: 1002, 409: 1004, 500: 1008}

#: Where the middleware keeps a request's trace id in the ASGI scope.
TRACE_KEY = "tenantops.v2.trace"


class ProblemResponse(JsonResponse):
    """JSON served as ``application/problem+json``."""

    media_type = "application/problem+json"


def new_trace_id() -> str:
    """A fresh trace id, shaped like Cognigy's (``api--<uuid>``)."""
    return f"api--{uuid.uuid4()}"


def trace_id_of(scope: Mapping[str, Any]) -> str:
    """The request's trace id (a fresh one outside the middleware)."""
    trace = scope.get(TRACE_KEY)
    return trace if isinstance(trace, str) else new_trace_id()


class Problem(Exception):
    """Raised anywhere in a request to answer with an RFC 7807 body.

    Args:
        status: HTTP status.
        detail: what went wrong and what to do next.
        code: Cognigy's error code; derived from ``status`` when ``None``.
        headers: extra response headers (``Retry-After``, ``WWW-Authenticate``).
        details: the body's ``details`` object.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: int | None = None,
        headers: Mapping[str, str] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code if code is not None else _CODES.get(status, status)
        self.headers = dict(headers or {})
        self.details = dict(details or {})

    def body(self, instance: str, trace_id: str) -> dict[str, Any]:
        """The problem document for a request to ``instance``."""
        phrase = HTTPStatus(self.status).phrase
        return {
            "type": phrase,
            "title": f"{phrase} Error",
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
            "code": self.code,
            "traceId": trace_id,
            "details": self.details,
        }

    def response(self, instance: str, trace_id: str) -> Response:
        """This problem as an ``application/problem+json`` response."""
        return ProblemResponse(
            self.body(instance, trace_id), status_code=self.status, headers=self.headers
        )


def not_found(kind: str, resource_id: str) -> Problem:
    """404 (code 1002) for an unknown resource."""
    return Problem(404, f"{kind} {resource_id!r} was not found")


def invalid(detail: str, *, missing: bool = False) -> Problem:
    """400 with code 1000 (``missing``) or 1005 (malformed)."""
    return Problem(400, detail, code=CODE_MISSING if missing else CODE_INVALID)


def conflict(detail: str) -> Problem:
    """409 (code 1004)."""
    return Problem(409, detail)


def _answer(request: Request, problem: Problem) -> Response:
    return problem.response(request.url.path, trace_id_of(request.scope))


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return _answer(request, exc)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = str(exc.detail)
    if exc.status_code == 404:
        detail = f"no such endpoint: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not served on {request.url.path}"
    return _answer(request, Problem(exc.status_code, detail, headers=exc.headers))


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e["type"] == "missing" and tuple(e["loc"]) == ("body",) for e in errors):
        return _answer(request, invalid("Validation failed. Missing payload.", missing=True))
    missing = all(e["type"] == "missing" for e in errors)
    entries = [{"path": json_pointer(e["loc"][1:]), "message": str(e["msg"])} for e in errors]
    where = ", ".join(f"{entry['path'] or '/'} ({entry['message']})" for entry in entries)
    problem = invalid(f"Validation failed: {where}", missing=missing)
    problem.details = {"errors": entries}
    return _answer(request, problem)


async def _on_crash(request: Request, exc: Exception) -> Response:
    detail = "the simulator failed on this request; this is a bug, please report it"
    return _answer(request, Problem(500, detail))


def install_handlers(app: FastAPI) -> None:
    """Make every error ``app`` answers an RFC 7807 problem."""
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_crash)

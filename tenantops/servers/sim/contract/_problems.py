"""Error answers: one JSON body shape for every non-2xx response the simulator sends.

The contract's shape is ``{"error": "<code>", "message": "<text>", "details": [...]}``.
This module owns that shape, its OpenAPI description, and the handlers that put
FastAPI's own errors (malformed JSON, body validation, unknown routes) into it. It must
not decide *when* to fail: routes, auth and faults raise :class:`ApiProblem`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

__all__ = [
    "ApiProblem",
    "ErrorBody",
    "JsonResponse",
    "documented",
    "install_handlers",
    "json_pointer",
    "pointer_details",
]


class JsonResponse(JSONResponse):
    """JSON with every non-ASCII character escaped.

    Request bodies may carry lone surrogates (``"\\ud800"``), which a UTF-8 encoder
    rejects; escaping keeps echoing them from turning into a 500.
    """

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode("ascii")


class ErrorDetailBody(BaseModel):
    """Where a body is invalid (a JSON pointer) and why."""

    path: str
    message: str


class ErrorBody(BaseModel):
    """Every error answer; ``scope`` (403) and ``currentVersion`` (409) only where they apply."""

    model_config = ConfigDict(populate_by_name=True)

    error: str
    message: str
    details: list[ErrorDetailBody] = Field(default_factory=list)
    scope: str | None = None
    current_version: int | None = Field(default=None, alias="currentVersion")


class ApiProblem(Exception):
    """Raised anywhere in a request to answer with the contract's error body.

    Args:
        status: HTTP status.
        error: the machine-readable code (``not_found``, ``insufficient_scope``...).
        message: what the caller should do next.
        details: ``{"path": <JSON pointer>, "message": ...}`` entries, for 400 and 422.
        headers: extra response headers (``WWW-Authenticate``, ``Retry-After``, ``ETag``).
        extra: further top-level body fields (``scope``, ``currentVersion``).
    """

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        details: Sequence[Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.details = list(details) if details is not None else None
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def response(self) -> Response:
        """This problem as a JSON response."""
        body: dict[str, Any] = {"error": self.error, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        body.update(self.extra)
        return JsonResponse(body, status_code=self.status, headers=self.headers)


def json_pointer(loc: Iterable[str | int]) -> str:
    """A pydantic error location as an RFC 6901 JSON pointer (``/model/intents/0/name``)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in loc)


def pointer_details(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Pydantic errors as ``details`` entries: a JSON pointer and a message each."""
    return [{"path": json_pointer(e["loc"]), "message": str(e["msg"])} for e in errors]


# Codes for the statuses Starlette raises itself (unknown route, wrong method...).
_HTTP_CODES = {
    400: "invalid_request",
    401: "invalid_token",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiProblem)
    return exc.response()


def _http_error_handler(
    routes: Sequence[tuple[re.Pattern[str], frozenset[str]]],
) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        message, headers = str(exc.detail), dict(exc.headers or {})
        path = request.url.path
        if exc.status_code == 404:
            message = f"no such endpoint: {request.method} {path}; see /openapi.json"
        if exc.status_code == 405:
            # Starlette names only the first route matching the path; a path served by
            # several routes (a session's GET and PATCH) must list all their methods.
            methods = {m for pattern, ms in routes if pattern.match(path) for m in ms}
            headers["Allow"] = ", ".join(sorted(methods))
            message = f"{request.method} is not served here; use {headers['Allow']}"
        return ApiProblem(exc.status_code, code, message, headers=headers).response()

    return on_http_error


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    # A body that is not JSON, or not an object at all, is malformed (400); a JSON
    # object that breaks the schema is well-formed but invalid (422).
    if any(e["type"] == "json_invalid" or tuple(e["loc"]) == ("body",) for e in errors):
        first = errors[0]
        message = f"the request body is not a JSON object of the documented shape: {first['msg']}"
        return ApiProblem(400, "invalid_request", message, details=[]).response()
    # Body locations start with "body"; the pointer is into the body itself.
    details = pointer_details(
        {**e, "loc": e["loc"][1:] if e["loc"][:1] == ("body",) else e["loc"]} for e in errors
    )
    message = "the request body is invalid; see details for where"
    return ApiProblem(422, "validation_failed", message, details=details).response()


async def _on_crash(request: Request, exc: Exception) -> Response:
    message = "the simulator failed on this request; this is a bug, please report it"
    return ApiProblem(500, "internal_error", message).response()


def install_handlers(app: FastAPI, routes: Iterable[object]) -> None:
    """Make every error the app answers use :class:`ErrorBody`.

    Args:
        app: the app.
        routes: every route it serves, to name all of a path's methods in a 405's ``Allow``.
    """
    table: list[tuple[re.Pattern[str], frozenset[str]]] = []
    for route in routes:
        pattern, methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if isinstance(pattern, re.Pattern) and isinstance(methods, set):
            table.append((pattern, frozenset(methods)))
    app.add_exception_handler(ApiProblem, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler(table))
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_crash)


_DESCRIPTIONS = {
    400: "Malformed request: not JSON, not an object, or an unsupported parameter.",
    401: 'Token missing, unknown or expired; `WWW-Authenticate: Bearer error="invalid_token"`.',
    403: "The token lacks the scope (named in `scope`), or the workspace is not the client's.",
    404: "Unknown bot, deployment, workspace user or session.",
    409: "The session is at another version (`currentVersion`).",
    422: "Well-formed but invalid; `details` lists JSON pointers.",
    428: "`If-Match` is missing.",
    429: "Rate limited; wait `Retry-After` seconds.",
    500: "Server trouble (the simulator injects these with `--error-rate`).",
    503: "Server unavailable; may carry `Retry-After`.",
}
_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}},
    429: {"Retry-After": {"schema": {"type": "string"}, "required": True}},
}

#: The statuses any authenticated ``/api`` call may answer.
API_STATUSES = (400, 401, 403, 422, 429, 500, 503)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with :class:`ErrorBody` and its headers."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted(set(statuses)):
        entry: dict[str, Any] = {"model": ErrorBody, "description": _DESCRIPTIONS[status]}
        if status in _HEADERS:
            entry["headers"] = _HEADERS[status]
        out[status] = entry
    return out

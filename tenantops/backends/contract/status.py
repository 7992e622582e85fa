"""What a non-2xx answer of the API means: the typed error, saying what to do next.

Pure: reads an :class:`~tenantops.backends.contract.transport.Answer` (status, headers,
body) and builds an :class:`~tenantops.errors.ApiStatusError` subclass carrying the
facts (status, error code, request id, ``Retry-After``, scope, current version,
details) as attributes. It sends nothing and retries nothing: the client raises what
is built here, and :mod:`tenantops.backends.retry` decides what is retried.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tenantops.backends.contract.transport import Answer
from tenantops.backends.retry import parse_retry_after
from tenantops.errors import (
    ApiStatusError,
    AuthError,
    BadRequestError,
    ConflictError,
    ErrorDetail,
    ForbiddenError,
    NotFoundError,
    PreconditionRequiredError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
    UnprocessableError,
)

__all__ = ["status_error", "token_error"]

#: The scope each endpoint needs, for a 403 whose answer does not name it.
_SCOPE_BY_PATH: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^/api/v1/bot/export$"), "bot:export"),
    (re.compile(r"^/api/v1/bot/deploy$"), "bot:deploy"),
    (re.compile(r"^/api/v1/deployment/[^/]+/status$"), "deployment:read"),
    (re.compile(r"^/api/v1/deployment/[^/]+/rollback$"), "bot:deploy"),
    (re.compile(r"^/api/v1/workspace/"), "user:role:assign"),
)
_WWW_SCOPE = re.compile(r'scope="([^"]*)"')
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-correlation-id")


@dataclass(frozen=True, slots=True)
class _Refusal:
    """One non-2xx answer to ``method path``, with its body read once."""

    answer: Answer
    method: str
    path: str
    body: dict[str, Any]

    @classmethod
    def read(cls, answer: Answer, method: str, path: str) -> _Refusal:
        return cls(answer, method, path, _error_body(answer))

    @property
    def code(self) -> str | None:
        return str(self.body["error"]) if self.body.get("error") else None

    @property
    def where(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def server_says(self) -> str:
        message = self.body.get("message")
        return f": {message}" if isinstance(message, str) else ""

    def facts(self) -> dict[str, Any]:
        """The attributes every :class:`ApiStatusError` carries."""
        headers = self.answer.headers
        return {
            "status": self.answer.status,
            "code": self.code,
            "request_id": next((headers[h] for h in _REQUEST_ID_HEADERS if h in headers), None),
            "method": self.method,
            "url": self.path,
            "body": self.body,
            "retry_after": parse_retry_after(headers.get("retry-after")),
        }


def _error_body(answer: Answer) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _required_scope(refusal: _Refusal) -> str | None:
    match = _WWW_SCOPE.search(refusal.answer.headers.get("www-authenticate", ""))
    if match:
        return match.group(1)
    if isinstance(refusal.body.get("scope"), str):
        return str(refusal.body["scope"])
    for pattern, scope in _SCOPE_BY_PATH:
        if pattern.match(refusal.path):
            return scope
    if refusal.path.startswith("/api/v4/session/"):
        return "session:read" if refusal.method == "GET" else "session:write"
    return None


def _forbidden(refusal: _Refusal) -> ApiStatusError:
    scope = _required_scope(refusal)
    code = refusal.code
    if code == "insufficient_scope" or (scope and code != "workspace_forbidden"):
        hint = f"grant the scope '{scope}' to the OAuth client and list it in api.scopes"
    else:
        hint = "the workspace is not the token's; check the workspace id and the client's access"
    message = f"{refusal.where} is forbidden (403){refusal.server_says}; {hint}"
    return ForbiddenError(message, scope=scope, **refusal.facts())


def _conflict(refusal: _Refusal) -> ApiStatusError:
    current = refusal.body.get("currentVersion")
    return ConflictError(
        f"{refusal.where} conflicts with the current version ({current}); "
        "fetch and merge, then retry",
        current_version=current if isinstance(current, int) else None,
        **refusal.facts(),
    )


def _unprocessable(refusal: _Refusal) -> ApiStatusError:
    details = [
        ErrorDetail(path=str(d.get("path", "")), message=str(d.get("message", "")))
        for d in refusal.body.get("details") or []
        if isinstance(d, dict)
    ]
    listed = "; ".join(f"{d.path}: {d.message}" for d in details[:5])
    return UnprocessableError(
        f"{refusal.where} was refused as invalid (422){refusal.server_says}"
        + (f" [{listed}]" if listed else ""),
        details=details,
        **refusal.facts(),
    )


#: Statuses whose error needs more than a message.
_BUILDERS: dict[int, Callable[[_Refusal], ApiStatusError]] = {
    403: _forbidden,
    409: _conflict,
    422: _unprocessable,
}

#: Statuses whose error is a class and a message; ``{where}`` and ``{server_says}`` are
#: filled in.
_MESSAGES: dict[int, tuple[type[ApiStatusError], str]] = {
    400: (BadRequestError, "{where} was rejected as malformed (400){server_says}"),
    401: (
        UnauthorizedError,
        "{where} was refused even with a fresh token (401); check the client's "
        "credentials and that the token URL belongs to this API",
    ),
    404: (NotFoundError, "{where} found nothing (404){server_says}"),
    428: (PreconditionRequiredError, "{where} needs If-Match (428)"),
    429: (
        RateLimitedError,
        "{where} was rate limited (429) after every retry; lower --parallelism or "
        "set api.rateLimit to the platform's quota",
    ),
}


def status_error(answer: Answer, method: str, path: str) -> ApiStatusError:
    """The typed error for a non-2xx answer, with what the user should do next.

    Args:
        answer: the server's answer.
        method: the HTTP method of the call.
        path: the URL path of the call (or the token URL), never carrying secrets.

    Returns:
        The :class:`~tenantops.errors.ApiStatusError` subclass for the status.
    """
    refusal = _Refusal.read(answer, method, path)
    status = answer.status
    build = _BUILDERS.get(status)
    if build is not None:
        return build(refusal)
    if status in _MESSAGES:
        error, template = _MESSAGES[status]
        message = template.format(where=refusal.where, server_says=refusal.server_says)
        return error(message, **refusal.facts())
    if status >= 500:
        message = f"{refusal.where} failed on the server ({status}) after every retry"
        return ServerError(message + refusal.server_says, **refusal.facts())
    return ApiStatusError(
        f"{refusal.where} answered {status}{refusal.server_says}", **refusal.facts()
    )


def token_error(answer: Answer, client_id: str) -> AuthError:
    """The error for a token endpoint that refused the client (400, 401 or 403)."""
    code = str(_error_body(answer).get("error") or "")
    if code == "invalid_scope":
        hint = "ask for fewer scopes in api.scopes, or grant them to the OAuth client"
    elif code == "invalid_client" or answer.status == 401:
        hint = "check OAUTH_CLIENT_ID / OAUTH_CLIENT_SECRET (or api.clientId / api.clientSecret)"
    else:
        hint = "check the token URL and the client's grant types"
    return AuthError(
        f"the token endpoint refused client '{client_id}' ({answer.status}"
        f"{', ' + code if code else ''}): {hint}",
        code=code or None,
        status=answer.status,
    )

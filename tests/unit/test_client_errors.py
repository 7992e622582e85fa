"""The contract client's error mapping: statuses, transport failures and Redis failures, no I/O."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from redis import exceptions as redis_exceptions

from tenantops.backends.contract.status import status_error, token_error
from tenantops.backends.contract.transport import Answer
from tenantops.errors import (
    ApiStatusError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PreconditionRequiredError,
    RateLimitedError,
    ServerError,
    StateError,
    UnauthorizedError,
    UnprocessableError,
)
from tenantops.relay.store import SessionStore


def answer(status: int, body: Any = None, **headers: str) -> Answer:
    content = json.dumps(body).encode() if body is not None else b""
    return Answer(status, httpx.Headers(headers), content)


@pytest.mark.parametrize(
    ("status", "error", "says"),
    [
        (400, BadRequestError, "was rejected as malformed (400): nope"),
        (401, UnauthorizedError, "was refused even with a fresh token (401)"),
        (404, NotFoundError, "found nothing (404): nope"),
        (428, PreconditionRequiredError, "needs If-Match (428)"),
        (429, RateLimitedError, "lower --parallelism or set api.rateLimit"),
        (500, ServerError, "failed on the server (500) after every retry: nope"),
        (503, ServerError, "failed on the server (503) after every retry: nope"),
        (418, ApiStatusError, "answered 418: nope"),
    ],
)
def test_each_status_has_its_error_and_next_step(
    status: int, error: type[ApiStatusError], says: str
) -> None:
    """Every status maps to its own error class, whose message says what to do next."""
    got = status_error(answer(status, {"error": "e", "message": "nope"}), "GET", "/api/v1/x")
    assert type(got) is error
    assert str(got).startswith("GET /api/v1/x ")
    assert says in str(got)
    assert (got.status, got.code, got.method, got.url) == (status, "e", "GET", "/api/v1/x")


def test_facts_travel_as_attributes() -> None:
    """Request id, Retry-After and the decoded body are attributes, not message text."""
    got = status_error(
        answer(429, {"error": "rate_limited"}, **{"x-request-id": "r-1", "retry-after": "7"}),
        "POST",
        "/api/v1/bot/deploy",
    )
    assert (got.request_id, got.retry_after, got.body) == ("r-1", 7.0, {"error": "rate_limited"})


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "scope"),
    [
        ("POST", "/api/v1/bot/deploy", {}, {}, "bot:deploy"),
        ("GET", "/api/v4/session/s/context", {}, {}, "session:read"),
        ("PATCH", "/api/v4/session/s/context", {}, {}, "session:write"),
        ("GET", "/api/v1/x", {"scope": "a:b"}, {}, "a:b"),
        ("GET", "/api/v1/x", {}, {"www-authenticate": 'Bearer scope="c:d"'}, "c:d"),
    ],
)
def test_forbidden_names_the_missing_scope(
    method: str, path: str, body: dict[str, Any], headers: dict[str, str], scope: str
) -> None:
    """A 403 names the scope to grant: from the answer, else from the endpoint."""
    got = status_error(answer(403, body, **headers), method, path)
    assert isinstance(got, ForbiddenError)
    assert got.scope == scope
    assert f"grant the scope '{scope}'" in str(got)


def test_forbidden_workspace_is_not_a_scope_problem() -> None:
    """A 403 for someone else's workspace says so instead of asking for a scope."""
    got = status_error(answer(403, {"error": "workspace_forbidden"}), "GET", "/api/v1/x")
    assert "the workspace is not the token's" in str(got)


def test_conflict_carries_the_current_version() -> None:
    """A 409 carries the server's current version as an attribute."""
    got = status_error(
        answer(409, {"error": "version_conflict", "currentVersion": 5}), "PATCH", "/p"
    )
    assert isinstance(got, ConflictError)
    assert got.current_version == 5


def test_unprocessable_lists_its_details() -> None:
    """A 422 keeps each detail (pointer and message) and lists them in the message."""
    body = {"details": [{"path": "/a", "message": "bad"}, "junk"]}
    got = status_error(answer(422, body), "POST", "/p")
    assert isinstance(got, UnprocessableError)
    assert [(d.path, d.message) for d in got.details] == [("/a", "bad")]
    assert str(got).endswith("[/a: bad]")


def test_a_body_that_is_not_json_is_no_obstacle() -> None:
    """An error answer without a JSON body still maps, with an empty body."""
    got = status_error(Answer(502, httpx.Headers(), b"<html>"), "GET", "/p")
    assert isinstance(got, ServerError)
    assert got.body == {}


@pytest.mark.parametrize(
    ("status", "code", "hint"),
    [
        (400, "invalid_scope", "ask for fewer scopes"),
        (401, "", "check OAUTH_CLIENT_ID / OAUTH_CLIENT_SECRET"),
        (400, "invalid_client", "check OAUTH_CLIENT_ID / OAUTH_CLIENT_SECRET"),
        (403, "unauthorized_client", "check the token URL and the client's grant types"),
    ],
)
def test_token_refusals_say_what_to_check(status: int, code: str, hint: str) -> None:
    """The token endpoint's refusals name the client and what to check."""
    got = token_error(answer(status, {"error": code} if code else {}), "cli-1")
    assert "client 'cli-1'" in str(got)
    assert hint in str(got)
    assert (got.status, got.code) == (status, code or None)


class FailingRedis:
    """Enough of a redis-py client for SessionStore, failing every call with ``exc``."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def register_script(self, script: str) -> Any:
        return None

    async def initialize(self) -> None:
        return None

    async def get(self, key: str) -> bytes:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "unavailable", "message"),
    [
        (
            redis_exceptions.ConnectionError("Error 111 connecting to 10.0.0.7:6379"),
            True,
            "Redis is unavailable (ConnectionError); retry shortly",
        ),
        (
            redis_exceptions.ClusterDownError("CLUSTERDOWN"),
            True,
            "Redis is unavailable (ClusterDownError); retry shortly",
        ),
        (
            redis_exceptions.ResponseError("OOM command not allowed"),
            False,
            "Redis refused a session operation: OOM command not allowed",
        ),
    ],
)
def test_redis_failures_are_state_errors(exc: Exception, unavailable: bool, message: str) -> None:
    """Unreachable Redis is StateError(unavailable) naming only the exception class."""
    store = SessionStore(FailingRedis(exc))
    with pytest.raises(StateError) as info:
        asyncio.run(store.get("s-1"))
    assert (info.value.unavailable, str(info.value)) == (unavailable, message)
    assert info.value.__cause__ is exc

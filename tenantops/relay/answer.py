"""What the relay answers a webhook, decided as data: a closed union of answers.

Pure: no Redis, no network, no clock. :func:`decide` turns the store's
:data:`~tenantops.relay.transition.Transition` into an :data:`Answer`: either a
:class:`Reply` to send as it is, or :class:`Forward`, which asks the app to PATCH the
context upstream and answer with :func:`forwarded` or :func:`upstream_failed`. The other
builders here are the answers that come before any transition (size, signature,
shape) or instead of one (Redis failed). The app (:mod:`tenantops.relay.app`) only
carries the answers out; both it and :func:`decide` dispatch with ``match`` and end in
``assert_never``, so a new kind of transition or answer is a type error until handled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, assert_never

from tenantops.errors import ApiError, StateError
from tenantops.relay.transition import (
    Accepted,
    Conflict,
    Duplicate,
    Gone,
    InProgress,
    RetryUpstream,
    Transition,
)

__all__ = [
    "Answer",
    "Forward",
    "Outcome",
    "Reply",
    "decide",
    "forwarded",
    "invalid",
    "problem",
    "state_failed",
    "too_large",
    "unauthorized",
    "upstream_failed",
]

#: How a webhook ended: the ``outcome`` label of the request metric and of the log line.
Outcome = Literal[
    "accepted",
    "duplicate",
    "in_progress",
    "conflict",
    "gone",
    "upstream_failed",
    "too_large",
    "unauthorized",
    "invalid",
    "redis_unavailable",
    "state_error",
]


@dataclass(frozen=True, slots=True)
class Reply:
    """A finished answer: HTTP status, JSON body and headers, and the outcome to record."""

    status: int
    body: Mapping[str, Any]
    outcome: Outcome
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Forward:
    """PATCH the webhook's context upstream first; the answer depends on how that goes."""


#: Every answer :func:`decide` can give.
Answer = Reply | Forward


def problem(status: int, error: str, message: str, outcome: Outcome, **extra: Any) -> Reply:
    """An error answer: ``{"error", "message", ...extra}``; a 503 also says ``Retry-After``."""
    headers = {"Retry-After": "1"} if status == 503 else {}
    return Reply(status, {"error": error, "message": message, **extra}, outcome, headers)


def decide(transition: Transition, *, session_id: str, version: int) -> Answer:
    """The answer to a webhook, given what the store made of it.

    Args:
        transition: the store's verdict on the webhook.
        session_id: the webhook's session.
        version: the version the webhook holds.

    Returns:
        :class:`Forward` for a new or an unfinished delivery, else the :class:`Reply`.
    """
    match transition:
        case Accepted() | RetryUpstream():
            return Forward()
        case Duplicate(answer=answer):
            return Reply(int(answer.get("status", 200)), answer.get("body", {}), "duplicate")
        case InProgress():
            message = "this delivery is being processed; retry shortly"
            return problem(503, "delivery_in_progress", message, "in_progress")
        case Conflict(current_version=current):
            message = f"session {session_id} is at version {current}; this webhook holds {version}"
            return problem(409, "version_conflict", message, "conflict", currentVersion=current)
        case Gone():
            message = f"session {session_id} has expired or never opened; open it with version 0"
            return problem(410, "session_gone", message, "gone")
        case _:
            assert_never(transition)


def forwarded(version: int) -> Reply:
    """Cognigy.AI took the context and is now at ``version``."""
    return Reply(200, {"status": "accepted", "version": version}, "accepted")


def upstream_failed(exc: ApiError) -> Reply:
    """Cognigy.AI refused the context for good (after the client's retries)."""
    message = f"Cognigy.AI did not take the context ({type(exc).__name__}); redeliver later"
    return problem(502, "upstream_failed", message, "upstream_failed")


def state_failed(exc: StateError) -> Reply:
    """Redis failed: 503 with ``Retry-After`` when it was unavailable, else 500."""
    if exc.unavailable:
        return problem(503, "state_unavailable", str(exc), "redis_unavailable")
    return problem(500, "state_error", str(exc), "state_error")


def too_large(limit: int) -> Reply:
    """The body is over ``limit`` bytes."""
    return problem(413, "payload_too_large", f"the body exceeds {limit} bytes", "too_large")


def unauthorized(reason: str) -> Reply:
    """The signature headers do not prove the sender (``reason`` is safe to send back)."""
    return problem(401, "invalid_signature", reason, "unauthorized")


def invalid(details: Sequence[Mapping[str, str]]) -> Reply:
    """The body is not a webhook payload; ``details`` name each field (``path``, ``message``)."""
    first = details[0]
    message = f"invalid webhook payload at {first['path']}: {first['message']}"
    return problem(422, "invalid_payload", message, "invalid", details=list(details))

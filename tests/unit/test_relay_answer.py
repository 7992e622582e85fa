"""The relay's answers, decided as data: each situation's status, body and outcome, no I/O."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tenantops.errors import ApiError, ApiTimeoutError, ServerError, StateError
from tenantops.relay import answer
from tenantops.relay.answer import Forward, Reply, decide
from tenantops.relay.transition import (
    PENDING_TIMEOUT,
    Accepted,
    Conflict,
    Duplicate,
    Gone,
    InProgress,
    RetryUpstream,
    Transition,
    read_delivery,
)
from tenantops.relay.wire import SessionState

SID = "s-42"
NOW = 1_716_199_200


def decided(transition: Transition, version: int = 3) -> Reply | Forward:
    return decide(transition, session_id=SID, version=version)


def test_new_delivery_is_forwarded() -> None:
    """A stored transition goes upstream before anything is answered."""
    assert decided(Accepted(state=SessionState(session_id=SID, version=4))) == Forward()


def test_delivery_whose_patch_failed_is_forwarded_again() -> None:
    """A redelivery of a stored webhook whose PATCH failed redoes only the PATCH."""
    assert decided(RetryUpstream()) == Forward()


def test_replay_answers_the_recorded_answer() -> None:
    """A redelivered webhook gets the first answer's status and body, nothing more."""
    recorded = {"status": 200, "body": {"status": "accepted", "version": 4}}
    assert decided(Duplicate(answer=recorded)) == Reply(
        200, {"status": "accepted", "version": 4}, "duplicate"
    )


def test_replay_of_a_bare_record_defaults_to_an_empty_200() -> None:
    """A recorded answer without status or body replays as 200 with an empty body."""
    assert decided(Duplicate(answer={})) == Reply(200, {}, "duplicate")


def test_delivery_in_progress_is_503_with_retry_after() -> None:
    """The same delivery while another request works on it: 503, retry shortly."""
    reply = decided(InProgress())
    assert isinstance(reply, Reply)
    assert (reply.status, reply.body["error"], reply.outcome) == (
        503,
        "delivery_in_progress",
        "in_progress",
    )
    assert reply.headers == {"Retry-After": "1"}


def test_stale_version_is_409_with_the_current_version() -> None:
    """A webhook behind the stored version: 409 naming both versions."""
    assert decided(Conflict(current_version=7), version=3) == Reply(
        409,
        {
            "error": "version_conflict",
            "message": f"session {SID} is at version 7; this webhook holds 3",
            "currentVersion": 7,
        },
        "conflict",
    )


def test_no_live_session_is_410() -> None:
    """A version above 0 without a live session: 410, open it with version 0."""
    reply = decided(Gone())
    assert isinstance(reply, Reply)
    assert (reply.status, reply.body["error"], reply.outcome, reply.headers) == (
        410,
        "session_gone",
        "gone",
        {},
    )
    assert "open it with version 0" in reply.body["message"]


def test_forwarded_context_is_accepted_at_the_upstream_version() -> None:
    """Cognigy.AI took the context: 200 with the version it is now at."""
    assert answer.forwarded(9) == Reply(200, {"status": "accepted", "version": 9}, "accepted")


@pytest.mark.parametrize("error", [ServerError("boom", status=503), ApiTimeoutError("slow")])
def test_upstream_failure_is_502_naming_the_error_class(error: ApiError) -> None:
    """The PATCH failed for good: 502 naming the error class, never its text."""
    reply = answer.upstream_failed(error)
    assert (reply.status, reply.body["error"], reply.outcome) == (
        502,
        "upstream_failed",
        "upstream_failed",
    )
    assert type(error).__name__ in reply.body["message"]
    assert str(error) not in reply.body["message"]


def test_redis_unavailable_is_503_with_retry_after() -> None:
    """Redis unreachable or failing over: 503 with Retry-After, never 500."""
    reply = answer.state_failed(StateError("Redis is unavailable", unavailable=True))
    assert (reply.status, reply.body["error"], reply.outcome) == (
        503,
        "state_unavailable",
        "redis_unavailable",
    )
    assert reply.headers == {"Retry-After": "1"}


def test_redis_refusing_an_operation_is_500() -> None:
    """Redis answered but refused the operation: 500, no Retry-After."""
    reply = answer.state_failed(StateError("Redis refused a session operation: OOM"))
    assert (reply.status, reply.body["error"], reply.outcome, reply.headers) == (
        500,
        "state_error",
        "state_error",
        {},
    )


def test_body_too_large_is_413() -> None:
    """A body over the limit is 413 naming the limit."""
    assert answer.too_large(65536) == Reply(
        413,
        {"error": "payload_too_large", "message": "the body exceeds 65536 bytes"},
        "too_large",
    )


def test_bad_signature_is_401_with_the_reason() -> None:
    """A signature that proves nothing is 401 with the verifier's reason."""
    assert answer.unauthorized("no webhook-signature header") == Reply(
        401,
        {"error": "invalid_signature", "message": "no webhook-signature header"},
        "unauthorized",
    )


def test_wrong_shape_is_422_naming_the_first_field() -> None:
    """A payload of the wrong shape is 422; the message names the first field at fault."""
    details = [
        {"path": "/version", "message": "must be >= 0"},
        {"path": "/sessionId", "message": "missing"},
    ]
    reply = answer.invalid(details)
    assert (reply.status, reply.outcome) == (422, "invalid")
    assert reply.body == {
        "error": "invalid_payload",
        "message": "invalid webhook payload at /version: must be >= 0",
        "details": details,
    }


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (f"pending:{NOW - 5}", InProgress()),
        (f"pending:{NOW - PENDING_TIMEOUT - 1}".encode(), RetryUpstream()),
        (b"upstream_failed", RetryUpstream()),
        (
            json.dumps({"status": 200, "body": {"version": 2}}).encode(),
            Duplicate(answer={"status": 200, "body": {"version": 2}}),
        ),
    ],
)
def test_delivery_records_mean_what_they_say(record: str | bytes, expected: Any) -> None:
    """Pending, abandoned, failed-upstream and answered deliveries each read as their kind."""
    assert read_delivery(record, NOW) == expected


@pytest.mark.parametrize(
    ("record", "stored", "expected"),
    [
        (b"upstream_failed", 4, RetryUpstream()),
        (b"upstream_failed", 6, Conflict(current_version=6)),
        (f"pending:{NOW - PENDING_TIMEOUT - 1}", 9, Conflict(current_version=9)),
        (b"upstream_failed", None, RetryUpstream()),
        (f"pending:{NOW - 5}", 9, InProgress()),
    ],
)
def test_a_delivery_to_redo_that_a_newer_one_overtook_is_a_conflict(
    record: str | bytes, stored: int | None, expected: Transition
) -> None:
    """Redoing version 3's PATCH once the session is past 4 would put old state over new."""
    assert read_delivery(record, NOW, stored=stored, version=3) == expected

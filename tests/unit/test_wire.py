"""The protobuf SessionContext round trip and context values."""

from __future__ import annotations

import pytest

from tenantops._pb.session_context_pb2 import SessionContext
from tenantops.errors import StateError
from tenantops.relay.wire import SessionState, as_context_value, decode, encode


def test_round_trip_keeps_every_field() -> None:
    """encode then decode gives back the same state, with the seed's field numbers."""
    state = SessionState("s-1", "u-1", "order_lookup", {"orderId": "A-7", "n": "5"}, 7, 100, 200)
    data = encode(state)
    assert decode(data) == state
    message = SessionContext.FromString(data)
    assert [f.number for f, _ in message.ListFields()] == [1, 2, 3, 4, 5, 6, 7]


def test_encoding_is_deterministic() -> None:
    """The same state always serializes to the same bytes (map order included)."""
    a = SessionState("s", variables={"b": "2", "a": "1"}, version=1)
    b = SessionState("s", variables={"a": "1", "b": "2"}, version=1)
    assert encode(a) == encode(b)


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("text", "text"),
        (5, "5"),
        (2.5, "2.5"),
        (True, "true"),
        ([1, "a"], '[1,"a"]'),
        ({"b": 1, "a": None}, '{"a":null,"b":1}'),
        (None, None),
    ],
)
def test_context_values_keep_their_json(value: object, stored: str | None) -> None:
    """Non-string values are kept as their JSON text; None means remove."""
    assert as_context_value(value) == stored


def test_merge_sets_and_removes() -> None:
    """A transition merges the context in; None removes a key; created_at is kept."""
    before = SessionState("s", "u", "a", {"x": "1", "y": "2"}, 3, created_at=10, updated_at=11)
    after = before.merged({"y": None, "z": "3"}, node="b", user_id="", version=4, now=20)
    assert after == SessionState(
        "s", "u", "b", {"x": "1", "z": "3"}, 4, created_at=10, updated_at=20
    )


def test_garbage_is_a_state_error() -> None:
    """Bytes that are not a SessionContext raise StateError."""
    with pytest.raises(StateError, match="not a protobuf SessionContext"):
        decode(b"\xff\xff\xff")

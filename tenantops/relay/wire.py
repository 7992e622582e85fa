"""Session state on the wire: the protobuf ``SessionContext`` and back. The only importer of ``_pb``.

Context values in Cognigy.AI and in the protobuf map are strings; a webhook may carry
any JSON value, which is kept as its JSON text (the seed silently dropped them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError

from tenantops._pb.session_context_pb2 import SessionContext
from tenantops.errors import StateError

__all__ = ["SessionState", "as_context_value", "as_text", "decode", "encode"]


@dataclass(frozen=True, slots=True)
class SessionState:
    """One dialog session as the relay keeps it."""

    session_id: str
    user_id: str = ""
    current_node: str = ""
    variables: Mapping[str, str] = field(default_factory=dict)
    version: int = 0
    created_at: int = 0
    updated_at: int = 0

    def merged(
        self, context: Mapping[str, str | None], *, node: str, user_id: str, version: int, now: int
    ) -> SessionState:
        """This state after a transition: ``context`` merged in (``None`` removes a key)."""
        variables = dict(self.variables)
        for key, value in context.items():
            if value is None:
                variables.pop(key, None)
            else:
                variables[key] = value
        return SessionState(
            session_id=self.session_id,
            user_id=user_id or self.user_id,
            current_node=node,
            variables=variables,
            version=version,
            created_at=self.created_at or now,
            updated_at=now,
        )


def as_context_value(value: Any) -> str | None:
    """A webhook context value as Cognigy.AI stores it: strings as they are, others as JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def as_text(value: Any) -> str:
    """A Redis reply element (bytes, or a string or number from Lua) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def encode(state: SessionState) -> bytes:
    """The serialized protobuf ``SessionContext``."""
    message = SessionContext(
        session_id=state.session_id,
        user_id=state.user_id,
        current_node=state.current_node,
        version_vector=state.version,
        created_at=state.created_at,
        updated_at=state.updated_at,
    )
    message.variables.update(state.variables)
    return message.SerializeToString(deterministic=True)


def decode(data: bytes) -> SessionState:
    """Parse a serialized ``SessionContext``.

    Raises:
        StateError: the bytes are not a SessionContext.
    """
    message = SessionContext()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise StateError(f"a stored session is not a protobuf SessionContext: {exc}") from exc
    return SessionState(
        session_id=message.session_id,
        user_id=message.user_id,
        current_node=message.current_node,
        variables=dict(message.variables),
        version=message.version_vector,
        created_at=message.created_at,
        updated_at=message.updated_at,
    )

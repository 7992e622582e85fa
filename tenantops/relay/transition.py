"""What the session store made of one webhook: a closed union of transition kinds.

Pure: values and the reading of a delivery record, no Redis. The store
(:mod:`tenantops.relay.store`) builds these; the relay's decision
(:mod:`tenantops.relay.answer`) matches on them and ends in ``assert_never``, so a kind
added here is a type error there until it is answered.

A delivery record (``cognigy:delivery:{<sid>}:<webhook-id>``) holds ``pending:<unix
seconds>`` while its PATCH upstream runs, ``upstream_failed`` after that PATCH failed,
or the JSON of the first answer once it was given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tenantops.relay.wire import SessionState, as_text

__all__ = [
    "PENDING_TIMEOUT",
    "Accepted",
    "Conflict",
    "Duplicate",
    "Gone",
    "InProgress",
    "RetryUpstream",
    "Transition",
    "read_delivery",
]

#: Seconds after which a delivery still marked pending is taken for abandoned.
PENDING_TIMEOUT = 120


@dataclass(frozen=True, slots=True)
class Accepted:
    """Stored: the session moved to ``state``; the context still has to go upstream."""

    state: SessionState


@dataclass(frozen=True, slots=True)
class Duplicate:
    """Seen and answered before: ``answer`` is the recorded ``{"status", "body"}``."""

    answer: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class InProgress:
    """Seen before, and another request is still working on it."""


@dataclass(frozen=True, slots=True)
class RetryUpstream:
    """Seen and stored before, but its PATCH upstream failed or was abandoned: redo only that."""


@dataclass(frozen=True, slots=True)
class Conflict:
    """The stored version is ahead of the webhook's."""

    current_version: int


@dataclass(frozen=True, slots=True)
class Gone:
    """No live session, and the webhook's version is not 0 (which would open one)."""


#: Every kind of transition; matched exhaustively by :func:`tenantops.relay.answer.decide`.
Transition = Accepted | Duplicate | InProgress | RetryUpstream | Conflict | Gone


def read_delivery(
    record: bytes | str, now: int, *, stored: int | None = None, version: int | None = None
) -> Transition:
    """What an existing delivery record means for the same delivery arriving again.

    Args:
        record: the delivery key's value.
        now: Unix seconds.
        stored: the session's stored version now (``None``: unknown or expired).
        version: the version the redelivered webhook holds.

    Returns:
        :class:`InProgress` while it is pending, :class:`RetryUpstream` when its PATCH
        failed or it was abandoned, else :class:`Duplicate` with the first answer. A
        delivery to redo that a newer webhook has since overtaken is a :class:`Conflict`:
        sending its context now would put an older state over a newer one upstream.
    """
    text = as_text(record)
    if text.startswith("pending:"):
        # A replica that died mid-delivery never finishes it: after a while, redo the PATCH.
        if now - int(text.removeprefix("pending:")) <= PENDING_TIMEOUT:
            return InProgress()
    elif text != "upstream_failed":
        return Duplicate(answer=json.loads(text))
    if stored is not None and version is not None and stored != version + 1:
        return Conflict(current_version=stored)
    return RetryUpstream()

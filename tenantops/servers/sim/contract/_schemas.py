"""Request and response bodies of the contract's endpoints, as pydantic models for OpenAPI.

Requests are validated strictly (no ``"8"`` for ``8``), so that what the OpenAPI
document calls invalid is refused. Responses are written by the routes directly; these
models describe them. Nothing here touches state.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from tenantops.core.model import BotModel
from tenantops.servers.sim.contract._records import DeploymentStatus

__all__ = [
    "AssignmentList",
    "DeployAccepted",
    "DeployRequest",
    "DeploymentStatusBody",
    "ExportRequest",
    "Health",
    "RoleAssignmentBody",
    "RollbackResult",
    "SessionContextBody",
    "SessionPatchBody",
    "SessionPatched",
]


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, alias_generator=to_camel)


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Health(BaseModel):
    """``GET /healthz``."""

    status: Literal["ok"]


class ExportRequest(_Body):
    """``POST /api/v1/bot/export``; without ``workspaceId``, the bot's source workspace."""

    bot_id: str = Field(min_length=1)
    format: Literal["json"]
    workspace_id: str | None = Field(default=None, min_length=1)


class DeployRequest(_Body):
    """``POST /api/v1/bot/deploy``."""

    # BotModel is the project's own (lax) model; strictness applies to this level only.
    model: BotModel
    target_workspace: str = Field(min_length=1)


class DeployAccepted(_Out):
    """A deployment started (201), or the one an ``Idempotency-Key`` started before (200)."""

    deployment_id: str
    status: DeploymentStatus
    timestamp: str


class DeploymentStatusBody(_Out):
    """``GET /api/v1/deployment/{deploymentId}/status``; ``errorDetail`` only when failed."""

    deployment_id: str
    status: DeploymentStatus
    error_detail: str | None = None


class RollbackResult(_Out):
    """``POST /api/v1/deployment/{deploymentId}/rollback``."""

    deployment_id: str
    status: Literal["rolled_back"]


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def _rfc3339(value: str) -> str:
    """``value`` as RFC 3339 UTC with whole seconds; a leap second counts as :59."""
    match = _RFC3339.match(value)
    if match is None:
        raise ValueError("must be an RFC 3339 timestamp, e.g. 2027-01-31T00:00:00Z")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    zone = match.group(8).upper().replace("Z", "+00:00")
    text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{min(second, 59):02d}"
    try:
        moment = datetime.fromisoformat(text + zone)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a real moment in time") from exc
    try:
        return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
    except OverflowError:  # the first or last hours of the calendar: keep the zone given
        return text + zone


class RoleAssignmentBody(_Body):
    """``POST /api/v1/workspace/user/assign``, and its echo; ``expiresAt`` is normalized to UTC."""

    user_id: str = Field(min_length=1)
    role_id: str = Field(min_length=1)
    workspace_id: str = Field(min_length=1)
    expires_at: str | None = Field(default=None, json_schema_extra={"format": "date-time"})

    @field_validator("expires_at")
    @classmethod
    def _is_timestamp(cls, value: str | None) -> str | None:
        return None if value is None else _rfc3339(value)


class Assignment(_Out):
    """One user's role in a workspace."""

    user_id: str
    role_id: str
    expires_at: str | None = None


class AssignmentList(_Out):
    """``GET /api/v1/workspace/{workspaceId}/users``, sorted by ``userId``."""

    assignments: list[Assignment]


class SessionContextBody(_Out):
    """``GET /api/v4/session/{sessionId}/context``; header ``ETag: "<version>"``."""

    session_id: str
    context: dict[str, str]
    version: int


class SessionPatchBody(_Body):
    """``PATCH /api/v4/session/{sessionId}/context``: keys to merge (``null`` removes one)."""

    context: dict[str, str | None]
    version: int = Field(ge=1)


class SessionPatched(_Out):
    """A session written; header ``ETag: "<version>"``."""

    session_id: str
    version: int

"""The one interface through which tenantops reaches the platform.

Plan, apply, drift and the session relay depend on :class:`Backend` only. Today's
implementation, :class:`tenantops.backends.contract.client.PlatformClient`, speaks the contract in
``cognigy-api-contract.md``; a backend for the real Cognigy.AI v2.0 API (snapshots,
packages, tasks, context inject) can be added beside it without touching its callers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from tenantops.core.model import BotDoc, RoleGrant
from tenantops.errors import NotFoundError

__all__ = [
    "Backend",
    "Deployment",
    "DeploymentState",
    "DeploymentStatus",
    "EventSink",
    "RoleGrant",
    "SessionContext",
    "export_live",
]

#: Hears a deploy's events that must be journaled before it goes on.
EventSink = Callable[[str, Mapping[str, Any]], None]

DeploymentState = Literal["pending", "processing", "success", "failed", "rolled_back"]
#: States after which a deployment never changes again (but for a rollback).
FINAL_STATES: frozenset[str] = frozenset({"success", "failed", "rolled_back"})


class _Payload(BaseModel):
    # Answers from any contract-following server: tolerate fields the contract doesn't name.
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class Deployment(_Payload):
    """The answer to a deploy: the deployment the platform started (or had started)."""

    deployment_id: str = Field(alias="deploymentId", min_length=1)
    status: DeploymentState
    timestamp: datetime | None = None


class DeploymentStatus(_Payload):
    """Where a deployment stands; ``error_detail`` only when it failed."""

    deployment_id: str = Field(alias="deploymentId", min_length=1)
    status: DeploymentState
    error_detail: str | None = Field(default=None, alias="errorDetail")

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATES


class SessionContext(_Payload):
    """A dialog session's context and the version it is at."""

    session_id: str = Field(alias="sessionId")
    context: dict[str, str] = Field(default_factory=dict)
    version: int = Field(ge=0)


class Backend(Protocol):
    """Everything tenantops asks of the platform.

    Errors are :class:`~tenantops.errors.ApiError` subclasses; a missing bot, deployment
    or role is :class:`~tenantops.errors.NotFoundError`.
    """

    async def export_bot(
        self, bot_id: str, *, workspace_id: str | None = None, locale: str | None = None
    ) -> BotDoc:
        """The bot as deployed in ``workspace_id`` (default: its source workspace).

        ``locale`` is the tenant's ``langCode``, for platforms whose content is per locale.
        """
        ...

    async def deploy(
        self,
        model: BotDoc,
        *,
        target_workspace: str,
        idempotency_key: str,
        locale: str | None = None,
        on_event: EventSink | None = None,
    ) -> Deployment:
        """Start deploying ``model``; the same key again answers the same deployment.

        ``locale`` is the tenant's ``langCode``, as for :meth:`export_bot`: a deploy
        writes where the export reads. ``on_event(name, details)`` hears what the
        journal must hold before the deploy goes on (a backup snapshot taken before the
        first write); it may raise to stop. An event whose details carry
        ``rollback_id`` says that writes may begin: from then on, a deploy that raises
        may have changed the workspace, and ``rollback(rollback_id)`` undoes it.
        """
        ...

    async def deployment_status(self, deployment_id: str) -> DeploymentStatus:
        """Where a deployment stands."""
        ...

    async def rollback(self, deployment_id: str) -> DeploymentStatus:
        """Restore what the workspace served before ``deployment_id``."""
        ...

    async def list_roles(self, workspace_id: str) -> list[RoleGrant]:
        """Every role assignment in the workspace."""
        ...

    async def assign_role(
        self,
        workspace_id: str,
        user_id: str,
        role_id: str,
        *,
        expires_at: datetime | None = None,
    ) -> None:
        """Give ``user_id`` the role (replacing any role it had there)."""
        ...

    async def revoke_role(self, workspace_id: str, user_id: str) -> None:
        """Remove the user's role from the workspace."""
        ...

    async def get_session_context(self, session_id: str) -> SessionContext:
        """A session's context; an unknown session is version 0 with an empty context."""
        ...

    async def patch_session_context(
        self, session_id: str, context: Mapping[str, str | None], *, from_version: int
    ) -> int:
        """Merge ``context`` into the session (``None`` removes a key); returns the new version.

        Raises:
            ConflictError: the session is no longer at ``from_version``.
        """
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


async def export_live(
    backend: Backend, bot_id: str, workspace: str, *, locale: str | None = None
) -> BotDoc | None:
    """The bot as live in ``workspace``; ``None`` when the workspace has no such bot (yet)."""
    try:
        return await backend.export_bot(bot_id, workspace_id=workspace, locale=locale)
    except NotFoundError:
        return None

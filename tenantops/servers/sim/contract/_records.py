"""The simulator's records: what a workspace, session and deployment hold, as persisted.

These pydantic models are both the in-memory state and the ``state.json`` format
documented in :mod:`._state`. They decide nothing about time or HTTP; :mod:`._state`
does that.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from tenantops.core.model import BotDoc, BotModel
from tenantops.servers.sim.contract._config import SimClient

__all__ = [
    "Counters",
    "Deployment",
    "DeploymentStatus",
    "RoleRecord",
    "SessionRecord",
    "StateFile",
    "Workspace",
    "rfc3339",
]

DeploymentStatus: TypeAlias = Literal["pending", "processing", "success", "failed", "rolled_back"]


def rfc3339(seconds: float) -> str:
    """Unix seconds as an RFC 3339 UTC timestamp with whole seconds, e.g. ``2024-05-20T10:00:00Z``."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class RoleRecord(_Record):
    """A user's role in one workspace."""

    role_id: str = Field(min_length=1)
    expires_at: str | None = None


class Workspace(_Record):
    """A workspace: its deployed bots by ``botId`` and its role assignments by user."""

    bots: dict[str, BotDoc] = Field(default_factory=dict)
    users: dict[str, RoleRecord] = Field(default_factory=dict)


class SessionRecord(_Record):
    """A session context and its version (0 for a session never written)."""

    context: dict[str, str] = Field(default_factory=dict)
    version: int = Field(default=0, ge=0)


class Deployment(_Record):
    """One deployment; its status follows from ``created_at`` until it settles.

    Attributes:
        outcome: decided at creation; what the deployment ends as.
        settled: the outcome has been reached (and, on success, applied).
        previous: on an applied success, the model the workspace served before
            (``None``: it served none), which a rollback restores.
        fingerprint: hash of the request body, to tell a retry from a reused key.
    """

    deployment_id: str
    client_id: str
    workspace_id: str
    bot_id: str
    model: BotDoc
    created_at: float
    outcome: Literal["success", "failed"] = "success"
    error_detail: str | None = None
    idempotency_key: str | None = None
    fingerprint: str = ""
    settled: bool = False
    rolled_back: bool = False
    previous: BotDoc | None = None

    def status_at(self, now: float, deploy_seconds: float) -> DeploymentStatus:
        """The status at ``now``: a pure function of elapsed time until it settles."""
        if self.rolled_back:
            return "rolled_back"
        if self.settled:
            return self.outcome
        elapsed = now - self.created_at
        if elapsed < deploy_seconds / 3:
            return "pending"
        return "processing" if elapsed < deploy_seconds else self.outcome


class Counters(_Record):
    """Monotonic counters behind deployment ids and bot versions."""

    deployment: int = Field(default=0, ge=0)
    revision: int = Field(default=0, ge=0)


class StateFile(_Record):
    """The whole of ``state.json``; every key is optional."""

    clients: list[SimClient] = Field(default_factory=list)
    sources: dict[str, str] = Field(default_factory=dict)
    workspaces: dict[str, Workspace] = Field(default_factory=dict)
    sessions: dict[str, SessionRecord] = Field(default_factory=dict)
    deployments: dict[str, Deployment] = Field(default_factory=dict)
    counters: Counters = Field(default_factory=Counters)

    @model_validator(mode="after")
    def _bots_are_models(self) -> StateFile:
        # Checked once, on load, so that exports never validate a stored model again.
        for workspace in self.workspaces.values():
            for bot_id, doc in workspace.bots.items():
                if BotModel.model_validate(doc).bot_id != bot_id:
                    raise ValueError(f"the bot stored under {bot_id!r} has another botId")
        for deployment in self.deployments.values():
            BotModel.model_validate(deployment.model)
        return self

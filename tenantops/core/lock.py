"""The lockfile's data: what tenantops last applied to each tenant (pure pydantic models).

Reading and writing the file is :mod:`tenantops.apply.lockfile`'s; drift and plan only
need the data, so it lives here in the core.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tenantops.core.model import BotDoc

__all__ = ["BaseInfo", "LockEntry", "LockedRole", "Lockfile"]


class _Lock(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class BaseInfo(_Lock):
    """The base bot a model was rendered from."""

    botId: str | None = None
    version: str | None = None


class LockedRole(_Lock):
    """A role assignment recorded as a tenant's baseline (as a tenant file writes it)."""

    userId: str
    roleId: str
    expiresAt: str | None = None


class LockEntry(_Lock):
    """What was last applied to one tenant."""

    workspace: str
    model_sha256: str
    deployment_id: str | None = None
    status: str
    applied_at: str
    base: BaseInfo = Field(default_factory=BaseInfo)
    config_sha256: str | None = None
    plan_id: str | None = None
    #: The applied model with secrets masked: what drift shows differences against.
    model: BotDoc | None = None
    #: The entry records a live bot adopted by ``tenantops import``, not a deployment.
    imported: bool | None = None
    #: The live role assignments at import (``import --roles``).
    roles: list[LockedRole] | None = None


class Lockfile(_Lock):
    """The whole lockfile."""

    lockfile_version: Literal[1] = 1
    tenants: dict[str, LockEntry] = Field(default_factory=dict)

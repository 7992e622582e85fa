"""The settings of one Cognigy.AI v2.0 simulator run: credentials, timings, limits, faults.

Owns what ``tenantops sim --flavor cognigy-v2`` reads from its flags: the API keys and
OAuth2 clients it accepts (and the user each acts as), how long tasks take, the
snapshot cap, the body limit, how a context injection combines with the stored
context, and the fault settings. It holds no live state (that is :mod:`._store`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tenantops.servers.sim.contract import FaultSettings

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_OAUTH_CLIENT",
    "DEFAULT_USER_EMAIL",
    "ApiKey",
    "ContextMode",
    "OAuthClient",
    "V2Config",
    "V2FaultSettings",
]

#: Whom the default credentials act as (``GET users/me``).
DEFAULT_USER_EMAIL = "admin@example.com"

#: How ``POST sessions/{s}/context/inject`` combines the body with the stored context.
ContextMode = Literal["merge", "replace"]


class ApiKey(BaseModel):
    """An API key the simulator accepts (``X-API-Key`` or ``?api_key=``) and whom it acts as."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(min_length=1)
    email: str = Field(default=DEFAULT_USER_EMAIL, min_length=3)

    @classmethod
    def from_option(cls, text: str) -> ApiKey:
        """Parse ``--api-key KEY[:EMAIL]``.

        Raises:
            ValueError: the key is empty.
        """
        key, _, email = text.partition(":")
        if not key:
            raise ValueError(f"{text!r} is not KEY[:EMAIL]")
        return cls(key=key, email=email or DEFAULT_USER_EMAIL)


class OAuthClient(BaseModel):
    """An OAuth2 client (client credentials grant) and the user its tokens act as."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    email: str = Field(default=DEFAULT_USER_EMAIL, min_length=3)

    @classmethod
    def from_option(cls, text: str) -> OAuthClient:
        """Parse ``--oauth-client ID:SECRET[:EMAIL]``.

        Raises:
            ValueError: ID or SECRET is missing.
        """
        parts = text.split(":", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise ValueError(f"{text!r} is not ID:SECRET[:EMAIL]")
        email = parts[2] if len(parts) > 2 and parts[2] else DEFAULT_USER_EMAIL
        return cls(client_id=parts[0], client_secret=parts[1], email=email)


#: Served when no ``--api-key`` is given.
DEFAULT_API_KEY = ApiKey(key="demo-api-key")
#: Served when no ``--oauth-client`` is given.
DEFAULT_OAUTH_CLIENT = OAuthClient(client_id="demo-client", client_secret="demo-secret")


class V2FaultSettings(FaultSettings):
    """The contract simulator's fault settings plus ``train_fail_rate``.

    ``deploy_fail_rate`` is inherited but unused here: a v2 "deployment" is a chain of
    calls, and the failures that matter are those of training tasks.
    """

    #: Fraction of ``trainIntents`` tasks that end in ``error`` with a ``failReason``.
    train_fail_rate: float = Field(default=0.0, ge=0, le=1)


@dataclass(frozen=True, slots=True)
class V2Config:
    """Everything :func:`create_app` needs to build a v2.0 simulator.

    Attributes:
        api_keys: accepted API keys; none means :data:`DEFAULT_API_KEY`.
        oauth_clients: accepted OAuth2 clients; none means :data:`DEFAULT_OAUTH_CLIENT`.
        token_ttl: seconds an access token lives (``expires_in``); 0 issues tokens
            that are expired at once, a token endpoint whose tokens the API refuses.
        task_seconds: how long a task runs: ``queued`` for the first quarter,
            ``active`` for the rest, then ``done`` or ``error``.
        max_snapshots: snapshots per project (Cognigy's ``MAX_AMOUNT_SNAPSHOTS_IN_AGENT``).
        body_limit: the largest JSON request body in bytes; larger ones answer 413.
        context_limit: the largest session context in bytes (JSON); larger answers 400.
        context_mode: ``merge`` (top-level keys of the injected context replace the
            stored ones, others stay) or ``replace`` (the injected context is the context).
        seed: seeds every random choice (faults, ids), so runs repeat.
        faults: the fault settings at start.
        state_dir: where ``state.json`` is read from and written to; ``None``: memory only.
        admin: mount the admin API under ``/_sim/``.
        clock: wall-clock seconds; tests pass a fake to move time without sleeping.
    """

    api_keys: tuple[ApiKey, ...] = ()
    oauth_clients: tuple[OAuthClient, ...] = ()
    token_ttl: int = 3600
    task_seconds: float = 1.5
    max_snapshots: int = 10
    body_limit: int = 60 * 1024
    context_limit: int = 65 * 1024
    context_mode: ContextMode = "merge"
    seed: int = 0
    faults: V2FaultSettings = field(default_factory=V2FaultSettings)
    state_dir: Path | None = None
    admin: bool = False
    clock: Callable[[], float] = time.time

    def accepted_keys(self) -> tuple[ApiKey, ...]:
        """The API keys in force: the configured ones, or the default."""
        return self.api_keys or (DEFAULT_API_KEY,)

    def accepted_clients(self) -> tuple[OAuthClient, ...]:
        """The OAuth2 clients in force: the configured ones, or the default."""
        return self.oauth_clients or (DEFAULT_OAUTH_CLIENT,)

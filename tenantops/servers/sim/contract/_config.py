"""The settings of one simulator run: clients, timings, fault settings, persistence.

Owns what ``tenantops sim`` reads from its flags and what ``state.json`` says about
clients. It holds no live state (that is :mod:`._state`) and decides no fault (that is
:mod:`._faults`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from tenantops.core.model import ALL_SCOPES, RateLimit

__all__ = ["DEFAULT_CLIENT", "FaultSettings", "SimClient", "SimConfig"]


class _Camel(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class SimClient(_Camel):
    """An OAuth2 client the simulator knows: its secret, granted scopes and workspaces.

    ``workspaces`` lists the workspaces its tokens may touch; ``"*"`` means all of them.
    """

    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    scopes: tuple[str, ...] = ALL_SCOPES
    workspaces: tuple[str, ...] = ("*",)

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(ALL_SCOPES))
        if unknown:
            raise ValueError(f"unknown scope {unknown[0]!r}; known: {' '.join(ALL_SCOPES)}")
        return value

    def may_use(self, workspace_id: str) -> bool:
        """Whether this client's tokens may read or change ``workspace_id``."""
        return "*" in self.workspaces or workspace_id in self.workspaces

    @classmethod
    def from_option(cls, text: str) -> SimClient:
        """Parse ``--client ID:SECRET[:scope1,scope2]``; no scopes means every scope.

        Scopes hold colons themselves, so everything after the secret is the scope
        list, and neither id nor secret may contain a colon. A client limited to some
        workspaces is configured in ``state.json``.

        Raises:
            ValueError: the text has no ID or SECRET, or names an unknown scope.
        """
        parts = text.split(":", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise ValueError(f"{text!r} is not ID:SECRET[:scope1,scope2]")
        scopes = tuple(s for s in parts[2].split(",") if s) if len(parts) > 2 else ()
        return cls(client_id=parts[0], client_secret=parts[1], scopes=scopes or ALL_SCOPES)


#: The client a simulator serves when neither ``--client`` nor ``state.json`` names one.
DEFAULT_CLIENT = SimClient(client_id="demo-client", client_secret="demo-secret")


class FaultSettings(_Camel):
    """The faults the simulator injects into ``/api/...`` requests; admin can change them live.

    Rates are fractions of requests in ``[0, 1]``. ``rate_limit`` is ``N/PERIOD`` such as
    ``1000/5m`` (see :class:`tenantops.core.model.RateLimit`), per client, or ``None``.
    """

    latency_ms: float = Field(default=0.0, ge=0, le=600_000)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    rate_limit: str | None = None
    deploy_fail_rate: float = Field(default=0.0, ge=0, le=1)
    reset_rate: float = Field(default=0.0, ge=0, le=1)
    #: ``Retry-After`` seconds on an injected 503.
    retry_after: int = Field(default=1, ge=0, le=86_400)
    #: How ``Retry-After`` is written on 429 and 503: delta-seconds or an HTTP-date.
    retry_after_format: Literal["seconds", "http-date"] = "seconds"

    def retry_after_header(self, seconds: int, now: float) -> str:
        """``Retry-After`` for a wait of ``seconds`` from ``now``, in the configured form."""
        if self.retry_after_format == "seconds":
            return str(seconds)
        # An HTTP-date has whole seconds: round up so the wait is never shorter.
        when = datetime.fromtimestamp(math.ceil(now + seconds), tz=UTC)
        return format_datetime(when, usegmt=True)

    @field_validator("rate_limit")
    @classmethod
    def _parse_rate(cls, value: str | None) -> str | None:
        if value is not None:
            RateLimit.parse(value)
        return value

    def parsed_rate_limit(self) -> RateLimit | None:
        """``rate_limit`` as a :class:`RateLimit`, or ``None`` when unlimited."""
        return RateLimit.parse(self.rate_limit) if self.rate_limit else None


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything :func:`tenantops.servers.sim.contract.create_app` needs to build a simulator.

    Attributes:
        token_ttl: seconds an access token lives (``expires_in``).
        deploy_seconds: how long a deployment takes: pending for the first third,
            processing for the rest, then its outcome.
        seed: seeds the one random generator behind every fault, so runs repeat.
        faults: the fault settings at start.
        clients: clients added to those in ``state.json``; with none anywhere,
            :data:`DEFAULT_CLIENT` is served.
        state_dir: where ``state.json`` is read from and written to; ``None`` keeps
            state in memory only.
        admin: mount the admin API under ``/_sim/``.
        clock: wall-clock seconds; tests pass a fake to move time without sleeping.
    """

    token_ttl: int = 3600
    deploy_seconds: float = 2.0
    seed: int = 0
    faults: FaultSettings = field(default_factory=FaultSettings)
    clients: tuple[SimClient, ...] = ()
    state_dir: Path | None = None
    admin: bool = False
    clock: Callable[[], float] = time.time

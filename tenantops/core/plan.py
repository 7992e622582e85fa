"""Plans: what would change in each tenant, as data that can be shown, saved and applied.

Pure. A :class:`Plan` is built from what the shell gathered (desired models, live
exports, role grants) and serializes to the pinned JSON format (``format_version`` 1).
A saved plan file is that JSON plus, per tenant, what ``apply`` needs to deploy exactly
what was reviewed: the desired model (secrets masked), its hash, the fingerprint of
the live export it was diffed against, and the hash of the config it came from.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from tenantops.core.diff import Change, FieldChange, summarize
from tenantops.core.model import BotDoc, model_sha256
from tenantops.core.redact import Redactor
from tenantops.errors import PlanError

__all__ = [
    "FORMAT_VERSION",
    "NO_BOT",
    "Plan",
    "TenantPlan",
    "change_json",
    "fingerprint",
    "new_plan_id",
    "plan_from_json",
    "plan_to_json",
]

FORMAT_VERSION = 1
#: The live fingerprint of a workspace that has no bot yet.
NO_BOT = "none"

TenantStatus = Literal["changes", "no_changes", "error"]


def fingerprint(live: BotDoc | None) -> str:
    """A fingerprint of a live export, blind to order, ``version`` and ``exportedAt``."""
    return NO_BOT if live is None else model_sha256(live)


def new_plan_id(now: datetime | None = None) -> str:
    """A plan id unique to this run (time, then randomness): ``20261121T101500Z-1a2b3c4d``."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class TenantPlan:
    """One tenant's part of a plan.

    ``desired`` holds real secret values in memory; every serialization masks them.
    """

    tenant: str
    workspace: str
    status: TenantStatus
    changes: tuple[Change, ...] = ()
    error: str | None = None
    desired: BotDoc | None = field(default=None, repr=False)
    model_sha256: str | None = None
    live_fingerprint: str | None = None
    config_sha256: str | None = None
    base: Mapping[str, Any] | None = None
    roles_managed: bool = False
    redactor: Redactor = field(default_factory=Redactor, repr=False, compare=False)

    @property
    def summary(self) -> dict[str, int]:
        return summarize(self.changes)

    @property
    def model_changes(self) -> tuple[Change, ...]:
        """Changes that need a deployment (everything but roles)."""
        return tuple(c for c in self.changes if c.resource != "role")

    @property
    def role_changes(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.resource == "role")

    @classmethod
    def failed(cls, tenant: str, workspace: str, error: str) -> TenantPlan:
        """The plan of a tenant that could not be planned."""
        return cls(tenant=tenant, workspace=workspace, status="error", error=error)

    @classmethod
    def build(
        cls,
        *,
        tenant: str,
        workspace: str,
        desired: BotDoc,
        live: BotDoc | None,
        changes: Sequence[Change],
        config_sha256: str,
        base: Mapping[str, Any] | None,
        roles_managed: bool,
        redactor: Redactor,
    ) -> TenantPlan:
        """The plan of a tenant whose desired and live state are known."""
        return cls(
            tenant=tenant,
            workspace=workspace,
            status="changes" if changes else "no_changes",
            changes=tuple(changes),
            desired=desired,
            model_sha256=model_sha256(desired),
            live_fingerprint=fingerprint(live),
            config_sha256=config_sha256,
            base=base,
            roles_managed=roles_managed,
            redactor=redactor,
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """Every selected tenant's plan, in tenant-name order."""

    plan_id: str
    created_at: str
    tenants: tuple[TenantPlan, ...]

    @classmethod
    def of(cls, tenants: Iterable[TenantPlan], *, plan_id: str | None = None) -> Plan:
        ordered = tuple(sorted(tenants, key=lambda t: t.tenant))
        now = datetime.now(UTC)
        return cls(
            plan_id=plan_id or new_plan_id(now),
            created_at=now.isoformat(timespec="seconds").replace("+00:00", "Z"),
            tenants=ordered,
        )

    @property
    def summary(self) -> dict[str, int]:
        counts = summarize(c for t in self.tenants for c in t.changes)
        counts["tenants_with_changes"] = sum(t.status == "changes" for t in self.tenants)
        counts["tenants_errored"] = sum(t.status == "error" for t in self.tenants)
        return counts

    @property
    def has_changes(self) -> bool:
        return any(t.status == "changes" for t in self.tenants)

    @property
    def has_errors(self) -> bool:
        return any(t.status == "error" for t in self.tenants)

    def redactor(self) -> Redactor:
        """A redactor that masks every tenant's secrets."""
        out = Redactor()
        for tenant in self.tenants:
            out = out.union(tenant.redactor)
        return out


def change_json(change: Change, redactor: Redactor) -> dict[str, Any]:
    """The pinned JSON form of a change, secrets (old values of rotated ones too) masked."""
    masked = redactor.mask_change(change)
    out: dict[str, Any] = {
        "resource": masked.resource,
        "key": redactor.text(masked.key),
        "action": masked.action,
        "before": masked.before,
        "after": masked.after,
    }
    if masked.fields:
        out["fields"] = [
            {"field": f.field, "before": f.before, "after": f.after} for f in masked.fields
        ]
    return out


def _tenant_json(t: TenantPlan, *, plan_file: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "tenant": t.tenant,
        "workspace": t.workspace,
        "status": t.status,
        "error": t.redactor.text(t.error) if t.error else None,
        "changes": [change_json(c, t.redactor) for c in t.changes],
        "summary": t.summary,
    }
    if plan_file and t.status != "error":
        out.update(
            desired_model=t.redactor.redact(t.desired),
            model_sha256=t.model_sha256,
            live_fingerprint=t.live_fingerprint,
            config_sha256=t.config_sha256,
            base=dict(t.base) if t.base else None,
            roles_managed=t.roles_managed,
        )
    return out


def plan_to_json(plan: Plan, *, plan_file: bool = False) -> dict[str, Any]:
    """The pinned JSON form; ``plan_file`` adds what apply needs. Secrets are masked."""
    out: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "plan_id": plan.plan_id,
        "created_at": plan.created_at,
        "tenants": [_tenant_json(t, plan_file=plan_file) for t in plan.tenants],
        "summary": plan.summary,
    }
    return out


def _change_from_json(data: Mapping[str, Any]) -> Change:
    return Change(
        resource=data["resource"],
        key=data["key"],
        action=data["action"],
        before=data.get("before"),
        after=data.get("after"),
        fields=tuple(
            FieldChange(f["field"], f.get("before"), f.get("after")) for f in data.get("fields", [])
        ),
    )


def plan_from_json(data: Any) -> Plan:
    """Read a saved plan file.

    The desired models in it are masked; apply re-renders them and checks
    ``model_sha256`` before deploying, so a plan file never needs to hold a secret.

    Raises:
        PlanError: not a plan file, or a format this version cannot read.
    """
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        raise PlanError(
            f"not a tenantops plan file of format_version {FORMAT_VERSION}; run `tenantops plan --out FILE` again"
        )
    try:
        tenants = tuple(
            TenantPlan(
                tenant=t["tenant"],
                workspace=t["workspace"],
                status=t["status"],
                changes=tuple(_change_from_json(c) for c in t.get("changes", [])),
                error=t.get("error"),
                desired=t.get("desired_model"),
                model_sha256=t.get("model_sha256"),
                live_fingerprint=t.get("live_fingerprint"),
                config_sha256=t.get("config_sha256"),
                base=t.get("base"),
                roles_managed=bool(t.get("roles_managed")),
            )
            for t in data["tenants"]
        )
        return Plan(
            plan_id=str(data["plan_id"]),
            created_at=str(data.get("created_at", "")),
            tenants=tenants,
        )
    except (KeyError, TypeError) as exc:
        raise PlanError(
            f"the plan file is damaged ({exc!r}); run `tenantops plan --out FILE` again"
        ) from exc

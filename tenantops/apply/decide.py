"""Decide what apply does for one tenant: plan + what was observed under the lease -> steps.

Pure: no network, disk or clock. Everything apply learns before acting is gathered in
an :class:`Observed` (the re-rendered config, the live fingerprint, the audit trail's
last state, the live roles), and :func:`decide` turns it and the tenant's plan into a
tuple of :mod:`~tenantops.apply.steps`. The audit trail is read here only through
:func:`history_of`, a fold over records already read by the observer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tenantops.apply.journal import JournalRecord
from tenantops.apply.steps import (
    AssignRole,
    Deploy,
    FinishRollback,
    RecordRecovered,
    Refuse,
    ResumeDeploy,
    RevokeRole,
    Skip,
    Step,
    WriteLockEntry,
)
from tenantops.backends.base import RoleGrant
from tenantops.core.diff import Change, iso_expiry
from tenantops.core.plan import TenantPlan

__all__ = [
    "History",
    "InFlight",
    "Observed",
    "PendingRollback",
    "Rendered",
    "decide",
    "history_of",
    "idempotency_key",
]

#: Audit events after which no deploy of the tenant is in flight. Not ``apply_failed``:
#: a deploy whose answer was lost may still exist.
_DEPLOY_ENDED = frozenset({"deploy_succeeded", "rolled_back", "deploy_rejected", "applied"})


def idempotency_key(tenant: str, plan_id: str, model_sha: str, attempt: int = 1) -> str:
    """The deploy's ``Idempotency-Key``: the same tenant, plan, model and attempt give the same key.

    ``attempt`` counts the rollbacks this plan already had for this tenant, so applying
    the same plan again after a rollback is a new deployment, while a crashed run's
    deployment is resumed with the key it recorded.
    """
    digest = hashlib.sha256(f"{tenant}\0{plan_id}\0{model_sha}\0{attempt}".encode()).hexdigest()
    return f"tenantops-{digest[:40]}"


@dataclass(frozen=True, slots=True)
class InFlight:
    """A deploy an earlier run requested and never saw to its end."""

    key: str
    model_sha256: str
    deployment_id: str | None


@dataclass(frozen=True, slots=True)
class PendingRollback:
    """A rollback an earlier run requested and never saw end (a restore may still run)."""

    rollback_id: str
    reason: str
    expected: str | None


@dataclass(frozen=True, slots=True)
class History:
    """What the audit trail says about the tenant: an unfinished deploy or rollback, past
    rollbacks."""

    in_flight: InFlight | None = None
    rollbacks: int = 0
    rolling_back: PendingRollback | None = None


@dataclass(frozen=True, slots=True)
class Rendered:
    """The tenant's config as it renders now, under the lease."""

    config_sha256: str
    model_sha256: str


@dataclass(frozen=True, slots=True)
class Observed:
    """Everything apply saw for one tenant before deciding.

    Attributes:
        rendered: the config re-rendered now, or why it no longer renders.
        live_fingerprint: :func:`tenantops.core.plan.fingerprint` of the live export.
        history: the audit trail's last state for the tenant.
        live_roles: the workspace's role grants by user, when the plan changes roles.
        in_flight_status: the platform's status of the deploy left in flight, when its
            deployment id is known (``success``, ``failed``...).
    """

    rendered: Rendered | str
    live_fingerprint: str
    history: History = History()
    live_roles: Mapping[str, RoleGrant] | None = None
    in_flight_status: str | None = None


def history_of(records: Iterable[JournalRecord], plan_id: str) -> History:
    """Fold the tenant's audit records (oldest first) into its :class:`History`."""
    pending: InFlight | None = None
    rolling_back: PendingRollback | None = None
    rollbacks = 0
    for record in records:
        details = record.details
        if record.event == "deploy_requested":
            pending = InFlight(
                str(details.get("idempotency_key")), str(details.get("model_sha256")), None
            )
            rolling_back = None
        elif record.event == "deploy_accepted" and pending is not None:
            pending = InFlight(pending.key, pending.model_sha256, details.get("deployment_id"))
        elif record.event == "rollback_requested":
            target = details.get("rollback_of") or details.get("deployment_id")
            if target:
                expected = details.get("expected")
                rolling_back = PendingRollback(
                    str(target), str(details.get("reason") or "a failed deploy"), expected
                )
        elif record.event in _DEPLOY_ENDED:
            pending = None
            rolling_back = None
        if record.event == "rolled_back" and record.plan_id == plan_id:
            rollbacks += 1
    return History(pending, rollbacks, rolling_back)


def decide(plan: TenantPlan, plan_id: str, observed: Observed | None) -> tuple[Step, ...]:
    """The steps that bring the tenant to what ``plan`` reviewed, or refuse to.

    Args:
        plan: the tenant's part of the plan.
        plan_id: the plan's id (part of every idempotency key).
        observed: what apply saw under the lease; ``None`` for a tenant whose plan failed.
    """
    if plan.status == "error" or observed is None:
        return (Skip(f"not applied: the plan failed for it: {plan.error}"),)
    rolling_back = observed.history.rolling_back
    if rolling_back is not None:
        # A restore may still be running: any write now would be lost in it or duplicated
        # by it. The rollback comes first, whatever the plan says; what to deploy after
        # it is for a plan made against the restored bot.
        return (
            FinishRollback(rolling_back.rollback_id, rolling_back.reason, rolling_back.expected),
        )
    stale = _staleness(plan, observed)
    if stale is not None:
        return (Refuse(stale),)
    return (*_model_steps(plan, plan_id, observed), *_role_steps(plan, observed), WriteLockEntry())


def _staleness(plan: TenantPlan, observed: Observed) -> str | None:
    rendered = observed.rendered
    if isinstance(rendered, str):
        return rendered
    if rendered.config_sha256 != plan.config_sha256:
        return "the config changed since the plan was made; run `tenantops plan` again"
    if rendered.model_sha256 != plan.model_sha256:
        return (
            "the rendered model differs from the plan's (a secret or the base bot changed); "
            "run `tenantops plan` again"
        )
    in_flight = observed.history.in_flight
    ours = in_flight is not None and in_flight.model_sha256 == plan.model_sha256
    if observed.live_fingerprint not in (plan.model_sha256, plan.live_fingerprint) and not ours:
        return "the live bot changed since the plan was made; run `tenantops plan` again"
    return None


def _model_steps(plan: TenantPlan, plan_id: str, observed: Observed) -> tuple[Step, ...]:
    in_flight = observed.history.in_flight
    ours = in_flight if in_flight and in_flight.model_sha256 == plan.model_sha256 else None
    if ours is not None:
        if (
            observed.live_fingerprint == plan.model_sha256
            and observed.in_flight_status == "success"
        ):
            # A killed run's deploy went through and the platform says it succeeded.
            return (RecordRecovered(ours.deployment_id),)
        # Live may already show the model while the deploy is not done (on Cognigy.AI the
        # writes come before training): see it through with its own key, never twice.
        return (ResumeDeploy(ours.key, ours.deployment_id),)
    if observed.live_fingerprint == plan.model_sha256:
        return ()
    if not plan.model_changes:
        return ()  # differences only in ignored fields: nothing to deploy
    attempt = 1 + observed.history.rollbacks
    key = idempotency_key(plan.tenant, plan_id, plan.model_sha256 or "", attempt)
    return (Deploy(key, attempt),)


def _role_steps(plan: TenantPlan, observed: Observed) -> tuple[Step, ...]:
    live = observed.live_roles
    return tuple(
        step
        for change in plan.role_changes
        if (step := _role_step(change)) is not None and not _already(step, live)
    )


def _role_step(change: Change) -> AssignRole | RevokeRole | None:
    if change.action == "delete":
        return RevokeRole(change.key)
    after: Mapping[str, Any] = change.after or {}
    if "roleId" not in after:
        return None
    expires = after.get("expiresAt")
    return AssignRole(change.key, str(after["roleId"]), str(expires) if expires else None)


def _already(step: AssignRole | RevokeRole, live: Mapping[str, RoleGrant] | None) -> bool:
    """Whether the live workspace already is as the step would leave it (a re-run)."""
    if live is None:
        return False
    grant = live.get(step.user_id)
    match step:
        case RevokeRole():
            return grant is None
        case AssignRole():
            return (
                grant is not None
                and grant.role_id == step.role_id
                and iso_expiry(grant.expires_at) == _normal(step.expires_at)
            )


def _normal(expires: str | None) -> str | None:
    """``expires`` in the one ISO form, so equal instants compare equal."""
    if expires is None:
        return None
    return iso_expiry(datetime.fromisoformat(expires.replace("Z", "+00:00")))

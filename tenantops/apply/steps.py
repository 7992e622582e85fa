"""The steps apply takes for one tenant: decisions as data, a closed union.

:func:`tenantops.apply.decide.decide` returns a tuple of these; the interpreter
(:mod:`tenantops.apply.interpret`) carries them out and the explainer
(:mod:`tenantops.apply.explain`) describes them, both with ``match`` ending in
``assert_never``, so adding a step is a type error until both handle it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AssignRole",
    "Deploy",
    "FinishRollback",
    "RecordRecovered",
    "Refuse",
    "ResumeDeploy",
    "RevokeRole",
    "Skip",
    "Step",
    "TenantSteps",
    "WriteLockEntry",
]


@dataclass(frozen=True, slots=True)
class Skip:
    """Leave the tenant alone: the plan itself failed for it."""

    reason: str


@dataclass(frozen=True, slots=True)
class Refuse:
    """Refuse the tenant as stale: its config or live bot moved since the plan."""

    reason: str


@dataclass(frozen=True, slots=True)
class Deploy:
    """Deploy the planned model under a new idempotency key, poll, roll back on failure.

    Attributes:
        key: the ``Idempotency-Key``; ``attempt`` is part of it.
        attempt: 1, plus the rollbacks this plan already had for the tenant.
    """

    key: str
    attempt: int


@dataclass(frozen=True, slots=True)
class ResumeDeploy:
    """See through a deploy a killed run requested and never saw end (same key)."""

    key: str
    deployment_id: str | None


@dataclass(frozen=True, slots=True)
class RecordRecovered:
    """A killed run's deploy went through: close its record, deploy nothing."""

    deployment_id: str | None


@dataclass(frozen=True, slots=True)
class FinishRollback:
    """Carry out the rollback a killed run requested and never saw end, and stop there.

    Attributes:
        rollback_id: what the killed run asked :meth:`Backend.rollback` to undo.
        reason: why it rolled back.
        expected: the live fingerprint the workspace had before that deploy, to check
            the rollback against (``None`` when the trail does not say).
    """

    rollback_id: str
    reason: str
    expected: str | None = None


@dataclass(frozen=True, slots=True)
class AssignRole:
    """Give ``user_id`` the role (``expires_at`` as ISO 8601, or ``None``)."""

    user_id: str
    role_id: str
    expires_at: str | None = None


@dataclass(frozen=True, slots=True)
class RevokeRole:
    """Remove the user's role from the tenant's workspace."""

    user_id: str


@dataclass(frozen=True, slots=True)
class WriteLockEntry:
    """Record the planned model as the tenant's applied state in the lockfile."""


@dataclass(frozen=True, slots=True)
class TenantSteps:
    """The steps apply would take for one tenant (``apply --dry-run``), or why it can't tell."""

    tenant: str
    steps: tuple[Step, ...] = ()
    error: str | None = None


Step = (
    Skip
    | Refuse
    | Deploy
    | ResumeDeploy
    | FinishRollback
    | RecordRecovered
    | AssignRole
    | RevokeRole
    | WriteLockEntry
)

"""Explain steps without carrying them out: the second interpreter (``apply --dry-run``).

Pure: it turns the steps :func:`~tenantops.apply.decide.decide` returned into sentences,
with the same ``match`` over the same closed union as the interpreter, so what a dry
run prints is exactly what apply would do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_never

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
    TenantSteps,
    WriteLockEntry,
)

__all__ = ["explain_plan", "explain_step", "explain_steps"]


def explain_step(step: Step) -> str:
    """One sentence saying what apply would do for ``step``."""
    match step:
        case Skip(reason=reason):
            return f"skip: {reason}"
        case Refuse(reason=reason):
            return f"refuse as stale: {reason}"
        case Deploy(key=key, attempt=attempt):
            again = f" (attempt {attempt}, after {attempt - 1} rollback(s))" if attempt > 1 else ""
            return (
                f"deploy the planned model{again} with idempotency key {key}; "
                "poll until it ends; roll back if it fails or outlasts --deploy-timeout"
            )
        case ResumeDeploy(key=key, deployment_id=deployment_id):
            which = f"deployment {deployment_id}" if deployment_id else "the deployment"
            return (
                f"resume {which} a killed run left in flight (idempotency key {key}); "
                "poll until it ends; roll back if it fails"
            )
        case FinishRollback(rollback_id=target, reason=reason):
            return (
                f"finish the rollback of {target} that a killed run began ({reason}), "
                "then stop: plan again to deploy"
            )
        case RecordRecovered(deployment_id=deployment_id):
            which = f"deployment {deployment_id}" if deployment_id else "a deployment"
            return f"record {which} as succeeded: a killed run's deploy went through"
        case AssignRole(user_id=user, role_id=role, expires_at=expires):
            until = f" until {expires}" if expires else ""
            return f"assign role {role} to {user}{until}"
        case RevokeRole(user_id=user):
            return f"revoke the role of {user}"
        case WriteLockEntry():
            return "record the planned model as applied in the lockfile"
        case _:
            assert_never(step)


def explain_steps(steps: tuple[Step, ...]) -> list[str]:
    """The sentences for ``steps``, in order; an empty tuple means nothing to do."""
    return [explain_step(step) for step in steps] or ["nothing to do"]


def explain_plan(tenants: Sequence[TenantSteps]) -> list[str]:
    """What ``apply --dry-run`` prints: per tenant (by name), the steps apply would take."""
    lines: list[str] = []
    for tenant in sorted(tenants, key=lambda t: t.tenant):
        lines.append(f"tenant {tenant.tenant}:")
        if tenant.error is not None:
            lines.append(f"  cannot tell: {tenant.error}")
        else:
            lines.extend(f"  - {line}" for line in explain_steps(tenant.steps))
    return lines

"""Apply a plan: deploy exactly what was reviewed, never twice, never two at once.

Per tenant, in order: take the tenant's lease; re-render and refuse a stale plan (the
config or the live bot changed since it was made); write an audit record of intent;
deploy with an ``Idempotency-Key`` derived from tenant, plan and model hash; record the
deployment id; poll with a growing interval until ``success``, ``failed`` or the
deadline; roll back on failure or deadline; reconcile roles; update the lockfile;
release the lease. Every audit record is on disk before the step it announces.

Crash safety: the lockfile is replaced atomically; the audit trail is a hash chain of
fsynced appends; a deployment left in flight by a killed run is found in the audit
trail and polled (its key replayed, so the server answers the same deployment) instead
of deployed again; a model a killed run deployed but never recorded is recognised by
its hash in the live export and recorded without a second deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from tenantops.apply.audit import AuditLog, AuditRecord
from tenantops.apply.lockfile import BaseInfo, LockEntry, read_lockfile, write_lockfile
from tenantops.apply.locks import LockBackend
from tenantops.backends.base import Backend, DeploymentStatus
from tenantops.config.fleet import DesiredTenant, Fleet
from tenantops.core.diff import Change
from tenantops.core.model import BotDoc, model_sha256
from tenantops.core.plan import Plan, TenantPlan, fingerprint
from tenantops.errors import (
    ApiStatusError,
    ConfigError,
    LockfileError,
    NotFoundError,
    TenantOpsError,
    ValidationFailed,
)
from tenantops.pipeline.planner import Bases, describe_error, export_bases

__all__ = ["Applier", "ApplyOptions", "TenantResult", "idempotency_key"]

Outcome = Literal["applied", "unchanged", "rolled_back", "failed", "refused", "locked"]
#: Outcomes after which the run exits 1.
FAILED_OUTCOMES: frozenset[str] = frozenset({"rolled_back", "failed", "refused", "locked"})


def idempotency_key(tenant: str, plan_id: str, model_sha: str, attempt: int = 1) -> str:
    """The deploy's ``Idempotency-Key``: the same tenant, plan, model and attempt give the same key.

    ``attempt`` counts the rollbacks this plan already had for this tenant, so applying
    the same plan again after a rollback is a new deployment, while a crashed run's
    deployment is resumed with the key it recorded.
    """
    digest = hashlib.sha256(f"{tenant}\0{plan_id}\0{model_sha}\0{attempt}".encode()).hexdigest()
    return f"tenantops-{digest[:40]}"


@dataclass(frozen=True, slots=True)
class TenantResult:
    """How applying one tenant ended."""

    tenant: str
    outcome: Outcome
    deployment_id: str | None = None
    duration: float = 0.0
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome in FAILED_OUTCOMES


@dataclass(frozen=True, slots=True)
class ApplyOptions:
    """Bounds of one apply run."""

    parallelism: int = 4
    deploy_timeout: float = 600.0
    lock_timeout: float = 60.0
    lock_ttl: float = 120.0
    poll_initial: float = 0.5
    poll_max: float = 10.0
    holder: str = "tenantops"


@dataclass(frozen=True, slots=True)
class _InFlight:
    """A deployment an earlier run requested and never saw to its end."""

    key: str
    model_sha256: str
    deployment_id: str | None


class _Refused(TenantOpsError):
    """The plan cannot be applied to this tenant as it stands."""


@dataclass(slots=True)
class _Run:
    """One tenant's apply: what it works on and what it has learnt so far."""

    plan: TenantPlan
    plan_id: str
    desired: DesiredTenant
    model: BotDoc
    deployment_id: str | None = None
    notes: list[str] = field(default_factory=list)


class Applier:
    """Executes plans through a :class:`~tenantops.backends.base.Backend`."""

    def __init__(
        self,
        *,
        fleet: Fleet,
        backend: Backend,
        audit: AuditLog,
        locks: LockBackend,
        lockfile: Path,
        options: ApplyOptions | None = None,
        on_tenant_done: Callable[[TenantResult], None] | None = None,
    ) -> None:
        self.fleet = fleet
        self.backend = backend
        self.audit = audit
        self.locks = locks
        self.lockfile = lockfile
        self.options = options or ApplyOptions()
        self._on_done = on_tenant_done or (lambda _: None)
        self._lockfile_mutex = asyncio.Lock()

    async def apply(self, plan: Plan) -> list[TenantResult]:
        """Apply every tenant of ``plan``; one tenant's failure never stops the others."""
        bases = await export_bases(self.fleet, self.backend)
        slots = asyncio.Semaphore(max(1, self.options.parallelism))

        async def one(tp: TenantPlan) -> TenantResult:
            async with slots:
                started = time.monotonic()
                result = await self._tenant(tp, plan.plan_id, bases)
                result = TenantResult(
                    result.tenant,
                    result.outcome,
                    result.deployment_id,
                    time.monotonic() - started,
                    result.message,
                )
            self._on_done(result)
            return result

        return list(await asyncio.gather(*(one(t) for t in plan.tenants)))

    # ------------------------------------------------------------------ one tenant

    async def _tenant(self, tp: TenantPlan, plan_id: str, bases: Bases) -> TenantResult:
        if tp.status == "error":
            return TenantResult(
                tp.tenant, "failed", message=f"not applied: the plan failed for it: {tp.error}"
            )
        try:
            lease = await self.locks.acquire(
                tp.tenant,
                holder=self.options.holder,
                ttl=self.options.lock_ttl,
                timeout=self.options.lock_timeout,
            )
        except LockfileError as exc:
            return TenantResult(tp.tenant, "locked", message=str(exc))
        try:
            return await self._locked(tp, plan_id, bases)
        finally:
            await lease.release()

    async def _locked(self, tp: TenantPlan, plan_id: str, bases: Bases) -> TenantResult:
        try:
            run = self._prepare(tp, plan_id, bases)
        except _Refused as exc:
            self._record(tp.tenant, "apply_refused", plan_id, reason=str(exc))
            return TenantResult(tp.tenant, "refused", message=str(exc))
        try:
            return await self._execute(run)
        except _Refused as exc:
            self._record(tp.tenant, "apply_refused", plan_id, reason=str(exc))
            return TenantResult(tp.tenant, "refused", run.deployment_id, message=str(exc))
        except TenantOpsError as exc:
            message = run.desired.redactor.text(describe_error(exc))
            self._record(
                tp.tenant, "apply_failed", plan_id, error=message, deployment_id=run.deployment_id
            )
            return TenantResult(tp.tenant, "failed", run.deployment_id, message=message)

    def _prepare(self, tp: TenantPlan, plan_id: str, bases: Bases) -> _Run:
        """Re-render the tenant and check it is what the plan was made from."""
        path = self.fleet.project.tenants_dir / f"{tp.tenant}.yaml"
        try:
            desired = self.fleet.build(path, bases=bases.models)
        except (ValidationFailed, ConfigError) as exc:
            raise _Refused(
                f"its config no longer loads ({describe_error(exc)}); fix it and plan again"
            ) from exc
        if desired.model is None:
            raise _Refused("its base bot could not be exported; plan again")
        if desired.config_sha256 != tp.config_sha256:
            raise _Refused("the config changed since the plan was made; run `tenantops plan` again")
        if model_sha256(desired.model) != tp.model_sha256:
            raise _Refused(
                "the rendered model differs from the plan's (a secret or the base bot changed); "
                "run `tenantops plan` again"
            )
        return _Run(tp, plan_id, desired, desired.model)

    async def _execute(self, run: _Run) -> TenantResult:
        tp = run.plan
        live = await self._export_live(run)
        live_fp = fingerprint(live)
        inflight = self._in_flight(tp.tenant)
        deployed = False
        if live_fp == tp.model_sha256:
            if inflight is not None and inflight.model_sha256 == tp.model_sha256:
                # A killed run's deployment went through; close its record.
                run.deployment_id = inflight.deployment_id
                self._record(
                    tp.tenant,
                    "deploy_succeeded",
                    run.plan_id,
                    deployment_id=run.deployment_id,
                    recovered=True,
                )
        elif inflight is not None and inflight.model_sha256 == tp.model_sha256:
            deployed = await self._deploy(run, key=inflight.key, resumed=True)
            if not deployed:
                return TenantResult(
                    tp.tenant, "rolled_back", run.deployment_id, message="; ".join(run.notes)
                )
        elif live_fp != tp.live_fingerprint:
            raise _Refused(
                "the live bot changed since the plan was made; run `tenantops plan` again"
            )
        elif tp.model_changes:
            # Without model changes (differences only in ignored fields) nothing is deployed.
            attempt = 1 + self._rollbacks(tp.tenant, run.plan_id)
            key = idempotency_key(tp.tenant, run.plan_id, tp.model_sha256 or "", attempt)
            deployed = await self._deploy(run, key=key, resumed=False)
            if not deployed:
                return TenantResult(
                    tp.tenant, "rolled_back", run.deployment_id, message="; ".join(run.notes)
                )
        await self._reconcile_roles(run, tp.role_changes)
        changed_lock = await self._record_applied(run)
        if deployed or tp.role_changes:
            return TenantResult(tp.tenant, "applied", run.deployment_id)
        return TenantResult(
            tp.tenant,
            "unchanged",
            run.deployment_id,
            message="recorded in the lockfile" if changed_lock else "",
        )

    async def _export_live(self, run: _Run) -> BotDoc | None:
        try:
            return await self.backend.export_bot(
                str(run.model["botId"]), workspace_id=run.desired.tenant.workspace
            )
        except NotFoundError:
            return None

    # ------------------------------------------------------------------ deploy

    async def _deploy(self, run: _Run, *, key: str, resumed: bool) -> bool:
        """Deploy and see it through; ``False`` when it was rolled back."""
        tenant = run.plan.tenant
        self._record(
            tenant,
            "deploy_requested",
            run.plan_id,
            idempotency_key=key,
            model_sha256=run.plan.model_sha256,
            workspace=run.desired.tenant.workspace,
            resumed=resumed,
        )
        try:
            deployment = await self.backend.deploy(
                run.model, target_workspace=run.desired.tenant.workspace, idempotency_key=key
            )
        except ApiStatusError as exc:
            if 400 <= exc.status < 500 and exc.status != 429:
                # Refused outright: no deployment exists, nothing is in flight.
                self._record(
                    tenant, "deploy_rejected", run.plan_id, status=exc.status, code=exc.code
                )
            raise
        run.deployment_id = deployment.deployment_id
        self._record(tenant, "deploy_accepted", run.plan_id, deployment_id=deployment.deployment_id)
        status, reason = await self._poll(deployment.deployment_id)
        if status is not None and status.status == "success":
            self._record(
                tenant, "deploy_succeeded", run.plan_id, deployment_id=deployment.deployment_id
            )
            return True
        await self._roll_back(run, deployment.deployment_id, reason)
        return False

    async def _poll(self, deployment_id: str) -> tuple[DeploymentStatus | None, str]:
        """Poll with a growing interval until a final state or the deadline."""
        deadline = time.monotonic() + self.options.deploy_timeout
        interval = self.options.poll_initial
        while True:
            status = await self.backend.deployment_status(deployment_id)
            if status.is_final:
                reason = f"deployment {status.status}" + (
                    f": {status.error_detail}" if status.error_detail else ""
                )
                return status, reason
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return (
                    None,
                    f"no result within --deploy-timeout ({self.options.deploy_timeout:g} s)",
                )
            await asyncio.sleep(min(interval, remaining))
            interval = min(interval * 1.5, self.options.poll_max)

    async def _roll_back(self, run: _Run, deployment_id: str, reason: str) -> None:
        tenant = run.plan.tenant
        reason = run.desired.redactor.text(reason)
        self._record(
            tenant, "rollback_requested", run.plan_id, deployment_id=deployment_id, reason=reason
        )
        status = await self.backend.rollback(deployment_id)
        self._record(
            tenant,
            "rolled_back",
            run.plan_id,
            deployment_id=deployment_id,
            reason=reason,
            status=status.status,
        )
        run.notes.append(f"rolled back: {reason}")

    # ------------------------------------------------------------------ roles and lockfile

    async def _reconcile_roles(self, run: _Run, changes: Sequence[Change]) -> None:
        workspace = run.desired.tenant.workspace
        for change in changes:
            if change.action == "delete":
                self._record(run.plan.tenant, "role_revoke", run.plan_id, user_id=change.key)
                with contextlib.suppress(NotFoundError):  # already gone: what was asked for
                    await self.backend.revoke_role(workspace, change.key)
                continue
            after: dict[str, Any] = dict(change.after or {})
            expires = after.get("expiresAt")
            self._record(
                run.plan.tenant,
                "role_assign",
                run.plan_id,
                user_id=change.key,
                role_id=after.get("roleId"),
                expires_at=expires,
            )
            await self.backend.assign_role(
                workspace,
                change.key,
                str(after["roleId"]),
                expires_at=datetime.fromisoformat(expires.replace("Z", "+00:00"))
                if expires
                else None,
            )

    async def _record_applied(self, run: _Run) -> bool:
        """Write the tenant's lockfile entry (atomically); ``False`` when it was current."""
        tp = run.plan
        async with self._lockfile_mutex:
            with _file_lock(self.lockfile):
                lock = read_lockfile(self.lockfile)
                current = lock.tenants.get(tp.tenant)
                if (
                    current is not None
                    and current.model_sha256 == tp.model_sha256
                    and current.config_sha256 == tp.config_sha256
                ):
                    return False
                self._record(
                    tp.tenant,
                    "applied",
                    run.plan_id,
                    deployment_id=run.deployment_id,
                    model_sha256=tp.model_sha256,
                )
                base = dict(tp.base or {})
                lock.tenants[tp.tenant] = LockEntry(
                    workspace=run.desired.tenant.workspace,
                    model_sha256=tp.model_sha256 or "",
                    deployment_id=run.deployment_id or (current.deployment_id if current else None),
                    status="success",
                    applied_at=datetime.now(UTC)
                    .isoformat(timespec="seconds")
                    .replace("+00:00", "Z"),
                    base=BaseInfo(botId=base.get("botId"), version=base.get("version")),
                    config_sha256=tp.config_sha256,
                    plan_id=run.plan_id,
                    model=run.desired.redactor.redact(run.model),
                )
                write_lockfile(self.lockfile, lock)
                return True

    # ------------------------------------------------------------------ audit

    def _record(self, tenant: str, event: str, plan_id: str, **details: Any) -> AuditRecord:
        return self.audit.append(tenant, event, plan_id=plan_id, details=details)

    def _in_flight(self, tenant: str) -> _InFlight | None:
        """The last deployment requested for ``tenant`` whose end no record tells."""
        pending: _InFlight | None = None
        for record in self.audit.records(tenant):
            details = record.details
            if record.event == "deploy_requested":
                pending = _InFlight(
                    str(details.get("idempotency_key")), str(details.get("model_sha256")), None
                )
            elif record.event == "deploy_accepted" and pending is not None:
                pending = _InFlight(pending.key, pending.model_sha256, details.get("deployment_id"))
            elif record.event in ("deploy_succeeded", "rolled_back", "deploy_rejected", "applied"):
                # Not "apply_failed": a deploy whose answer was lost may still exist.
                pending = None
        return pending

    def _rollbacks(self, tenant: str, plan_id: str) -> int:
        return sum(
            r.event == "rolled_back" and r.plan_id == plan_id for r in self.audit.records(tenant)
        )


@contextlib.contextmanager
def _file_lock(lockfile: Path) -> Iterator[None]:
    """Serialise lockfile updates across processes (parallel CI jobs on other tenants)."""
    guard = lockfile.parent / ".tenantops" / "lockfile.guard"
    guard.parent.mkdir(parents=True, exist_ok=True)
    with guard.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

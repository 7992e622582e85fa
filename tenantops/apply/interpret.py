"""Apply a plan: per tenant, observe under the lease, decide the steps, interpret them.

Per tenant, top-down: take the tenant's lease; :meth:`Applier._observe` re-renders the
config, exports the live bot, reads the audit trail's last state and the live roles;
:func:`~tenantops.apply.decide.decide` turns that and the plan into steps;
:meth:`Applier._interpret` carries them out with ``match``. Every audit record is on
disk before the step it announces; a deploy polls with a growing interval and rolls
back on failure or at the deadline; the lockfile is replaced atomically. Before each
change (every step, the deploy request, a rollback, the lockfile entry) the run checks
that it still holds the lease: once it is lost, another run may be changing the tenant,
so the tenant's apply ends as failed, recorded in the audit trail.

Crash safety comes from the decisions: a deploy left in flight by a killed run is
resumed with the key it recorded (the server answers the same deployment), and a
model a killed run deployed but never recorded is recognised by its hash in the live
export and recorded without a second deployment. A deploy whose writes the API refused
part-way (a 4xx after the backend reported a ``rollback_id``) is rolled back at once,
as the same writes would be refused again; one that got no answer (5xx, a cut
connection, retries run out) stays in flight, and the next run converges from where it
stopped. A rollback a killed run requested is finished by the next run before anything
else.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, assert_never

from tenantops.apply.decide import InFlight, Observed, Rendered, decide, history_of
from tenantops.apply.journal import Journal
from tenantops.apply.lockfile import (
    BaseInfo,
    LockEntry,
    lockfile_guard,
    read_lockfile,
    write_lockfile,
)
from tenantops.apply.locks import Lease, LockStore
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
from tenantops.backends.base import Backend, DeploymentStatus, export_live
from tenantops.backends.retry import is_retryable
from tenantops.config.fleet import DesiredTenant, Fleet
from tenantops.core.model import model_sha256
from tenantops.core.plan import Plan, TenantPlan, fingerprint
from tenantops.core.redact import Redactor
from tenantops.errors import (
    ApiError,
    ApiStatusError,
    ConfigError,
    LockfileError,
    NotFoundError,
    StalePlanError,
    TenantOpsError,
    ValidationFailed,
)
from tenantops.pipeline.planner import Bases, describe_error, export_bases
from tenantops.polling import poll
from tenantops.report.reporter import NullReporter, Reporter

__all__ = ["FAILED_OUTCOMES", "Applier", "ApplyOptions", "Outcome", "TenantResult", "TenantSteps"]

Outcome = Literal["applied", "unchanged", "rolled_back", "failed", "refused", "locked"]
#: Outcomes after which the run exits 1.
FAILED_OUTCOMES: frozenset[str] = frozenset({"rolled_back", "failed", "refused", "locked"})


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


@dataclass(slots=True)
class _Run:
    """One tenant's apply as it goes: what it works on and what happened so far."""

    plan: TenantPlan
    plan_id: str
    desired: DesiredTenant | None
    lease: Lease | None = None
    deployment_id: str | None = None
    deployed: bool = False
    roles_changed: bool = False
    lock_changed: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def redactor(self) -> Redactor:
        return self.desired.redactor if self.desired is not None else self.plan.redactor

    def result(self, outcome: Outcome, message: str = "") -> TenantResult:
        return TenantResult(self.plan.tenant, outcome, self.deployment_id, message=message)

    def check_lease(self) -> None:
        """Raise :class:`LockfileError` once the tenant's lease is lost (a failed plan has none)."""
        if self.lease is not None:
            self.lease.check()


class Applier:
    """Executes plans through a :class:`~tenantops.backends.base.Backend`."""

    def __init__(
        self,
        *,
        fleet: Fleet,
        backend: Backend,
        journal: Journal,
        locks: LockStore,
        lockfile: Path,
        options: ApplyOptions | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        self.fleet = fleet
        self.backend = backend
        self.journal = journal
        self.locks = locks
        self.lockfile = lockfile
        self.options = options or ApplyOptions()
        self.reporter = reporter or NullReporter()
        self._lockfile_mutex = asyncio.Lock()

    async def apply(self, plan: Plan) -> list[TenantResult]:
        """Apply every tenant of ``plan``; one tenant's failure never stops the others."""
        bases = await export_bases(self.fleet, self.backend)
        slots = asyncio.Semaphore(max(1, self.options.parallelism))

        async def one(tp: TenantPlan) -> TenantResult:
            async with slots:
                started = time.monotonic()
                result = await self._tenant(tp, plan.plan_id, bases)
                result = replace(result, duration=time.monotonic() - started)
            self.reporter.advance(result)
            return result

        self.reporter.begin("applying", len(plan.tenants))
        try:
            return list(await asyncio.gather(*(one(t) for t in plan.tenants)))
        finally:
            self.reporter.end()

    async def explain(self, plan: Plan) -> list[TenantSteps]:
        """The steps :meth:`apply` would take now, per tenant, changing nothing.

        Observes as apply does (without taking leases) and decides; a dry run.
        """
        bases = await export_bases(self.fleet, self.backend)

        async def one(tp: TenantPlan) -> TenantSteps:
            if tp.status == "error":
                return TenantSteps(tp.tenant, decide(tp, plan.plan_id, None))
            try:
                observed, _ = await self._observe(tp, plan.plan_id, bases)
            except TenantOpsError as exc:
                return TenantSteps(tp.tenant, error=tp.redactor.text(describe_error(exc)))
            return TenantSteps(tp.tenant, decide(tp, plan.plan_id, observed))

        return list(await asyncio.gather(*(one(t) for t in plan.tenants)))

    # ------------------------------------------------------------------ one tenant

    async def _tenant(self, tp: TenantPlan, plan_id: str, bases: Bases) -> TenantResult:
        if tp.status == "error":
            return await self._interpret(_Run(tp, plan_id, None), decide(tp, plan_id, None))
        try:
            lease = await self.locks.acquire(
                tp.tenant,
                holder=self.options.holder,
                ttl=self.options.lock_ttl,
                timeout=self.options.lock_timeout,
            )
        except LockfileError as exc:
            return TenantResult(tp.tenant, "locked", message=str(exc))
        if lease.taken_over is not None:
            dead = lease.taken_over
            self._record(
                tp.tenant,
                "lease_taken_over",
                plan_id,
                holder=dead.holder,
                pid=dead.pid,
                acquired_at=dead.acquired_iso,
            )
        try:
            observed, desired = await self._observe(tp, plan_id, bases)
            run = _Run(tp, plan_id, desired, lease)
            return await self._interpret(run, decide(tp, plan_id, observed))
        except TenantOpsError as exc:
            message = tp.redactor.text(describe_error(exc))
            self._record(tp.tenant, "apply_failed", plan_id, error=message, deployment_id=None)
            return TenantResult(tp.tenant, "failed", message=message)
        finally:
            # A store that cannot be reached now lets the lease run out within its TTL;
            # raising here would lose this tenant's result and stop every other tenant.
            with contextlib.suppress(LockfileError):
                await lease.release()

    async def _observe(
        self, tp: TenantPlan, plan_id: str, bases: Bases
    ) -> tuple[Observed, DesiredTenant | None]:
        """What apply sees before deciding: the only place it reads the audit trail."""
        history = history_of(self.journal.records(tp.tenant), plan_id)
        path = self.fleet.project.tenants_dir / f"{tp.tenant}.yaml"
        try:
            desired = self.fleet.build(path, bases=bases.models)
        except (ValidationFailed, ConfigError) as exc:
            why = f"its config no longer loads ({describe_error(exc)}); fix it and plan again"
            return Observed(why, "", history), None
        if desired.model is None:
            return Observed("its base bot could not be exported; plan again", "", history), None
        rendered = Rendered(desired.config_sha256, model_sha256(desired.model))
        if (rendered.config_sha256, rendered.model_sha256) != (tp.config_sha256, tp.model_sha256):
            return Observed(rendered, "", history), desired  # stale: no need to ask the API
        workspace = desired.tenant.workspace
        live = await export_live(
            self.backend,
            str(desired.model["botId"]),
            workspace,
            locale=desired.tenant.params.lang_code,
        )
        roles = None
        if tp.role_changes:
            roles = {g.user_id: g for g in await self.backend.list_roles(workspace)}
        status = await self._in_flight_status(history.in_flight, tp)
        return Observed(rendered, fingerprint(live), history, roles, status), desired

    async def _in_flight_status(self, in_flight: InFlight | None, tp: TenantPlan) -> str | None:
        """The platform's word on a deploy a killed run left in flight, when it can say."""
        if in_flight is None or in_flight.deployment_id is None:
            return None
        if in_flight.model_sha256 != tp.model_sha256:
            return None
        try:
            return (await self.backend.deployment_status(in_flight.deployment_id)).status
        except NotFoundError:
            return None

    async def _interpret(self, run: _Run, steps: tuple[Step, ...]) -> TenantResult:
        """Carry out ``steps`` in order; a rolled-back deploy ends the tenant's apply."""
        try:
            for step in steps:
                run.check_lease()
                match step:
                    case Skip(reason=reason):
                        return run.result("failed", reason)
                    case Refuse(reason=reason):
                        raise StalePlanError(reason)
                    case Deploy(key=key):
                        if not await self._deploy(run, key=key, resumed=False):
                            return run.result("rolled_back", "; ".join(run.notes))
                    case ResumeDeploy(key=key, deployment_id=deployment_id):
                        run.deployment_id = deployment_id
                        if not await self._deploy(run, key=key, resumed=True):
                            return run.result("rolled_back", "; ".join(run.notes))
                    case FinishRollback(rollback_id=target, reason=reason, expected=expected):
                        why = f"{reason} (a killed run began this rollback; plan again)"
                        await self._roll_back(run, target, why, expected=expected)
                        return run.result("rolled_back", "; ".join(run.notes))
                    case RecordRecovered(deployment_id=deployment_id):
                        run.deployment_id = deployment_id
                        self._record_run(run, "deploy_succeeded", recovered=True)
                    case AssignRole() | RevokeRole():
                        await self._change_role(run, step)
                    case WriteLockEntry():
                        run.lock_changed = await self._write_lock_entry(run)
                    case _:
                        assert_never(step)
        except StalePlanError as exc:
            self._record(run.plan.tenant, "apply_refused", run.plan_id, reason=str(exc))
            return run.result("refused", str(exc))
        except TenantOpsError as exc:
            message = run.redactor.text(describe_error(exc))
            self._record_run(run, "apply_failed", error=message)
            return run.result("failed", message)
        if run.deployed or run.roles_changed:
            return run.result("applied")
        return run.result("unchanged", "recorded in the lockfile" if run.lock_changed else "")

    # ------------------------------------------------------------------ deploy

    async def _deploy(self, run: _Run, *, key: str, resumed: bool) -> bool:
        """Deploy and see it through; ``False`` when it was rolled back."""
        assert run.desired is not None
        assert run.desired.model is not None
        workspace = run.desired.tenant.workspace
        run.check_lease()  # before the request is recorded: a recorded one would be resumed
        self._record_run(
            run,
            "deploy_requested",
            idempotency_key=key,
            model_sha256=run.plan.model_sha256,
            workspace=workspace,
            resumed=resumed,
        )
        # Set once the backend says writes may begin (its backup is recorded first).
        undo: list[str] = []

        def heard(event: str, details: Mapping[str, Any]) -> None:
            self._record_run(run, event, **details)
            if details.get("rollback_id"):
                undo.append(str(details["rollback_id"]))

        try:
            deployment = await self.backend.deploy(
                run.desired.model,
                target_workspace=workspace,
                idempotency_key=key,
                locale=run.desired.tenant.params.lang_code,
                on_event=heard,
            )
        except ApiStatusError as exc:
            if not 400 <= exc.status < 500 or exc.status == 429:
                raise  # no answer worth trusting: in flight, the next run resumes it
            if undo:
                # Refused part-way (a 413, a 400): writes may have happened, and the same
                # writes would be refused again. Left so, the bot would be half one model
                # and half the other: restore the backup.
                why = f"the deploy was refused part-way: {describe_error(exc)}"
                await self._roll_back(run, undo[-1], why, expected=run.plan.live_fingerprint)
                return False
            # Refused before any write: no deployment exists, nothing is in flight.
            self._record_run(run, "deploy_rejected", status=exc.status, code=exc.code)
            raise
        run.deployment_id = deployment.deployment_id
        self._record_run(run, "deploy_accepted")
        status, reason = await self._await_deployment(deployment.deployment_id)
        if status is not None and status.status == "success":
            self._record_run(run, "deploy_succeeded")
            run.deployed = True
            return True
        await self._roll_back(
            run, deployment.deployment_id, reason, expected=run.plan.live_fingerprint
        )
        return False

    async def _await_deployment(self, deployment_id: str) -> tuple[DeploymentStatus | None, str]:
        """Poll with a growing interval until a final state or ``--deploy-timeout``."""
        status, final = await poll(
            lambda: self.backend.deployment_status(deployment_id),
            lambda s: s.is_final,
            first=self.options.poll_initial,
            longest=self.options.poll_max,
            timeout=self.options.deploy_timeout,
            transient=is_retryable,
        )
        if not final:
            return None, f"no result within --deploy-timeout ({self.options.deploy_timeout:g} s)"
        detail = f": {status.error_detail}" if status.error_detail else ""
        return status, f"deployment {status.status}{detail}"

    async def _roll_back(
        self, run: _Run, target: str, reason: str, *, expected: str | None
    ) -> None:
        """Roll ``target`` back, then check the workspace's fingerprint is ``expected``
        (what it was before the deploy).

        The request is recorded first, with both: a run killed before ``rolled_back``
        leaves the next run a rollback to finish (:class:`FinishRollback`).
        """
        reason = run.redactor.text(reason)
        # Lost, the deployment is left in flight for whoever holds the tenant now (the
        # next run resumes it): rolling back could undo that run's own deploy.
        run.check_lease()
        self._record_run(
            run, "rollback_requested", reason=reason, rollback_of=target, expected=expected
        )
        status = await self.backend.rollback(target)
        restored = await self._live_is(run, expected)
        self._record_run(run, "rolled_back", reason=reason, status=status.status, verified=restored)
        run.notes.append(f"rolled back: {reason}")
        if restored is False:
            run.notes.append("the bot does not match its export from before the deploy: check it")

    async def _live_is(self, run: _Run, expected: str | None) -> bool | None:
        """Whether the live bot's fingerprint is ``expected`` (``None``: can't tell now)."""
        if expected is None or run.desired is None or run.desired.model is None:
            return None
        try:
            live = await export_live(
                self.backend,
                str(run.desired.model["botId"]),
                run.desired.tenant.workspace,
                locale=run.desired.tenant.params.lang_code,
            )
        except ApiError:
            return None  # the rollback itself succeeded; drift will tell later
        return fingerprint(live) == expected

    # ------------------------------------------------------------------ roles and lockfile

    async def _change_role(self, run: _Run, step: AssignRole | RevokeRole) -> None:
        assert run.desired is not None
        workspace = run.desired.tenant.workspace
        run.roles_changed = True
        match step:
            case RevokeRole(user_id=user):
                self._record(run.plan.tenant, "role_revoke", run.plan_id, user_id=user)
                with contextlib.suppress(NotFoundError):  # already gone: what was asked for
                    await self.backend.revoke_role(workspace, user)
            case AssignRole(user_id=user, role_id=role, expires_at=expires):
                self._record(
                    run.plan.tenant,
                    "role_assign",
                    run.plan_id,
                    user_id=user,
                    role_id=role,
                    expires_at=expires,
                )
                when = datetime.fromisoformat(expires.replace("Z", "+00:00")) if expires else None
                await self.backend.assign_role(workspace, user, role, expires_at=when)
            case _:
                assert_never(step)

    async def _write_lock_entry(self, run: _Run) -> bool:
        """Write the tenant's lockfile entry (atomically); ``False`` when it was current."""
        assert run.desired is not None
        assert run.desired.model is not None
        tp = run.plan
        async with self._lockfile_mutex:
            with lockfile_guard(self.lockfile):
                lock = read_lockfile(self.lockfile)
                current = lock.tenants.get(tp.tenant)
                if (
                    current is not None
                    and current.model_sha256 == tp.model_sha256
                    and current.config_sha256 == tp.config_sha256
                ):
                    return False
                run.check_lease()  # again: waiting for the lockfile may have taken a while
                self._record_run(run, "applied", model_sha256=tp.model_sha256)
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
                    model=run.redactor.redact(run.desired.model),
                )
                write_lockfile(self.lockfile, lock)
                return True

    # ------------------------------------------------------------------ journal

    def _record_run(self, run: _Run, event: str, **details: Any) -> None:
        """Journal ``event`` for the run; all but the deploy request name the deployment."""
        if event not in ("deploy_requested", "deploy_rejected", "backup_snapshot"):
            details = {"deployment_id": run.deployment_id, **details}
        self._record(run.plan.tenant, event, run.plan_id, **details)

    def _record(self, tenant: str, event: str, plan_id: str, **details: Any) -> None:
        self.journal.append(tenant, event, plan_id=plan_id, details=details)

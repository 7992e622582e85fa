"""Provision one tenant on request: validate, plan and apply with the CLI's own code.

The shell behind ``tenantops serve``. A tenant definition arrives as JSON; it is put
in the fleet as if it were ``tenants/<name>.yaml`` (or written there with
``write_tenant_files``), then :class:`~tenantops.pipeline.planner.Planner` and
:class:`~tenantops.apply.interpret.Applier` run exactly as ``tenantops plan`` and ``apply`` do,
with the same lockfile, audit trail and tenant leases. The work runs in a task of its
own, so a client that disconnects never aborts a deployment half-way, and the caller
waits at most ``deadline`` seconds for it. Both API flavours are served the same way;
on ``cognigy-v2`` a tenant's ``workspace`` must be its project's 24-hex id, which the
config layer checks with the rest of the definition, before any call.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from tenantops import config as cfg
from tenantops.apply.audit import AuditLog
from tenantops.apply.explain import explain_steps
from tenantops.apply.interpret import Applier, ApplyOptions, TenantResult
from tenantops.apply.lockfile import read_lockfile
from tenantops.apply.locks import LockStore
from tenantops.apply.steps import TenantSteps
from tenantops.backends.base import Backend
from tenantops.config.fleet import Fleet
from tenantops.core.model import is_name
from tenantops.core.plan import Plan, change_json
from tenantops.durable import atomic_write_text
from tenantops.errors import ConfigError, ValidationFailed
from tenantops.pipeline.planner import Planner

__all__ = ["Outcome", "ProvisionResult", "Provisioner"]

Outcome = Literal["invalid", "planned", "applied", "unchanged", "locked", "failed", "in_progress"]


@dataclass(frozen=True, slots=True)
class ProvisionResult:
    """What provisioning one tenant came to, ready to become an HTTP answer."""

    outcome: Outcome
    tenant: str
    body: dict[str, Any] = field(default_factory=dict)


class Provisioner:
    """Runs provisioning requests against one config repo and one backend."""

    def __init__(
        self,
        project: cfg.Project,
        backend: Backend,
        *,
        audit: AuditLog,
        locks: LockStore,
        options: ApplyOptions | None = None,
        write_tenant_files: bool = False,
        deadline: float = 120.0,
    ) -> None:
        self.project = project
        self.backend = backend
        self.audit = audit
        self.locks = locks
        self.options = options or ApplyOptions(lock_timeout=0.0)
        self.write_tenant_files = write_tenant_files
        self.deadline = deadline
        # Strong references: a task nobody awaits any more (client gone) must still finish.
        self._running: set[asyncio.Task[ProvisionResult]] = set()

    async def provision(self, tenant: Mapping[str, Any], *, dry_run: bool) -> ProvisionResult:
        """Validate, plan and (unless ``dry_run``) apply one tenant definition."""
        name = str(tenant.get("name") or "")
        fleet = Fleet(self.project)
        try:
            path = fleet.add_inline(_safe_name(name), json.dumps(dict(tenant)))
            fleet.build(path)
        except (ValidationFailed, ConfigError) as exc:
            return ProvisionResult("invalid", name, {"details": _details(exc)})
        task = asyncio.create_task(self._plan_and_apply(fleet, name, path, dry_run=dry_run))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.deadline)
        except TimeoutError:
            return ProvisionResult(
                "in_progress",
                name,
                {
                    "message": f"still running after {self.deadline:g} s; GET /api/v1/tenant/{name} later"
                },
            )

    async def drain(self) -> None:
        """Wait for provisioning still running (on shutdown)."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _plan_and_apply(
        self, fleet: Fleet, name: str, path: Any, *, dry_run: bool
    ) -> ProvisionResult:
        if self.write_tenant_files and not dry_run:
            atomic_write_text(self.project.tenants_dir / f"{name}.yaml", _as_yaml(fleet, path))
            fleet = Fleet(self.project)
        plan = await Planner(fleet, self.backend, parallelism=1).plan([path])
        (tenant_plan,) = plan.tenants
        changes = [change_json(c, tenant_plan.redactor) for c in tenant_plan.changes]
        if tenant_plan.status == "error":
            return ProvisionResult(
                "failed", name, {"message": tenant_plan.error, "changes": [], "rolledBack": False}
            )
        applier = Applier(
            fleet=fleet,
            backend=self.backend,
            journal=self.audit,
            locks=self.locks,
            lockfile=self.project.root / self.project.config.lockfile,
            options=self.options,
        )
        one = Plan(plan.plan_id, plan.created_at, (tenant_plan,))
        if dry_run:
            (explained,) = await applier.explain(one)
            body = {"planId": plan.plan_id, "changes": changes, "steps": _steps(explained)}
            return ProvisionResult("planned", name, body)
        (result,) = await applier.apply(one)
        return self._result(name, plan.plan_id, result, changes)

    def _result(
        self, name: str, plan_id: str, result: TenantResult, changes: list[dict[str, Any]]
    ) -> ProvisionResult:
        trail = [r.model_dump() for r in self.audit.records(name) if r.plan_id == plan_id]
        body: dict[str, Any] = {
            "deploymentId": result.deployment_id,
            "changes": changes,
            "auditTrail": trail,
            "message": result.message,
        }
        if result.outcome in ("applied", "unchanged"):
            return ProvisionResult(result.outcome, name, body)
        if result.outcome in ("locked", "refused"):
            return ProvisionResult("locked", name, body)
        body["rolledBack"] = result.outcome == "rolled_back"
        return ProvisionResult("failed", name, body)

    def applied_state(self, name: str) -> dict[str, Any] | None:
        """The tenant's lockfile entry (without the model), or ``None``."""
        entry = read_lockfile(self.project.root / self.project.config.lockfile).tenants.get(name)
        if entry is None:
            return None
        return entry.model_dump(mode="json", exclude={"model"}, exclude_none=True)


#: Longest tenant name serve accepts (it becomes a file name).
_MAX_NAME = 128


def _safe_name(name: str) -> str:
    # The name becomes a path: refuse anything the config format would refuse anyway.
    if not is_name(name) or len(name) > _MAX_NAME:
        raise ConfigError(
            "name must be letters, digits, '.', '_' or '-' (and start with a letter or digit)",
            pointer="/name",
        )
    return name


def _steps(explained: TenantSteps) -> list[str]:
    """The dry run's steps as sentences (or why they cannot be known yet)."""
    if explained.error is not None:
        return [f"cannot tell: {explained.error}"]
    return explain_steps(explained.steps)


def _details(exc: ValidationFailed | ConfigError) -> list[dict[str, str]]:
    """One entry per error: ``path`` is the JSON pointer into the request's tenant;
    ``file`` and ``line`` say where else the error lies (a template, for one that fails
    on this tenant's values), and ``location`` is the whole report line."""
    errors = exc.errors if isinstance(exc, ValidationFailed) else [exc]
    details = []
    for e in errors:
        entry = {"path": e.pointer or "", "message": e.message, "location": str(e)}
        if e.path is not None and e.path != e.tenant_file:
            entry["file"] = str(e.path)
            if e.line:
                entry["line"] = str(e.line)
        details.append(entry)
    return details


def _as_yaml(fleet: Fleet, path: Any) -> str:
    """The inline tenant as YAML, for the config repo."""
    from io import StringIO

    from ruamel.yaml import YAML

    data = json.loads(fleet.inline_text(path) or "{}")
    out = StringIO()
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.dump(data, out)
    return "# Written by `tenantops serve`; the repo stays the source of truth.\n" + out.getvalue()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

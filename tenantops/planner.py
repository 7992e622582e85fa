"""Gather desired and live state for each tenant and build a :class:`~tenantops.plan.Plan`.

The I/O shell around :mod:`tenantops.diff` and :mod:`tenantops.plan`: it renders each
tenant (inside its concurrency slot, so rendering overlaps other tenants' network
waits), exports the live model from the tenant's workspace, reads role assignments
when the tenant manages them, and diffs. Each ``base.botId`` is exported once per run.
One tenant's failure becomes that tenant's ``error`` and never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tenantops import config as cfg
from tenantops.backend import Backend
from tenantops.diff import diff_models, diff_roles
from tenantops.drift import DriftReport, TenantDrift, assess
from tenantops.errors import ApiError, ConfigError, NotFoundError, TenantOpsError, ValidationFailed
from tenantops.fleet import DesiredTenant, Fleet
from tenantops.lockfile import Lockfile
from tenantops.model import BotDoc, model_sha256
from tenantops.plan import Plan, TenantPlan
from tenantops.redact import Redactor

__all__ = ["Planner", "describe_error"]


def describe_error(exc: BaseException) -> str:
    """One line (or a few, for several config errors) that says what went wrong."""
    if isinstance(exc, ValidationFailed):
        return "; ".join(str(e) for e in exc.errors)
    return str(exc)


@dataclass(slots=True)
class _Bases:
    """Base models exported from the API, by bot id; fetched once, failures remembered."""

    models: dict[str, BotDoc]
    errors: dict[str, str]


class Planner:
    """Builds plans for tenants of one config repo against one backend."""

    def __init__(
        self,
        fleet: Fleet,
        backend: Backend,
        *,
        parallelism: int = 8,
        on_tenant_done: Callable[[TenantPlan], None] | None = None,
    ) -> None:
        self.fleet = fleet
        self.backend = backend
        self.parallelism = max(1, parallelism)
        self._on_done = on_tenant_done or (lambda _: None)

    async def plan(self, paths: Sequence[Path]) -> Plan:
        """Plan the tenants whose files are ``paths``."""
        bases = await self._export_bases()
        slots = asyncio.Semaphore(self.parallelism)

        async def one(path: Path) -> TenantPlan:
            async with slots:
                result = await self._plan_tenant(path, bases)
            self._on_done(result)
            return result

        return Plan.of(await asyncio.gather(*(one(p) for p in paths)))

    async def drift(self, paths: Sequence[Path], lock: Lockfile) -> DriftReport:
        """Compare each tenant's live bot with what the lockfile says was applied."""
        bases = await self._export_bases()
        slots = asyncio.Semaphore(self.parallelism)

        async def one(path: Path) -> TenantDrift:
            async with slots:
                return await self._drift_tenant(path, lock, bases)

        return DriftReport.of(await asyncio.gather(*(one(p) for p in paths)))

    async def _drift_tenant(self, path: Path, lock: Lockfile, bases: _Bases) -> TenantDrift:
        name = path.stem
        entry = lock.tenants.get(name)
        desired: DesiredTenant | None = None
        # A tenant whose config is broken still has a known drift; only "pending" is not.
        with contextlib.suppress(ValidationFailed, ConfigError):
            desired = self.fleet.build(path, bases=bases.models)
        workspace = desired.tenant.workspace if desired else (entry.workspace if entry else "")
        if entry is None:
            return assess(
                tenant=name,
                workspace=workspace,
                entry=None,
                live=None,
                desired_sha256=None,
                redactor=Redactor(),
            )
        bot_id = entry.base.botId or (entry.model or {}).get("botId") or ""
        redactor = desired.redactor if desired else Redactor()
        try:
            live: BotDoc | None = await self.backend.export_bot(
                str(bot_id), workspace_id=entry.workspace
            )
        except NotFoundError:
            live = None
        except TenantOpsError as exc:
            return TenantDrift(
                name,
                entry.workspace,
                "error",
                error=redactor.text(describe_error(exc)),
                redactor=redactor,
            )
        return assess(
            tenant=name,
            workspace=entry.workspace,
            entry=entry,
            live=live,
            desired_sha256=model_sha256(desired.model) if desired and desired.model else None,
            redactor=redactor,
            ignore=desired.template.spec.ignore_changes if desired else (),
        )

    async def _export_bases(self) -> _Bases:
        """Export the base of every template that takes it from the API, once each."""
        wanted: dict[str, str | None] = {}
        for name in self.fleet.project.template_names():
            try:
                spec = self.fleet.template(name).spec
            except (ValidationFailed, ConfigError):
                continue  # the template's tenants report its errors
            if spec.base.bot_id is not None:
                wanted[spec.base.bot_id] = spec.base.workspace_id
        bases = _Bases({}, {})

        async def export(bot_id: str, workspace: str | None) -> None:
            try:
                bases.models[bot_id] = await self.backend.export_bot(bot_id, workspace_id=workspace)
            except ApiError as exc:
                bases.errors[bot_id] = f"cannot export base bot '{bot_id}': {exc}"

        await asyncio.gather(*(export(b, w) for b, w in wanted.items()))
        return bases

    async def _plan_tenant(self, path: Path, bases: _Bases) -> TenantPlan:
        name = path.stem
        try:
            desired = self.fleet.build(path, bases=bases.models)
        except (ValidationFailed, ConfigError) as exc:
            return TenantPlan.failed(
                name, _workspace_of(self.fleet.project, path), describe_error(exc)
            )
        if desired.model is None:
            bot_id = desired.template.spec.base.bot_id or ""
            error = bases.errors.get(bot_id, f"base bot '{bot_id}' was not exported")
            return TenantPlan.failed(name, desired.tenant.workspace, error)
        try:
            return await self._diff(desired)
        except TenantOpsError as exc:
            return TenantPlan.failed(
                name, desired.tenant.workspace, desired.redactor.text(describe_error(exc))
            )

    async def _diff(self, desired: DesiredTenant) -> TenantPlan:
        assert desired.model is not None
        tenant = desired.tenant
        bot_id = str(desired.model["botId"])
        live: BotDoc | None
        try:
            live = await self.backend.export_bot(bot_id, workspace_id=tenant.workspace)
        except NotFoundError:
            live = None
        changes = diff_models(desired.model, live, ignore=desired.template.spec.ignore_changes)
        if tenant.roles is not None:
            grants = await self.backend.list_roles(tenant.workspace)
            changes += diff_roles(tenant.roles, grants)
        return TenantPlan.build(
            tenant=tenant.name,
            workspace=tenant.workspace,
            desired=desired.model,
            live=live,
            changes=changes,
            config_sha256=desired.config_sha256,
            base={"botId": bot_id, "version": desired.base_version},
            roles_managed=tenant.roles is not None,
            redactor=desired.redactor,
        )


def _workspace_of(project: cfg.Project, path: Path) -> str:
    """Best effort workspace of a tenant whose config failed to load (for the report)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError):
        return ""
    if isinstance(data, dict) and isinstance(data.get("workspace"), str):
        return str(data["workspace"])
    return ""

"""``tenantops apply``: deploy a saved plan, or plan and (after confirmation) deploy."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tenantops.cli.app import App, print_lines, progress
from tenantops.cli.options import deploy_timeout, lock_url, parallelism

if TYPE_CHECKING:
    from tenantops.apply.applier import TenantResult
    from tenantops.backends.contract.client import PlatformClient
    from tenantops.core.plan import Plan
    from tenantops.core.redact import Redactor

__all__ = ["apply"]


@click.command()
@click.argument("targets", nargs=-1, metavar="[PLANFILE | TENANT...]")
@click.option("--auto-approve", is_flag=True, help="Apply without asking (CI).")
@parallelism
@deploy_timeout
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds to wait for a tenant locked by another apply.",
)
@click.option(
    "--lock-ttl",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="Seconds a tenant's lease lives unless renewed: how long a killed run blocks the tenant.",
)
@lock_url
@click.pass_obj
def apply(
    app: App,
    targets: tuple[str, ...],
    auto_approve: bool,
    parallelism: int,
    deploy_timeout: float,
    lock_timeout: float,
    lock_ttl: float,
    lock_url: str | None,
) -> None:
    """Apply PLANFILE (from `tenantops plan --out`), or plan TENANTs (default: all) and apply.

    Without a plan file the plan is shown first and must be confirmed, unless
    --auto-approve; without a terminal, apply refuses to go on without either.
    Exits 1 if any tenant failed, was rolled back, refused as stale or locked.
    """
    plan_file = Path(targets[0]) if len(targets) == 1 and Path(targets[0]).is_file() else None
    if plan_file is not None:
        plan = _read_plan(plan_file)
    else:
        if not auto_approve and not _interactive():
            # Exit 1 like every refusal; click's usage errors exit 2, which means "changes".
            raise click.ClickException(
                "refusing to apply without confirmation: not a terminal. Pass --auto-approve, "
                "or apply a plan file saved by `tenantops plan --out`"
            )
        plan = _plan_now(app, targets, parallelism)
        if not plan.has_changes and not plan.has_errors:
            click.echo("No changes. Recording the tenants in the lockfile where needed.", err=True)
        elif not auto_approve and not _confirmed():
            click.echo("Apply cancelled.", err=True)
            raise SystemExit(1)
    results = _run(
        app,
        plan,
        parallelism=parallelism,
        deploy_timeout=deploy_timeout,
        lock_timeout=lock_timeout,
        lock_ttl=lock_ttl,
        lock_url=lock_url,
    )
    _summary(results)
    if any(r.failed for r in results):
        raise SystemExit(1)


def _interactive() -> bool:
    return sys.stdin.isatty()


def _read_plan(path: Path) -> Plan:
    from tenantops.core.plan import plan_from_json
    from tenantops.errors import PlanError

    try:
        return plan_from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise PlanError(
            f"cannot read the plan file {path}: {exc}; run `tenantops plan --out FILE` again"
        ) from exc


def _plan_now(app: App, tenants: tuple[str, ...], parallelism: int) -> Plan:

    from tenantops.cli.selecting import selected_paths
    from tenantops.pipeline.planner import Planner
    from tenantops.report.changes import plan_text

    paths = selected_paths(app, tenants)
    with progress(len(paths), "planning") as advance:
        plan = app.run(
            lambda client: Planner(
                app.fleet(), client, parallelism=parallelism, on_tenant_done=advance
            ).plan(paths),
            parallelism=parallelism,
        )
    print_lines(plan_text(plan))
    return plan


def _confirmed() -> bool:
    click.echo("\nDo you want to apply these changes? Only 'yes' will be accepted.")
    return bool(click.prompt("  Enter a value", default="", show_default=False) == "yes")


def _run(
    app: App,
    plan: Plan,
    *,
    parallelism: int,
    deploy_timeout: float,
    lock_timeout: float,
    lock_ttl: float,
    lock_url: str | None,
) -> list[TenantResult]:
    from tenantops.apply.applier import Applier, ApplyOptions
    from tenantops.apply.audit import AuditLog, detect_actor
    from tenantops.apply.locks import open_locks

    project = app.project()
    actor = detect_actor()
    audit = AuditLog(
        project.root / project.config.audit, actor=actor, redactor=_all_secrets(app, plan)
    )
    options = ApplyOptions(
        parallelism=parallelism,
        deploy_timeout=deploy_timeout,
        lock_timeout=lock_timeout,
        lock_ttl=lock_ttl,
        holder=actor,
    )

    async def work(client: PlatformClient) -> list[TenantResult]:
        locks = open_locks(lock_url, project.root / ".tenantops" / "locks")
        try:
            with progress(len(plan.tenants), "applying") as advance:
                applier = Applier(
                    fleet=app.fleet(),
                    backend=client,
                    audit=audit,
                    locks=locks,
                    lockfile=project.root / project.config.lockfile,
                    options=options,
                    on_tenant_done=advance,
                )
                return await applier.apply(plan)
        finally:
            await locks.aclose()

    return app.run(work, parallelism=parallelism)


def _all_secrets(app: App, plan: Plan) -> Redactor:
    """Every secret of the plan's tenants: the audit log masks them all, as a second line of defence."""
    from tenantops.config import load_tenant
    from tenantops.core.redact import Redactor
    from tenantops.errors import ConfigError, ValidationFailed

    values: set[str] = set()
    for path in app.fleet().tenant_paths([t.tenant for t in plan.tenants]):
        try:
            values |= load_tenant(app.project(), path).secret_values()
        except (ConfigError, ValidationFailed):
            continue  # apply reports the broken tenant itself
    return Redactor(values)


def _summary(results: list[TenantResult]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Apply", title_justify="left")
    for column in ("tenant", "result", "deployment", "duration", "note"):
        table.add_column(column, overflow="fold")
    style = {
        "applied": "green",
        "unchanged": "dim",
        "rolled_back": "yellow",
        "failed": "red",
        "refused": "red",
        "locked": "red",
    }
    for r in sorted(results, key=lambda r: r.tenant):
        table.add_row(
            r.tenant,
            f"[{style[r.outcome]}]{r.outcome}[/]",
            r.deployment_id or "-",
            f"{r.duration:.1f} s",
            r.message,
        )
    Console(highlight=False, soft_wrap=True, width=160).print(table)
    failed = sum(r.failed for r in results)
    applied = sum(r.outcome == "applied" for r in results)
    click.echo(
        f"Apply complete: {applied} applied, {len(results) - applied - failed} unchanged, {failed} failed."
    )

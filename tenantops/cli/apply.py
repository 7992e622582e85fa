"""``tenantops apply``: deploy a saved plan, or plan and (after confirmation) deploy."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from tenantops.cli.app import App, print_lines
from tenantops.cli.options import deploy_timeout, format_option, lock_url, parallelism

if TYPE_CHECKING:
    from tenantops.apply.interpret import Applier, ApplyOptions, TenantResult
    from tenantops.backends.base import Backend
    from tenantops.core.plan import Plan
    from tenantops.core.redact import Redactor

__all__ = ["apply"]

T = TypeVar("T")


@click.command()
@click.argument("targets", nargs=-1, metavar="[PLANFILE | TENANT...]")
@click.option("--auto-approve", is_flag=True, help="Apply without asking (CI).")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print, per tenant, the steps apply would take now; change nothing (needs PLANFILE).",
)
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
@format_option(
    ("text", "json"),
    "json: the results (and the quota used) as one JSON document on stdout; the "
    "plan shown before an apply without PLANFILE goes to stderr.",
)
@click.pass_obj
def apply(
    app: App,
    targets: tuple[str, ...],
    auto_approve: bool,
    dry_run: bool,
    parallelism: int,
    deploy_timeout: float,
    lock_timeout: float,
    lock_ttl: float,
    lock_url: str | None,
    fmt: str,
) -> None:
    """Apply PLANFILE (from `tenantops plan --out`), or plan TENANTs (default: all) and apply.

    Without a plan file the plan is shown first and must be confirmed, unless
    --auto-approve; without a terminal, apply refuses to go on without either.
    Exits 1 if any tenant failed, was rolled back, refused as stale or locked.
    """
    from tenantops.apply.interpret import ApplyOptions
    from tenantops.errors import ApplyError

    plan_file = Path(targets[0]) if len(targets) == 1 and Path(targets[0]).is_file() else None
    if dry_run and plan_file is None:
        raise click.UsageError("--dry-run explains a saved plan: give PLANFILE")
    plan = (
        _read_plan(plan_file)
        if plan_file is not None
        else _plan_and_confirm(app, targets, auto_approve, parallelism, to_stderr=fmt == "json")
    )
    options = ApplyOptions(
        parallelism=parallelism,
        deploy_timeout=deploy_timeout,
        lock_timeout=lock_timeout,
        lock_ttl=lock_ttl,
    )
    if dry_run:
        _explain(app, plan, options, lock_url)
        return
    results = _run(app, plan, options, lock_url)
    _show(app, plan.plan_id, results, fmt)
    failed = [r.tenant for r in results if r.failed]
    if failed:
        done = [r.tenant for r in results if not r.failed]
        raise ApplyError(
            f"{len(failed)} tenant(s) not applied",
            plan_id=plan.plan_id,
            completed=done,
            failed=failed,
        ).already_shown()


def _show(app: App, plan_id: str, results: list[TenantResult], fmt: str) -> None:
    from tenantops.report.results import apply_json, apply_summary, apply_table

    if fmt == "json":
        doc = apply_json(plan_id, results)
        if (quota := app.quota(len(results))) is not None:
            doc["quota"] = quota.to_json()
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
        return
    # Wide enough that CI logs keep each tenant's note on one line.
    print_lines([apply_table(results)], width=160)
    click.echo(apply_summary(results))


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


def _plan_and_confirm(
    app: App, tenants: tuple[str, ...], auto_approve: bool, parallelism: int, *, to_stderr: bool
) -> Plan:
    """Plan now, show it (on stderr with ``to_stderr``), and ask unless --auto-approve."""
    from tenantops.errors import ApplyError
    from tenantops.pipeline.planner import Planner
    from tenantops.report.changes import plan_text

    if not auto_approve and not _interactive():
        raise ApplyError(
            "refusing to apply without confirmation: not a terminal. Pass --auto-approve, "
            "or apply a plan file saved by `tenantops plan --out`"
        )
    paths = app.select(tenants)
    plan = app.run(
        lambda client: Planner(
            app.fleet(), client, parallelism=parallelism, reporter=app.reporter
        ).plan(paths),
        parallelism=parallelism,
    )
    print_lines(plan_text(plan), stderr=to_stderr)
    if not plan.has_changes and not plan.has_errors:
        click.echo("No changes. Recording the tenants in the lockfile where needed.", err=True)
    elif not auto_approve and not _confirmed(err=to_stderr):
        click.echo("Apply cancelled.", err=True)
        raise ApplyError("apply cancelled", plan_id=plan.plan_id).already_shown()
    return plan


def _confirmed(*, err: bool) -> bool:
    click.echo("\nDo you want to apply these changes? Only 'yes' will be accepted.", err=err)
    answer = click.prompt("  Enter a value", default="", show_default=False, err=err)
    return bool(answer == "yes")


def _applier(
    app: App, client: Backend, plan: Plan, options: ApplyOptions, lock_url: str | None
) -> Applier:
    from dataclasses import replace

    from tenantops.apply.interpret import Applier

    journal = app.journal(_all_secrets(app, plan))
    return Applier(
        fleet=app.fleet(),
        backend=client,
        journal=journal,
        locks=app.locks(lock_url),
        lockfile=app.lockfile,
        options=replace(options, holder=journal.actor),
        reporter=app.reporter,
    )


async def _with_applier(
    app: App,
    client: Backend,
    plan: Plan,
    options: ApplyOptions,
    lock_url: str | None,
    use: Callable[[Applier], Awaitable[T]],
) -> T:
    """``use`` an applier of ``plan``, closing its lock store afterwards."""
    applier = _applier(app, client, plan, options, lock_url)
    try:
        return await use(applier)
    finally:
        await applier.locks.aclose()


def _run(app: App, plan: Plan, options: ApplyOptions, lock_url: str | None) -> list[TenantResult]:
    return app.run(
        lambda client: _with_applier(app, client, plan, options, lock_url, lambda a: a.apply(plan)),
        parallelism=options.parallelism,
    )


def _explain(app: App, plan: Plan, options: ApplyOptions, lock_url: str | None) -> None:
    """``--dry-run``: observe and decide as apply would, then print the steps."""
    from tenantops.apply.explain import explain_plan

    steps = app.run(
        lambda client: _with_applier(
            app, client, plan, options, lock_url, lambda a: a.explain(plan)
        ),
        parallelism=options.parallelism,
    )
    for line in explain_plan(steps):
        click.echo(line)


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

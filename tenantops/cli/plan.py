"""``tenantops plan``: what applying the config would change, per tenant."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tenantops.cli.app import App, print_lines
from tenantops.cli.options import output_format, parallelism, shard_option, tenant_args

__all__ = ["plan"]


@click.command()
@tenant_args
@click.option(
    "--all", "all_tenants", is_flag=True, help="Plan every tenant (the default without TENANTs)."
)
@click.option(
    "--changed-since",
    metavar="GIT_REF",
    help="Only tenants whose file, template or tenantops.yaml changed since GIT_REF.",
)
@shard_option
@parallelism
@output_format
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the plan for `tenantops apply PLANFILE`.",
)
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes (0: none, 1: errors)."
)
@click.pass_obj
def plan(
    app: App,
    tenants: tuple[str, ...],
    all_tenants: bool,
    changed_since: str | None,
    shard: tuple[int, int] | None,
    parallelism: int,
    fmt: str,
    out: Path | None,
    detailed_exitcode: bool,
) -> None:
    """Render each TENANT (default: all), export its live bot, and show the difference.

    Exit codes: 0 ran (no changes, or changes without --detailed-exitcode), 1 a tenant
    failed, 2 changes with --detailed-exitcode.
    """
    from tenantops.core.plan import plan_to_json
    from tenantops.durable import atomic_write_text
    from tenantops.errors import DifferencesFound, PlanError
    from tenantops.pipeline.planner import Planner

    if tenants and all_tenants:
        raise click.UsageError("give TENANTs or --all, not both")
    paths = app.select(tenants, changed_since=changed_since, shard=shard)
    result = app.run(
        lambda client: Planner(
            app.fleet(), client, parallelism=parallelism, reporter=app.reporter
        ).plan(paths),
        parallelism=parallelism,
    )
    _show(app, result, fmt)
    if out is not None:
        atomic_write_text(
            out, json.dumps(plan_to_json(result, plan_file=True), indent=2, sort_keys=True) + "\n"
        )
        click.echo(f"Saved the plan to {out}.", err=True)
    if result.has_errors:
        failed = result.summary["tenants_errored"]
        raise PlanError(f"{failed} tenant(s) could not be planned").already_shown()
    if detailed_exitcode and result.has_changes:
        raise DifferencesFound("the plan has changes").already_shown()


def _show(app: App, result: object, fmt: str) -> None:

    from tenantops.core.plan import Plan, plan_to_json
    from tenantops.report.changes import plan_markdown, plan_text

    assert isinstance(result, Plan)
    if fmt == "json":
        doc = plan_to_json(result)
        if (quota := app.quota(len(result.tenants))) is not None:
            doc["quota"] = quota.to_json()
        # Compact, like `terraform show -json`: half the bytes and a third of the time
        # of an indented dump on a large fleet; pipe it through jq to read it.
        click.echo(json.dumps(doc, sort_keys=True, separators=(",", ":")))
    elif fmt == "markdown":
        click.echo(plan_markdown(result), nl=False)
    else:
        print_lines(plan_text(result))

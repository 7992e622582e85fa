"""``tenantops drift``: which tenants' live bots no longer match what was applied."""

from __future__ import annotations

import json

import click

from tenantops.cli.app import App, print_lines
from tenantops.cli.options import output_format, parallelism, tenant_args

__all__ = ["drift"]


@click.command()
@tenant_args
@parallelism
@output_format
@click.pass_obj
def drift(app: App, tenants: tuple[str, ...], parallelism: int, fmt: str) -> None:
    """Compare each TENANT's live bot (default: all) with the lockfile's applied model.

    Changes made outside tenantops (in the Cognigy UI) are drift; config changes not
    yet applied are reported as pending, not as drift. Exit codes: 0 no drift,
    1 a tenant could not be checked, 2 drift.
    """

    from tenantops.apply.lockfile import read_lockfile
    from tenantops.errors import DifferencesFound, PlanError
    from tenantops.pipeline.planner import Planner
    from tenantops.report.changes import drift_json, drift_markdown, drift_text

    lock = read_lockfile(app.lockfile)
    paths = app.select(tenants)
    report = app.run(
        lambda client: Planner(
            app.fleet(), client, parallelism=parallelism, reporter=app.reporter
        ).drift(paths, lock),
        parallelism=parallelism,
    )
    if fmt == "json":
        doc = drift_json(report)
        if (quota := app.quota(len(report.tenants))) is not None:
            doc["quota"] = quota.to_json()
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
    elif fmt == "markdown":
        click.echo(drift_markdown(report), nl=False)
    else:
        print_lines(drift_text(report))
    if report.has_errors:
        raise PlanError("some tenants could not be checked for drift").already_shown()
    if report.has_drift:
        raise DifferencesFound("drift found").already_shown()

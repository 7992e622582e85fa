"""``tenantops import``: adopt live bots as tenants (tenant file, lockfile baseline, audit)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from tenantops.cli.app import App, print_lines
from tenantops.cli.options import TENANT, parallelism

if TYPE_CHECKING:
    from tenantops.apply.importer import ImportReport, ImportRequest, ImportResult

__all__ = ["import_"]


@click.command("import")
@click.argument("name", required=False, type=TENANT)
@click.option("--workspace", metavar="WS", help="The workspace the live bot runs in.")
@click.option("--template", metavar="T", help="The template the tenant uses (default: defaults').")
@click.option("--roles", is_flag=True, help="Manage the workspace's roles: record the live ones.")
@click.option("--force", is_flag=True, help="Replace an existing tenant file.")
@click.option(
    "--from",
    "from_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Import every row of a CSV file: name,workspace[,template] with a header row.",
)
@parallelism
@click.pass_obj
def import_(
    app: App,
    name: str | None,
    workspace: str | None,
    template: str | None,
    roles: bool,
    force: bool,
    from_file: Path | None,
    parallelism: int,
) -> None:
    """Adopt the live bot of NAME's workspace: write tenants/NAME.yaml, record it as applied.

    Deploys nothing. Prints what `plan` would now change: what the template cannot
    reproduce. Secrets become ${env:NAME} references, never values.
    """
    from tenantops.apply.importer import Importer

    requests = _requests(name, workspace, template, from_file)
    report = app.run(
        lambda backend: Importer(
            app.fleet(),
            backend,
            journal=app.journal,
            lockfile=app.lockfile,
            force=force,
            roles=roles,
            parallelism=parallelism,
            reporter=app.reporter,
        ).run(requests),
        parallelism=parallelism,
    )
    _show(app, report, from_file)


def _requests(
    name: str | None, workspace: str | None, template: str | None, from_file: Path | None
) -> list[ImportRequest]:
    from tenantops.apply.importer import ImportRequest, requests_from_csv
    from tenantops.errors import ConfigError

    if from_file is None:
        if name is None or workspace is None:
            raise click.UsageError("give NAME --workspace WS, or --from FILE")
        return [ImportRequest(name, workspace, template)]
    if name is not None or workspace is not None:
        raise click.UsageError("--from FILE takes no NAME or --workspace")
    try:
        text = from_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the import list: {exc}", path=from_file) from exc
    try:
        requests = requests_from_csv(text)
    except ConfigError as exc:
        exc.path = from_file
        raise
    return [r if r.template else _with_template(r, template) for r in requests]


def _with_template(request: ImportRequest, template: str | None) -> ImportRequest:
    from dataclasses import replace

    return replace(request, template=template)


def _show(app: App, report: ImportReport, from_file: Path | None) -> None:
    from tenantops.errors import PlanError
    from tenantops.report.changes import plan_text

    for result in report.results:
        if result.ok:
            click.echo("\n".join(_imported_lines(app, result)))
    if report.plan is not None:
        click.echo("")
        print_lines(plan_text(report.plan))
    failed = report.failed
    if from_file is None and failed and failed[0].error is not None:
        raise failed[0].error
    for result in failed:
        where = f"{from_file}:{result.request.line}: " if result.request.line else ""
        click.echo(f"failed: {where}{result.request.name}: {result.error}", err=True)
    imported = len(report.results) - len(failed)
    click.echo(f"Import: {imported} imported, {len(failed)} failed.", err=True)
    if failed:
        raise PlanError(
            f"{len(failed)} of {len(report.results)} bot(s) not imported"
        ).already_shown()
    if report.plan is not None and report.plan.has_errors:
        raise PlanError("imported tenant(s) could not be planned: fix their files").already_shown()


def _imported_lines(app: App, result: ImportResult) -> list[str]:
    """What the import of one bot did, and what the user must do about secrets and gaps."""
    assert result.inferred is not None
    assert result.path is not None
    path = app.project().display(result.path)
    state = "written" if result.written else "unchanged"
    lines = [f"imported {result.request.name} from {result.request.workspace}: {path} ({state})"]
    env = app.project().env
    for secret in result.inferred.secrets:
        lines.append(
            f"  secret {secret.key}: {path} reads ${{env:{secret.env}}}; set {secret.env} "
            f"to the value live at {secret.pointer} (not written, not shown)"
        )
        if secret.env in env and env[secret.env] != secret.value:
            lines.append(f"  {secret.env} is set but differs from the live value")
    for name in result.inferred.unbound:
        lines.append(f"  {name}: the live bot shows no value for it; set it in {path}")
    if result.inferred.problem:
        lines.append(f"  the template could not be read for vars: {result.inferred.problem}")
    return lines

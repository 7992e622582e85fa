"""``tenantops audit``: check that the audit trails are intact, or show one tenant's history.

Reads only; records are written by ``apply`` through :class:`tenantops.apply.audit.AuditLog`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tenantops.cli.app import App
from tenantops.cli.options import annotation_format, format_option

if TYPE_CHECKING:
    from tenantops.apply.audit import AuditProblem, AuditRecord

__all__ = ["audit"]


def _directory(app: App) -> Path:
    project = app.project()
    return project.root / project.config.audit


@click.group()
def audit() -> None:
    """Verify or show the audit trail (``audit/<tenant>.jsonl``)."""


@audit.command()
@annotation_format
@click.pass_obj
def verify(app: App, fmt: str) -> None:
    """Check every tenant's hash chain and name the first broken record of each.

    Exits 0 when every chain is intact, 1 otherwise. Records cut off the end of a
    trail leave a valid chain; compare the plan ids in the lockfile to notice that.
    """
    from tenantops.apply.audit import AuditLog
    from tenantops.apply.audit import verify as verify_trails
    from tenantops.errors import AuditError

    directory = _directory(app)
    problems = verify_trails(directory)
    if problems:
        for problem in problems:
            click.echo(_github(problem) if fmt == "github" else str(problem))
        click.echo(f"{len(problems)} audit trail(s) broken", err=True)
        raise AuditError(f"{len(problems)} audit trail(s) broken").already_shown()
    log = AuditLog(directory)
    trails = log.tenants()
    count = sum(len(log.records(tenant)) for tenant in trails)
    click.echo(f"ok: {count} record(s) in {len(trails)} trail(s), every chain intact", err=True)


@audit.command()
@click.argument("tenant")
@format_option(
    ("text", "json"),
    "text for terminals, json (an array of records) for machines.",
)
@click.pass_obj
def show(app: App, tenant: str, fmt: str) -> None:
    """Print TENANT's audit history, oldest first."""
    from tenantops.apply.audit import AuditLog
    from tenantops.errors import AuditError

    log = AuditLog(_directory(app))
    if not log.path(tenant).is_file():
        raise AuditError(f"no audit trail for tenant {tenant}")
    records = log.records(tenant)
    if fmt == "json":
        click.echo(json.dumps([r.model_dump() for r in records], indent=2, ensure_ascii=False))
        return
    for record in records:
        click.echo(_line(record))


def _line(record: AuditRecord) -> str:
    details = json.dumps(record.details, separators=(",", ":"), ensure_ascii=False)
    plan = record.plan_id or "-"
    return f"{record.time}  {record.event:<22} {record.actor}  plan={plan}  {details}"


def _github(problem: AuditProblem) -> str:
    """A GitHub Actions ``::error`` annotation for a broken record."""
    from tenantops.report.annotations import annotation

    return annotation(
        problem.description,
        path=problem.file,
        line=problem.line,
        title=f"tenantops: {problem.tenant}",
    )

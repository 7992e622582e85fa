"""``tenantops validate``: load, render and schema-check tenants offline."""

from __future__ import annotations

import click

from tenantops.cli.app import App
from tenantops.cli.options import annotation_format, tenant_args

__all__ = ["validate"]


@click.command()
@tenant_args
@annotation_format
@click.pass_obj
def validate(app: App, tenants: tuple[str, ...], fmt: str) -> None:
    """Check TENANTs (default: all) offline and report every error with file and line.

    Exits 0 when everything is valid, 1 otherwise.
    """
    from tenantops.config.fleet import build_fleet
    from tenantops.errors import ValidationFailed
    from tenantops.report.annotations import format_errors

    result = build_fleet(app.fleet(), tenants)
    for line in format_errors(result.errors, fmt=fmt):
        click.echo(line)
    checked = len(result.desired) + len(result.failed)
    for name in sorted(result.deferred_schema):
        click.echo(
            f"note: template '{name}' exports its base from the API; "
            "its schema is checked by `tenantops plan`",
            err=True,
        )
    if result.errors:
        bad = len(result.failed)
        click.echo(
            f"{len(result.errors)} error(s) in {bad} of {checked} tenant(s)"
            if bad
            else f"{len(result.errors)} error(s)",
            err=True,
        )
        raise ValidationFailed(result.errors).already_shown()
    click.echo(f"{checked} tenant(s) valid", err=True)

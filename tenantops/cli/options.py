"""Options shared by several commands."""

from __future__ import annotations

import click

__all__ = ["output_format", "parallelism", "tenant_args"]

tenant_args = click.argument("tenants", nargs=-1, metavar="[TENANT]...")

parallelism = click.option(
    "--parallelism",
    type=click.IntRange(1, 512),
    default=8,
    show_default=True,
    help="Tenants worked on at once.",
)

output_format = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
    help="text for terminals, markdown for pull-request comments, json for machines.",
)

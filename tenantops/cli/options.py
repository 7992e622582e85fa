"""Options shared by several commands."""

from __future__ import annotations

import click

__all__ = [
    "annotation_format",
    "deploy_timeout",
    "lock_url",
    "output_format",
    "parallelism",
    "tenant_args",
]

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

annotation_format = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "github"]),
    default="text",
    show_default=True,
    help="github prints GitHub Actions annotations.",
)

deploy_timeout = click.option(
    "--deploy-timeout",
    type=click.FloatRange(min=1),
    default=600.0,
    show_default=True,
    help="Seconds a deployment may take before it is rolled back.",
)

lock_url = click.option(
    "--lock-url",
    envvar="TENANTOPS_LOCK_URL",
    metavar="URL",
    help="redis://... for tenant locks shared by CI runners on different machines "
    "(default: lock files in .tenantops/locks). Env: TENANTOPS_LOCK_URL.",
)

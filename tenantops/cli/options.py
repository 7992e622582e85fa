"""Options and ParamTypes shared by several commands.

ParamTypes turn text into values once, with click's own error messages:
:class:`ShardType` parses ``--shard I/N``, :class:`TenantName` checks a tenant name and
completes it from the config repo's ``tenants/`` folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from click.shell_completion import CompletionItem

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "SHARD",
    "TENANT",
    "ShardType",
    "TenantName",
    "annotation_format",
    "deploy_timeout",
    "format_option",
    "lock_url",
    "output_format",
    "parallelism",
    "shard_option",
    "tenant_args",
]


# click >= 8.3 makes ParamType generic; unparametrised, this module works from click 8.1 on.
class ShardType(click.ParamType):  # type: ignore[type-arg]
    """``I/N``: the I-th of N deterministic slices of the fleet (1-based), as ``(i, n)``."""

    name = "I/N"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        from tenantops.config.selection import parse_shard

        try:
            return parse_shard(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class TenantName(click.ParamType):  # type: ignore[type-arg]
    """A tenant name (its file is ``tenants/<name>.yaml``); completes from the repo."""

    name = "tenant"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> str:
        return str(value)

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        root = ctx.find_root().params.get("config_dir") or Path(".")
        folder = Path(root) / "tenants"
        names = sorted(p.stem for p in folder.glob("*.y*ml")) if folder.is_dir() else []
        return [CompletionItem(n) for n in names if n.startswith(incomplete)]


SHARD = ShardType()
TENANT = TenantName()

tenant_args = click.argument("tenants", nargs=-1, type=TENANT, metavar="[TENANT]...")

shard_option = click.option(
    "--shard",
    type=SHARD,
    metavar="I/N",
    help="Only the I-th of N deterministic slices of the fleet (1-based).",
)

parallelism = click.option(
    "--parallelism",
    type=click.IntRange(1, 512),
    default=8,
    show_default=True,
    help="Tenants worked on at once.",
)


def format_option(choices: tuple[str, ...], help: str) -> Callable[[F], F]:
    """``--format`` (into the ``fmt`` parameter), the first choice by default."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices)),
        default=choices[0],
        show_default=True,
        help=help,
    )


output_format = format_option(
    ("text", "markdown", "json"),
    "text for terminals, markdown for pull-request comments, json for machines.",
)

annotation_format = format_option(("text", "github"), "github prints GitHub Actions annotations.")

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

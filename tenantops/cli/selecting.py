"""Turn a command's tenant arguments and filters into tenant files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from tenantops.cli.app import App

__all__ = ["selected_paths"]


def selected_paths(
    app: App, tenants: Sequence[str], *, changed_since: str | None = None, shard: str | None = None
) -> list[Path]:
    """Tenant files for TENANT arguments (all when none), then ``--changed-since`` and ``--shard``."""
    from tenantops.config.selection import changed_since as changed
    from tenantops.config.selection import parse_shard, select

    paths = app.fleet().tenant_paths(tenants)
    if changed_since:
        paths = changed(app.project(), changed_since, paths)
    try:
        slice_ = parse_shard(shard) if shard else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--shard'") from exc
    return select(paths, slice_)

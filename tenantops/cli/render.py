"""``tenantops render``: print one tenant's desired bot model."""

from __future__ import annotations

from pathlib import Path

import click

from tenantops.cli.app import App

__all__ = ["render"]


@click.command()
@click.argument("tenant")
@click.option("--show-secrets", is_flag=True, help="Print secret values instead of masking them.")
@click.option(
    "--base",
    "base_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Base model JSON, for templates whose base is exported from the API.",
)
@click.pass_obj
def render(app: App, tenant: str, show_secrets: bool, base_file: Path | None) -> None:
    """Print TENANT's desired model as canonical JSON (secrets masked)."""
    from tenantops import config as cfg
    from tenantops.core.model import canonical_json
    from tenantops.errors import ConfigError

    fleet = app.fleet()
    (path,) = fleet.tenant_paths([tenant])
    template = fleet.template(fleet.load(path).template)
    bases = None
    if base_file is not None:
        base = cfg.read_json(base_file, display=base_file)
        bases = {template.base_key: base} if isinstance(base, dict) else None
    desired = fleet.build(path, bases=bases)
    if desired.model is None:
        raise ConfigError(
            f"template '{template.name}' exports its base ('{template.base_key}') from the "
            "API; pass --base FILE or use `tenantops plan`",
            tenant=tenant,
        )
    model = desired.model if show_secrets else desired.redactor.redact(desired.model)
    click.echo(canonical_json(model), nl=False)

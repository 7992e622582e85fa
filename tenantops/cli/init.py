"""``tenantops init``: scaffold a new config repo that validates and plans at once."""

from __future__ import annotations

from pathlib import Path

import click

from tenantops.cli.app import App

__all__ = ["init"]


@click.command()
@click.argument(
    "directory", required=False, type=click.Path(file_okay=False, path_type=Path), metavar="[DIR]"
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@click.pass_obj
def init(app: App, directory: Path | None, force: bool) -> None:
    """Write a new config repo into DIR (default: the -C folder, else the current one).

    tenantops.yaml, a template (base model, overrides, schema), one tenant, a
    .gitignore and the CI files (GitHub Actions, GitLab CI, pre-commit). Refuses to
    overwrite an existing file unless --force.
    """
    from tenantops.config.scaffold import existing_files, write_scaffold

    root = directory if directory is not None else app.root
    overwritten = existing_files(root) if force else []
    written = write_scaffold(root, force=force)
    note = f" ({len(overwritten)} overwritten)" if overwritten else ""
    click.echo(f"Wrote {len(written)} files in {root}{note}:")
    for path in written:
        click.echo(f"  {path}")
    click.echo("\n" + _next_steps(root))


def _next_steps(root: Path) -> str:
    steps = [] if root.resolve() == Path.cwd().resolve() else [f"cd {root}"]
    if not any((d / ".git").exists() for d in (root.resolve(), *root.resolve().parents)):
        steps.append("git init && git add . && git commit -m 'tenantops config'")
    steps += [
        "tenantops validate                   # offline: passes as written",
        "tenantops sim --port 8765 &          # no account? the simulator; else your Cognigy.AI:",
        "export COGNIGY_BASE_URL=http://127.0.0.1:8765 OAUTH_CLIENT_ID=demo-client "
        "OAUTH_CLIENT_SECRET=demo-secret",
        "tenantops plan                       # tenant example: everything to create",
    ]
    return (
        "Next steps:\n"
        + "".join(f"  $ {step}\n" for step in steps)
        + "Then edit tenants/ and templates/default/, keep the CI files of your platform\n"
        "(.github/workflows/ or .gitlab-ci.yml) and set COGNIGY_BASE_URL, OAUTH_CLIENT_ID\n"
        "and OAUTH_CLIENT_SECRET in its CI settings."
    )

"""The ``tenantops`` command group: global options, lazy subcommands, the one error handler.

Commands live one per module and are imported only when invoked, so ``--help`` never
pays for jinja2, redis, protobuf or httpx (``tests/test_imports.py`` enforces it).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from tenantops import __version__
from tenantops.cli.app import App
from tenantops.errors import TenantOpsError

__all__ = ["cli", "main"]

#: command name -> ("module:attribute", one-line help); imported on first use only.
_COMMANDS: dict[str, tuple[str, str]] = {
    "validate": (
        "tenantops.cli.validate:validate",
        "Check tenants offline: config, templates, schema.",
    ),
    "render": (
        "tenantops.cli.render:render",
        "Print a tenant's desired bot model as canonical JSON.",
    ),
    "plan": ("tenantops.cli.plan:plan", "Show what applying the config would change, per tenant."),
    "drift": (
        "tenantops.cli.drift:drift",
        "Show tenants whose live bot no longer matches what was applied.",
    ),
    "apply": (
        "tenantops.cli.apply:apply",
        "Deploy a saved plan, or plan and deploy after confirmation.",
    ),
    "unlock": ("tenantops.cli.unlock:unlock", "Break a tenant's apply lock."),
    "import": ("tenantops.cli.import_:import_", "Adopt live bots as tenants (terraform import)."),
    "audit": ("tenantops.cli.audit:audit", "Verify or show the audit trail."),
    "session-relay": (
        "tenantops.cli.relay:session_relay",
        "Serve the webhook and dialog-state service.",
    ),
    "serve": ("tenantops.cli.serve:serve", "Serve the provisioning HTTP API."),
    "init": (
        "tenantops.cli.init:init",
        "Scaffold a new config repo: config, template, tenant, CI files.",
    ),
    "completion": (
        "tenantops.cli.completion:completion",
        "Print the shell completion script (bash, zsh, fish).",
    ),
    "sim": ("tenantops.cli.sim:sim", "Run the Cognigy.AI API simulator."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _COMMANDS:
            module_name, attr = _COMMANDS[cmd_name][0].split(":")
            command = getattr(importlib.import_module(module_name), attr)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        # The one broad handler: a TenantOpsError becomes one line per problem on stderr
        # and the error's exit code; --debug re-raises it with its traceback.
        try:
            return super().invoke(ctx)
        except TenantOpsError as exc:
            app = ctx.obj
            if isinstance(app, App) and app.debug:
                raise
            if not exc.shown:
                _report(exc)
            ctx.exit(exc.exit_code)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click would import every command for its short help; read it from the table.
        rows = [(name, help_) for name, (_, help_) in sorted(_COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _report(exc: TenantOpsError) -> None:
    from tenantops.errors import ValidationFailed

    errors = exc.errors if isinstance(exc, ValidationFailed) else [exc]
    for error in errors:
        click.echo(f"error: {error}", err=True)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-C",
    "--config-dir",
    "config_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Config repo root (holds tenantops.yaml, tenants/, templates/).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.option(
    "-v", "--verbose", is_flag=True, help="Show each retried API call on stderr, with its cause."
)
@click.version_option(__version__, prog_name="tenantops")
@click.pass_context
def cli(ctx: click.Context, config_dir: Path, debug: bool, verbose: bool) -> None:
    """Deploy Cognigy.AI bot models across tenants: validate, render, plan, apply, drift."""
    ctx.obj = App(root=config_dir, debug=debug, verbose=verbose)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI (the ``tenantops`` script and ``python -m tenantops``)."""
    cli.main(args=argv, prog_name="tenantops")

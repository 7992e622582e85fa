"""``tenantops completion``: print the shell completion script for bash, zsh or fish.

The script is click's own, exactly what ``_TENANTOPS_COMPLETE=<shell>_source tenantops``
prints; completing then calls tenantops with ``_TENANTOPS_COMPLETE=<shell>_complete``.
"""

from __future__ import annotations

import click

__all__ = ["COMPLETE_VAR", "completion"]

#: The variable click's completion reads; its name follows from the program name.
COMPLETE_VAR = "_TENANTOPS_COMPLETE"

_INSTALL = {
    "bash": 'eval "$(tenantops completion bash)"          # in ~/.bashrc',
    "zsh": 'eval "$(tenantops completion zsh)"           # in ~/.zshrc, after compinit',
    "fish": "tenantops completion fish > ~/.config/fish/completions/tenantops.fish",
}


@click.command(epilog="Install:\n\n\b\n" + "\n".join(_INSTALL.values()))
@click.argument("shell", type=click.Choice(list(_INSTALL)))
def completion(shell: str) -> None:
    """Print the completion script for SHELL (bash 4.4+, zsh or fish)."""
    from click.shell_completion import BashComplete, FishComplete, ShellComplete, ZshComplete

    from tenantops.cli import cli

    classes: dict[str, type[ShellComplete]] = {
        "bash": BashComplete,
        "zsh": ZshComplete,
        "fish": FishComplete,
    }
    script = classes[shell](cli, {}, "tenantops", COMPLETE_VAR).source()
    click.echo(script, nl=False)

"""Options shared by several commands."""

from __future__ import annotations

import click

__all__ = ["tenant_args"]

tenant_args = click.argument("tenants", nargs=-1, metavar="[TENANT]...")

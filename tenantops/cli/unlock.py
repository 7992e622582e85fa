"""``tenantops unlock``: break a tenant's apply lock left behind by a dead run."""

from __future__ import annotations

import click

from tenantops.cli.app import App
from tenantops.cli.options import TENANT, lock_url

__all__ = ["unlock"]


@click.command()
@click.argument("tenant", type=TENANT)
@lock_url
@click.pass_obj
def unlock(app: App, tenant: str, lock_url: str | None) -> None:
    """Break TENANT's apply lock, whoever holds it.

    Use it only when the run holding the lock is dead: a live run that loses its lock
    stops at its next renewal, but may already have changed the tenant.
    """
    import asyncio

    from tenantops.apply.locks import LeaseInfo

    locks = app.locks(lock_url)

    async def main() -> LeaseInfo | None:
        try:
            return await locks.break_lock(tenant)
        finally:
            await locks.aclose()

    removed = asyncio.run(main())
    if removed is None:
        click.echo(f"{tenant} was not locked")
    else:
        click.echo(f"unlocked {tenant} (was held by {removed.holder} since {removed.acquired_iso})")

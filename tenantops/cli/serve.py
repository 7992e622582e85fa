"""``tenantops serve``: the provisioning HTTP API."""

from __future__ import annotations

import os

import click

from tenantops.cli.app import App
from tenantops.cli.options import deploy_timeout, lock_url

__all__ = ["serve"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8081, show_default=True)
@click.option(
    "--write-tenant-files",
    is_flag=True,
    help="Write each provisioned tenant to tenants/<name>.yaml, so the repo stays the source of truth.",
)
@click.option(
    "--deadline",
    type=click.FloatRange(min=1),
    default=120.0,
    show_default=True,
    help="Seconds a request waits for its provisioning (which goes on after it).",
)
@deploy_timeout
@lock_url
@click.pass_obj
def serve(
    app: App,
    host: str,
    port: int,
    write_tenant_files: bool,
    deadline: float,
    deploy_timeout: float,
    lock_url: str | None,
) -> None:
    """Serve POST /api/v1/tenant/provision (and GET /api/v1/tenant/{id}) for this config repo.

    Needs TENANTOPS_API_TOKEN (bearer tokens, several separated by spaces for rotation)
    and the API settings of tenantops.yaml / COGNIGY_BASE_URL and OAUTH_*.
    """
    import asyncio

    import uvicorn

    from tenantops.apply.audit import AuditLog, detect_actor
    from tenantops.apply.interpret import ApplyOptions
    from tenantops.errors import ConfigError
    from tenantops.servers.provision import Provisioner
    from tenantops.servers.serve import create_app

    tokens = os.environ.get("TENANTOPS_API_TOKEN", "").split()
    if not tokens:
        raise ConfigError(
            "set TENANTOPS_API_TOKEN (one or more bearer tokens, separated by spaces)"
        )
    project = app.project()
    client = app.backend(parallelism=64)
    locks = app.locks(lock_url)
    actor = f"serve {detect_actor()}"
    provisioner = Provisioner(
        project,
        client,
        audit=AuditLog(project.root / project.config.audit, actor=actor),
        locks=locks,
        options=ApplyOptions(
            parallelism=1, deploy_timeout=deploy_timeout, lock_timeout=0.0, holder=actor
        ),
        write_tenant_files=write_tenant_files,
        deadline=deadline,
    )
    api = create_app(provisioner, tokens)

    async def main() -> None:
        server = uvicorn.Server(
            uvicorn.Config(api, host=host, port=port, log_level="warning", access_log=False)
        )
        try:
            await server.serve()
        finally:
            await provisioner.drain()
            await client.aclose()
            await locks.aclose()

    asyncio.run(main())

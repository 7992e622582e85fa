"""``tenantops sim``: serve the Cognigy.AI API simulator over HTTP with uvicorn.

Parses flags into a :class:`tenantops.sim.SimConfig` and runs one uvicorn worker.
uvicorn, FastAPI and the simulator are imported only when the command runs, so
``tenantops --help`` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import click

__all__ = ["sim"]

_RATE = click.FloatRange(0.0, 1.0)
_LOG_LEVELS = click.Choice(["critical", "error", "warning", "info", "debug", "trace"])


def _check_rate_limit(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from tenantops.model import RateLimit

    if value is not None:
        try:
            RateLimit.parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from exc
    return value


@click.command(context_settings={"show_default": True})
@click.option("--host", default="127.0.0.1", help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, help="Port to listen on.")
@click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Seed from DIR/state.json and keep state there across restarts (default: memory).",
)
@click.option("--token-ttl", type=click.IntRange(1), default=3600, help="Token lifetime, seconds.")
@click.option(
    "--deploy-seconds", type=click.FloatRange(0.0), default=2.0, help="How long a deployment runs."
)
@click.option("--seed", type=int, default=0, help="Seed of every random fault decision.")
@click.option(
    "--latency-ms", type=click.FloatRange(0.0, 600_000), default=0.0, help="Delay per API request."
)
@click.option(
    "--error-rate", type=_RATE, default=0.0, help="Fraction of API requests failing 500/503."
)
@click.option(
    "--rate-limit", callback=_check_rate_limit, help="Per-client quota N/PERIOD, e.g. 1000/5m."
)
@click.option(
    "--deploy-fail-rate", type=_RATE, default=0.0, help="Fraction of deployments failing."
)
@click.option("--reset-rate", type=_RATE, default=0.0, help="Fraction of API requests cut off.")
@click.option(
    "--retry-after",
    type=click.IntRange(0, 86_400),
    default=1,
    help="Retry-After on an injected 503.",
)
@click.option(
    "--retry-after-format",
    type=click.Choice(["seconds", "http-date"]),
    default="seconds",
    show_default=True,
    help="How Retry-After is written on 429 and 503.",
)
@click.option("--admin", is_flag=True, help="Serve the admin API under /_sim/.")
@click.option(
    "--client",
    "clients",
    multiple=True,
    metavar="ID:SECRET[:SCOPES]",
    help="Add a client (repeatable); SCOPES comma-separated, default all.",
)
@click.option("--log-level", type=_LOG_LEVELS, default="warning", help="uvicorn's log level.")
def sim(
    *,
    host: str,
    port: int,
    state_dir: Path | None,
    token_ttl: int,
    deploy_seconds: float,
    seed: int,
    latency_ms: float,
    error_rate: float,
    rate_limit: str | None,
    deploy_fail_rate: float,
    reset_rate: float,
    retry_after: int,
    retry_after_format: Literal["seconds", "http-date"],
    admin: bool,
    clients: tuple[str, ...],
    log_level: str,
) -> None:
    """Run the Cognigy.AI API simulator (OpenAPI description at /openapi.json)."""
    import uvicorn

    from tenantops.sim import FaultSettings, SimClient, SimConfig, create_app

    try:
        parsed = tuple(SimClient.from_option(text) for text in clients)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--client'") from exc
    faults = FaultSettings(
        latency_ms=latency_ms,
        error_rate=error_rate,
        rate_limit=rate_limit,
        deploy_fail_rate=deploy_fail_rate,
        reset_rate=reset_rate,
        retry_after=retry_after,
        retry_after_format=retry_after_format,
    )
    config = SimConfig(
        token_ttl=token_ttl,
        deploy_seconds=deploy_seconds,
        seed=seed,
        faults=faults,
        clients=parsed,
        state_dir=state_dir,
        admin=admin,
    )
    app = create_app(config)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, workers=1)

"""``tenantops sim``: serve a Cognigy.AI API simulator over HTTP with uvicorn.

``--flavor contract`` (the default) serves :mod:`tenantops.servers.sim.contract`, which speaks the
seeds' API contract; ``--flavor cognigy-v2`` serves
:mod:`tenantops.servers.sim.cognigy_v2`, the subset of the real Cognigy.AI REST API
v2.0 that tenantops uses. Flags are parsed into the flavour's config and one uvicorn
worker runs it. uvicorn, FastAPI and the simulators are imported only when the command
runs, so ``tenantops --help`` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import click

__all__ = ["sim"]

_RATE = click.FloatRange(0.0, 1.0)
_LOG_LEVELS = click.Choice(["critical", "error", "warning", "info", "debug", "trace"])
#: Options only one flavour understands: flavour -> (parameter name, flag).
_ONLY = {
    "contract": (
        ("clients", "--client"),
        ("deploy_seconds", "--deploy-seconds"),
        ("deploy_fail_rate", "--deploy-fail-rate"),
    ),
    "cognigy-v2": (
        ("api_keys", "--api-key"),
        ("oauth_clients", "--oauth-client"),
        ("task_seconds", "--task-seconds"),
        ("max_snapshots", "--max-snapshots"),
        ("context_mode", "--context-mode"),
        ("train_fail_rate", "--train-fail-rate"),
    ),
}


def _check_rate_limit(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from tenantops.core.model import RateLimit

    if value is not None:
        try:
            RateLimit.parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from exc
    return value


def _check_flavor_options(ctx: click.Context, flavor: str) -> None:
    """Refuse an option the chosen flavour does not understand."""
    for other, names in _ONLY.items():
        if other == flavor:
            continue
        for name, flag in names:
            if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
                raise click.UsageError(f"{flag} needs --flavor {other}", ctx=ctx)


def _fault_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    keys = ("latency_ms", "error_rate", "rate_limit", "reset_rate", "retry_after")
    return {**{k: options[k] for k in keys}, "retry_after_format": options["retry_after_format"]}


def _contract_app(options: dict[str, Any]) -> Any:
    from tenantops.servers.sim.contract import FaultSettings, SimClient, SimConfig, create_app

    try:
        parsed = tuple(SimClient.from_option(text) for text in options["clients"])
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--client'") from exc
    faults = FaultSettings(**_fault_kwargs(options), deploy_fail_rate=options["deploy_fail_rate"])
    config = SimConfig(
        token_ttl=options["token_ttl"],
        deploy_seconds=options["deploy_seconds"],
        seed=options["seed"],
        faults=faults,
        clients=parsed,
        state_dir=options["state_dir"],
        admin=options["admin"],
    )
    return create_app(config)


def _v2_app(options: dict[str, Any]) -> Any:
    from tenantops.servers.sim.cognigy_v2 import (
        ApiKey,
        OAuthClient,
        V2Config,
        V2FaultSettings,
        create_app,
    )

    try:
        keys = tuple(ApiKey.from_option(text) for text in options["api_keys"])
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--api-key'") from exc
    try:
        clients = tuple(OAuthClient.from_option(text) for text in options["oauth_clients"])
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--oauth-client'") from exc
    faults = V2FaultSettings(**_fault_kwargs(options), train_fail_rate=options["train_fail_rate"])
    config = V2Config(
        api_keys=keys,
        oauth_clients=clients,
        token_ttl=options["token_ttl"],
        task_seconds=options["task_seconds"],
        max_snapshots=options["max_snapshots"],
        context_mode=options["context_mode"],
        seed=options["seed"],
        faults=faults,
        state_dir=options["state_dir"],
        admin=options["admin"],
    )
    return create_app(config)


@click.command(context_settings={"show_default": True})
@click.option(
    "--flavor",
    type=click.Choice(["contract", "cognigy-v2"]),
    default="contract",
    help="Which API to simulate: the seeds' contract, or the real Cognigy.AI v2.0 subset.",
)
@click.option("--host", default="127.0.0.1", help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, help="Port to listen on.")
@click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Seed from DIR/state.json and keep state there across restarts (default: memory).",
)
@click.option(
    "--token-ttl",
    type=click.IntRange(0),
    default=3600,
    help="Token lifetime, seconds; 0 issues tokens the API refuses (born expired).",
)
@click.option(
    "--deploy-seconds",
    type=click.FloatRange(0.0),
    default=2.0,
    help="How long a deployment runs (contract).",
)
@click.option("--seed", type=int, default=0, help="Seed of every random fault decision.")
@click.option(
    "--latency-ms", type=click.FloatRange(0.0, 600_000), default=0.0, help="Delay per API request."
)
@click.option(
    "--error-rate", type=_RATE, default=0.0, help="Fraction of API requests failing 500/503."
)
@click.option(
    "--rate-limit",
    callback=_check_rate_limit,
    help="Per-client (contract) or per-API-key/OAuth-client (cognigy-v2) quota N/PERIOD, e.g. 1000/5m.",
)
@click.option(
    "--deploy-fail-rate",
    type=_RATE,
    default=0.0,
    help="Fraction of deployments failing (contract).",
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
    help="Add a client (repeatable, contract); SCOPES comma-separated, default all.",
)
@click.option(
    "--api-key",
    "api_keys",
    multiple=True,
    metavar="KEY[:EMAIL]",
    help="Accept an API key acting as EMAIL (repeatable, cognigy-v2); default demo-api-key.",
)
@click.option(
    "--oauth-client",
    "oauth_clients",
    multiple=True,
    metavar="ID:SECRET[:EMAIL]",
    help="Accept an OAuth2 client (repeatable, cognigy-v2); default demo-client:demo-secret.",
)
@click.option(
    "--task-seconds",
    type=click.FloatRange(0.0),
    default=1.5,
    help="How long a task runs: queued for a quarter, then active (cognigy-v2).",
)
@click.option(
    "--max-snapshots",
    type=click.IntRange(1),
    default=10,
    help="Snapshots per project; a create beyond ends in error (cognigy-v2).",
)
@click.option(
    "--context-mode",
    type=click.Choice(["merge", "replace"]),
    default="merge",
    help="How an injected session context meets the stored one (cognigy-v2).",
)
@click.option(
    "--train-fail-rate",
    type=_RATE,
    default=0.0,
    help="Fraction of training tasks ending in error (cognigy-v2).",
)
@click.option("--log-level", type=_LOG_LEVELS, default="warning", help="uvicorn's log level.")
@click.pass_context
def sim(
    ctx: click.Context, /, *, flavor: Literal["contract", "cognigy-v2"], **options: Any
) -> None:
    """Run a Cognigy.AI API simulator (OpenAPI description at /openapi.json)."""
    import uvicorn

    _check_flavor_options(ctx, flavor)
    app = _v2_app(options) if flavor == "cognigy-v2" else _contract_app(options)
    uvicorn.run(
        app,
        host=options["host"],
        port=options["port"],
        log_level=options["log_level"],
        access_log=False,
        workers=1,
    )

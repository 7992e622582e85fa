"""``tenantops session-relay``: serve the webhook and dialog-state service."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tenantops.errors import RelayError

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from tenantops.config import ResolvedApi
    from tenantops.relay.metrics import RelayMetrics
    from tenantops.relay.signatures import WebhookVerifier
    from tenantops.relay.store import SessionStore

__all__ = ["app_factory", "session_relay"]

#: How the command hands its options to uvicorn's worker processes.
_OPTIONS_ENV = "TENANTOPS_RELAY_OPTIONS"


@click.command("session-relay")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option(
    "--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="Worker processes."
)
@click.option(
    "--redis-url",
    envvar="REDIS_URL",
    default="redis://127.0.0.1:6379/0",
    show_default=True,
    help="Redis (or one cluster node with --redis-cluster). Env: REDIS_URL.",
)
@click.option(
    "--redis-cluster",
    is_flag=True,
    help="Talk to a Redis Cluster (implied by REDIS_NODE_1, REDIS_NODE_2, ...).",
)
@click.option(
    "--flavor",
    type=click.Choice(["contract", "cognigy-v2"]),
    envvar="TENANTOPS_API_FLAVOR",
    default="contract",
    show_default=True,
    help="The platform API (as api.flavor). cognigy-v2: Redis is the only truth and contexts "
    "are injected, coalesced per session. Env: TENANTOPS_API_FLAVOR.",
)
@click.option(
    "--quota",
    envvar="TENANTOPS_RELAY_QUOTA",
    default=None,
    metavar="N/PERIOD",
    help="cognigy-v2: the API calls all relay processes on this egress IP may make together "
    "(default 1000/5m, Cognigy.AI's quota). Env: TENANTOPS_RELAY_QUOTA.",
)
@click.option(
    "--session-ttl",
    type=click.IntRange(1),
    default=1800,
    show_default=True,
    help="Seconds a session lives without transitions.",
)
@click.option(
    "--insecure-skip-signature",
    is_flag=True,
    help="Accept unsigned webhooks (never in production).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def session_relay(**options: Any) -> None:
    """Take Cognigy.AI webhooks, keep session state in Redis, write contexts back.

    Needs COGNIGY_BASE_URL and TENANTOPS_WEBHOOK_SECRET (whsec_ secrets, separated by
    spaces for rotation). Contract flavour: OAUTH_CLIENT_ID and OAUTH_CLIENT_SECRET
    (OAUTH_TOKEN_URL and COGNIGY_TENANT_ID optional). cognigy-v2: COGNIGY_API_KEY, or
    the OAuth client.
    """
    import uvicorn

    if (
        not options["insecure_skip_signature"]
        and not os.environ.get("TENANTOPS_WEBHOOK_SECRET", "").strip()
    ):
        raise RelayError(
            "no webhook secret: set TENANTOPS_WEBHOOK_SECRET (whsec_..., several separated by "
            "spaces), or pass --insecure-skip-signature for a local test"
        )
    os.environ[_OPTIONS_ENV] = json.dumps(options)
    app_factory()  # fail fast, in this process, on bad settings
    uvicorn.run(
        "tenantops.cli.relay:app_factory",
        factory=True,
        host=options["host"],
        port=options["port"],
        workers=options["workers"],
        log_level="warning",
        access_log=False,
    )


def app_factory() -> Starlette:
    """Build the relay from the command's options and the environment (run in each worker)."""
    from tenantops.config import Project, resolve_api
    from tenantops.core.model import ProjectConfig
    from tenantops.relay.app import Forwarder, create_app
    from tenantops.relay.metrics import RelayMetrics
    from tenantops.relay.store import SessionStore

    options = json.loads(os.environ.get(_OPTIONS_ENV, "{}"))
    env = os.environ
    _log_json_lines(options.get("log_level", "info"))
    # No config repo here: the API settings come from the environment alone, through
    # the same fallbacks (and the same errors) as every other command.
    flavor = options.get("flavor", "contract")
    raw_api: dict[str, Any] = {"flavor": flavor, "scopes": ["session:read", "session:write"]}
    project = Project(root=Path("."), config=ProjectConfig(), raw_api=raw_api, env=dict(env))
    api = resolve_api(project)
    redis = _redis(options, env)
    store = SessionStore(
        redis,
        session_ttl=int(options.get("session_ttl", 1800)),
        tracks_injects=flavor == "cognigy-v2",
    )
    verifier = _verifier(env.get("TENANTOPS_WEBHOOK_SECRET", ""), options)
    metrics = RelayMetrics()
    if flavor == "cognigy-v2":
        return _injecting_app(api, store, verifier, metrics, options.get("quota"))

    from tenantops.backends.contract.client import PlatformClient

    client = PlatformClient.from_settings(api, max_connections=256)

    async def close() -> None:
        await client.aclose()
        await store.aclose()

    app = create_app(store, Forwarder(client), verifier, metrics=metrics, on_shutdown=close)
    _tune_gc()
    return app


def _injecting_app(
    api: ResolvedApi,
    store: SessionStore,
    verifier: WebhookVerifier | None,
    metrics: RelayMetrics,
    quota: str | None,
) -> Starlette:
    """cognigy-v2: answer after the Redis commit; inject, coalesced, under the shared quota."""
    from dataclasses import replace

    from tenantops.backends.cognigy_v2.backend import CognigyV2Backend
    from tenantops.backends.factory import open_backend
    from tenantops.core.model import RateLimit
    from tenantops.relay.app import create_app
    from tenantops.relay.injector import Injector
    from tenantops.relay.outbox import Outbox
    from tenantops.relay.quota import SharedPace, schedule_for

    try:
        limit = RateLimit.parse(quota) if quota else api.rate_limit
    except ValueError as exc:
        raise RelayError(f"--quota: {exc}") from exc
    # The shared schedule paces every inject; a per-process pacer as well would only
    # hold slots for nothing (resolve_api sets 1000/5m on cognigy-v2 when none is given).
    backend = open_backend(replace(api, rate_limit=None), max_connections=64)
    assert isinstance(backend, CognigyV2Backend)  # the flavour chose it
    pace = SharedPace(store.redis, schedule_for(limit))
    injector = Injector(Outbox(store), pace, backend, metrics)

    async def close() -> None:
        await injector.stop()
        await backend.aclose()
        await store.aclose()

    app = create_app(
        store, injector, verifier, metrics=metrics, on_startup=injector.start, on_shutdown=close
    )
    _tune_gc()
    return app


def _log_json_lines(level: str) -> None:
    """The relay's log: JSON lines on stderr at ``level``, not passed to the root logger."""
    import logging

    from tenantops.relay.app import JsonLogFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter())
    logger = logging.getLogger("tenantops.relay")
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
    # A retried upstream call is one JSON line too, not stamina's own log record.
    from tenantops.backends.retry import report_retries

    upstream = logging.getLogger("tenantops.relay.upstream")
    report_retries(lambda line: upstream.warning("upstream retry", extra={"error": line}))


def _verifier(secrets: str, options: dict[str, Any]) -> WebhookVerifier | None:
    """The signature check; ``None`` only for ``--insecure-skip-signature`` without secrets.

    Raises:
        RelayError: a secret in ``TENANTOPS_WEBHOOK_SECRET`` is malformed.
    """
    from tenantops.relay.signatures import WebhookVerifier

    if options.get("insecure_skip_signature") and not secrets.strip():
        return None
    try:
        return WebhookVerifier.from_env(secrets)
    except ValueError as exc:
        raise RelayError(f"TENANTOPS_WEBHOOK_SECRET: {exc}") from exc


def _tune_gc() -> None:
    """Keep the collector off the request path of this long-lived server process.

    Start-up leaves ~340k objects the cyclic collector would rescan on every full
    collection (~67 ms pauses, the p99 tail in bench/relay.py); freezing them moves them
    out of its sight, and a higher first threshold makes collections rarer. Measured:
    681 -> 862 requests/s and p99 206 -> 114 ms.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def _redis(options: dict[str, Any], env: os._Environ[str]) -> Any:
    """A standalone or cluster asyncio client, tuned to fail fast and recover from failover."""
    from redis.asyncio import Redis
    from redis.asyncio.cluster import ClusterNode, RedisCluster

    from tenantops.relay.store import cluster_nodes_from_env

    nodes = cluster_nodes_from_env(env)
    # No socket_timeout: the store bounds each whole operation (store.OPERATION_TIMEOUT),
    # and redis-py's per-send timeout costs ~100 us a request on this hot path.
    common: dict[str, Any] = {"socket_connect_timeout": 1.0}
    if nodes:
        startup = [ClusterNode(*_host_port(n)) for n in nodes]
        return RedisCluster(startup_nodes=startup, **common)
    if options.get("redis_cluster"):
        return RedisCluster.from_url(options["redis_url"], **common)
    return Redis.from_url(options.get("redis_url", "redis://127.0.0.1:6379/0"), **common)


def _host_port(text: str) -> tuple[str, int]:
    text = text.removeprefix("redis://")
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port or 6379)

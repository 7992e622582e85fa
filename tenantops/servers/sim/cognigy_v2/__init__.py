"""The Cognigy.AI REST API v2.0 simulator: the subset tenantops uses, following ``shared/cognigy-v2-api.md``.

``tenantops sim --flavor cognigy-v2`` serves it over HTTP; tests build it with
:func:`create_app` and talk to it through ``httpx.ASGITransport``. It serves projects,
locales, flows (with their default context), intents and sentences, lexicons with
entries and keyphrases, charts and nodes, snapshots, tasks, members, users and
session context injection, under ``/new/v2.0`` and ``/v2.0`` with case-insensitive
paths; it authenticates API keys and OAuth2 client credentials, pages lists with
cursors, answers RFC 7807 problems, runs tasks through ``queued``, ``active`` and
``done``/``error`` as a function of time, and injects faults reproducibly under a
seed. Route by route: :mod:`._routes_projects`, :mod:`._routes_intents`,
:mod:`._routes_sentences`, :mod:`._routes_lexicons`, :mod:`._routes_chart`,
:mod:`._routes_tasks`, :mod:`._routes_access`, :mod:`._auth`; the admin side door is
described in :mod:`._admin`, persistence in :mod:`._store`.
"""

from __future__ import annotations

from tenantops.servers.sim.cognigy_v2._app import create_app
from tenantops.servers.sim.cognigy_v2._auth import TOKEN_PATH
from tenantops.servers.sim.cognigy_v2._config import (
    DEFAULT_API_KEY,
    DEFAULT_OAUTH_CLIENT,
    ApiKey,
    OAuthClient,
    V2Config,
    V2FaultSettings,
)

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_OAUTH_CLIENT",
    "TOKEN_PATH",
    "ApiKey",
    "OAuthClient",
    "V2Config",
    "V2FaultSettings",
    "create_app",
]

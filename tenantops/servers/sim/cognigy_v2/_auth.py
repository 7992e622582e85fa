"""Who is calling: API keys, OAuth2 client credentials, and ``GET users/me``.

A v2.0 call is authenticated by any one of:

- ``X-API-Key: <key>`` (header names are case-insensitive), or ``?api_key=<key>``;
- ``Authorization: <token_type> <access_token>`` with a token from
  ``POST <base>/auth/oauth2/token`` (form ``grant_type=client_credentials``,
  ``client_id``, ``client_secret``; HTTP Basic works too), which answers
  ``{access_token, token_type: "Bearer", expires_in}``.

Each key and client acts as one organisation user (``--api-key KEY:EMAIL``,
``--oauth-client ID:SECRET:EMAIL``). Missing, unknown or expired credentials answer
401 (RFC 7807, code 401). Token endpoint errors use RFC 6749's ``{error,
error_description}``. Routes declare ``caller: CallerDep``; they never read headers.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from tenantops.servers.sim.cognigy_v2._problems import Problem
from tenantops.servers.sim.cognigy_v2._runtime import RuntimeDep, V2Runtime
from tenantops.servers.sim.cognigy_v2._store import Doc, public
from tenantops.servers.sim.contract._problems import JsonResponse

__all__ = ["TOKEN_PATH", "Caller", "CallerDep", "principal_of", "router"]

TOKEN_PATH = "/auth/oauth2/token"
_TOKEN_TYPE = "Bearer"

router = APIRouter()


@dataclass(frozen=True, slots=True)
class Caller:
    """The user a request acts as, and the credential it came with."""

    #: ``key:<api key>`` or ``client:<client id>``: whose quota the request uses.
    principal: str
    user: Doc

    @property
    def user_id(self) -> str:
        """The acting user's ``_id`` (``createdBy`` of what it creates)."""
        return str(self.user["_id"])


def _api_key(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    return headers.get("x-api-key") or query.get("api_key") or None


def _bearer(headers: Mapping[str, str]) -> str | None:
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    return token.strip() or None if scheme.lower() == _TOKEN_TYPE.lower() else None


def principal_of(
    runtime: V2Runtime, headers: Mapping[str, str], query: Mapping[str, str]
) -> str | None:
    """Whose quota a request counts against, without checking the credential's validity."""
    key = _api_key(headers, query)
    if key is not None:
        return f"key:{key}"
    token = _bearer(headers)
    grant = runtime.tokens.lookup(token) if token else None
    return f"client:{grant.client_id}" if grant else None


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": 'Bearer realm="cognigy"'})


async def _caller(request: Request, runtime: RuntimeDep) -> Caller:
    headers, query = request.headers, request.query_params
    key = _api_key(headers, query)
    if key is not None:
        api_key = runtime.keys.get(key)
        if api_key is None:
            raise _unauthorized("the API key is unknown; create one in the user menu")
        return Caller(f"key:{key}", runtime.store.ensure_user(api_key.email))
    token = _bearer(headers)
    if token is None:
        raise _unauthorized(
            f"send X-API-Key, ?api_key= or 'Authorization: Bearer <token>' from POST {TOKEN_PATH}"
        )
    grant = runtime.tokens.lookup(token)
    client = runtime.clients.get(grant.client_id) if grant else None
    if grant is None or client is None:
        raise _unauthorized(f"unknown access token; fetch one from POST {TOKEN_PATH}")
    if not grant.is_live(runtime.clock()):
        raise _unauthorized("the access token expired; fetch a new one")
    return Caller(f"client:{client.client_id}", runtime.store.ensure_user(client.email))


#: A route parameter that authenticates the request and receives its :class:`Caller`.
CallerDep = Annotated[Caller, Depends(_caller)]


def _oauth_error(status: int, error: str, description: str) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="cognigy"'} if status == 401 else {}
    body = {"error": error, "error_description": description}
    return JsonResponse(body, status_code=status, headers=headers)


def _basic(authorization: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


@router.post(TOKEN_PATH, tags=["auth"])
async def issue_token(request: Request, runtime: RuntimeDep) -> Response:
    """Client credentials grant: a bearer token for a known client."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return _oauth_error(
            400, "invalid_request", "send an application/x-www-form-urlencoded form"
        )
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "use grant_type=client_credentials")
    basic = _basic(request.headers.get("authorization"))
    client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
    client = runtime.clients.get(client_id)
    if client is None or not hmac.compare_digest(client.client_secret, secret):
        return _oauth_error(401, "invalid_client", "unknown client_id or wrong client_secret")
    token = runtime.tokens.issue(client.client_id, (), runtime.clock())
    body = {"access_token": token, "token_type": _TOKEN_TYPE, "expires_in": runtime.tokens.ttl}
    return JsonResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/v2.0/users/me", tags=["users"])
async def read_me(caller: CallerDep) -> Response:
    """The user the API key or token acts as."""
    return JsonResponse(public(caller.user))

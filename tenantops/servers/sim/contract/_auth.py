"""OAuth2 client credentials: the token endpoint, and the bearer check on every API call.

Owns RFC 6749 section 4.4 as the contract states it (HTTP Basic or form credentials,
``grant_type``, ``scope``) and RFC 6750 bearer answers (401 ``invalid_token``, 403
``insufficient_scope`` naming the scope). Routes declare what they need with the
``*Caller`` annotations; they never read the ``Authorization`` header themselves.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl, unquote_plus

from fastapi import APIRouter, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2, SecurityScopes
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.responses import Response

from tenantops.core.model import ALL_SCOPES
from tenantops.servers.sim.contract._config import SimClient
from tenantops.servers.sim.contract._problems import ApiProblem, ErrorBody, JsonResponse, documented
from tenantops.servers.sim.contract._runtime import Runtime, RuntimeDep, note_of

__all__ = [
    "TOKEN_PATH",
    "Caller",
    "DeployCaller",
    "DeploymentReadCaller",
    "ExportCaller",
    "RoleCaller",
    "SessionReadCaller",
    "SessionWriteCaller",
    "bearer_token",
    "claimed_client_id",
    "router",
]

TOKEN_PATH = "/api/v4/auth/oauth/token"
_FORM = "application/x-www-form-urlencoded"

_scheme = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(
            tokenUrl=TOKEN_PATH, scopes={scope: f"the {scope} scope" for scope in ALL_SCOPES}
        )
    ),
    scheme_name="oauth2",
    auto_error=False,
)


class TokenResponse(BaseModel):
    """A token endpoint success (RFC 6749 section 5.1)."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str


@dataclass(frozen=True, slots=True)
class Caller:
    """The client behind a request's valid token."""

    client: SimClient

    def check_workspace(self, workspace_id: str) -> None:
        """Refuse (403 ``workspace_forbidden``) a workspace the client may not use."""
        if not self.client.may_use(workspace_id):
            raise ApiProblem(
                403,
                "workspace_forbidden",
                f"client {self.client.client_id!r} may not use workspace {workspace_id!r}; "
                "use a client granted that workspace",
                extra={"workspaceId": workspace_id},
            )


def _invalid_token(message: str) -> ApiProblem:
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    return ApiProblem(401, "invalid_token", message, headers=headers)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, if it is one."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def _caller(
    request: Request,
    security_scopes: SecurityScopes,
    runtime: RuntimeDep,
    authorization: Annotated[str | None, Security(_scheme)],
) -> Caller:
    token = bearer_token(authorization)
    if token is None:
        raise _invalid_token(f"send 'Authorization: Bearer <token>' from POST {TOKEN_PATH}")
    grant = runtime.tokens.lookup(token)
    client = runtime.state.clients.get(grant.client_id) if grant else None
    if grant is None or client is None:
        raise _invalid_token(f"unknown access token; fetch one from POST {TOKEN_PATH}")
    note_of(request).client_id = client.client_id
    if not grant.is_live(runtime.clock()):
        raise _invalid_token("the access token expired; fetch a new one")
    for scope in security_scopes.scopes:
        if scope not in grant.scopes:
            raise ApiProblem(
                403,
                "insufficient_scope",
                f"this call needs the scope '{scope}'; grant it to the client",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
                extra={"scope": scope},
            )
    return Caller(client)


#: Route parameters: the caller, once its token is checked for the scope named.
ExportCaller = Annotated[Caller, Security(_caller, scopes=["bot:export"])]
DeployCaller = Annotated[Caller, Security(_caller, scopes=["bot:deploy"])]
DeploymentReadCaller = Annotated[Caller, Security(_caller, scopes=["deployment:read"])]
RoleCaller = Annotated[Caller, Security(_caller, scopes=["user:role:assign"])]
SessionReadCaller = Annotated[Caller, Security(_caller, scopes=["session:read"])]
SessionWriteCaller = Annotated[Caller, Security(_caller, scopes=["session:write"])]

# ---------------------------------------------------------------------- token endpoint


def basic_credentials(headers: Headers) -> tuple[str, str] | None:
    """The ``(client_id, secret)`` of an HTTP Basic ``Authorization`` header, if there is one.

    Raises:
        ApiProblem: 401 ``invalid_client`` when the header is Basic but malformed.
    """
    scheme, _, encoded = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, colon, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        colon = ""
    if not colon:
        raise _invalid_client("the Basic credentials are not base64 of 'id:secret'", basic=True)
    return client_id, secret


def form_fields(body: bytes) -> dict[str, str]:
    """A urlencoded form as a dict.

    Raises:
        ApiProblem: 400 ``invalid_request`` for undecodable bytes or a repeated field.
    """
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiProblem(400, "invalid_request", f"the form body is malformed: {exc}") from exc
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise ApiProblem(400, "invalid_request", "a form field is repeated; send each once")
    return fields


def claimed_client_id(headers: Headers, body: bytes) -> str | None:
    """The client id a token request claims (Basic first, then the form), unchecked."""
    try:
        basic = basic_credentials(headers)
        return basic[0] if basic else form_fields(body).get("client_id")
    except ApiProblem:
        return None


def _invalid_client(message: str, *, basic: bool) -> ApiProblem:
    # RFC 6749 section 5.2: a failed Basic authentication answers with its challenge.
    headers = {"WWW-Authenticate": 'Basic realm="cognigy-sim"'} if basic else {}
    return ApiProblem(401, "invalid_client", message, headers=headers)


def _authenticate(request: Request, form: Mapping[str, str], runtime: Runtime) -> SimClient:
    basic = basic_credentials(request.headers)
    if basic and ("client_id" in form or "client_secret" in form):
        raise ApiProblem(400, "invalid_request", "send the credentials once: Basic or form")
    client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
    client = runtime.state.clients.get(client_id)
    # Basic credentials should be form-encoded first (RFC 6749 2.3.1); many clients skip it.
    candidates = {secret, unquote_plus(secret)} if basic else {secret}
    if client is None or not any(
        hmac.compare_digest(c.encode(), client.client_secret.encode()) for c in candidates
    ):
        raise _invalid_client("unknown client or wrong secret", basic=basic is not None)
    return client


def _granted_scopes(client: SimClient, requested: str | None) -> list[str]:
    wanted = set((requested or "").split())
    for scope in sorted(wanted):
        if scope not in client.scopes:
            raise ApiProblem(400, "invalid_scope", f"scope {scope!r} is not granted to this client")
    return [s for s in ALL_SCOPES if s in client.scopes and (not wanted or s in wanted)]


router = APIRouter(tags=["auth"])

_TOKEN_RESPONSES = {
    **documented(400, 429, 500, 503),
    401: {"model": ErrorBody, "description": "Unknown client or wrong secret."},
}
_TOKEN_BODY = {
    "required": True,
    "content": {
        _FORM: {
            "schema": {
                "type": "object",
                "required": ["grant_type"],
                "properties": {
                    "grant_type": {"type": "string", "enum": ["client_credentials"]},
                    "scope": {"type": "string"},
                    "client_id": {"type": "string"},
                    "client_secret": {"type": "string"},
                    "tenant_id": {"type": "string"},
                },
            }
        }
    },
}


@router.post(
    TOKEN_PATH,
    response_model=TokenResponse,
    responses=_TOKEN_RESPONSES,
    openapi_extra={"requestBody": _TOKEN_BODY},
    summary="Get an access token (OAuth2 client credentials)",
)
async def issue_token(request: Request, runtime: RuntimeDep) -> Response:
    """Issue a bearer token for the client's granted scopes (or those asked for)."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != _FORM:
        raise ApiProblem(400, "invalid_request", f"send the token request as {_FORM}")
    form = form_fields(await request.body())
    grant_type = form.get("grant_type")
    if not grant_type:
        raise ApiProblem(400, "invalid_request", "grant_type is missing; send client_credentials")
    if grant_type != "client_credentials":
        raise ApiProblem(400, "unsupported_grant_type", "only client_credentials is supported")
    client = _authenticate(request, form, runtime)
    scopes = _granted_scopes(client, form.get("scope"))
    token = runtime.tokens.issue(client.client_id, scopes, runtime.clock())
    body = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": runtime.tokens.ttl,
        "scope": " ".join(scopes),
    }
    return JsonResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

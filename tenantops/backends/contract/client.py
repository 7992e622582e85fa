"""The Cognigy.AI API client: the contract's calls over httpx, with auth, retries, pacing.

The only place httpx and aiohttp exceptions are translated into
:class:`~tenantops.errors.ApiError` subclasses. Any server that follows the contract
works; nothing here assumes the simulator.

- Transport: httpx's API over aiohttp's connection pool (``httpx-aiohttp``), because
  httpx's own pool serialises badly under concurrency (encode/httpx#3215). Tests may
  inject any httpx transport, e.g. ``httpx.ASGITransport(app=...)``.
- Auth: client credentials, HTTP Basic, cached token (:mod:`tenantops.backends.contract.oauth`); a 401
  drops the token and repeats the request once with a fresh one.
- Retries (:mod:`tenantops.backends.contract.retry`, run by stamina): 429, 500, 502, 503, 504 and
  transport failures, with full jitter, ``Retry-After`` as a floor, bounded in attempts
  and time. Every other status fails at once.
- Pacing: an optional sliding window at the platform's quota (:mod:`tenantops.backends.contract.pacing`).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import aiohttp
import httpx
import stamina
from pydantic import ValidationError

from tenantops import __version__
from tenantops.backends.base import Deployment, DeploymentStatus, RoleGrant, SessionContext
from tenantops.backends.contract.oauth import TokenCache, TokenGrant
from tenantops.backends.contract.pacing import Pacer
from tenantops.backends.contract.retry import RetryPolicy, parse_retry_after
from tenantops.core.model import ALL_SCOPES, BotDoc, BotModel, RateLimit, shape_problem
from tenantops.errors import (
    ApiError,
    ApiStatusError,
    ApiTimeoutError,
    AuthError,
    BadRequestError,
    ConflictError,
    ErrorDetail,
    ForbiddenError,
    NotFoundError,
    PreconditionRequiredError,
    RateLimitedError,
    ServerError,
    TransportError,
    UnauthorizedError,
    UnprocessableError,
)

__all__ = ["PlatformClient"]

_P = TypeVar("_P", Deployment, DeploymentStatus, RoleGrant, SessionContext)

#: The scope each endpoint needs, for a 403 whose answer does not name it.
_SCOPE_BY_PATH: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^/api/v1/bot/export$"), "bot:export"),
    (re.compile(r"^/api/v1/bot/deploy$"), "bot:deploy"),
    (re.compile(r"^/api/v1/deployment/[^/]+/status$"), "deployment:read"),
    (re.compile(r"^/api/v1/deployment/[^/]+/rollback$"), "bot:deploy"),
    (re.compile(r"^/api/v1/workspace/"), "user:role:assign"),
)
_WWW_SCOPE = re.compile(r'scope="([^"]*)"')
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-correlation-id")


@contextlib.contextmanager
def _map_transport_errors(method: str, url: str) -> Iterator[None]:
    """Translate httpx/aiohttp failures to reach the server into TransportError."""
    where = f"{method} {url}"
    try:
        yield
    except httpx.TimeoutException as exc:
        raise ApiTimeoutError(f"{where} timed out; is the API reachable and healthy?") from exc
    except (httpx.TransportError, aiohttp.ClientError, ConnectionError) as exc:
        raise TransportError(
            f"{where} failed before an answer: {type(exc).__name__}: {exc}"
        ) from exc
    except TimeoutError as exc:
        raise ApiTimeoutError(f"{where} timed out; is the API reachable and healthy?") from exc


class PlatformClient:
    """Async client of the Cognigy.AI API contract; implements :class:`~tenantops.backends.base.Backend`.

    Use it as an async context manager, or call :meth:`aclose`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str,
        client_secret: str,
        token_url: str | None = None,
        scopes: tuple[str, ...] = ALL_SCOPES,
        tenant_id: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        rate_limit: RateLimit | None = None,
        max_connections: int = 100,
    ) -> None:
        """Configure a client; no connection is made until the first call.

        Args:
            base_url: the workspace base URL, e.g. ``https://workspace.cognigy.ai``.
            client_id: OAuth client id.
            client_secret: OAuth client secret (never logged, never in a repr).
            token_url: token endpoint; default ``<base_url>/api/v4/auth/oauth/token``.
            scopes: scopes to ask for.
            tenant_id: sent as ``tenant_id`` in the token request when given.
            transport: an httpx transport; default aiohttp's pool via httpx-aiohttp.
            timeout: seconds for connect and for each read.
            retry: retry bounds; default :class:`~tenantops.backends.contract.retry.RetryPolicy`.
            rate_limit: pace requests to this quota (e.g. 1000 per 300 s).
            max_connections: connection pool size.
        """
        self.base_url = base_url.rstrip("/")
        self.token_url = token_url or f"{self.base_url}/api/v4/auth/oauth/token"
        self._client_id = client_id
        self._client_secret = client_secret
        self._scopes = scopes
        self._tenant_id = tenant_id
        self._retry = retry or RetryPolicy()
        if transport is None:
            from httpx_aiohttp import AiohttpTransport

            transport = AiohttpTransport(limits=httpx.Limits(max_connections=max_connections))
        self._transport = transport
        self._aiohttp_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=min(timeout, 10.0), sock_read=timeout
        )
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"User-Agent": f"tenantops/{__version__}", "Accept": "application/json"},
        )
        self._pacer = Pacer(rate_limit) if rate_limit is not None else None
        self.tokens = TokenCache(self._fetch_token)

    @classmethod
    def from_settings(cls, api: Any, **kwargs: Any) -> PlatformClient:
        """Build a client from :class:`tenantops.config.ResolvedApi` settings."""
        return cls(
            api.base_url,
            client_id=api.client_id,
            client_secret=api.client_secret,
            token_url=api.token_url,
            scopes=api.scopes,
            tenant_id=api.tenant_id,
            rate_limit=api.rate_limit,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"PlatformClient({self.base_url!r}, client_id={self._client_id!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # ------------------------------------------------------------------ the contract's calls

    async def export_bot(self, bot_id: str, *, workspace_id: str | None = None) -> BotDoc:
        """``POST /api/v1/bot/export``: the bot as deployed in ``workspace_id``.

        Raises:
            NotFoundError: the workspace has no such bot (yet).
        """
        body: dict[str, Any] = {"botId": bot_id, "format": "json"}
        if workspace_id is not None:
            body["workspaceId"] = workspace_id
        data = await self._json("POST", "/api/v1/bot/export", json=body)
        problem = shape_problem(data)
        if problem is None:
            return dict(data)
        try:
            BotModel.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            problem = f"{first['msg']} at /{'/'.join(map(str, first['loc']))}"
        raise ApiError(
            f"the export of bot '{bot_id}' does not follow the contract's bot model: {problem}"
        )

    async def deploy(
        self, model: BotDoc, *, target_workspace: str, idempotency_key: str
    ) -> Deployment:
        """``POST /api/v1/bot/deploy`` with an ``Idempotency-Key``, so retries are safe."""
        data = await self._json(
            "POST",
            "/api/v1/bot/deploy",
            json={"model": model, "targetWorkspace": target_workspace},
            headers={"Idempotency-Key": idempotency_key},
        )
        return self._parse(Deployment, data, "deploy")

    async def deployment_status(self, deployment_id: str) -> DeploymentStatus:
        """``GET /api/v1/deployment/{id}/status``."""
        data = await self._json("GET", f"/api/v1/deployment/{_seg(deployment_id)}/status")
        return self._parse(DeploymentStatus, data, "deployment status")

    async def rollback(self, deployment_id: str) -> DeploymentStatus:
        """``POST /api/v1/deployment/{id}/rollback``."""
        data = await self._json("POST", f"/api/v1/deployment/{_seg(deployment_id)}/rollback")
        return self._parse(DeploymentStatus, data, "rollback")

    async def list_roles(self, workspace_id: str) -> list[RoleGrant]:
        """``GET /api/v1/workspace/{id}/users``."""
        data = await self._json("GET", f"/api/v1/workspace/{_seg(workspace_id)}/users")
        items = data.get("assignments", []) if isinstance(data, dict) else []
        return [self._parse(RoleGrant, item, "role assignments") for item in items]

    async def assign_role(
        self,
        workspace_id: str,
        user_id: str,
        role_id: str,
        *,
        expires_at: datetime | None = None,
    ) -> None:
        """``POST /api/v1/workspace/user/assign`` (replaces any role the user had there)."""
        body: dict[str, Any] = {"userId": user_id, "roleId": role_id, "workspaceId": workspace_id}
        if expires_at is not None:
            body["expiresAt"] = expires_at.isoformat().replace("+00:00", "Z")
        await self._request("POST", "/api/v1/workspace/user/assign", json=body)

    async def revoke_role(self, workspace_id: str, user_id: str) -> None:
        """``DELETE /api/v1/workspace/{id}/users/{userId}``."""
        await self._request(
            "DELETE", f"/api/v1/workspace/{_seg(workspace_id)}/users/{_seg(user_id)}"
        )

    async def get_session_context(self, session_id: str) -> SessionContext:
        """``GET /api/v4/session/{id}/context``."""
        data = await self._json("GET", f"/api/v4/session/{_seg(session_id)}/context")
        return self._parse(SessionContext, data, "session context")

    async def patch_session_context(
        self, session_id: str, context: Mapping[str, str | None], *, from_version: int
    ) -> int:
        """``PATCH /api/v4/session/{id}/context`` from ``from_version``; returns the new one.

        Raises:
            ConflictError: the session moved on; ``current_version`` says where it is.
        """
        path = f"/api/v4/session/{_seg(session_id)}/context"
        body = {"context": dict(context), "version": from_version + 1}
        headers = {"If-Match": f'"{from_version}"'}
        fast = await self._fast_patch(path, body, headers)
        if fast is not None:
            return fast
        response = await self._request("PATCH", path, json=body, headers=headers)
        data = _decode(response)
        version = data.get("version") if isinstance(data, dict) else None
        if isinstance(version, int):
            return version
        etag = response.headers.get("etag", "").strip('W/"')
        return int(etag) if etag.isdigit() else from_version + 1

    async def _fast_patch(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> int | None:
        """One PATCH straight through the transport's aiohttp session, or ``None``.

        The session relay PATCHes on every webhook; building httpx's request and
        response objects and a stamina retry loop cost ~0.5 ms of CPU a call (profiled
        in bench/relay.py), and their reference cycles feed the garbage collector. The
        common case (a cached token, a 200) goes straight through here; anything else,
        an error included, returns ``None`` and the caller takes the full path with its
        retries, token refresh and typed errors. That may send the PATCH again, which
        If-Match makes safe: a repeat finds the version moved and answers 409.
        """
        session = getattr(self._transport, "client", None)
        token = self.tokens.peek()
        if (
            not isinstance(session, aiohttp.ClientSession)
            or token is None
            or self._pacer is not None
        ):
            return None
        all_headers = {**headers, "Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            async with session.patch(
                self.base_url + path, json=body, headers=all_headers, timeout=self._aiohttp_timeout
            ) as response:
                if response.status != 200:
                    return None
                data = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None
        version = data.get("version") if isinstance(data, dict) else None
        return version if isinstance(version, int) else None

    # ------------------------------------------------------------------ machinery

    def _parse(self, model: type[_P], data: Any, what: str) -> _P:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ApiError(f"the API's {what} answer does not follow the contract: {exc}") from exc

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return _decode(await self._request(method, path, **kwargs))

    def _retrying(self) -> Any:
        """A stamina retry loop over this client's policy (full jitter, Retry-After floor)."""
        policy = self._retry
        return stamina.retry_context(
            on=policy.hook(started=time.monotonic()),
            attempts=policy.attempts,
            timeout=policy.timeout,
            wait_initial=policy.wait_initial,
            wait_max=policy.wait_max,
            wait_jitter=0,
        )

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send an authorized call with retries; the answer is 2xx or an ApiError is raised."""
        async for attempt in self._retrying():
            with attempt:
                return await self._authorized(method, path, json=json, headers=headers)
        raise AssertionError(
            "unreachable: stamina raises after the last attempt"
        )  # pragma: no cover

    async def _authorized(
        self, method: str, path: str, *, json: Any, headers: Mapping[str, str] | None
    ) -> httpx.Response:
        token = await self.tokens.get()
        response = await self._send(
            method, self.base_url + path, json=json, headers=headers, token=token
        )
        if response.status_code == 401:
            # Expired or revoked early: one fresh token, one more try (contract, 401 row).
            self.tokens.invalidate(token)
            token = await self.tokens.get()
            response = await self._send(
                method, self.base_url + path, json=json, headers=headers, token=token
            )
        if response.is_success:
            return response
        raise _status_error(response, method, path)

    async def _send(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        token: str | None = None,
        auth: httpx.Auth | None = None,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        pace = self._pacer.slot() if self._pacer is not None else contextlib.nullcontext()
        async with pace:
            with _map_transport_errors(method, url):
                response = await self._http.request(
                    method, url, json=json, data=data, headers=all_headers, auth=auth
                )
                await response.aread()
        return response

    async def _fetch_token(self) -> TokenGrant:
        """Ask the token endpoint (client credentials, HTTP Basic) with the usual retries."""
        try:
            return await self._fetch_token_with_retries()
        except (ApiStatusError, TransportError) as exc:
            # Already retried here: the caller's own retry loop must not multiply it.
            raise AuthError(
                f"could not get a token from {self.token_url}: {exc}",
                status=getattr(exc, "status", None),
            ) from exc

    async def _fetch_token_with_retries(self) -> TokenGrant:
        form = {"grant_type": "client_credentials", "scope": " ".join(self._scopes)}
        if self._tenant_id:
            form["tenant_id"] = self._tenant_id
        async for attempt in self._retrying():
            with attempt:
                response = await self._send(
                    "POST",
                    self.token_url,
                    data=form,
                    auth=httpx.BasicAuth(self._client_id, self._client_secret),
                )
                if response.status_code in (400, 401, 403):
                    raise _token_error(response, self._client_id)
                if not response.is_success:
                    raise _status_error(response, "POST", self.token_url)
                try:
                    return TokenGrant.model_validate(_decode(response))
                except ValidationError as exc:
                    raise AuthError("the token endpoint's answer is not an OAuth token") from exc
        raise AssertionError("unreachable")  # pragma: no cover


def _seg(value: str) -> str:
    """A path segment, percent-encoded so ids cannot change the path."""
    from urllib.parse import quote

    return quote(value, safe="")


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError as exc:
        raise ApiError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code} with a body that is not JSON"
        ) from exc


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _token_error(response: httpx.Response, client_id: str) -> AuthError:
    body = _error_body(response)
    code = str(body.get("error") or "")
    if code == "invalid_scope":
        hint = "ask for fewer scopes in api.scopes, or grant them to the OAuth client"
    elif code == "invalid_client" or response.status_code == 401:
        hint = "check OAUTH_CLIENT_ID / OAUTH_CLIENT_SECRET (or api.clientId / api.clientSecret)"
    else:
        hint = "check the token URL and the client's grant types"
    return AuthError(
        f"the token endpoint refused client '{client_id}' ({response.status_code}"
        f"{', ' + code if code else ''}): {hint}",
        code=code or None,
        status=response.status_code,
    )


def _required_scope(response: httpx.Response, body: Mapping[str, Any], path: str) -> str | None:
    match = _WWW_SCOPE.search(response.headers.get("www-authenticate", ""))
    if match:
        return match.group(1)
    if isinstance(body.get("scope"), str):
        return str(body["scope"])
    for pattern, scope in _SCOPE_BY_PATH:
        if pattern.match(path):
            return scope
    if path.startswith("/api/v4/session/"):
        return "session:read" if response.request.method == "GET" else "session:write"
    return None


def _status_error(response: httpx.Response, method: str, path: str) -> ApiStatusError:
    """The typed error for a non-2xx answer, with what the user should do next."""
    status = response.status_code
    body = _error_body(response)
    code = str(body["error"]) if body.get("error") else None
    server_says = f": {body['message']}" if isinstance(body.get("message"), str) else ""
    where = f"{method} {path}"
    common: dict[str, Any] = {
        "status": status,
        "code": code,
        "request_id": next(
            (response.headers[h] for h in _REQUEST_ID_HEADERS if h in response.headers), None
        ),
        "method": method,
        "url": path,
        "body": body,
        "retry_after": parse_retry_after(response.headers.get("retry-after")),
    }
    if status == 400:
        return BadRequestError(f"{where} was rejected as malformed (400){server_says}", **common)
    if status == 401:
        return UnauthorizedError(
            f"{where} was refused even with a fresh token (401); check the client's "
            "credentials and that the token URL belongs to this API",
            **common,
        )
    if status == 403:
        scope = _required_scope(response, body, path)
        if code == "insufficient_scope" or (scope and code != "workspace_forbidden"):
            hint = f"grant the scope '{scope}' to the OAuth client and list it in api.scopes"
        else:
            hint = (
                "the workspace is not the token's; check the workspace id and the client's access"
            )
        return ForbiddenError(
            f"{where} is forbidden (403){server_says}; {hint}", scope=scope, **common
        )
    if status == 404:
        return NotFoundError(f"{where} found nothing (404){server_says}", **common)
    if status == 409:
        current = body.get("currentVersion")
        return ConflictError(
            f"{where} conflicts with the current version ({current}); fetch and merge, then retry",
            current_version=current if isinstance(current, int) else None,
            **common,
        )
    if status == 422:
        details = [
            ErrorDetail(path=str(d.get("path", "")), message=str(d.get("message", "")))
            for d in body.get("details") or []
            if isinstance(d, dict)
        ]
        listed = "; ".join(f"{d.path}: {d.message}" for d in details[:5])
        return UnprocessableError(
            f"{where} was refused as invalid (422){server_says}"
            + (f" [{listed}]" if listed else ""),
            details=details,
            **common,
        )
    if status == 428:
        return PreconditionRequiredError(f"{where} needs If-Match (428)", **common)
    if status == 429:
        return RateLimitedError(
            f"{where} was rate limited (429) after every retry; lower --parallelism or "
            "set api.rateLimit to the platform's quota",
            **common,
        )
    if status >= 500:
        return ServerError(
            f"{where} failed on the server ({status}) after every retry{server_says}", **common
        )
    return ApiStatusError(f"{where} answered {status}{server_says}", **common)

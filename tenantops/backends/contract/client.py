"""The Cognigy.AI API client: the contract's calls, with auth, retries, pacing and typed errors.

Any server that follows the contract works; nothing here assumes the simulator. Every
call takes the same path: pacing, then the bearer token, then the request on the
:class:`~tenantops.backends.contract.transport.Wire`, with retries around the lot.

- Transport (:mod:`tenantops.backends.contract.transport`): aiohttp's connection pool by
  default; tests may inject any httpx transport, e.g. ``httpx.ASGITransport(app=...)``.
  A request that got no answer is a :class:`~tenantops.errors.TransportError` there.
- Auth: client credentials, HTTP Basic, cached token (:mod:`tenantops.backends.contract.oauth`); a 401
  drops the token and repeats the request once with a fresh one.
- Retries (:mod:`tenantops.backends.retry`, run by stamina): 429, 500, 502, 503, 504 and
  transport failures, with full jitter, ``Retry-After`` as a floor, bounded in attempts
  and time. Every other status fails at once.
- Pacing: an optional sliding window at the platform's quota (:mod:`tenantops.backends.pacing`).
- Errors: a non-2xx answer becomes the typed error of
  :mod:`tenantops.backends.contract.status`.
"""

from __future__ import annotations

import base64
import json as jsonlib
import time
from collections.abc import Awaitable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import httpx
import stamina
from pydantic import ValidationError

from tenantops import __version__
from tenantops.backends.base import (
    Deployment,
    DeploymentStatus,
    EventSink,
    RoleGrant,
    SessionContext,
)
from tenantops.backends.contract.oauth import TokenCache, TokenGrant
from tenantops.backends.contract.status import status_error, token_error
from tenantops.backends.contract.transport import AiohttpWire, Answer, HttpxWire, Wire
from tenantops.backends.pacing import Pacer
from tenantops.backends.retry import RetryPolicy, is_retryable
from tenantops.core.model import ALL_SCOPES, BotDoc, BotModel, RateLimit, shape_problem
from tenantops.errors import ApiError, ApiStatusError, AuthError, TransportError

__all__ = ["PlatformClient"]

_P = TypeVar("_P", Deployment, DeploymentStatus, RoleGrant, SessionContext)


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
        pacer: Pacer | None = None,
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
            transport: an httpx transport; default aiohttp's own pool.
            timeout: seconds for connect and for each read.
            retry: retry bounds; default :class:`~tenantops.backends.retry.RetryPolicy`.
            rate_limit: pace requests to this quota (e.g. 1000 per 300 s).
            pacer: pace with this pacer instead (the caller reads its use of the quota).
            max_connections: connection pool size.
        """
        self.base_url = base_url.rstrip("/")
        self.token_url = token_url or f"{self.base_url}/api/v4/auth/oauth/token"
        self._client_id = client_id
        self._client_secret = client_secret
        self._scopes = scopes
        self._tenant_id = tenant_id
        self._retry = retry or RetryPolicy()
        #: Sent with every request; the wires add none of their own.
        self._headers = {"User-Agent": f"tenantops/{__version__}", "Accept": "application/json"}
        self._wire: Wire = (
            AiohttpWire(timeout=timeout, max_connections=max_connections)
            if transport is None
            else HttpxWire(transport, timeout=timeout)
        )
        self._pacer = pacer or (Pacer(rate_limit) if rate_limit is not None else None)
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
        await self._wire.aclose()

    # ------------------------------------------------------------------ the contract's calls

    async def export_bot(
        self, bot_id: str, *, workspace_id: str | None = None, locale: str | None = None
    ) -> BotDoc:
        """``POST /api/v1/bot/export``: the bot as deployed in ``workspace_id``.

        ``locale`` is ignored: a contract bot holds every locale.

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
        self,
        model: BotDoc,
        *,
        target_workspace: str,
        idempotency_key: str,
        locale: str | None = None,
        on_event: EventSink | None = None,
    ) -> Deployment:
        """``POST /api/v1/bot/deploy`` with an ``Idempotency-Key``, so retries are safe.

        The server keeps its own rollback point, so there is no event to report; a
        contract bot is one document, so ``locale`` selects nothing.
        """
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
        answer = await self._request(
            "PATCH",
            path,
            json={"context": dict(context), "version": from_version + 1},
            headers={"If-Match": f'"{from_version}"'},
        )
        data = _decode(answer, "PATCH", path)
        version = data.get("version") if isinstance(data, dict) else None
        if isinstance(version, int):
            return version
        etag = answer.headers.get("etag", "").strip('W/"')
        return int(etag) if etag.isdigit() else from_version + 1

    # ------------------------------------------------------------------ machinery

    def _parse(self, model: type[_P], data: Any, what: str) -> _P:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ApiError(f"the API's {what} answer does not follow the contract: {exc}") from exc

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return _decode(await self._request(method, path, **kwargs), method, path)

    def _retrying(self, started: float) -> Any:
        """A stamina retry loop over this client's policy (full jitter, Retry-After floor).

        ``started`` is when the call's first try began: the time budget counts from there.
        """
        policy = self._retry
        spent = time.monotonic() - started
        return stamina.retry_context(
            on=policy.hook(started=started),
            attempts=None,  # the hook counts: 429s are bounded by time alone
            # Never 0, which stamina takes for "no retries" (with a warning): the first
            # attempt, already made, still has to be let through.
            timeout=max(policy.timeout - spent, 0.001),
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
    ) -> Answer:
        """Send an authorized call with retries; the answer is 2xx or an ApiError is raised."""
        content = _json_bytes(json) if json is not None else None
        all_headers = {**self._headers, **(headers or {})}
        if content is not None:
            all_headers["Content-Type"] = "application/json"
        started = time.monotonic()
        try:
            # Most calls succeed at once: only a failure pays for stamina's loop (~30 us).
            return await self._authorized(method, path, content, all_headers)
        except ApiError as exc:
            if not is_retryable(exc):
                raise
            failed: ApiError | None = exc
        tries = 1
        try:
            async for attempt in self._retrying(started):
                with attempt:
                    tries = attempt.num
                    if failed is not None:
                        # The loop's first attempt is the one that just failed: stamina
                        # waits and counts exactly as if it had made it.
                        first, failed = failed, None
                        raise first
                    return await self._authorized(method, path, content, all_headers)
        except ApiError as exc:
            exc.after_retries(tries, time.monotonic() - started)
            raise
        raise AssertionError(
            "unreachable: stamina raises after the last attempt"
        )  # pragma: no cover

    async def _authorized(
        self, method: str, path: str, content: bytes | None, headers: dict[str, str]
    ) -> Answer:
        # peek() first: no coroutine to create and await for the usual cached token.
        token = self.tokens.peek() or await self.tokens.get()
        url = self.base_url + path
        answer = await self._send(
            method, url, content, {**headers, "Authorization": f"Bearer {token}"}
        )
        if answer.status == 401:
            # Expired or revoked early: one fresh token, one more try (contract, 401 row).
            self.tokens.invalidate(token)
            token = await self.tokens.get()
            answer = await self._send(
                method, url, content, {**headers, "Authorization": f"Bearer {token}"}
            )
        if answer.is_success:
            return answer
        raise status_error(answer, method, path)

    def _send(
        self, method: str, url: str, content: bytes | None, headers: Mapping[str, str]
    ) -> Awaitable[Answer]:
        """One request on the wire, inside a pacing slot when the client paces."""
        if self._pacer is None:
            # Most clients do not pace: hand back the wire's own coroutine, no extra frame.
            return self._wire.send(method, url, content=content, headers=headers)
        return self._paced(self._pacer, method, url, content=content, headers=headers)

    async def _paced(
        self,
        pacer: Pacer,
        method: str,
        url: str,
        *,
        content: bytes | None,
        headers: Mapping[str, str],
    ) -> Answer:
        async with pacer.slot():
            return await self._wire.send(method, url, content=content, headers=headers)

    async def _fetch_token(self) -> TokenGrant:
        """Ask the token endpoint (client credentials, HTTP Basic) with the usual retries."""
        try:
            return await self._fetch_token_with_retries()
        except (ApiStatusError, TransportError) as exc:
            # Already retried here: the caller's own retry loop must not multiply it.
            # The error names the token URL already.
            raise AuthError(
                f"could not get a token: {exc}", status=getattr(exc, "status", None)
            ) from exc

    async def _fetch_token_with_retries(self) -> TokenGrant:
        form = {"grant_type": "client_credentials", "scope": " ".join(self._scopes)}
        if self._tenant_id:
            form["tenant_id"] = self._tenant_id
        basic = base64.b64encode(f"{self._client_id}:{self._client_secret}".encode()).decode()
        headers = {
            **self._headers,
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"Basic {basic}",
        }
        started = time.monotonic()
        tries = 1
        try:
            async for attempt in self._retrying(started):
                with attempt:
                    tries = attempt.num
                    return await self._token_once(urlencode(form).encode(), headers)
        except (ApiStatusError, TransportError) as exc:
            exc.after_retries(tries, time.monotonic() - started)
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _token_once(self, form: bytes, headers: Mapping[str, str]) -> TokenGrant:
        answer = await self._send("POST", self.token_url, form, headers)
        if answer.status in (400, 401, 403):
            raise token_error(answer, self._client_id)
        if not answer.is_success:
            raise status_error(answer, "POST", self.token_url)
        try:
            grant = _decode(answer, "POST", urlsplit(self.token_url).path)
            return TokenGrant.model_validate(grant)
        except ValidationError as exc:
            raise AuthError("the token endpoint's answer is not an OAuth token") from exc


def _seg(value: str) -> str:
    """A path segment, percent-encoded so ids cannot change the path."""
    return quote(value, safe="")


#: Request bodies as httpx encodes ``json=``: compact, UTF-8, no NaN.
_ENCODER = jsonlib.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _json_bytes(value: Any) -> bytes:
    return _ENCODER.encode(value).encode()


def _decode(answer: Answer, method: str, path: str) -> Any:
    if not answer.content:
        return {}
    try:
        return answer.json()
    except ValueError as exc:
        raise ApiError(
            f"{method} {path} answered {answer.status} with a body that is not JSON"
        ) from exc

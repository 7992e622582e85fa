"""HTTP to Cognigy.AI REST API v2.0: auth, paging, pacing, safe retries, RFC 7807 errors.

The one place where this flavour's problem answers become :mod:`tenantops.errors`
classes; a call that got no answer goes through
:func:`tenantops.backends.no_answer.no_answer_error`. Rules the real API imposes:

- Every call counts against the quota (1,000 requests per 5 minutes per IP by default):
  requests are paced client-side, and ``Retry-After`` is honoured on a 429.
- Nothing is retried blindly. There are no idempotency keys, so a POST or PATCH whose
  answer was lost (a timeout, a 5xx, a cut connection) may have happened: it is raised,
  and the caller re-reads and converges. Only a 429 (refused, so not processed) is
  retried for every method; GET, PUT and DELETE are also retried on 5xx and transport
  failures, with full-jitter backoff. A retried DELETE answered 404 succeeded (an
  earlier try deleted and lost its answer): it answers ``None``.
- Lists come in ``{items, total, nextCursor, previousCursor}`` pages of at most 100;
  older servers name the cursor ``next``.
- With OAuth2, a 401 gets one fresh token per request; a fresh token refused too is
  raised (:class:`~tenantops.errors.UnauthorizedError`): fetching more would loop.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any

import httpx
import stamina

from tenantops.backends.no_answer import NO_ANSWER, no_answer_error
from tenantops.backends.pacing import Pacer
from tenantops.backends.retry import RetryPolicy, parse_retry_after
from tenantops.core.model import RateLimit
from tenantops.errors import (
    ApiError,
    ApiStatusError,
    AuthError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
    UnprocessableError,
)

__all__ = ["PAGE_SIZE", "V2Http"]

#: The largest page the API serves.
PAGE_SIZE = 100
#: Methods whose repetition cannot change the outcome.
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
_BY_STATUS: dict[int, type[ApiStatusError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    413: BadRequestError,
    422: UnprocessableError,
    429: RateLimitedError,
}


class V2Http:
    """An async HTTP client of one Cognigy.AI installation's REST API v2.0.

    Args:
        base_url: the API host (``https://api-app.cognigy.ai``); ``/new/v2.0`` is added.
        api_key: sent as ``X-API-Key``; without it, OAuth2 client credentials are used.
        client_id, client_secret: the OAuth2 client, used when there is no API key.
        token_url: the OAuth2 token endpoint (default ``<base_url>/auth/oauth2/token``).
        rate_limit: the quota to pace to (``1000/5m`` on SaaS); ``None`` for none.
        pacer: pace with this pacer instead (the caller reads its use of the quota).
        retry: retry bounds for the requests that may be retried.
        transport: an httpx transport (tests pass the simulator's ASGI app).
        timeout: seconds one call may take.
        max_connections: the connection pool's size.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        token_url: str | None = None,
        rate_limit: RateLimit | None = None,
        pacer: Pacer | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        max_connections: int = 8,
    ) -> None:
        if not api_key and not (client_id and client_secret):
            raise AuthError("set api.apiKey (or COGNIGY_API_KEY), or api.clientId and clientSecret")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._oauth = (client_id or "", client_secret or "")
        self._token: tuple[str, float] | None = None
        self._token_url = token_url or f"{self.base_url}/auth/oauth2/token"
        self._pacer = pacer or (Pacer(rate_limit) if rate_limit else None)
        self._retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(
            base_url=f"{self.base_url}/new/v2.0",
            transport=transport,
            timeout=timeout,
            headers={"Accept": "application/json"},
            limits=httpx.Limits(max_connections=max_connections),
        )
        #: Calls sent, by ``METHOD route`` (ids replaced by ``{id}``), for quota figures.
        self.calls: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"V2Http({self.base_url!r})"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # ------------------------------------------------------------------ verbs

    async def get(self, path: str, **params: Any) -> Any:
        """GET ``path`` and answer its JSON body."""
        return await self.request("GET", path, params=params)

    async def list_all(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a paged list, following the cursors (100 a page)."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = {**params, "limit": PAGE_SIZE, **({"next": cursor} if cursor else {})}
            page = await self.request("GET", path, params=query)
            items.extend(page.get("items") or [])
            cursor = page.get("nextCursor") or page.get("next")
            if not cursor or not page.get("items"):
                return items

    async def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """POST; never retried but on 429: a lost answer is raised for the caller to re-read."""
        return await self.request("POST", path, json=dict(body or {}))

    async def patch(self, path: str, body: Mapping[str, Any]) -> Any:
        """PATCH; never retried but on 429, like :meth:`post`."""
        return await self.request("PATCH", path, json=dict(body))

    async def delete(self, path: str) -> Any:
        """DELETE (retried: deleting twice leaves the same state, a 404 the second time).

        Returns:
            The answer, or ``None`` when a retry found the resource gone: the try whose
            answer was lost had deleted it (a 404 on the first try is raised).
        """
        return await self.request("DELETE", path)

    # ------------------------------------------------------------------ machinery

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """Send one call, retrying only what is safe to retry (see the module docstring).

        Raises:
            ApiStatusError: the API answered an error (after retries where allowed).
            TransportError: no answer (after retries where allowed).
        """
        started = time.monotonic()
        policy = self._retry.hook(started=started)

        def decide(exc: Exception) -> bool | float:
            if method not in _IDEMPOTENT and not isinstance(exc, RateLimitedError):
                return False
            return policy(exc)

        tries = 1
        try:
            async for attempt in stamina.retry_context(
                on=decide,
                attempts=None,  # the hook counts: 429s are bounded by time alone
                timeout=self._retry.timeout,
            ):
                with attempt:
                    tries = attempt.num
                    return await self._send(method, path, params=params, json=json)
        except ApiError as exc:
            if method == "DELETE" and tries > 1 and isinstance(exc, NotFoundError):
                # An earlier try deleted it and lost its answer (or, after a 429,
                # someone else did): gone is what was asked for.
                return None
            exc.after_retries(tries, time.monotonic() - started)
            raise
        raise AssertionError("unreachable: stamina raises after the last attempt")

    async def _send(
        self, method: str, path: str, *, params: Mapping[str, Any] | None, json: Any
    ) -> Any:
        response, token = await self._exchange(method, path, params=params, json=json)
        if response.status_code == 401 and token is not None:
            # The token died early (revoked, the server restarted): one fresh token for
            # this request. Unless another request already replaced it, it goes.
            if self._token is token:
                self._token = None
            response, _ = await self._exchange(method, path, params=params, json=json)
            if response.status_code == 401:
                # A token fresh from the endpoint refused too: no expiry, the answer stands.
                raise _problem(response, method, path, hint=self._refused_token_hint())
        if response.is_success:
            return _json(response)
        raise _problem(response, method, path)

    async def _exchange(
        self, method: str, path: str, *, params: Mapping[str, Any] | None, json: Any
    ) -> tuple[httpx.Response, tuple[str, float] | None]:
        """One call and its answer, with the OAuth token it went with (``None``: the key)."""
        headers = await self._auth_headers()
        token = None if self._api_key else self._token
        self.calls[f"{method} {_route(path)}"] += 1
        async with self._slot():
            try:
                response = await self._http.request(
                    method, path, params=dict(params or {}), json=json, headers=headers
                )
            except NO_ANSWER as exc:
                url = f"{self._http.base_url}{path.lstrip('/')}"
                raise no_answer_error(exc, method, url) from exc
        return response, token

    def _refused_token_hint(self) -> str:
        return (
            f"; the API refused a fresh token from {self._token_url} for client "
            f"{self._oauth[0]!r}: check that api.tokenUrl belongs to the installation at "
            f"{self.base_url} and that the client's user may use the API"
        )

    def _slot(self) -> Any:
        return self._pacer.slot() if self._pacer else nullcontext()

    async def _auth_headers(self) -> dict[str, str]:
        if self._api_key:
            return {"X-API-Key": self._api_key}
        if self._token is None or self._token[1] <= time.monotonic():
            self._token = await self._fetch_token()
        return {"Authorization": self._token[0]}

    async def _fetch_token(self) -> tuple[str, float]:
        client_id, secret = self._oauth
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        self.calls["POST /auth/oauth2/token"] += 1
        async with self._slot():
            try:
                response = await self._http.post(self._token_url, data=form)
            except NO_ANSWER as exc:
                raise no_answer_error(exc, "POST", self._token_url) from exc
        if not response.is_success:
            raise AuthError(
                f"the token endpoint refused client {client_id!r} ({response.status_code}); "
                "check api.clientId and clientSecret",
                status=response.status_code,
            )
        body = _json(response)
        ttl = float(body.get("expires_in") or 300)
        kind = str(body.get("token_type") or "Bearer")
        # Refresh at 90% of the lifetime, so that no call goes out with a dying token.
        return f"{kind} {body['access_token']}", time.monotonic() + 0.9 * ttl


def _route(path: str) -> str:
    """``flows/65a…/intents`` -> ``flows/{id}/intents``: routes, for counting calls."""
    parts = path.strip("/").split("/")
    # Session ids are the caller's own strings: counted as one route, or a long-running
    # relay would keep a counter per session.
    return "/".join(
        "{id}"
        if len(p) == 24 or (len(p) == 36 and p.count("-") == 4) or parts[i - 1 : i] == ["sessions"]
        else p
        for i, p in enumerate(parts)
    )


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError as exc:
        raise ApiError(
            f"{response.request.method} {response.request.url.path}: the answer is not JSON"
        ) from exc


def _problem(
    response: httpx.Response, method: str, path: str, *, hint: str | None = None
) -> ApiStatusError:
    """An RFC 7807 answer as the matching error; keyed on ``status`` and ``code`` only.

    ``hint`` replaces the status's own advice on what to do next.
    """
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    status = response.status_code
    detail = str(body.get("detail") or body.get("title") or response.reason_phrase)
    trace = body.get("traceId")
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else ApiStatusError)
    where = f"{method} /new/v2.0/{path.lstrip('/')}"
    if hint is None:
        hint = {
            401: "; check the API key (api.apiKey or COGNIGY_API_KEY)",
            403: "; the key's user lacks a role in this project",
            429: "; the quota is spent: lower api.rateLimit or spread the fleet with --shard",
        }.get(status, "")
    return kind(
        f"{where}: {status} {detail}{hint}" + (f" (trace {trace})" if trace else ""),
        status=status,
        code=str(body.get("code")) if body.get("code") is not None else None,
        request_id=str(trace) if trace else None,
        method=method,
        url=path,
        body=body,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )

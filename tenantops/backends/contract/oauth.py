"""OAuth 2.0 client-credentials tokens: cached, refreshed before expiry, fetched once.

Holds no HTTP code: the client hands in the coroutine that asks the token endpoint, so
the token request gets the same retries, pacing and error mapping as every other call.
One cache belongs to one client (one set of credentials): never a process-wide global,
which is the seed's bug of sharing one tenant's token with another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TokenCache", "TokenGrant"]


class TokenGrant(BaseModel):
    """A token endpoint's 200 answer (RFC 6749 section 5.1)."""

    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    access_token: str = Field(min_length=1, repr=False)
    token_type: str
    expires_in: float | None = Field(default=None, gt=0)
    scope: str | None = None


@dataclass(slots=True)
class _Cached:
    value: str = field(repr=False)
    refresh_at: float


class TokenCache:
    """The current access token of one client, with single-flight refresh.

    A token is refreshed when 90% of its lifetime has passed (at most 60 s early), so
    that no request goes out with a token about to expire. Concurrent callers that find
    no usable token wait for one fetch instead of each starting their own.
    """

    #: Lifetime assumed when the server sends no ``expires_in``.
    DEFAULT_LIFETIME = 300.0

    def __init__(
        self,
        fetch: Callable[[], Awaitable[TokenGrant]],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._cached: _Cached | None = None
        self._lock = asyncio.Lock()
        #: How many tokens were fetched (observable by tests and metrics).
        self.fetches = 0

    def __repr__(self) -> str:
        state = "empty" if self._cached is None else "holding a token"
        return f"TokenCache({state}, fetches={self.fetches})"

    def peek(self) -> str | None:
        """The cached token if it is usable now, without fetching one."""
        return self._usable()

    def _usable(self) -> str | None:
        cached = self._cached
        if cached is not None and self._clock() < cached.refresh_at:
            return cached.value
        return None

    async def get(self) -> str:
        """A token that is not about to expire, fetching one if needed."""
        token = self._usable()
        if token is not None:
            return token
        async with self._lock:
            # Another caller may have fetched while this one waited for the lock.
            token = self._usable()
            if token is not None:
                return token
            grant = await self._fetch()
            self.fetches += 1
            lifetime = grant.expires_in or self.DEFAULT_LIFETIME
            early = min(60.0, lifetime * 0.1)
            self._cached = _Cached(grant.access_token, self._clock() + lifetime - early)
            return grant.access_token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after the server refused it (a no-op if it was already replaced)."""
        if self._cached is not None and self._cached.value == token:
            self._cached = None

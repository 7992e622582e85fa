"""Token cache: one fetch for many callers, refresh before expiry, drop on refusal."""

from __future__ import annotations

import asyncio

from tenantops.backends.contract.oauth import TokenCache, TokenGrant


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def issuer(lifetime: float = 100.0, delay: float = 0.0) -> tuple[list[str], object]:
    issued: list[str] = []

    async def fetch() -> TokenGrant:
        await asyncio.sleep(delay)
        token = f"tok-{len(issued) + 1}"
        issued.append(token)
        return TokenGrant(access_token=token, token_type="Bearer", expires_in=lifetime)

    return issued, fetch


async def test_concurrent_callers_share_one_fetch() -> None:
    """50 callers with no token yet cause exactly one token request."""
    issued, fetch = issuer(delay=0.01)
    cache = TokenCache(fetch)  # type: ignore[arg-type]
    tokens = await asyncio.gather(*(cache.get() for _ in range(50)))
    assert set(tokens) == {"tok-1"}
    assert issued == ["tok-1"]
    assert cache.fetches == 1


async def test_refreshes_shortly_before_expiry() -> None:
    """A token is replaced once 90% of its lifetime has passed, not after it expired."""
    clock = Clock()
    _, fetch = issuer(lifetime=100.0)
    cache = TokenCache(fetch, clock=clock)  # type: ignore[arg-type]
    assert await cache.get() == "tok-1"
    clock.now += 89
    assert await cache.get() == "tok-1"
    clock.now += 2
    assert await cache.get() == "tok-2"


async def test_early_refresh_is_at_most_a_minute() -> None:
    """Long-lived tokens are refreshed 60 s before expiry, not 10% of an hour."""
    clock = Clock()
    _, fetch = issuer(lifetime=3600.0)
    cache = TokenCache(fetch, clock=clock)  # type: ignore[arg-type]
    await cache.get()
    clock.now += 3539
    assert await cache.get() == "tok-1"
    clock.now += 2
    assert await cache.get() == "tok-2"


async def test_invalidate_only_drops_the_refused_token() -> None:
    """Invalidating a token already replaced keeps the newer one (no refetch storm)."""
    _, fetch = issuer()
    cache = TokenCache(fetch)  # type: ignore[arg-type]
    first = await cache.get()
    cache.invalidate(first)
    second = await cache.get()
    cache.invalidate(first)
    assert await cache.get() == second
    assert cache.fetches == 2


def test_repr_hides_the_token() -> None:
    """Neither the cache nor a grant shows the token in its repr."""
    grant = TokenGrant(access_token="very-secret-token", token_type="Bearer", expires_in=5)
    assert "very-secret-token" not in repr(grant)
    assert "very-secret-token" not in repr(TokenCache(lambda: None))  # type: ignore[arg-type, return-value]

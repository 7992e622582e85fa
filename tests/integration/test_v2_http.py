"""V2Http against the cognigy-v2 simulator as a real server: token refresh, retried deletes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from support.simserver import SimServer, run_sim

from tenantops.backends.cognigy_v2.http import V2Http
from tenantops.backends.retry import RetryPolicy
from tenantops.errors import NotFoundError, UnauthorizedError

pytestmark = pytest.mark.integration

API_KEY = "v2-http-key-4f1d2c"
CLIENT_ID, CLIENT_SECRET = "ci-client", "ci-secret-8e3a"
ACTING_USER = "ops@example.com"
#: Retries without waits, so that a retried call takes no time.
NO_WAIT = RetryPolicy(wait_initial=0.0, wait_max=0.0, timeout=20.0)
TOKEN_CALLS = "POST /auth/oauth2/token"


def v2_sim(*args: str) -> Any:
    """The v2.0 simulator accepting :data:`API_KEY` and the OAuth client, instant tasks."""
    return run_sim(
        "--api-key",
        f"{API_KEY}:{ACTING_USER}",
        "--oauth-client",
        f"{CLIENT_ID}:{CLIENT_SECRET}:{ACTING_USER}",
        "--task-seconds",
        "0",
        *args,
        flavor="cognigy-v2",
    )


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with v2_sim() as server:
        yield server


@pytest.fixture
async def http(sim: SimServer) -> AsyncIterator[V2Http]:
    client = V2Http(sim.base_url, api_key=API_KEY, retry=NO_WAIT)
    yield client
    await client.aclose()


def oauth_http(sim: SimServer) -> V2Http:
    return V2Http(sim.base_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, retry=NO_WAIT)


async def test_a_token_the_api_refuses_is_fetched_twice_then_the_401_stands() -> None:
    """A token endpoint whose tokens the API refuses: one fresh token for the request,
    then a 401 saying what to check (it fetched tokens for ever)."""
    with v2_sim("--token-ttl", "0") as born_expired:
        http = oauth_http(born_expired)
        try:
            with pytest.raises(UnauthorizedError) as info:
                await asyncio.wait_for(http.get("users/me"), timeout=30)
        finally:
            await http.aclose()
    assert (http.calls[TOKEN_CALLS], http.calls["GET users/me"]) == (2, 2)
    assert info.value.status == 401
    assert "the API refused a fresh token" in str(info.value)
    assert "api.tokenUrl" in str(info.value)


async def test_a_token_expired_early_is_replaced_once_and_the_call_goes_through(
    sim: SimServer,
) -> None:
    """Tokens expired by the server before their time: one new token, and the call succeeds."""
    http = oauth_http(sim)
    try:
        assert (await http.get("users/me"))["email"] == ACTING_USER
        assert sim.admin("POST", "/_sim/tokens/expire").json()["expired"] >= 1
        assert (await http.get("users/me"))["email"] == ACTING_USER
    finally:
        await http.aclose()
    assert (http.calls[TOKEN_CALLS], http.calls["GET users/me"]) == (2, 3)


async def test_a_retried_delete_that_finds_it_gone_succeeds(sim: SimServer, http: V2Http) -> None:
    """The first DELETE deletes but its answer is lost (502): the retry's 404 means
    gone, answered as None (it was raised)."""
    lexicon = sim.seed_project(name="http", lexicons=[{"name": "colors"}])["lexicons"]["colors"]
    sim.fault_next("DELETE /v2.0/lexicons/{lexiconId}", 502, processed=True)

    assert await http.delete(f"lexicons/{lexicon}") is None

    assert http.calls["DELETE lexicons/{id}"] == 2
    with pytest.raises(NotFoundError):
        await http.get(f"lexicons/{lexicon}")


async def test_a_delete_answered_404_at_once_is_raised(sim: SimServer, http: V2Http) -> None:
    """A 404 on the first try is no retry's echo: it is raised."""
    lexicon = sim.seed_project(name="http", lexicons=[{"name": "colors"}])["lexicons"]["colors"]
    await http.delete(f"lexicons/{lexicon}")
    with pytest.raises(NotFoundError):
        await http.delete(f"lexicons/{lexicon}")

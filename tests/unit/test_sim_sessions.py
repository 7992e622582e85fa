"""The simulator's session context: ETag/If-Match versions, merges, 409, 428 and 422."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from support.simserver import bearer, fetch_token, sim_client

URL = "/api/v4/session/s-1/context"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with sim_client() as client:
        client.headers.update(bearer(await fetch_token(client)))
        yield client


async def patch(
    client: httpx.AsyncClient, context: dict[str, Any], version: Any, if_match: str | None
) -> httpx.Response:
    headers = {"If-Match": if_match} if if_match is not None else {}
    return await client.patch(URL, json={"context": context, "version": version}, headers=headers)


async def test_unknown_session_is_version_zero(client: httpx.AsyncClient) -> None:
    """A session never written answers 200, version 0, an empty context and ``ETag: "0"``."""
    response = await client.get(URL)
    assert response.status_code == 200
    assert response.json() == {"sessionId": "s-1", "context": {}, "version": 0}
    assert response.headers["etag"] == '"0"'


@pytest.mark.parametrize("if_match", ['"0"', "0", 'W/"0"'])
async def test_patch_from_zero_creates_the_session(
    client: httpx.AsyncClient, if_match: str
) -> None:
    """A PATCH from version 0 creates the session; If-Match may be quoted, bare or weak."""
    response = await patch(client, {"orderId": "A-7"}, 1, if_match)
    assert response.status_code == 200
    assert response.json() == {"sessionId": "s-1", "version": 1}
    assert response.headers["etag"] == '"1"'
    fetched = await client.get(URL)
    assert fetched.json() == {"sessionId": "s-1", "context": {"orderId": "A-7"}, "version": 1}
    assert fetched.headers["etag"] == '"1"'


async def test_patch_merges_and_null_removes(client: httpx.AsyncClient) -> None:
    """Keys merge into the stored context; a null value removes its key."""
    await patch(client, {"a": "1", "b": "2"}, 1, '"0"')
    response = await patch(client, {"b": None, "c": "3", "gone": None}, 2, '"1"')
    assert response.status_code == 200
    assert (await client.get(URL)).json()["context"] == {"a": "1", "c": "3"}


async def test_stale_if_match_is_409_with_current_version(client: httpx.AsyncClient) -> None:
    """If-Match naming an old version answers 409 version_conflict with currentVersion."""
    await patch(client, {"a": "1"}, 1, '"0"')
    await patch(client, {"a": "2"}, 2, '"1"')
    response = await patch(client, {"a": "x"}, 2, '"1"')
    assert response.status_code == 409
    body = response.json()
    assert (body["error"], body["currentVersion"]) == ("version_conflict", 2)
    assert response.headers["etag"] == '"2"'
    assert (await client.get(URL)).json()["context"] == {"a": "2"}


async def test_stale_if_match_wins_over_a_wrong_body_version(client: httpx.AsyncClient) -> None:
    """A stale If-Match answers 409 even when the body's version is wrong too: refetch first."""
    await patch(client, {"a": "1"}, 1, '"0"')
    response = await patch(client, {"a": "x"}, 7, '"0"')
    assert response.status_code == 409


async def test_missing_if_match_is_428(client: httpx.AsyncClient) -> None:
    """A PATCH without If-Match answers 428 precondition_required."""
    response = await patch(client, {"a": "1"}, 1, None)
    assert response.status_code == 428
    assert response.json()["error"] == "precondition_required"


@pytest.mark.parametrize("if_match", ["*", '"abc"', '"1', "-1", "1" * 30])
async def test_unparsable_if_match_is_400(client: httpx.AsyncClient, if_match: str) -> None:
    """If-Match that names no version answers 400 invalid_request."""
    response = await patch(client, {"a": "1"}, 1, if_match)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("context", "version", "pointer"),
    [
        ({"a": "1"}, 2, "/version"),
        ({"a": "1"}, 0, "/version"),
        ({"a": "1"}, "1", "/version"),
        ({"n": 7}, 1, "/context/n"),
        ({"a/b": ["x"]}, 1, "/context/a~1b"),
        ({"t": True}, 1, "/context/t"),
    ],
)
async def test_invalid_patch_is_422(
    client: httpx.AsyncClient, context: dict[str, Any], version: Any, pointer: str
) -> None:
    """A version other than If-Match + 1, or a non-string value, answers 422 naming it."""
    response = await patch(client, context, version, '"0"')
    assert response.status_code == 422
    assert pointer in [d["path"] for d in response.json()["details"]]
    assert (await client.get(URL)).json()["version"] == 0


async def test_session_scopes_are_checked(client: httpx.AsyncClient) -> None:
    """Reading needs session:read and writing session:write."""
    token = await fetch_token(client, scope="session:read")
    response = await client.patch(
        URL, json={"context": {}, "version": 1}, headers={**bearer(token), "If-Match": '"0"'}
    )
    assert response.status_code == 403
    assert response.json()["scope"] == "session:write"
    token = await fetch_token(client, scope="session:write")
    response = await client.get(URL, headers=bearer(token))
    assert response.json()["scope"] == "session:read"

"""The v2.0 simulator's people and sessions: members and roles, users, context injection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from support.simserver import v2_sim_client
from support.simv2 import config, seed_project


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with v2_sim_client(config()) as client:
        yield client


@pytest.fixture
async def project(client: httpx.AsyncClient) -> dict[str, Any]:
    return await seed_project(client)


async def _user_id(client: httpx.AsyncClient, email: str) -> str:
    found = (await client.get("/v2.0/users", params={"filter": email})).json()["items"]
    assert len(found) == 1
    return str(found[0]["_id"])


async def test_users_filter_by_email_and_me(
    client: httpx.AsyncClient, project: dict[str, Any]
) -> None:
    """users?filter=<email> finds one user; users/me is whom the API key acts as."""
    await client.post("/_sim/seed", json={"users": [{"email": "dave@example.com"}]})
    found = (await client.get("/v2.0/users", params={"filter": "dave@example.com"})).json()
    assert [u["email"] for u in found["items"]] == ["dave@example.com"]
    assert (await client.get("/v2.0/users/me")).json()["email"] == "admin@example.com"


async def test_member_add_role_and_remove(
    client: httpx.AsyncClient, project: dict[str, Any]
) -> None:
    """addprojectmember, addroletomember, removerolefrommember and removeprojectmember work in turn."""
    await client.post("/_sim/seed", json={"users": [{"email": "dave@example.com"}]})
    user_id = await _user_id(client, "dave@example.com")
    base = f"/v2.0/projects/{project['_id']}"
    added = await client.post(f"{base}/addprojectmember", json={"userId": user_id})
    assert (added.json()["_id"], added.json()["roles"]) == (user_id, [])
    again = await client.post(f"{base}/addprojectmember", json={"userId": user_id})
    assert (again.status_code, again.json()["code"]) == (409, 1004)
    await client.post(f"{base}/members/{user_id}/addroletomember", json={"role": "project_manager"})
    granted = await client.post(
        f"{base}/members/{user_id}/addroletomember", json={"role": "flow_editor"}
    )
    assert granted.json()["roles"] == ["project_manager", "flow_editor"]
    taken = await client.post(
        f"{base}/members/{user_id}/removerolefrommember", json={"role": "project_manager"}
    )
    assert taken.json()["roles"] == ["flow_editor"]
    members = (await client.get(f"{base}/members")).json()["items"]
    assert {m["id"]: m["roles"] for m in members} == {
        "carol@example.com": ["base_role"],
        "dave@example.com": ["flow_editor"],
    }
    assert (
        await client.post(f"{base}/removeprojectmember", json={"userId": user_id})
    ).status_code == 204
    gone = await client.post(f"{base}/members/{user_id}/addroletomember", json={"role": "x"})
    assert gone.status_code == 404


async def test_adding_an_unknown_user_is_404(
    client: httpx.AsyncClient, project: dict[str, Any]
) -> None:
    """A user id no user has cannot become a member."""
    response = await client.post(
        f"/v2.0/projects/{project['_id']}/addprojectmember", json={"userId": "c" * 24}
    )
    assert (response.status_code, response.json()["code"]) == (404, 1002)


async def test_context_inject_merges_by_default(client: httpx.AsyncClient) -> None:
    """Each injection's top-level keys replace the stored ones; the admin API reads the result."""
    first = await client.post(
        "/v2.0/sessions/s-1/context/inject",
        json={"userId": "u-1", "context": {"a": 1, "b": {"x": 1}}},
    )
    assert first.json() == {"a": 1, "b": {"x": 1}}
    second = await client.post(
        "/v2.0/sessions/s-1/context/inject", json={"userId": "u-1", "context": {"b": {"y": 2}}}
    )
    assert second.json() == {"a": 1, "b": {"y": 2}}
    session = (await client.get("/_sim/sessions/s-1")).json()
    assert session == {
        "sessionId": "s-1",
        "userId": "u-1",
        "context": {"a": 1, "b": {"y": 2}},
        "lastInjected": {"b": {"y": 2}},
        "injections": 2,
    }


async def test_context_inject_replace_mode() -> None:
    """With context_mode=replace the injected object becomes the whole context."""
    async with v2_sim_client(config(context_mode="replace")) as client:
        await client.post(
            "/v2.0/sessions/s-1/context/inject", json={"userId": "u", "context": {"a": 1}}
        )
        second = await client.post(
            "/v2.0/sessions/s-1/context/inject", json={"userId": "u", "context": {"b": 2}}
        )
    assert second.json() == {"b": 2}


async def test_context_over_the_limit_is_400() -> None:
    """A context that would exceed the context limit is refused and not stored."""
    async with v2_sim_client(config(context_limit=100)) as client:
        response = await client.post(
            "/v2.0/sessions/s-1/context/inject", json={"userId": "u", "context": {"k": "v" * 200}}
        )
        read = await client.get("/_sim/sessions/s-1")
    assert (response.status_code, response.json()["code"]) == (400, 1005)
    assert read.status_code == 404


async def test_inject_needs_user_id(client: httpx.AsyncClient) -> None:
    """userId is required (400, code 1000)."""
    response = await client.post("/v2.0/sessions/s-1/context/inject", json={"context": {}})
    assert (response.status_code, response.json()["code"]) == (400, 1000)

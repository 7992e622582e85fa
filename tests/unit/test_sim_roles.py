"""The simulator's workspace role assignments: assign, replace, list, revoke."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from support.simserver import bearer, fetch_token, sim_client

ASSIGN = "/api/v1/workspace/user/assign"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with sim_client() as client:
        client.headers.update(bearer(await fetch_token(client)))
        yield client


def assignment(user: str, role: str = "editor", **extra: str) -> dict[str, str]:
    return {"userId": user, "roleId": role, "workspaceId": "ws-1", **extra}


async def test_assign_is_201_then_200_when_replaced(client: httpx.AsyncClient) -> None:
    """A new assignment answers 201, assigning the user again replaces the role with 200."""
    first = await client.post(ASSIGN, json=assignment("u-1"))
    assert first.status_code == 201
    assert first.json() == assignment("u-1")
    again = await client.post(ASSIGN, json=assignment("u-1", "viewer"))
    assert again.status_code == 200
    users = await client.get("/api/v1/workspace/ws-1/users")
    assert users.json() == {"assignments": [{"userId": "u-1", "roleId": "viewer"}]}


async def test_list_is_sorted_and_expiry_normalized_to_utc(client: httpx.AsyncClient) -> None:
    """Assignments list by userId; ``expiresAt`` comes back as RFC 3339 UTC."""
    await client.post(ASSIGN, json=assignment("u-2", expiresAt="2027-01-31T02:00:00+02:00"))
    await client.post(ASSIGN, json=assignment("u-1"))
    response = await client.get("/api/v1/workspace/ws-1/users")
    assert response.json()["assignments"] == [
        {"userId": "u-1", "roleId": "editor"},
        {"userId": "u-2", "roleId": "editor", "expiresAt": "2027-01-31T00:00:00Z"},
    ]


async def test_unknown_workspace_lists_no_assignments(client: httpx.AsyncClient) -> None:
    """A workspace never seen has an empty list, not a 404."""
    response = await client.get("/api/v1/workspace/nowhere/users")
    assert response.status_code == 200
    assert response.json() == {"assignments": []}


async def test_revoke_is_204_then_404(client: httpx.AsyncClient) -> None:
    """Removing a role answers 204; removing it again answers 404."""
    await client.post(ASSIGN, json=assignment("u-1"))
    assert (await client.delete("/api/v1/workspace/ws-1/users/u-1")).status_code == 204
    response = await client.delete("/api/v1/workspace/ws-1/users/u-1")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert (await client.get("/api/v1/workspace/ws-1/users")).json() == {"assignments": []}


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (assignment("u-1", expiresAt="tomorrow"), "/expiresAt"),
        (assignment("u-1", expiresAt="2027-01-31T00:00:00"), "/expiresAt"),
        ({"userId": "u-1", "workspaceId": "ws-1"}, "/roleId"),
        ({**assignment("u-1"), "userId": ""}, "/userId"),
        ({**assignment("u-1"), "roleId": 3}, "/roleId"),
    ],
)
async def test_invalid_assignment_is_422(
    client: httpx.AsyncClient, body: dict[str, Any], pointer: str
) -> None:
    """A missing, empty or mistyped field, or a timestamp without zone, answers 422 naming it."""
    response = await client.post(ASSIGN, json=body)
    assert response.status_code == 422
    assert [d["path"] for d in response.json()["details"]] == [pointer]

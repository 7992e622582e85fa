"""Every endpoint and error row of cognigy-api-contract.md, through PlatformClient.

Runs against the simulator by default, or any server (see conftest.py).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from conftest import Server, make_model

from tenantops.backends.base import DeploymentStatus
from tenantops.backends.contract.client import PlatformClient
from tenantops.core.model import model_sha256
from tenantops.errors import (
    AuthError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnprocessableError,
)


async def settle(
    client: PlatformClient, deployment_id: str, timeout: float = 30.0
) -> list[DeploymentStatus]:
    """Poll until a final state; returns every status seen."""
    seen: list[DeploymentStatus] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await client.deployment_status(deployment_id)
        seen.append(status)
        if status.is_final:
            return seen
        assert asyncio.get_running_loop().time() < deadline, "deployment never settled"
        await asyncio.sleep(0.05)


async def deploy_and_wait(client: PlatformClient, model: dict[str, Any], workspace: str) -> str:
    deployment = await client.deploy(
        model, target_workspace=workspace, idempotency_key=uuid.uuid4().hex
    )
    assert deployment.status == "pending"
    seen = await settle(client, deployment.deployment_id)
    assert seen[-1].status == "success", seen[-1]
    return deployment.deployment_id


async def raw(
    server: Server, client: PlatformClient, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    """A request the client would never send, with the client's token."""
    token = await client.tokens.get()
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return await http.request(method, path, headers=headers, **kwargs)


# --------------------------------------------------------------------------- bots


async def test_deploy_then_export_serves_the_model(
    client: PlatformClient, model: dict[str, Any], workspace: str
) -> None:
    """A successful deployment is what the workspace exports next, with server fields set."""
    await deploy_and_wait(client, model, workspace)
    live = await client.export_bot(model["botId"], workspace_id=workspace)
    assert model_sha256(live) == model_sha256(model)
    assert live["version"]
    assert live["metadata"]["exportedAt"]


async def test_deployment_moves_through_the_documented_states(
    client: PlatformClient, model: dict[str, Any], workspace: str
) -> None:
    """Status goes pending -> processing -> success, never backwards."""
    deployment = await client.deploy(
        model, target_workspace=workspace, idempotency_key=uuid.uuid4().hex
    )
    order = ["pending", "processing", "success"]
    seen = [s.status for s in await settle(client, deployment.deployment_id)]
    assert seen[-1] == "success"
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen)


async def test_export_without_workspace_uses_the_source(
    client: PlatformClient, server: Server
) -> None:
    """Export without workspaceId answers the bot from its source workspace."""
    live = await client.export_bot(server.source_bot)
    assert live["botId"] == server.source_bot


async def test_export_of_missing_bot_is_not_found(client: PlatformClient, workspace: str) -> None:
    """A workspace without the bot answers 404."""
    with pytest.raises(NotFoundError) as info:
        await client.export_bot("no-such-bot", workspace_id=workspace)
    assert info.value.status == 404


async def test_same_idempotency_key_answers_the_same_deployment(
    client: PlatformClient, model: dict[str, Any], workspace: str
) -> None:
    """Deploying twice with one key starts one deployment."""
    key = uuid.uuid4().hex
    first = await client.deploy(model, target_workspace=workspace, idempotency_key=key)
    second = await client.deploy(model, target_workspace=workspace, idempotency_key=key)
    assert first.deployment_id == second.deployment_id


async def test_rollback_restores_the_previous_model(
    client: PlatformClient, model: dict[str, Any], workspace: str
) -> None:
    """Rolling back the second deployment serves the first model again; the first, nothing."""
    first_id = await deploy_and_wait(client, model, workspace)
    second = make_model(model["botId"], "v2")
    second_id = await deploy_and_wait(client, second, workspace)
    assert model_sha256(
        await client.export_bot(model["botId"], workspace_id=workspace)
    ) == model_sha256(second)
    assert (await client.rollback(second_id)).status == "rolled_back"
    assert model_sha256(
        await client.export_bot(model["botId"], workspace_id=workspace)
    ) == model_sha256(model)
    assert (await client.rollback(first_id)).status == "rolled_back"
    with pytest.raises(NotFoundError):
        await client.export_bot(model["botId"], workspace_id=workspace)
    assert (await client.deployment_status(second_id)).status == "rolled_back"


async def test_unknown_deployment_is_not_found(client: PlatformClient) -> None:
    """Status and rollback of an unknown deployment answer 404."""
    with pytest.raises(NotFoundError):
        await client.deployment_status("dep-does-not-exist")
    with pytest.raises(NotFoundError):
        await client.rollback("dep-does-not-exist")


async def test_invalid_model_is_422_with_pointers(client: PlatformClient, workspace: str) -> None:
    """A model that breaks the contract's shape is refused with JSON pointers."""
    bad = make_model("b")
    bad["intents"] = [{"examples": ["no name"]}]
    with pytest.raises(UnprocessableError) as info:
        await client.deploy(bad, target_workspace=workspace, idempotency_key=uuid.uuid4().hex)
    assert info.value.status == 422
    assert any(d.path.startswith("/model/intents/0") for d in info.value.details)


async def test_malformed_request_is_400(client: PlatformClient, server: Server) -> None:
    """A body that is not JSON answers 400 with the error shape."""
    response = await raw(
        server,
        client,
        "POST",
        "/api/v1/bot/export",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)


# --------------------------------------------------------------------------- roles


async def test_role_assignment_lifecycle(client: PlatformClient, workspace: str) -> None:
    """Assign, list, replace, revoke; revoking a user without a role answers 404."""
    expires = datetime(2027, 6, 30, tzinfo=UTC)
    await client.assign_role(workspace, "alice", "admin", expires_at=expires)
    await client.assign_role(workspace, "bob", "editor")
    grants = {g.user_id: g for g in await client.list_roles(workspace)}
    assert grants["alice"].role_id == "admin"
    assert grants["alice"].expires_at == expires
    await client.assign_role(workspace, "bob", "viewer")
    assert {g.user_id: g.role_id for g in await client.list_roles(workspace)} == {
        "alice": "admin",
        "bob": "viewer",
    }
    await client.revoke_role(workspace, "alice")
    assert [g.user_id for g in await client.list_roles(workspace)] == ["bob"]
    with pytest.raises(NotFoundError):
        await client.revoke_role(workspace, "alice")


# --------------------------------------------------------------------------- sessions


async def test_session_versions_and_merge(client: PlatformClient) -> None:
    """Unknown sessions are version 0; PATCH merges, null removes, stale If-Match is 409."""
    sid = f"contract-{uuid.uuid4().hex}"
    fresh = await client.get_session_context(sid)
    assert (fresh.version, fresh.context) == (0, {})
    assert await client.patch_session_context(sid, {"a": "1", "b": "2"}, from_version=0) == 1
    assert await client.patch_session_context(sid, {"b": None, "c": "3"}, from_version=1) == 2
    current = await client.get_session_context(sid)
    assert (current.version, current.context) == (2, {"a": "1", "c": "3"})
    with pytest.raises(ConflictError) as info:
        await client.patch_session_context(sid, {"a": "x"}, from_version=1)
    assert info.value.current_version == 2


async def test_session_values_must_be_strings(client: PlatformClient) -> None:
    """A non-string context value is refused with its pointer."""
    sid = f"contract-{uuid.uuid4().hex}"
    with pytest.raises(UnprocessableError) as info:
        await client.patch_session_context(sid, {"n": 5}, from_version=0)  # type: ignore[dict-item]
    assert any(d.path == "/context/n" for d in info.value.details)


async def test_patch_without_if_match_is_428(client: PlatformClient, server: Server) -> None:
    """A PATCH without If-Match answers 428."""
    sid = f"contract-{uuid.uuid4().hex}"
    response = await raw(
        server,
        client,
        "PATCH",
        f"/api/v4/session/{sid}/context",
        json={"context": {}, "version": 1},
    )
    assert response.status_code == 428


async def test_get_session_sends_etag(client: PlatformClient, server: Server) -> None:
    """GET and PATCH of a session carry the version as an ETag."""
    sid = f"contract-{uuid.uuid4().hex}"
    await client.patch_session_context(sid, {"k": "v"}, from_version=0)
    response = await raw(server, client, "GET", f"/api/v4/session/{sid}/context")
    assert response.headers["etag"].strip('W/"') == "1"


# --------------------------------------------------------------------------- auth


async def test_missing_scope_is_403_naming_it(
    server: Server, workspace: str, model: dict[str, Any]
) -> None:
    """A token without bot:deploy cannot deploy, and the error names the scope."""
    async with server.client(scopes=("bot:export",)) as client:
        with pytest.raises(ForbiddenError) as info:
            await client.deploy(model, target_workspace=workspace, idempotency_key=uuid.uuid4().hex)
    assert info.value.scope == "bot:deploy"
    assert "bot:deploy" in str(info.value)


async def test_bad_credentials_are_invalid_client(server: Server) -> None:
    """A wrong secret is an AuthError with the invalid_client code, secret not shown."""
    async with server.client(client_secret="wrong-secret-value") as client:
        with pytest.raises(AuthError) as info:
            await client.export_bot("x", workspace_id="w")
    assert info.value.code == "invalid_client"
    assert "wrong-secret-value" not in str(info.value)


async def test_unknown_scope_is_invalid_scope(server: Server) -> None:
    """Asking for a scope the client lacks is an AuthError with invalid_scope."""
    async with server.client(scopes=("bot:export", "not:a:scope")) as client:
        with pytest.raises(AuthError) as info:
            await client.export_bot("x", workspace_id="w")
    assert info.value.code == "invalid_scope"


async def test_invalid_token_is_401_with_challenge(server: Server) -> None:
    """A bad bearer token answers 401 with WWW-Authenticate: Bearer error="invalid_token"."""
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.get(
            "/api/v1/deployment/x/status", headers={"Authorization": "Bearer nope"}
        )
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_token_endpoint_refuses_other_grants(server: Server) -> None:
    """grant_type other than client_credentials answers 400 unsupported_grant_type."""
    async with httpx.AsyncClient() as http:
        response = await http.post(
            server.token_url or f"{server.base_url}/api/v4/auth/oauth/token",
            data={"grant_type": "password"},
            auth=(server.client_id, server.client_secret),
        )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_form_credentials_are_accepted(server: Server) -> None:
    """Servers accept client_id and client_secret in the form as well as Basic auth."""
    async with httpx.AsyncClient() as http:
        response = await http.post(
            server.token_url or f"{server.base_url}/api/v4/auth/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": server.client_id,
                "client_secret": server.client_secret,
            },
        )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"].lower() == "bearer"
    assert body["expires_in"] > 0

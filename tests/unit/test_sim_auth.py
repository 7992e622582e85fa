"""The simulator's OAuth2 token endpoint and the bearer checks on API calls."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import pytest
from support.simserver import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    TOKEN_PATH,
    FakeClock,
    bearer,
    fetch_token,
    sim_client,
)

from tenantops.core.model import ALL_SCOPES
from tenantops.servers.sim.contract import SimClient, SimConfig

READER = SimClient(client_id="reader", client_secret="r-secret", scopes=("session:read",))
WS_A = SimClient(client_id="ws-a", client_secret="a-secret", workspaces=("ws-a",))
GRANT = {"grant_type": "client_credentials"}
EXPORT = {"botId": "bot-1", "format": "json", "workspaceId": "ws-b"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client(clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    config = SimConfig(
        clients=(
            SimClient(client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET),
            READER,
            WS_A,
        ),
        clock=clock,
        token_ttl=60,
        admin=True,
    )
    async with sim_client(config) as client:
        yield client


async def test_basic_auth_token_has_every_granted_scope(client: httpx.AsyncClient) -> None:
    """Basic credentials without ``scope`` get a Bearer token for all the client's scopes."""
    response = await client.post(
        TOKEN_PATH, data=GRANT, auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 60
    assert body["scope"].split() == list(ALL_SCOPES)
    assert len(body["access_token"]) >= 32
    assert response.headers["cache-control"] == "no-store"


async def test_form_credentials_and_tenant_id_are_accepted(client: httpx.AsyncClient) -> None:
    """``client_id``/``client_secret`` form fields work, and ``tenant_id`` is accepted."""
    data = {**GRANT, "client_id": "reader", "client_secret": "r-secret", "tenant_id": "t-1"}
    response = await client.post(TOKEN_PATH, data=data)
    assert response.status_code == 200
    assert response.json()["scope"] == "session:read"


async def test_requested_scopes_narrow_the_token(client: httpx.AsyncClient) -> None:
    """A token asked for some scopes carries only those, and calls needing others get 403."""
    token = await fetch_token(client, scope="session:read bot:export")
    response = await client.get("/api/v4/session/s-1/context", headers=bearer(token))
    assert response.status_code == 200
    response = await client.patch("/api/v4/session/s-1/context", headers=bearer(token))
    assert response.status_code == 403


@pytest.mark.parametrize("scope", ["bot:deploy", "no:such:scope"])
async def test_scope_not_granted_is_invalid_scope(client: httpx.AsyncClient, scope: str) -> None:
    """Asking for a scope the client lacks (or that does not exist) answers 400 invalid_scope."""
    data = {**GRANT, "scope": f"session:read {scope}"}
    response = await client.post(TOKEN_PATH, data=data, auth=("reader", "r-secret"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


async def test_wrong_basic_secret_is_invalid_client_with_challenge(
    client: httpx.AsyncClient,
) -> None:
    """A wrong secret over Basic answers 401 invalid_client with a Basic challenge."""
    response = await client.post(TOKEN_PATH, data=GRANT, auth=(DEFAULT_CLIENT_ID, "wrong"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    ("client_id", "secret"), [("reader", "wrong"), ("nobody", "r-secret"), ("", "")]
)
async def test_bad_form_credentials_are_invalid_client(
    client: httpx.AsyncClient, client_id: str, secret: str
) -> None:
    """Unknown, missing or wrong form credentials answer 401 invalid_client, no challenge."""
    data = {**GRANT, "client_id": client_id, "client_secret": secret}
    response = await client.post(TOKEN_PATH, data=data)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "www-authenticate" not in response.headers


async def test_malformed_basic_header_is_invalid_client(client: httpx.AsyncClient) -> None:
    """A Basic header that is not base64 of ``id:secret`` answers 401 invalid_client."""
    headers = {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}
    response = await client.post(TOKEN_PATH, data=GRANT, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": ""}, "invalid_request"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
    ],
)
async def test_grant_type_is_checked(
    client: httpx.AsyncClient, data: dict[str, str], error: str
) -> None:
    """A missing grant_type is invalid_request; another grant is unsupported_grant_type."""
    response = await client.post(
        TOKEN_PATH, data=data, auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    )
    assert response.status_code == 400
    assert response.json()["error"] == error


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"grant_type": "client_credentials"}', "application/json"),
        (b"grant_type=client_credentials&grant_type=client_credentials", None),
        (b"grant_type=client_credentials&client_id=demo-client", None),
        (b"\xff\xfe", None),
    ],
)
async def test_malformed_token_requests_are_invalid_request(
    client: httpx.AsyncClient, content: bytes, content_type: str | None
) -> None:
    """JSON bodies, repeated fields, credentials sent twice and bad bytes answer 400."""
    headers = {"Content-Type": content_type or "application/x-www-form-urlencoded"}
    auth = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    response = await client.post(TOKEN_PATH, content=content, headers=headers, auth=auth)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"}]
)
async def test_missing_or_unknown_token_is_invalid_token(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """No token, an unknown one, or another scheme answers 401 with the Bearer challenge."""
    response = await client.post("/api/v1/bot/export", json=EXPORT, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_token_expires_after_ttl(client: httpx.AsyncClient, clock: FakeClock) -> None:
    """A token works until ``token_ttl`` seconds pass, then answers 401 invalid_token."""
    token = await fetch_token(client)
    clock.advance(59.9)
    assert (await client.get("/api/v4/session/s/context", headers=bearer(token))).status_code == 200
    clock.advance(0.1)
    response = await client.get("/api/v4/session/s/context", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert "expired" in response.json()["message"]


async def test_admin_can_expire_every_token(client: httpx.AsyncClient) -> None:
    """``POST /_sim/tokens/expire`` makes issued tokens answer 401; a new token works."""
    token = await fetch_token(client)
    expired = await client.post("/_sim/tokens/expire")
    assert expired.json() == {"expired": 1}
    assert (await client.get("/api/v4/session/s/context", headers=bearer(token))).status_code == 401
    fresh = await fetch_token(client)
    assert (await client.get("/api/v4/session/s/context", headers=bearer(fresh))).status_code == 200


async def test_missing_scope_is_403_naming_it(client: httpx.AsyncClient) -> None:
    """A token without the call's scope answers 403 insufficient_scope naming the scope."""
    token = await fetch_token(client, "reader", "r-secret")
    response = await client.post(
        "/api/v1/bot/deploy",
        json={"model": {"botId": "b"}, "targetWorkspace": "w"},
        headers=bearer(token),
    )
    assert response.status_code == 403
    assert response.json() == {
        "error": "insufficient_scope",
        "message": "this call needs the scope 'bot:deploy'; grant it to the client",
        "scope": "bot:deploy",
    }
    assert (
        response.headers["www-authenticate"]
        == 'Bearer error="insufficient_scope", scope="bot:deploy"'
    )


async def test_workspace_outside_the_client_is_403(client: httpx.AsyncClient) -> None:
    """A client limited to some workspaces gets 403 workspace_forbidden elsewhere."""
    token = await fetch_token(client, "ws-a", "a-secret")
    response = await client.post("/api/v1/bot/export", json=EXPORT, headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["error"] == "workspace_forbidden"
    allowed = {**EXPORT, "workspaceId": "ws-a"}
    assert (
        await client.post("/api/v1/bot/export", json=allowed, headers=bearer(token))
    ).status_code == 404


@pytest.mark.parametrize(
    ("text", "scopes"),
    [
        ("ci:s3cret", ALL_SCOPES),
        ("ci:s3cret:", ALL_SCOPES),
        ("ci:s3cret:bot:export", ("bot:export",)),
        ("ci:s3cret:session:read,session:write", ("session:read", "session:write")),
    ],
)
def test_client_option_parses(text: str, scopes: tuple[str, ...]) -> None:
    """``--client ID:SECRET[:SCOPES]`` becomes a client of every workspace; no scopes means all."""
    client = SimClient.from_option(text)
    assert (client.client_id, client.client_secret) == ("ci", "s3cret")
    assert client.scopes == scopes
    assert client.workspaces == ("*",)


@pytest.mark.parametrize("text", ["ci", ":secret", "ci:", "ci:s:bogus", "ci:s:bot:export,x"])
def test_bad_client_option_is_refused(text: str) -> None:
    """A ``--client`` without id or secret, or with an unknown scope, is a ValueError."""
    with pytest.raises(ValueError, match=r"ID:SECRET|unknown scope"):
        SimClient.from_option(text)

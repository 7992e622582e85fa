"""The v2.0 simulator's HTTP surface: prefixes, case, auth, RFC 7807 problems, paging, limits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from support.simserver import FakeClock, v2_sim_client
from support.simv2 import config, seed_project

from tenantops.servers.sim.cognigy_v2 import TOKEN_PATH, ApiKey, OAuthClient

KEYS = (ApiKey(key="k-1", email="ci@example.com"), ApiKey(key="k-2"))
CLIENTS = (OAuthClient(client_id="ci", client_secret="s3cret", email="bot@example.com"),)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with v2_sim_client(config()) as client:
        yield client


@pytest.mark.parametrize("prefix", ["/new/v2.0", "/v2.0", "/NEW/V2.0"])
@pytest.mark.parametrize("path", ["projects", "Projects", "PROJECTS"])
async def test_both_prefixes_and_any_case_serve_the_same_route(
    client: httpx.AsyncClient, prefix: str, path: str
) -> None:
    """Either prefix, in any case, with the route's words in any case, lists projects."""
    await seed_project(client)
    response = await client.get(f"{prefix}/{path}")
    assert response.status_code == 200
    assert [p["name"] for p in response.json()["items"]] == ["acme"]


async def test_ids_in_paths_keep_their_case(client: httpx.AsyncClient) -> None:
    """Only fixed words are case-folded: an upper-case id is still refused as malformed."""
    project = await seed_project(client)
    flow_id = project["flows"][0]["_id"]
    assert (await client.get(f"/new/v2.0/FLOWS/{flow_id}")).status_code == 200
    response = await client.get(f"/new/v2.0/flows/{flow_id.upper()}")
    assert response.status_code == 400
    assert response.json()["code"] == 1005


async def test_problem_shape_on_unknown_resource(client: httpx.AsyncClient) -> None:
    """An unknown id answers an RFC 7807 problem with code 1002, instance under /v2.0, traceId."""
    response = await client.get("/new/v2.0/projects/" + "a" * 24)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == 1002
    assert body["instance"] == "/v2.0/projects/" + "a" * 24
    assert body["title"] == "Not Found Error"
    assert body["traceId"].startswith("api--")
    assert body["traceId"] == response.headers["x-trace-id"]
    assert {"type", "detail", "details", "status"} <= set(body)


async def test_missing_payload_is_code_1000_and_bad_field_1005(client: httpx.AsyncClient) -> None:
    """No body answers 400/1000; a body with a wrong field type answers 400/1005."""
    missing = await client.post("/v2.0/projects")
    assert (missing.status_code, missing.json()["code"]) == (400, 1000)
    wrong = await client.post("/v2.0/projects", json={"name": 5})
    assert (wrong.status_code, wrong.json()["code"]) == (400, 1005)
    assert wrong.json()["details"]["errors"][0]["path"] == "/name"


async def test_unknown_route_is_404_with_code_1002(client: httpx.AsyncClient) -> None:
    """A path no route serves answers 404, code 1002."""
    response = await client.get("/new/v2.0/nothing/here")
    assert (response.status_code, response.json()["code"]) == (404, 1002)


async def test_body_over_60_kb_is_413(client: httpx.AsyncClient) -> None:
    """A JSON body over 60 kB is refused with 413 and changes nothing."""
    response = await client.post("/v2.0/projects", json={"name": "x", "description": "d" * 62_000})
    assert response.status_code == 413
    assert response.json()["code"] == 413
    assert (await client.get("/v2.0/projects")).json()["total"] == 0


@pytest.mark.parametrize(
    ("headers", "params"),
    [
        ({"X-API-Key": "k-1"}, {}),
        ({"x-api-key": "k-1"}, {}),
        ({"X-API-Key": ""}, {"api_key": "k-1"}),
    ],
)
async def test_api_key_in_header_or_query(headers: dict[str, str], params: dict[str, str]) -> None:
    """An API key works as X-API-Key (any case) or as ?api_key=, acting as its user."""
    async with v2_sim_client(config(api_keys=KEYS)) as client:
        client.headers.pop("X-API-Key")
        response = await client.get("/v2.0/users/me", headers=headers, params=params)
    assert response.status_code == 200
    assert response.json()["email"] == "ci@example.com"


async def test_unknown_or_missing_credentials_are_401() -> None:
    """An unknown key or no credentials at all answer 401 problems."""
    async with v2_sim_client(config(api_keys=KEYS)) as client:
        unknown = await client.get("/v2.0/projects", headers={"X-API-Key": "nope"})
        client.headers.pop("X-API-Key")
        missing = await client.get("/v2.0/projects")
    assert unknown.status_code == missing.status_code == 401
    assert missing.json()["code"] == 401


async def test_oauth2_client_credentials_token_acts_as_its_user() -> None:
    """A token from /auth/oauth2/token, sent as '<token_type> <token>', acts as the client's user."""
    clock = FakeClock()
    async with v2_sim_client(config(oauth_clients=CLIENTS, clock=clock, token_ttl=60)) as client:
        client.headers.pop("X-API-Key")
        form = {"grant_type": "client_credentials", "client_id": "ci", "client_secret": "s3cret"}
        grant = (await client.post(TOKEN_PATH, data=form)).json()
        auth = {"Authorization": f"{grant['token_type']} {grant['access_token']}"}
        me = await client.get("/new/v2.0/users/me", headers=auth)
        clock.advance(61)
        expired = await client.get("/new/v2.0/users/me", headers=auth)
    assert set(grant) == {"access_token", "token_type", "expires_in"}
    assert grant["expires_in"] == 60
    assert me.json()["email"] == "bot@example.com"
    assert expired.status_code == 401


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        (
            {"grant_type": "password", "client_id": "ci", "client_secret": "s3cret"},
            400,
            "unsupported_grant_type",
        ),
        (
            {"grant_type": "client_credentials", "client_id": "ci", "client_secret": "no"},
            401,
            "invalid_client",
        ),
    ],
)
async def test_token_endpoint_errors(form: dict[str, str], status: int, error: str) -> None:
    """The token endpoint refuses other grants and wrong secrets the RFC 6749 way."""
    async with v2_sim_client(config(oauth_clients=CLIENTS)) as client:
        response = await client.post(TOKEN_PATH, data=form)
    assert (response.status_code, response.json()["error"]) == (status, error)


async def test_list_envelope_defaults_and_limit_bounds(client: httpx.AsyncClient) -> None:
    """Lists answer {items,total,nextCursor,previousCursor}, 25 by default, limit at most 100."""
    for index in range(30):
        await client.post("/v2.0/projects", json={"name": f"p{index:02}"})
    first = (await client.get("/v2.0/projects")).json()
    assert set(first) == {"items", "total", "nextCursor", "previousCursor"}
    assert (len(first["items"]), first["total"], first["previousCursor"]) == (25, 30, None)
    assert (await client.get("/v2.0/projects", params={"limit": 101})).status_code == 400
    assert (await client.get("/v2.0/projects", params={"limit": 0})).status_code == 400


async def test_cursor_paging_walks_forward_and_back(client: httpx.AsyncClient) -> None:
    """nextCursor pages forward without gaps; previousCursor pages back to the same items."""
    for index in range(7):
        await client.post("/v2.0/projects", json={"name": f"p{index}"})
    seen, cursor, pages = [], None, []
    while True:
        params = {"limit": 3, **({"next": cursor} if cursor else {})}
        page = (await client.get("/v2.0/projects", params=params)).json()
        pages.append(page)
        seen += [p["name"] for p in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [f"p{i}" for i in range(7)]
    back = await client.get(
        "/v2.0/projects", params={"limit": 3, "previous": pages[1]["previousCursor"]}
    )
    assert [p["name"] for p in back.json()["items"]] == ["p0", "p1", "p2"]


async def test_filter_and_sort(client: httpx.AsyncClient) -> None:
    """filter keeps names containing it (any case); sort=name:desc reverses the order."""
    for name in ("alpha", "Beta", "alphabet"):
        await client.post("/v2.0/projects", json={"name": name})
    filtered = (await client.get("/v2.0/projects", params={"filter": "ALPHA"})).json()
    assert (filtered["total"], [p["name"] for p in filtered["items"]]) == (2, ["alpha", "alphabet"])
    ordered = (await client.get("/v2.0/projects", params={"sort": "name:desc"})).json()
    assert [p["name"] for p in ordered["items"]] == ["Beta", "alphabet", "alpha"]
    assert (await client.get("/v2.0/projects", params={"sort": "name:up"})).status_code == 400


async def test_ids_are_24_hex_and_reference_ids_uuids(client: httpx.AsyncClient) -> None:
    """Created resources carry a 24-hex _id and a UUID referenceId."""
    project = (await client.post("/v2.0/projects", json={"name": "p"})).json()
    assert len(project["_id"]) == 24
    assert int(project["_id"], 16) >= 0
    assert len(project["referenceId"]) == 36
    assert project["referenceId"].count("-") == 4

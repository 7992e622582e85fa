"""The simulator app as a whole: health, request ids, the error shape, its OpenAPI description."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from support.simserver import TOKEN_PATH, sim_client

from tenantops.servers.sim.contract import SimConfig, create_app

CONTRACT_CALLS = {
    ("post", TOKEN_PATH),
    ("post", "/api/v1/bot/export"),
    ("post", "/api/v1/bot/deploy"),
    ("get", "/api/v1/deployment/{deploymentId}/status"),
    ("post", "/api/v1/deployment/{deploymentId}/rollback"),
    ("post", "/api/v1/workspace/user/assign"),
    ("get", "/api/v1/workspace/{workspaceId}/users"),
    ("delete", "/api/v1/workspace/{workspaceId}/users/{userId}"),
    ("get", "/api/v4/session/{sessionId}/context"),
    ("patch", "/api/v4/session/{sessionId}/context"),
}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with sim_client() as client:
        yield client


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return create_app(SimConfig(admin=True)).openapi()


async def test_healthz_needs_no_token(client: httpx.AsyncClient) -> None:
    """GET /healthz answers 200 {"status": "ok"} without a token."""
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz"),
        ("GET", "/openapi.json"),
        ("GET", "/nowhere"),
        ("POST", "/api/v1/bot/export"),
        ("POST", TOKEN_PATH),
    ],
)
async def test_every_response_has_a_request_id(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    """Successes and errors alike carry a fresh X-Request-Id."""
    first = await client.request(method, path)
    second = await client.request(method, path)
    assert len(first.headers["x-request-id"]) == 32
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_unknown_route_and_method_use_the_error_shape(client: httpx.AsyncClient) -> None:
    """An unknown path answers 404 and a wrong method 405 (with Allow), both as error bodies."""
    missing = await client.get("/api/v9/nothing")
    assert missing.status_code == 404
    assert set(missing.json()) == {"error", "message"}
    wrong = await client.get("/api/v1/bot/export")
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "method_not_allowed"
    assert wrong.headers["allow"] == "POST"


async def test_405_allows_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    """A path served by several routes lists all their methods in Allow."""
    response = await client.options("/api/v4/session/s-1/context")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, PATCH"


def test_openapi_documents_every_contract_call(openapi: dict[str, Any]) -> None:
    """/openapi.json lists each contract call and no admin path."""
    calls = {(method, path) for path, item in openapi["paths"].items() for method in item}
    assert calls - {("get", "/healthz")} == CONTRACT_CALLS
    assert not any(path.startswith("/_sim") for path in openapi["paths"])


def test_openapi_errors_use_the_error_body(openapi: dict[str, Any]) -> None:
    """Every documented non-2xx response of a contract call is the ErrorBody schema."""
    for method, path in CONTRACT_CALLS:
        responses = openapi["paths"][path][method]["responses"]
        assert {"400", "401", "429", "500", "503"} <= set(responses), (method, path)
        for status, response in responses.items():
            if not status.startswith("2"):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
    assert "HTTPValidationError" not in openapi["components"]["schemas"]


def test_openapi_names_the_scope_of_each_call(openapi: dict[str, Any]) -> None:
    """Each authenticated call documents its OAuth2 scope; the token endpoint needs none."""
    deploy = openapi["paths"]["/api/v1/bot/deploy"]["post"]
    assert deploy["security"] == [{"oauth2": ["bot:deploy"]}]
    assert "security" not in openapi["paths"][TOKEN_PATH]["post"]
    flows = openapi["components"]["securitySchemes"]["oauth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == TOKEN_PATH

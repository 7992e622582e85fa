"""The simulator's state: seeding from and persisting to ``DIR/state.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.simserver import FakeClock, bearer, fetch_token, sim_client

from tenantops.errors import ConfigError
from tenantops.servers.sim.contract import SimClient, SimConfig, SimState

MODEL = {"botId": "bot-1", "intents": [{"name": "greet", "examples": ["hi"]}]}
SEED = {
    "clients": [{"clientId": "ci", "clientSecret": "ci-secret", "scopes": ["bot:export"]}],
    "sources": {"bot-1": "ws-src"},
    "workspaces": {"ws-src": {"bots": {"bot-1": MODEL}, "users": {"u-1": {"roleId": "editor"}}}},
    "sessions": {"s-1": {"context": {"k": "v"}, "version": 3}},
}


def write_state(directory: Path, data: Any) -> Path:
    path = directory / "state.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


async def test_seed_file_is_served(tmp_path: Path) -> None:
    """Workspaces, sources, sessions and clients from state.json are served; bots get a version."""
    write_state(tmp_path, SEED)
    async with sim_client(SimConfig(state_dir=tmp_path)) as client:
        token = await fetch_token(client, "ci", "ci-secret")
        exported = await client.post(
            "/api/v1/bot/export", json={"botId": "bot-1", "format": "json"}, headers=bearer(token)
        )
        assert exported.status_code == 200
        assert exported.json()["version"] == "1.0.1"
        assert exported.json()["intents"] == MODEL["intents"]
        # The file's client has bot:export only.
        session = await client.get("/api/v4/session/s-1/context", headers=bearer(token))
        assert session.status_code == 403


async def test_state_persists_across_restart(tmp_path: Path) -> None:
    """A deployment, a role and a session written by one app are served by the next."""
    clock = FakeClock()
    config = SimConfig(state_dir=tmp_path, deploy_seconds=1.0, clock=clock)
    async with sim_client(config) as client:
        client.headers.update(bearer(await fetch_token(client)))
        await client.post(
            "/api/v1/bot/deploy",
            json={"model": MODEL, "targetWorkspace": "ws-1"},
            headers={"Idempotency-Key": "k"},
        )
        await client.post(
            "/api/v1/workspace/user/assign",
            json={"userId": "u", "roleId": "r", "workspaceId": "ws-1"},
        )
        await client.patch(
            "/api/v4/session/s/context",
            json={"context": {"a": "b"}, "version": 1},
            headers={"If-Match": "0"},
        )
    clock.advance(1.0)
    async with sim_client(config) as client:
        client.headers.update(bearer(await fetch_token(client)))
        status = await client.get("/api/v1/deployment/dep-1/status")
        assert status.json()["status"] == "success"
        export = await client.post(
            "/api/v1/bot/export", json={"botId": "bot-1", "format": "json", "workspaceId": "ws-1"}
        )
        assert export.status_code == 200
        replay = await client.post(
            "/api/v1/bot/deploy",
            json={"model": MODEL, "targetWorkspace": "ws-1"},
            headers={"Idempotency-Key": "k"},
        )
        assert (replay.status_code, replay.json()["deploymentId"]) == (200, "dep-1")
        users = await client.get("/api/v1/workspace/ws-1/users")
        assert users.json()["assignments"] == [{"userId": "u", "roleId": "r"}]
        assert (await client.get("/api/v4/session/s/context")).json()["version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_only_the_files_clients_are_written_back(tmp_path: Path) -> None:
    """Clients from flags serve alongside the file's, but only the file's are persisted."""
    path = write_state(tmp_path, SEED)
    extra = SimClient(client_id="flag-client", client_secret="flag-secret")
    state = SimState(SimConfig(state_dir=tmp_path, clients=(extra,)))
    assert sorted(state.clients) == ["ci", "flag-client"]
    state.set_source("bot-2", "ws-src")
    written = json.loads(path.read_text())
    assert [c["clientId"] for c in written["clients"]] == ["ci"]
    assert written["sources"] == {"bot-1": "ws-src", "bot-2": "ws-src"}


def test_missing_state_dir_is_created(tmp_path: Path) -> None:
    """A state directory that does not exist yet is created and written on the first change."""
    directory = tmp_path / "new" / "dir"
    state = SimState(SimConfig(state_dir=directory))
    state.set_source("bot-1", "ws")
    assert json.loads((directory / "state.json").read_text())["sources"] == {"bot-1": "ws"}


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "cannot read"),
        ({"workspaces": {"ws": {"bots": {"bot-1": {"intents": []}}}}}, "botId"),
        ({"workspaces": {"ws": {"bots": {"bot-2": MODEL}}}}, "another botId"),
        ({"sessions": {"s": {"context": {"k": 1}, "version": 1}}}, "string"),
        (
            {"clients": [{"clientId": "c", "clientSecret": "s", "scopes": ["root"]}]},
            "unknown scope",
        ),
        ({"bogus": 1}, "bogus|Extra"),
    ],
)
def test_invalid_state_file_is_a_config_error(tmp_path: Path, content: Any, match: str) -> None:
    """An unreadable or invalid state.json is a ConfigError naming the file."""
    path = write_state(tmp_path, content)
    with pytest.raises(ConfigError, match=match) as caught:
        SimState(SimConfig(state_dir=tmp_path))
    assert caught.value.path == path


def test_exports_reuse_encoded_bytes_until_the_bot_changes(tmp_path: Path) -> None:
    """An export splices exportedAt into cached bytes; an edit invalidates them."""
    state = SimState(SimConfig())
    state.put_bot("ws", MODEL, 0.0)
    first = state.export_json("ws", "bot-1", 0.0, "T1")
    second = state.export_json("ws", "bot-1", 0.0, "T2")
    assert first is not None
    assert second is not None
    assert json.loads(first)["metadata"] == {"exportedAt": "T1"}
    assert first.replace(b"T1", b"T2") == second
    state.put_bot("ws", {**MODEL, "intents": []}, 0.0)
    third = state.export_json("ws", "bot-1", 0.0, "T3")
    assert third is not None
    assert json.loads(third)["intents"] == []

"""The v2.0 simulator's charts: nodes, relations, placing modes, moves and deletes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from support.simserver import v2_sim_client
from support.simv2 import config


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with v2_sim_client(config()) as client:
        yield client


@pytest.fixture
async def flow(client: httpx.AsyncClient) -> str:
    project = (await client.post("/v2.0/projects", json={"name": "p"})).json()
    flows = (await client.get("/v2.0/flows", params={"projectId": project["_id"]})).json()
    return str(flows["items"][0]["_id"])


async def _chart(client: httpx.AsyncClient, flow: str) -> dict[str, Any]:
    return dict((await client.get(f"/v2.0/flows/{flow}/chart")).json())


def _sequence(chart: dict[str, Any]) -> list[str]:
    """Labels along ``next`` from the start node."""
    labels = {n["_id"]: n["label"] for n in chart["nodes"]}
    nexts = {r["node"]: r["next"] for r in chart["relations"]}
    current = next(n["_id"] for n in chart["nodes"] if n["type"] == "start")
    out = []
    while current:
        out.append(labels[current])
        current = nexts[current]
    return out


async def _add(
    client: httpx.AsyncClient, flow: str, label: str, mode: str, target: str, **extra: Any
) -> str:
    body = {"type": "say", "label": label, "mode": mode, "target": target, **extra}
    response = await client.post(f"/v2.0/flows/{flow}/chart/nodes", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["_id"])


async def test_new_flow_chart_is_start_then_end(client: httpx.AsyncClient, flow: str) -> None:
    """A new chart has an _id, a start node followed by an end node, and a relation per node."""
    chart = await _chart(client, flow)
    assert chart["_id"]
    assert len(chart["_id"]) == 24
    assert _sequence(chart) == ["Start", "End"]
    assert {tuple(sorted(r)) for r in chart["relations"]} == {("_id", "children", "next", "node")}


async def test_insert_modes_place_nodes(client: httpx.AsyncClient, flow: str) -> None:
    """insertAfter/append follow the target, insertBefore/prepend precede it, *Child modes branch."""
    chart = await _chart(client, flow)
    start = next(n["_id"] for n in chart["nodes"] if n["type"] == "start")
    end = next(n["_id"] for n in chart["nodes"] if n["type"] == "end")
    a = await _add(client, flow, "A", "insertAfter", start)
    await _add(client, flow, "B", "insertBefore", end)
    await _add(client, flow, "A2", "append", a)
    check = await _add(client, flow, "If", "prepend", a)
    await _add(client, flow, "C2", "appendChild", check)
    await _add(client, flow, "C0", "prependChild", check)
    await _add(client, flow, "C1", "insertChildAt", check, position=1)
    chart = await _chart(client, flow)
    assert _sequence(chart) == ["Start", "If", "A", "A2", "B", "End"]
    labels = {n["_id"]: n["label"] for n in chart["nodes"]}
    children = next(r["children"] for r in chart["relations"] if r["node"] == check)
    assert [labels[c] for c in children] == ["C0", "C1", "C2"]


async def test_bad_places_are_refused(client: httpx.AsyncClient, flow: str) -> None:
    """Nothing follows end or precedes start, start/end cannot be created, unknown targets are 404."""
    chart = await _chart(client, flow)
    start = next(n["_id"] for n in chart["nodes"] if n["type"] == "start")
    end = next(n["_id"] for n in chart["nodes"] if n["type"] == "end")
    base = f"/v2.0/flows/{flow}/chart/nodes"
    assert (
        await client.post(base, json={"type": "say", "mode": "insertAfter", "target": end})
    ).status_code == 400
    assert (
        await client.post(base, json={"type": "say", "mode": "insertBefore", "target": start})
    ).status_code == 400
    assert (
        await client.post(base, json={"type": "end", "mode": "append", "target": start})
    ).status_code == 400
    assert (await client.post(base, json={"type": "say", "target": "d" * 24})).status_code == 404
    assert len((await _chart(client, flow))["nodes"]) == 2


async def test_patch_node_changes_label_but_never_type(
    client: httpx.AsyncClient, flow: str
) -> None:
    """PATCH changes label, comment and config; a type in the body is refused."""
    start = next(n["_id"] for n in (await _chart(client, flow))["nodes"] if n["type"] == "start")
    node = await _add(client, flow, "Hi", "insertAfter", start, config={"text": "hi"})
    base = f"/v2.0/flows/{flow}/chart/nodes/{node}"
    patched = await client.patch(base, json={"label": "Hello", "config": {"text": "hello"}})
    assert (patched.json()["label"], patched.json()["config"]) == ("Hello", {"text": "hello"})
    assert (await client.patch(base, json={"type": "if"})).status_code == 400
    assert (await client.get(base)).json()["type"] == "say"


async def test_move_takes_children_and_leaves_next(client: httpx.AsyncClient, flow: str) -> None:
    """A moved node takes its children along; what followed it closes the gap."""
    chart = await _chart(client, flow)
    start = next(n["_id"] for n in chart["nodes"] if n["type"] == "start")
    a = await _add(client, flow, "A", "insertAfter", start)
    b = await _add(client, flow, "B", "insertAfter", a)
    await _add(client, flow, "A-child", "appendChild", a)
    moved = await client.post(
        f"/v2.0/flows/{flow}/chart/nodes/{a}/move", json={"mode": "insertAfter", "target": b}
    )
    assert moved.status_code == 200
    chart = await _chart(client, flow)
    assert _sequence(chart) == ["Start", "B", "A", "End"]
    assert len(next(r["children"] for r in chart["relations"] if r["node"] == a)) == 1
    into_self = await client.post(
        f"/v2.0/flows/{flow}/chart/nodes/{a}/move", json={"mode": "appendChild", "target": a}
    )
    assert into_self.status_code == 400


async def test_delete_joins_neighbours_and_drops_branches(
    client: httpx.AsyncClient, flow: str
) -> None:
    """Deleting a node links its neighbours and deletes its children; start cannot be deleted."""
    chart = await _chart(client, flow)
    start = next(n["_id"] for n in chart["nodes"] if n["type"] == "start")
    a = await _add(client, flow, "A", "insertAfter", start)
    await _add(client, flow, "A-child", "appendChild", a)
    assert (await client.delete(f"/v2.0/flows/{flow}/chart/nodes/{a}")).status_code == 204
    chart = await _chart(client, flow)
    assert _sequence(chart) == ["Start", "End"]
    assert len(chart["nodes"]) == len(chart["relations"]) == 2
    assert (await client.delete(f"/v2.0/flows/{flow}/chart/nodes/{start}")).status_code == 400


async def test_nodes_list_filters_by_label(client: httpx.AsyncClient, flow: str) -> None:
    """GET chart/nodes pages nodes; filter matches the label."""
    start = next(n["_id"] for n in (await _chart(client, flow))["nodes"] if n["type"] == "start")
    await _add(client, flow, "Greeting", "insertAfter", start)
    listed = (
        await client.get(f"/v2.0/flows/{flow}/chart/nodes", params={"filter": "greet"})
    ).json()
    assert [n["label"] for n in listed["items"]] == ["Greeting"]

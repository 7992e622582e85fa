"""The v2.0 simulator's resources: projects, locales, flows, intents, sentences, lexicons."""

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


async def test_project_create_read_patch(client: httpx.AsyncClient) -> None:
    """POST projects makes a project with a primary locale and a Main flow; PATCH renames it."""
    created = await client.post("/v2.0/projects", json={"name": "globex", "locale": "de-DE"})
    assert created.status_code == 201
    project_id = created.json()["_id"]
    locales = (await client.get("/v2.0/locales", params={"projectId": project_id})).json()["items"]
    assert [(loc["name"], loc["primary"], loc["nluLanguage"]) for loc in locales] == [
        ("de-DE", True, "de-DE")
    ]
    flows = (await client.get("/v2.0/flows", params={"projectId": project_id})).json()["items"]
    assert [f["name"] for f in flows] == ["Main"]
    patched = await client.patch(f"/v2.0/projects/{project_id}", json={"name": "globex-2"})
    assert patched.json()["name"] == "globex-2"
    assert (await client.get(f"/v2.0/projects/{project_id}")).json()["name"] == "globex-2"


async def test_flow_context_is_read_on_get_and_replaced_on_patch(
    client: httpx.AsyncClient, project: dict[str, Any]
) -> None:
    """GET flows/{f} carries the default context (lists do not); PATCH context replaces it."""
    flow_id = project["flows"][0]["_id"]
    listed = (await client.get("/v2.0/flows", params={"projectId": project["_id"]})).json()
    assert "context" not in listed["items"][0]
    assert (await client.get(f"/v2.0/flows/{flow_id}")).json()["context"] == {"tier": "gold"}
    await client.patch(f"/v2.0/flows/{flow_id}", json={"context": {"tier": "silver", "x": 1}})
    flow = (
        await client.get(
            f"/v2.0/flows/{flow_id}", params={"preferredLocaleId": project["locales"]["de-DE"]}
        )
    ).json()
    assert flow["context"] == {"tier": "silver", "x": 1}


async def test_intent_crud_and_duplicate_name(
    client: httpx.AsyncClient, project: dict[str, Any]
) -> None:
    """Intents are created (201), listed with data, patched, deleted (204); a duplicate name is 409/1004."""
    base = f"/v2.0/flows/{project['flows'][0]['_id']}/intents"
    created = await client.post(base, json={"name": "order", "data": {"actions": ["buy"]}})
    assert created.status_code == 201
    intent_id = created.json()["_id"]
    listed = (await client.get(base)).json()["items"]
    assert {i["name"]: i["data"] for i in listed}["order"] == {"actions": ["buy"]}
    duplicate = await client.post(base, json={"name": "greet"})
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, 1004)
    patched = await client.patch(
        f"{base}/{intent_id}", json={"description": "d", "localeId": project["locales"]["de-DE"]}
    )
    assert (patched.json()["description"], patched.json()["localeReference"]) == (
        "d",
        project["locales"]["de-DE"],
    )
    assert (await client.delete(f"{base}/{intent_id}")).status_code == 204
    assert (await client.get(f"{base}/{intent_id}")).status_code == 404


async def test_intent_batch_returns_ids_and_checks_before_applying(
    client: httpx.AsyncClient, project: dict[str, Any]
) -> None:
    """Batch PATCH answers {created,updated,deleted} ids; a bad operation applies nothing."""
    flow = project["flows"][0]
    base = f"/v2.0/flows/{flow['_id']}/intents"
    greet, bye = flow["intents"]["greet"], flow["intents"]["bye"]
    operations = [
        {"op": "create", "value": {"name": "new"}},
        {"op": "update", "id": greet, "value": {"data": {"actions": ["nod"]}}},
        {"op": "delete", "id": bye},
    ]
    result = (await client.patch(base, json={"operations": operations})).json()
    assert (len(result["created"]), result["updated"], result["deleted"]) == (1, [greet], [bye])
    names = sorted(i["name"] for i in (await client.get(base)).json()["items"])
    assert names == ["greet", "new"]
    bad = [{"op": "create", "value": {"name": "later"}}, {"op": "delete", "id": "b" * 24}]
    assert (await client.patch(base, json={"operations": bad})).status_code == 404
    assert (await client.get(base)).json()["total"] == 2


async def test_deleting_an_intent_deletes_its_sentences(
    client: httpx.AsyncClient, project: dict[str, Any]
) -> None:
    """Sentences go with their intent."""
    flow = project["flows"][0]
    intent = flow["intents"]["greet"]
    await client.delete(f"/v2.0/flows/{flow['_id']}/intents/{intent}")
    state = (await client.get("/_sim/state")).json()
    assert not [s for s in state["tables"]["sentences"] if s["intentReference"] == intent]


async def test_sentences_filter_by_locale_and_batch(
    client: httpx.AsyncClient, project: dict[str, Any]
) -> None:
    """Sentences list per localeId; POST, PATCH, DELETE and batch operations change them."""
    flow = project["flows"][0]
    base = f"/v2.0/flows/{flow['_id']}/intents/{flow['intents']['bye']}/sentences"
    german = project["locales"]["de-DE"]
    only_de = (await client.get(base, params={"localeId": german})).json()["items"]
    assert [s["text"] for s in only_de] == ["tschuess"]
    added = await client.post(base, json={"text": "ciao", "localeId": german})
    assert (added.status_code, added.json()["localeReference"]) == (201, german)
    sentence_id = added.json()["_id"]
    assert (await client.patch(f"{base}/{sentence_id}", json={"text": "servus"})).json()[
        "text"
    ] == "servus"
    operations = [
        {"op": "create", "value": {"text": "see you"}},
        {"op": "delete", "id": sentence_id},
    ]
    result = (await client.patch(base, json={"operations": operations})).json()
    assert result["deleted"] == [sentence_id]
    assert len(result["created"]) == 1
    texts = sorted(s["text"] for s in (await client.get(base)).json()["items"])
    assert texts == ["bye", "see you", "tschuess"]


async def test_train_answers_a_task_in_created_shape(
    client: httpx.AsyncClient, project: dict[str, Any]
) -> None:
    """POST intents/train answers {_id,type,parameters,status:queued}; the task then reads done."""
    flow_id = project["flows"][0]["_id"]
    reply = await client.post(f"/v2.0/flows/{flow_id}/intents/train", json={"mode": "quick"})
    assert reply.status_code == 202
    body = reply.json()
    assert (body["type"], body["status"], body["parameters"]["mode"]) == (
        "trainIntents",
        "queued",
        "quick",
    )
    task = (await client.get(f"/v2.0/tasks/{body['_id']}")).json()
    assert (task["name"], task["status"], task["failReason"]) == ("trainIntents", "done", None)


async def test_lexicon_entries_and_keyphrases(
    client: httpx.AsyncClient, project: dict[str, Any]
) -> None:
    """Add-keyphrase answers {}; remove is a POST; keyphrases list with ids."""
    lexicon = project["lexicons"]["colors"]
    entry = (
        await client.post(
            f"/v2.0/lexicons/{lexicon}/entries", json={"mainKeyphrase": "blue", "data": "{}"}
        )
    ).json()
    base = f"/v2.0/lexicons/{lexicon}/entries/{entry['_id']}/keyphrases"
    added = await client.post(base, json={"value": "navy"})
    assert (added.status_code, added.json()) == (200, {})
    listed = (await client.get(base)).json()["items"]
    assert [k["value"] for k in listed] == ["navy"]
    assert (await client.post(f"{base}/{listed[0]['_id']}")).status_code == 204
    assert (await client.get(base)).json()["total"] == 0


async def test_entry_batch_create_drops_keyphrases(
    client: httpx.AsyncClient, project: dict[str, Any]
) -> None:
    """A batch create ignores keyphrases; addKeyphrase and removeKeyphrase in a second batch work."""
    lexicon = project["lexicons"]["colors"]
    base = f"/v2.0/lexicons/{lexicon}/entries"
    first = [{"op": "create", "value": {"mainKeyphrase": "green", "keyphrases": ["lime"]}}]
    entry_id = (await client.patch(base, json={"operations": first})).json()["created"][0]
    entries = {e["mainKeyphrase"]: e for e in (await client.get(base)).json()["items"]}
    assert entries["green"]["keyphrases"] == []
    second = [{"op": "addKeyphrase", "id": entry_id, "value": {"value": "lime"}}]
    assert (await client.patch(base, json={"operations": second})).json()["updated"] == [entry_id]
    keyphrase = (await client.get(f"{base}/{entry_id}/keyphrases")).json()["items"][0]
    third = [{"op": "removeKeyphrase", "id": entry_id, "value": {"keyphraseId": keyphrase["_id"]}}]
    await client.patch(base, json={"operations": third})
    assert (await client.get(f"{base}/{entry_id}/keyphrases")).json()["total"] == 0


async def test_lexicon_crud(client: httpx.AsyncClient, project: dict[str, Any]) -> None:
    """Lexicons list per project, are created, renamed and deleted with their entries."""
    created = await client.post(
        "/v2.0/lexicons", json={"projectId": project["_id"], "name": "sizes"}
    )
    assert created.status_code == 201
    lexicon_id = created.json()["_id"]
    await client.post(f"/v2.0/lexicons/{lexicon_id}/entries", json={"mainKeyphrase": "big"})
    assert (await client.patch(f"/v2.0/lexicons/{lexicon_id}", json={"name": "size"})).json()[
        "name"
    ] == "size"
    names = [
        x["name"]
        for x in (await client.get("/v2.0/lexicons", params={"projectId": project["_id"]})).json()[
            "items"
        ]
    ]
    assert names == ["colors", "size"]
    assert (await client.delete(f"/v2.0/lexicons/{lexicon_id}")).status_code == 204
    assert (await client.get(f"/v2.0/lexicons/{lexicon_id}/entries")).status_code == 404

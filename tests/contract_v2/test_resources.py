"""The reads and writes tenantops makes in a flow: context, intents, sentences, lexicons, nodes.

Each check mirrors a call of ``backends/cognigy_v2/view.py`` or ``writer.py`` with the
same body shape, in a ``tenantops-contract-*`` flow or lexicon of its own. Session
context inject (the relay's future call) is checked too.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from support.v2contract import OBJECT_ID, PREFIX, Findings, Scratch, Target, V2Api


def _locale(api: V2Api, target: Target) -> dict[str, Any]:
    locales = api.items("locales", projectId=target.project_id)
    return next((loc for loc in locales if loc.get("primary")), locales[0])


def test_a_created_flow_is_listed_and_deleted(api: V2Api, target: Target, scratch: Scratch) -> None:
    """``POST flows`` makes a flow the project lists; ``DELETE flows/{f}`` removes it."""
    flow = scratch.flow()
    name = flow["name"]
    listed = [f for f in api.items("flows", projectId=target.project_id) if f["name"] == name]
    assert [f["_id"] for f in listed] == [flow["_id"]]
    deleted = api.call("DELETE", f"flows/{flow['_id']}")
    assert deleted.is_success, f"DELETE flows/{{f}} answered {deleted.status_code}"
    assert api.call("GET", f"flows/{flow['_id']}").status_code == 404


def test_flow_context_is_replaced_whole(api: V2Api, target: Target, scratch: Scratch) -> None:
    """``PATCH flows/{f} {context}`` replaces the default context; ``GET flows/{f}`` answers it."""
    path = f"flows/{scratch.flow()['_id']}"
    api.ok("PATCH", path, json={"context": {"tier": "gold", "region": "eu"}})
    api.ok("PATCH", path, json={"context": {"tier": "silver"}})
    locale = _locale(api, target)
    flow = api.ok("GET", path, params={"preferredLocaleId": locale["_id"]})
    assert flow.get("context") == {"tier": "silver"}, (
        f"context after two PATCHes: {flow.get('context')} (tenantops sends the whole "
        "metadata; a merge would keep keys it removed)"
    )


def test_intent_crud(api: V2Api, scratch: Scratch, findings: Findings) -> None:
    """An intent is created (201), read, changed and deleted (then 404)."""
    path = f"flows/{scratch.flow()['_id']}/intents"
    created = api.call("POST", path, json={"name": "greet", "data": {"actions": ["wave"]}})
    assert created.status_code == 201, f"{created.status_code}: {created.text[:300]}"
    intent = created.json()
    assert (intent["name"], intent.get("data")) == ("greet", {"actions": ["wave"]})
    assert api.ok("GET", f"{path}/{intent['_id']}")["name"] == "greet"
    changed = api.call("PATCH", f"{path}/{intent['_id']}", json={"data": {"actions": ["bow"]}})
    findings.note(
        "intent PATCH without localeId",
        f"{changed.status_code} {'accepted' if changed.is_success else changed.text[:200]}",
    )
    assert changed.status_code in (200, 400), f"{changed.status_code}: {changed.text[:300]}"
    deleted = api.call("DELETE", f"{path}/{intent['_id']}")
    assert deleted.is_success, f"DELETE answered {deleted.status_code}"
    assert api.call("GET", f"{path}/{intent['_id']}").status_code == 404


def test_intent_batch_answers_ids_in_operation_order(api: V2Api, scratch: Scratch) -> None:
    """Batch ``PATCH intents`` answers ``{created, updated, deleted}``; created ids in op order."""
    path = f"flows/{scratch.flow()['_id']}/intents"
    names = ["alpha", "bravo", "charlie"]
    ops = [{"op": "create", "value": {"name": n, "data": {"actions": [n]}}} for n in names]
    answer = api.ok("PATCH", path, json={"operations": ops})
    assert len(answer.get("created") or []) == 3, answer
    by_id = {i["_id"]: i["name"] for i in api.items(path)}
    assert [by_id.get(i) for i in answer["created"]] == names, "created ids are not in op order"
    alpha, bravo, _ = answer["created"]
    ops = [
        # The writer's update carries no localeId.
        {"op": "update", "id": alpha, "value": {"data": {"actions": ["changed"]}}},
        {"op": "delete", "id": bravo},
    ]
    answer = api.ok("PATCH", path, json={"operations": ops})
    assert (answer.get("updated"), answer.get("deleted")) == ([alpha], [bravo]), answer
    live = {i["name"]: i.get("data") for i in api.items(path)}
    assert live == {"alpha": {"actions": ["changed"]}, "charlie": {"actions": ["charlie"]}}


def test_sentences_single_and_batch_per_locale(
    api: V2Api, target: Target, scratch: Scratch
) -> None:
    """Sentences are added one by one or in a batch with ``localeId`` and listed per locale."""
    locale = _locale(api, target)["_id"]
    flow = scratch.flow()["_id"]
    intent = api.ok("POST", f"flows/{flow}/intents", json={"name": "ask"})["_id"]
    path = f"flows/{flow}/intents/{intent}/sentences"
    one = api.call("POST", path, json={"text": "hello there", "slots": [], "localeId": locale})
    assert one.status_code == 201, f"{one.status_code}: {one.text[:300]}"
    ops = [{"op": "create", "value": {"text": t, "localeId": locale}} for t in ("hi", "hey")]
    created = api.ok("PATCH", path, json={"operations": ops})["created"]
    assert len(created) == 2, created
    ops = [{"op": "delete", "id": one.json()["_id"]}]
    assert api.ok("PATCH", path, json={"operations": ops})["deleted"] == [one.json()["_id"]]
    texts = sorted(s["text"] for s in api.items(path, localeId=locale))
    assert texts == ["hey", "hi"]
    assert api.call("DELETE", f"{path}/{created[0]}").is_success
    assert [s["_id"] for s in api.items(path, localeId=locale)] == [created[1]]


def _entries(api: V2Api, lexicon: str) -> dict[str, dict[str, Any]]:
    return {e["mainKeyphrase"]: e for e in api.items(f"lexicons/{lexicon}/entries")}


def _synonyms(entry: dict[str, Any]) -> dict[str, str]:
    """Keyphrase value -> id, without the main keyphrase (listed among them on some servers)."""
    main = entry["mainKeyphrase"]
    return {k["value"]: k["_id"] for k in entry.get("keyphrases") or [] if k["value"] != main}


def test_lexicon_entries_in_two_batch_passes(api: V2Api, scratch: Scratch) -> None:
    """Batch ``create`` drops keyphrases; ``addKeyphrase``/``removeKeyphrase`` set synonyms."""
    lexicon = scratch.lexicon()["_id"]
    assert OBJECT_ID.match(lexicon)
    path = f"lexicons/{lexicon}/entries"
    ops = [
        {"op": "create", "value": {"mainKeyphrase": "ups", "data": "{}"}},
        {"op": "create", "value": {"mainKeyphrase": "dhl", "data": "{}"}},
    ]
    created = api.ok("PATCH", path, json={"operations": ops})["created"]
    entries = _entries(api, lexicon)
    assert [entries["ups"]["_id"], entries["dhl"]["_id"]] == created
    assert json.loads(entries["ups"]["data"]) == {}, "data is a JSON string"
    ups = created[0]
    ops = [
        {"op": "addKeyphrase", "id": ups, "value": {"value": "united parcel"}},
        {"op": "addKeyphrase", "id": ups, "value": {"value": "brown"}},
        {"op": "delete", "id": created[1]},
    ]
    api.ok("PATCH", path, json={"operations": ops})
    entries = _entries(api, lexicon)
    assert sorted(entries) == ["ups"]
    synonyms = _synonyms(entries["ups"])
    assert sorted(synonyms) == ["brown", "united parcel"]
    ops = [{"op": "removeKeyphrase", "id": ups, "value": {"keyphraseId": synonyms["brown"]}}]
    api.ok("PATCH", path, json={"operations": ops})
    assert sorted(_synonyms(_entries(api, lexicon)["ups"])) == ["united parcel"]


def test_keyphrase_calls_one_by_one(api: V2Api, scratch: Scratch) -> None:
    """Adding a keyphrase answers ``{}``; removing one is a POST to ``keyphrases/{k}``."""
    lexicon = scratch.lexicon()["_id"]
    entry = api.ok("POST", f"lexicons/{lexicon}/entries", json={"mainKeyphrase": "fedex"})
    path = f"lexicons/{lexicon}/entries/{entry['_id']}/keyphrases"
    assert api.ok("POST", path, json={"value": "federal express"}) == {}
    (keyphrase,) = [k for k in api.items(path) if k["value"] == "federal express"]
    assert api.call("POST", f"{path}/{keyphrase['_id']}").is_success
    assert "federal express" not in [k["value"] for k in api.items(path)]


def test_lexicon_delete_takes_its_entries(api: V2Api, target: Target, scratch: Scratch) -> None:
    """``DELETE lexicons/{l}`` removes it; it is no longer listed, and reads answer 404."""
    lexicon = scratch.lexicon()
    name = lexicon["name"]
    entry = api.ok("POST", f"lexicons/{lexicon['_id']}/entries", json={"mainKeyphrase": "gone"})
    assert api.call("DELETE", f"lexicons/{lexicon['_id']}").is_success
    assert api.call("GET", f"lexicons/{lexicon['_id']}").status_code == 404
    entry_path = f"lexicons/{lexicon['_id']}/entries/{entry['_id']}/keyphrases"
    assert api.call("GET", entry_path).status_code == 404
    assert name not in [x["name"] for x in api.items("lexicons", projectId=target.project_id)]


def test_chart_node_crud(api: V2Api, target: Target, scratch: Scratch) -> None:
    """A say node appended to start keeps label, comment and analyticsLabel; PATCH; DELETE."""
    flow = scratch.flow()["_id"]
    locale = _locale(api, target)["_id"]
    chart = api.ok("GET", f"flows/{flow}/chart", params={"preferredLocaleId": locale})
    (start,) = [n for n in chart["nodes"] if n.get("type") == "start"]
    comment = json.dumps({"tenantops": {"next": "d2"}})
    body = {
        "type": "say",
        "label": "Welcome",
        "comment": comment,
        "analyticsLabel": "d1",
        "mode": "append",
        "target": start["_id"],
    }
    node = api.ok("POST", f"flows/{flow}/chart/nodes", json=body)
    assert OBJECT_ID.match(node["_id"]), node

    def live() -> dict[str, Any]:
        nodes = api.ok("GET", f"flows/{flow}/chart", params={"preferredLocaleId": locale})["nodes"]
        return {n["_id"]: n for n in nodes}

    got = live()[node["_id"]]
    assert (got["label"], got["comment"], got["analyticsLabel"]) == ("Welcome", comment, "d1")
    changed = json.dumps({"tenantops": {}})
    api.ok(
        "PATCH", f"flows/{flow}/chart/nodes/{node['_id']}", json={"label": "Hi", "comment": changed}
    )
    got = live()[node["_id"]]
    assert (got["label"], got["comment"], got["type"]) == ("Hi", changed, "say")
    assert api.call("DELETE", f"flows/{flow}/chart/nodes/{node['_id']}").is_success
    assert node["_id"] not in live()


def test_context_inject(api: V2Api, findings: Findings) -> None:
    """``sessions/{s}/context/inject`` answers the context; whether it merges is reported."""
    session = f"{PREFIX}session-{uuid.uuid4().hex[:10]}"
    path = f"sessions/{session}/context/inject"
    first = api.call("POST", path, json={"userId": PREFIX + "user", "context": {"a": "1"}})
    assert first.is_success, f"inject answered {first.status_code}: {first.text[:300]}"
    second = api.ok("POST", path, json={"userId": PREFIX + "user", "context": {"b": "2"}})
    kinds = {"merge": {"a": "1", "b": "2"}, "replace": {"b": "2"}}
    kind = next((k for k, v in kinds.items() if second == v), None)
    findings.note("context inject", kind or f"answered {second}")
    assert kind is not None, f"a second inject answered {second}: neither merge nor replace"

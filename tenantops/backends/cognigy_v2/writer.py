"""Write the difference between a project's managed flow and a desired model, in few calls.

Everything is keyed by name (intents, lexicons, entries, keyphrases, sentences) or by
``analyticsLabel`` (nodes), never by a remembered ``_id``: :func:`converge` reads the ids
from a :class:`~tenantops.backends.cognigy_v2.view.ProjectView` taken just before. So a
write whose answer was lost is never repeated blindly: the caller reads the project
again and converges from what is really there, and nothing is ever created twice.

Batch operations carry all intent changes in one call, each changed intent's sentences in
one call, and each changed lexicon's entries in one call plus one for their keyphrases
(a batch ``create`` ignores keyphrases, so synonyms of new entries need the second).
Nodes have no batch: one call per created, changed or deleted node.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tenantops.backends.cognigy_v2.http import V2Http
from tenantops.backends.cognigy_v2.view import (
    IntentView,
    LexiconView,
    ProjectView,
    node_comment,
)
from tenantops.core.model import BotDoc

__all__ = ["converge"]

Doc = dict[str, Any]
#: The node type tenantops creates for a dialog: a plain say node.
NODE_TYPE = "say"


async def converge(http: V2Http, view: ProjectView, desired: BotDoc) -> int:
    """Make the managed flow equal ``desired``; answers how many write calls it took."""
    before = sum(n for k, n in http.calls.items() if not k.startswith("GET"))
    if dict(desired.get("metadata") or {}) != view.context:
        await http.patch(f"flows/{view.flow_id}", {"context": desired.get("metadata") or {}})
    await _intents(http, view, desired.get("intents") or [])
    await _lexicons(http, view, desired.get("entities") or [])
    await _nodes(http, view, desired.get("dialogs") or [])
    return sum(n for k, n in http.calls.items() if not k.startswith("GET")) - before


# --------------------------------------------------------------------------- intents


def _intent_data(item: Mapping[str, Any]) -> Doc:
    extra = {k: v for k, v in item.items() if k not in ("name", "examples", "actions")}
    return {**extra, "actions": list(item.get("actions") or [])}


async def _intents(http: V2Http, view: ProjectView, items: Sequence[Mapping[str, Any]]) -> None:
    wanted = {str(i["name"]): i for i in items}
    ops: list[Doc] = []
    created: list[str] = []
    for name, item in wanted.items():
        live = view.intents.get(name)
        if live is None:
            ops.append({"op": "create", "value": {"name": name, "data": _intent_data(item)}})
            created.append(name)
        elif live.data != _intent_data(item):
            ops.append({"op": "update", "id": live.id, "value": {"data": _intent_data(item)}})
    ops += [{"op": "delete", "id": i.id} for n, i in view.intents.items() if n not in wanted]
    ids: dict[str, str] = {}
    if ops:
        answer = await http.patch(f"flows/{view.flow_id}/intents", {"operations": ops})
        ids = dict(zip(created, answer.get("created") or [], strict=False))
    for name, item in wanted.items():
        live = view.intents.get(name) or IntentView(ids.get(name, ""), {})
        if live.id:
            await _sentences(http, view, live, item.get("examples") or [])


async def _sentences(
    http: V2Http, view: ProjectView, intent: IntentView, examples: Sequence[str]
) -> None:
    wanted = set(examples)
    ops: list[Doc] = [
        {"op": "create", "value": {"text": text, "localeId": view.locale_id}}
        for text in sorted(wanted - set(intent.sentences))
    ]
    ops += [
        {"op": "delete", "id": sid} for text, sid in intent.sentences.items() if text not in wanted
    ]
    if ops:
        path = f"flows/{view.flow_id}/intents/{intent.id}/sentences"
        await http.patch(path, {"operations": ops})


# --------------------------------------------------------------------------- lexicons


async def _lexicons(http: V2Http, view: ProjectView, items: Sequence[Mapping[str, Any]]) -> None:
    wanted = {str(e["name"]): e for e in items}
    for name, lex in view.lexicons.items():
        if name not in wanted:
            await http.delete(f"lexicons/{lex.id}")
    for name, entity in wanted.items():
        live = view.lexicons.get(name)
        if live is None:
            answer = await http.post("lexicons", {"projectId": view.project_id, "name": name})
            live = LexiconView(str(answer["_id"]))
        await _entries(http, live, entity)


async def _entries(http: V2Http, lex: LexiconView, entity: Mapping[str, Any]) -> None:
    values = [str(v) for v in entity.get("values") or []]
    synonyms: Mapping[str, Sequence[str]] = entity.get("synonyms") or {}
    ops: list[Doc] = [
        {"op": "create", "value": {"mainKeyphrase": v, "data": "{}"}}
        for v in values
        if v not in lex.entries
    ]
    ops += [{"op": "delete", "id": eid} for v, (eid, _) in lex.entries.items() if v not in values]
    created: dict[str, str] = {}
    if ops:
        answer = await http.patch(f"lexicons/{lex.id}/entries", {"operations": ops})
        new = [op["value"]["mainKeyphrase"] for op in ops if op["op"] == "create"]
        created = dict(zip(new, answer.get("created") or [], strict=False))
    keyphrase_ops: list[Doc] = []
    for value in values:
        entry_id, live = lex.entries.get(value) or (created.get(value, ""), {})
        want = set(synonyms.get(value) or [])
        keyphrase_ops += [
            {"op": "addKeyphrase", "id": entry_id, "value": {"value": s}}
            for s in sorted(want - set(live))
        ]
        keyphrase_ops += [
            {"op": "removeKeyphrase", "id": entry_id, "value": {"keyphraseId": kid}}
            for s, kid in live.items()
            if s not in want
        ]
    if keyphrase_ops:
        await http.patch(f"lexicons/{lex.id}/entries", {"operations": keyphrase_ops})


# --------------------------------------------------------------------------- nodes


def _extra(dialog: Mapping[str, Any]) -> Doc:
    return {k: v for k, v in dialog.items() if k not in ("id", "node")}


async def _nodes(http: V2Http, view: ProjectView, dialogs: Sequence[Mapping[str, Any]]) -> None:
    wanted = {str(d["id"]): d for d in dialogs}
    chart = f"flows/{view.flow_id}/chart/nodes"
    for key, node in view.nodes.items():
        if key not in wanted:
            await http.delete(f"{chart}/{node.id}")
    for key, dialog in wanted.items():
        comment = node_comment(_extra(dialog))
        live = view.nodes.get(key)
        if live is None:
            body = {
                "type": NODE_TYPE,
                "label": str(dialog.get("node") or ""),
                "comment": comment,
                "analyticsLabel": key,
                "mode": "append",
                "target": view.start_node,
            }
            await http.post(chart, body)
        elif live.label != dialog.get("node") or json.loads(comment)["tenantops"] != live.extra:
            await http.patch(
                f"{chart}/{live.id}", {"label": dialog.get("node"), "comment": comment}
            )

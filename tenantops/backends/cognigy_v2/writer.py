"""Write the difference between a project's managed flow and a desired model, in few calls.

Everything is keyed by name (intents, lexicons, entries, keyphrases, sentences) or by
``analyticsLabel`` (nodes), never by a remembered ``_id``: :func:`converge` reads the ids
from a :class:`~tenantops.backends.cognigy_v2.view.ProjectView` taken just before. So a
write whose answer was lost is never repeated blindly: the caller reads the project
again and converges from what is really there, and nothing is ever created twice.

Batch operations carry all intent changes in one call, each changed intent's sentences in
one call, and each changed lexicon's entries in one call plus one for their keyphrases
(a batch ``create`` ignores keyphrases, so synonyms of new entries need the second).
A batch whose body would pass the API's 60 kB limit (413) is split into several calls,
and removals always go first, in the same call or an earlier one: an intent at its 200
sentences has room for a new one only once the one it replaces is gone.
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
#: Bytes a batch body may have: the API refuses JSON bodies over 60 kB (413); this
#: leaves room for an encoder less compact than httpx's.
_BODY_BUDGET = 50_000
#: Operations that take something away, sent before those that add.
_REMOVING = frozenset({"delete", "removeKeyphrase"})


async def converge(http: V2Http, view: ProjectView, desired: BotDoc) -> int:
    """Make the managed flow equal ``desired``; answers how many write calls it took."""
    before = sum(n for k, n in http.calls.items() if not k.startswith("GET"))
    if dict(desired.get("metadata") or {}) != view.context:
        await http.patch(f"flows/{view.flow_id}", {"context": desired.get("metadata") or {}})
    await _intents(http, view, desired.get("intents") or [])
    await _lexicons(http, view, desired.get("entities") or [])
    await _nodes(http, view, desired.get("dialogs") or [])
    return sum(n for k, n in http.calls.items() if not k.startswith("GET")) - before


# --------------------------------------------------------------------------- batches


def _size(value: Any) -> int:
    """Bytes of ``value`` as httpx sends it: compact JSON, UTF-8."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def _chunks(ops: Sequence[Doc]) -> list[list[Doc]]:
    """``ops``, removals first, cut into bodies ``{"operations": [...]}`` of at most
    :data:`_BODY_BUDGET` bytes (an operation bigger than that alone goes alone)."""
    chunks: list[list[Doc]] = []
    empty = _size({"operations": []})
    size = 0
    for op in sorted(ops, key=lambda op: op["op"] not in _REMOVING):  # stable
        cost = _size(op) + 1  # and its comma
        if chunks and size + cost <= _BODY_BUDGET:
            chunks[-1].append(op)
            size += cost
        else:
            chunks.append([op])
            size = empty + cost
    return chunks


async def _batch(http: V2Http, path: str, ops: Sequence[Doc]) -> list[tuple[list[Doc], Any]]:
    """Send ``ops`` as batch PATCHes of ``path`` (see :func:`_chunks`): each call's
    operations with its answer."""
    return [(chunk, await http.patch(path, {"operations": chunk})) for chunk in _chunks(ops)]


def _created_ids(sent: Sequence[tuple[list[Doc], Any]], key: str) -> dict[str, str]:
    """Name -> id of what the batches created; names are the creates' ``value[key]``.

    The API answers ``created`` as a list of ids (the simulator; the documentation shows
    no example). Each call's ids are matched to its creates by position: a batch applies
    its operations in order and lists each new id once, in that order, and each call's
    answer is read against that call's creates alone. A count that differs from the
    creates sent matches nothing (the caller reads those ids by name); answered
    documents are matched by their ``key``.
    """
    ids: dict[str, str] = {}
    for chunk, answer in sent:
        names = [str(op["value"][key]) for op in chunk if op["op"] == "create"]
        created = answer.get("created") or [] if isinstance(answer, dict) else []
        if created and all(isinstance(c, dict) for c in created):
            ids.update((str(c[key]), str(c["_id"])) for c in created if key in c and "_id" in c)
        elif len(created) == len(names):
            ids.update(zip(names, map(str, created), strict=True))
    return ids


async def _ids_by_name(
    http: V2Http, path: str, key: str, sent: Sequence[tuple[list[Doc], Any]], names: list[str]
) -> dict[str, str]:
    """The ids of ``names`` just created: from the answers, else by listing ``path``."""
    ids = _created_ids(sent, key)
    if any(name not in ids for name in names):
        listed = await http.list_all(path)
        ids.update((str(d[key]), str(d["_id"])) for d in listed if d.get(key) in names)
    return {name: ids[name] for name in names if name in ids}


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
        path = f"flows/{view.flow_id}/intents"
        ids = await _ids_by_name(http, path, "name", await _batch(http, path, ops), created)
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
        await _batch(http, f"flows/{view.flow_id}/intents/{intent.id}/sentences", ops)


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
    path = f"lexicons/{lex.id}/entries"
    if ops:
        new = [str(op["value"]["mainKeyphrase"]) for op in ops if op["op"] == "create"]
        created = await _ids_by_name(
            http, path, "mainKeyphrase", await _batch(http, path, ops), new
        )
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
        await _batch(http, path, keyphrase_ops)


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

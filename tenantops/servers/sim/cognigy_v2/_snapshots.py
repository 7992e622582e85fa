"""Snapshots: what one captures, and the create, restore and delete tasks that act on them.

A snapshot holds a copy of its project's locales, flows (with their default
``context``), intents, sentences, lexicons, entries (with keyphrases) and charts
(nodes and relations); members, users, sessions and other snapshots are not in it.

- ``createSnapshot`` captures the project when the task *ends*, and fails with a
  ``failReason`` when the project already has ``max_snapshots`` snapshots (the
  simulator's answer to the 11th create: the POST succeeds, the task ends in
  ``error``). The task never names the new snapshot: clients find it by its name.
- ``restoreSnapshot`` deletes the project's resources when the task turns *active*
  (calls on them meanwhile see empty lists or 404s, as on Cognigy) and rebuilds them
  from the snapshot when it ends: every intent, sentence, lexicon, entry, keyphrase,
  node, relation and chart gets a **new** ``_id``; ``referenceId`` and names are kept.
  Locales and flows are matched by ``referenceId`` and keep their ``_id`` (one
  missing from the project is recreated with a new ``_id``; one not in the snapshot
  is deleted). A restore cancelled while active leaves the project emptied.
- ``deleteSnapshot`` removes it when the task ends.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping

from tenantops.servers.sim.cognigy_v2._store import Doc, Store, public

__all__ = [
    "CONTENT_TABLES",
    "SnapshotCreate",
    "SnapshotDelete",
    "SnapshotRestore",
    "capture",
    "take_snapshot",
]

#: What a snapshot holds, in the order a restore rebuilds it.
CONTENT_TABLES = (
    "locales",
    "flows",
    "charts",
    "nodes",
    "relations",
    "intents",
    "sentences",
    "lexicons",
    "entries",
)
_KEPT_IDS = ("locales", "flows")
#: Fields that point at other documents, and the table they point into.
_LINKS: dict[str, dict[str, str]] = {
    "charts": {"flowReference": "flows"},
    "nodes": {"flowReference": "flows", "localeReference": "locales"},
    "relations": {"flowReference": "flows", "node": "nodes", "next": "nodes", "children": "nodes"},
    "intents": {
        "flowReference": "flows",
        "parentIntentId": "intents",
        "localeReference": "locales",
    },
    "sentences": {
        "flowReference": "flows",
        "intentReference": "intents",
        "localeReference": "locales",
    },
    "entries": {"lexiconReference": "lexicons"},
}


def project_docs(store: Store, project_id: str) -> dict[str, list[Doc]]:
    """The project's documents in every snapshot table (stored, not copies)."""
    flows = store.find("flows", projectReference=project_id)
    flow_ids = {f["_id"] for f in flows}
    lexicons = store.find("lexicons", projectReference=project_id)
    lexicon_ids = {lex["_id"] for lex in lexicons}
    docs = {
        "locales": store.find("locales", projectReference=project_id),
        "flows": flows,
        "lexicons": lexicons,
        "entries": [e for e in store.find("entries") if e.get("lexiconReference") in lexicon_ids],
    }
    for table in ("charts", "nodes", "relations", "intents", "sentences"):
        docs[table] = [d for d in store.find(table) if d.get("flowReference") in flow_ids]
    return docs


def capture(store: Store, project_id: str) -> dict[str, list[Doc]]:
    """A deep copy of the project's snapshot content."""
    docs = project_docs(store, project_id)
    return {table: [public(d) for d in docs[table]] for table in CONTENT_TABLES}


def take_snapshot(store: Store, project_id: str, name: str, description: str, *, by: str) -> Doc:
    """Capture the project now into a new snapshot document (no task, no cap check)."""
    content = capture(store, project_id)
    doc = {
        "name": name,
        "description": description,
        "projectReference": project_id,
        "hash": hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest(),
        "isPackaged": False,
        "_simContent": content,
    }
    return store.insert("snapshots", doc, by=by)


class SnapshotCreate:
    """``createSnapshot``: capture the project at the end, unless it has too many."""

    def __init__(self, store: Store, max_snapshots: int) -> None:
        self._store = store
        self._max = max_snapshots

    def activate(self, task: Doc) -> None:
        """Nothing to do until the end."""

    def finish(self, task: Doc) -> str | None:
        """Store the new snapshot, or say why not."""
        project_id = str(task["data"]["projectId"])
        if self._store.get("projects", project_id) is None:
            return f"project {project_id} no longer exists"
        if len(self._store.find("snapshots", projectReference=project_id)) >= self._max:
            return (
                f"The maximum number of snapshots ({self._max}) for this project has been "
                "reached. Delete a snapshot before creating a new one."
            )
        data = task["data"]
        by = str(task.get("createdBy", "api"))
        take_snapshot(self._store, project_id, data["name"], data.get("description", ""), by=by)
        return None


class SnapshotDelete:
    """``deleteSnapshot``: remove the snapshot at the end."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def activate(self, task: Doc) -> None:
        """Nothing to do until the end."""

    def finish(self, task: Doc) -> str | None:
        """Remove the snapshot, or say it is already gone."""
        snapshot_id = str(task["data"]["snapshotId"])
        if self._store.remove("snapshots", snapshot_id) is None:
            return f"snapshot {snapshot_id} no longer exists"
        return None


class SnapshotRestore:
    """``restoreSnapshot``: empty the project when active, rebuild it at the end."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def activate(self, task: Doc) -> None:
        """Take the snapshot's content and delete the project's resources."""
        snapshot = self._store.get("snapshots", str(task["data"]["snapshotId"]))
        if snapshot is None:
            return
        content = copy.deepcopy(snapshot["_simContent"])
        task["_simContent"] = content
        project_id = str(task["data"]["projectId"])
        kept = {d.get("referenceId") for d in content["flows"]}
        docs = project_docs(self._store, project_id)
        for table in (
            "charts",
            "nodes",
            "relations",
            "intents",
            "sentences",
            "lexicons",
            "entries",
        ):
            for doc in docs[table]:
                self._store.remove(table, doc["_id"])
        for flow in docs["flows"]:
            if flow.get("referenceId") not in kept:
                self._store.remove("flows", flow["_id"])

    def finish(self, task: Doc) -> str | None:
        """Rebuild the project from the content taken at activation."""
        content = task.pop("_simContent", None)
        if content is None:
            return f"snapshot {task['data']['snapshotId']} no longer exists"
        project_id = str(task["data"]["projectId"])
        by = str(task.get("createdBy", "api"))
        ids: dict[str, dict[str, str]] = {}
        for table in CONTENT_TABLES:
            ids[table] = self._new_ids(table, content[table], project_id)
            for doc in content[table]:
                self._put(table, self._relinked(table, doc, ids), by)
        for table in _KEPT_IDS:
            for doc in self._store.find(table, projectReference=project_id):
                if doc["_id"] not in ids[table].values():
                    self._store.remove(table, doc["_id"])
        return None

    def _new_ids(self, table: str, docs: list[Doc], project_id: str) -> dict[str, str]:
        """Old ``_id`` -> new ``_id``; kept for a locale or flow that is still there."""
        if table not in _KEPT_IDS:
            return {d["_id"]: self._store.new_id() for d in docs}
        live = {
            d.get("referenceId"): d["_id"]
            for d in self._store.find(table, projectReference=project_id)
        }
        return {d["_id"]: live.get(d.get("referenceId")) or self._store.new_id() for d in docs}

    def _relinked(self, table: str, doc: Doc, ids: Mapping[str, Mapping[str, str]]) -> Doc:
        out = copy.deepcopy(doc)
        out["_id"] = ids[table][doc["_id"]]
        for field, target in _LINKS.get(table, {}).items():
            value = out.get(field)
            if isinstance(value, list):
                out[field] = [ids[target].get(v, v) for v in value]
            elif isinstance(value, str):
                out[field] = ids[target].get(value, value)
        if table == "entries":
            out["keyphrases"] = [
                {**k, "_id": self._store.new_id()} for k in out.get("keyphrases", [])
            ]
        return out

    def _put(self, table: str, doc: Doc, by: str) -> None:
        if table in _KEPT_IDS and self._store.get(table, doc["_id"]) is not None:
            self._store.update(table, doc["_id"], doc, by=by)
        else:
            self._store.insert(table, doc, by=by)

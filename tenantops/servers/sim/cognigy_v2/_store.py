"""The v2.0 simulator's documents, their ids, and their optional persistence in ``DIR/state.json``.

Owns one table of JSON documents per resource (projects, locales, flows, intents,
sentences, lexicons, entries, nodes, relations, charts, snapshots, tasks, users,
members, sessions), keyed by ``_id``; the 24-hex ``_id`` and UUID ``referenceId``
generators; the stamps every document carries (``createdAt``/``lastChanged`` in Unix
milliseconds, ``createdBy``/``lastChangedBy``); and saving. It knows nothing of HTTP,
paging, tasks or faults.

Documents are the JSON the API answers, plus bookkeeping keys starting with ``_sim``
(a snapshot's captured content, a task's timing) that :func:`public` strips. Parent
links are plain fields: ``projectReference``, ``flowReference``, ``intentReference``,
``lexiconReference``.

``state.json`` is ``{"tables": {<table>: {<_id>: <doc>}}, "meta": {...}}``; every key
is optional. With a state directory, changes are written once per request (the
middleware calls :meth:`Store.save_if_dirty`), atomically. Tokens, fault settings,
rate windows and route counters are never persisted.
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeAlias

from tenantops.durable import atomic_write_text
from tenantops.errors import ConfigError
from tenantops.servers.sim.cognigy_v2._config import V2Config

__all__ = ["TABLES", "Doc", "Store", "is_object_id", "millis", "public"]

#: A JSON document: the API's own edge, converted nowhere else.
Doc: TypeAlias = dict[str, Any]

TABLES = (
    "projects",
    "locales",
    "flows",
    "intents",
    "sentences",
    "lexicons",
    "entries",
    "charts",
    "nodes",
    "relations",
    "snapshots",
    "tasks",
    "users",
    "members",
    "sessions",
)
_HEX = frozenset("0123456789abcdef")


def is_object_id(value: str) -> bool:
    """Whether ``value`` is a 24-character lowercase hex id."""
    return len(value) == 24 and set(value) <= _HEX


def millis(seconds: float) -> int:
    """Unix seconds as the API's integer milliseconds."""
    return int(seconds * 1000)


def public(doc: Mapping[str, Any]) -> Doc:
    """A copy of ``doc`` without the simulator's ``_sim*`` bookkeeping keys."""
    return {k: copy.deepcopy(v) for k, v in doc.items() if not k.startswith("_sim")}


class Store:
    """Every document of one simulator; see the module docstring.

    Args:
        config: the run's settings; ``config.state_dir`` turns persistence on.

    Raises:
        ConfigError: ``state.json`` exists but is not valid.
    """

    def __init__(self, config: V2Config) -> None:
        self._clock = config.clock
        self._seed = config.seed
        self._path = config.state_dir / "state.json" if config.state_dir else None
        initial = _load(self._path) if self._path else {}
        self._initial = copy.deepcopy(initial)
        self._install(initial)

    def _install(self, data: Mapping[str, Any]) -> None:
        tables = data.get("tables", {})
        #: Documents by table, then by ``_id``.
        self.tables: dict[str, dict[str, Doc]] = {t: dict(tables.get(t, {})) for t in TABLES}
        #: Counters and flags (``failNextTraining``) that survive restarts.
        self.meta: dict[str, Any] = {"counter": 0, "failNextTraining": {}, **data.get("meta", {})}
        self._rng = random.Random(f"{self._seed}:{self.meta['counter']}")
        self._machine = f"{self._rng.getrandbits(40):010x}"
        self.dirty = False

    # ------------------------------------------------------------------ ids

    def new_id(self) -> str:
        """A fresh ``_id``: 24 hex digits, time first, so ids sort in creation order."""
        self.meta["counter"] += 1
        return f"{int(self._clock()) & 0xFFFFFFFF:08x}{self._machine}{self.meta['counter']:06x}"

    def new_reference_id(self) -> str:
        """A fresh ``referenceId`` (a UUID 4 from the seeded generator)."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def now_ms(self) -> int:
        """The time now in Unix milliseconds."""
        return millis(self._clock())

    # ------------------------------------------------------------------ documents

    def get(self, table: str, doc_id: str) -> Doc | None:
        """The document with that ``_id``, or ``None``."""
        return self.tables[table].get(doc_id)

    def find(self, table: str, **match: Any) -> list[Doc]:
        """The table's documents whose fields equal ``match``, in ``_id`` order."""
        rows = [
            d for d in self.tables[table].values() if all(d.get(k) == v for k, v in match.items())
        ]
        return sorted(rows, key=lambda d: str(d["_id"]))

    def insert(self, table: str, doc: Mapping[str, Any], *, by: str = "api") -> Doc:
        """Store a new document, adding ``_id`` (unless given) and the creation stamps.

        Returns:
            The stored document (not a copy).
        """
        now = self.now_ms()
        stored: Doc = {"_id": self.new_id(), **doc}
        stored.setdefault("createdAt", now)
        stored.setdefault("createdBy", by)
        stored["lastChanged"] = now
        stored["lastChangedBy"] = by
        self.tables[table][stored["_id"]] = stored
        self.dirty = True
        return stored

    def update(
        self, table: str, doc_id: str, changes: Mapping[str, Any], *, by: str = "api"
    ) -> Doc:
        """Set ``changes`` on a stored document and stamp it; ``KeyError`` if unknown."""
        doc = self.tables[table][doc_id]
        doc.update(copy.deepcopy(dict(changes)))
        doc["lastChanged"] = self.now_ms()
        doc["lastChangedBy"] = by
        self.dirty = True
        return doc

    def remove(self, table: str, doc_id: str) -> Doc | None:
        """Delete a document; returns it, or ``None`` when it was not there."""
        doc = self.tables[table].pop(doc_id, None)
        if doc is not None:
            self.dirty = True
        return doc

    def remove_where(self, table: str, **match: Any) -> list[Doc]:
        """Delete every document whose fields equal ``match``; returns them."""
        gone = self.find(table, **match)
        for doc in gone:
            self.remove(table, doc["_id"])
        return gone

    # ------------------------------------------------------------------ users

    def ensure_user(self, email: str, name: str | None = None) -> Doc:
        """The organisation user with that email, created if new."""
        for user in self.tables["users"].values():
            if str(user.get("email", "")).lower() == email.lower():
                return user
        first = email.split("@", 1)[0]
        return self.insert("users", {"email": email, "name": name or first, "roles": ["base_role"]})

    # ------------------------------------------------------------------ whole state

    def dump(self) -> dict[str, Any]:
        """Every table with bookkeeping stripped, plus ``meta``, as JSON."""
        tables = {t: [public(d) for d in self.find(t)] for t in TABLES}
        return {"tables": tables, "meta": copy.deepcopy(self.meta)}

    def reset(self) -> None:
        """Go back to the state loaded at start (or empty), and persist that."""
        self._install(copy.deepcopy(self._initial))
        self.dirty = True
        self.save_if_dirty()

    def save_if_dirty(self) -> None:
        """Write ``state.json`` if anything changed since the last save (no-op in memory)."""
        if not self.dirty:
            return
        self.dirty = False
        if self._path is None:
            return
        data = {"tables": self.tables, "meta": self.meta}
        # ensure_ascii: a lone surrogate from a JSON request must not make the write fail.
        atomic_write_text(self._path, json.dumps(data, indent=1, ensure_ascii=True) + "\n")


def _load(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read the simulator state ({exc}); fix or remove it", path=path
        ) from exc
    tables = raw.get("tables", {}) if isinstance(raw, dict) else None
    if not isinstance(tables, dict) or not all(isinstance(v, dict) for v in tables.values()):
        raise ConfigError(
            "invalid simulator state: expected {'tables': {<table>: {<_id>: <doc>}}}; "
            "fix or remove it",
            path=path,
        )
    return dict(raw)

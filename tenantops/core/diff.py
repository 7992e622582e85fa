"""Desired vs observed: the list of changes that would make a workspace match its config.

Pure. Items are matched by key, never by position (intents and entities by ``name``,
dialogs by ``id``, metadata by key, roles by ``userId``), so the cost is linear in the
model; only an item whose canonical form differs is compared field by field, and only
there does deepdiff run (whole-model DeepDiff with ``ignore_order`` is quadratic: about
2 minutes for 10,000 intents). Order of items and of set-valued lists never shows as a
change; server-owned fields (``version``, ``metadata.exportedAt``) are never compared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from tenantops.core.model import ITEM_KEYS, BotDoc, RoleAssignment, RoleGrant, canonicalize

__all__ = [
    "Action",
    "Change",
    "FieldChange",
    "Resource",
    "diff_models",
    "diff_roles",
    "iso_expiry",
    "summarize",
]

Resource = Literal["intent", "entity", "dialog", "metadata", "role"]
Action = Literal["create", "update", "delete"]

_RESOURCE_OF: Mapping[str, Resource] = {
    "intents": "intent",
    "entities": "entity",
    "dialogs": "dialog",
}
_ALWAYS_IGNORED_METADATA = frozenset({"exportedAt"})


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of an updated item: its name and its value before and after."""

    field: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class Change:
    """One thing that differs: an item created, updated or deleted, with both sides."""

    resource: Resource
    key: str
    action: Action
    before: Any = None
    after: Any = None
    fields: tuple[FieldChange, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class _Ignore:
    """Parsed ``ignoreChanges`` pointers: ``/metadata/KEY`` and ``/KIND/KEY-or-*/FIELD``."""

    metadata: frozenset[str]
    fields: Mapping[str, Mapping[str, frozenset[str]]]

    @classmethod
    def parse(cls, pointers: Iterable[str]) -> _Ignore:
        metadata: set[str] = set()
        fields: dict[str, dict[str, set[str]]] = {}
        for pointer in pointers:
            parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.strip("/").split("/")]
            if len(parts) == 2 and parts[0] == "metadata":
                metadata.add(parts[1])
            elif len(parts) == 3 and parts[0] in ITEM_KEYS:
                fields.setdefault(parts[0], {}).setdefault(parts[1], set()).add(parts[2])
        return cls(
            frozenset(metadata),
            {k: {n: frozenset(f) for n, f in v.items()} for k, v in fields.items()},
        )

    def item_fields(self, kind: str, key: str) -> frozenset[str]:
        by_key = self.fields.get(kind, {})
        return by_key.get(key, frozenset()) | by_key.get("*", frozenset())


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders ``d2`` before ``d10``."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part
    )


def _strip(item: Mapping[str, Any], ignored: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ignored}


def _field_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """Which top-level fields of an item differ (both sides already canonical)."""
    return tuple(
        FieldChange(name, before.get(name), after.get(name))
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    )


def _diff_items(
    kind: str,
    desired: Sequence[Mapping[str, Any]],
    observed: Sequence[Mapping[str, Any]],
    ignore: _Ignore,
) -> list[Change]:
    key = ITEM_KEYS[kind]
    resource = _RESOURCE_OF[kind]
    want = {str(i[key]): i for i in desired}
    have = {str(i[key]): i for i in observed}
    changes: list[Change] = []
    for name in sorted(want.keys() | have.keys(), key=natural_key):
        after, before = want.get(name), have.get(name)
        if before is None:
            changes.append(Change(resource, name, "create", None, after))
        elif after is None:
            changes.append(Change(resource, name, "delete", before, None))
        else:
            ignored = ignore.item_fields(kind, name)
            b, a = _strip(before, ignored), _strip(after, ignored)
            if a != b:
                changes.append(
                    Change(resource, name, "update", before, after, _field_changes(b, a))
                )
    return changes


def _diff_metadata(
    desired: Mapping[str, Any], observed: Mapping[str, Any], ignore: _Ignore
) -> list[Change]:
    skip = _ALWAYS_IGNORED_METADATA | ignore.metadata
    changes: list[Change] = []
    for name in sorted((desired.keys() | observed.keys()) - skip):
        if name not in observed:
            changes.append(Change("metadata", name, "create", None, desired[name]))
        elif name not in desired:
            changes.append(Change("metadata", name, "delete", observed[name], None))
        elif _normalize(desired[name]) != _normalize(observed[name]):
            changes.append(
                Change(
                    "metadata",
                    name,
                    "update",
                    observed[name],
                    desired[name],
                    _nested_changes(observed[name], desired[name]),
                )
            )
    return changes


def _normalize(value: Any) -> Any:
    # 3 and 3.0 are the same number to a JSON reader; treat them alike.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _nested_changes(before: Any, after: Any) -> tuple[FieldChange, ...]:
    """Paths inside a nested metadata value that differ (deepdiff, one value at a time)."""
    if not (isinstance(before, dict | list) and isinstance(after, dict | list)):
        return ()
    from deepdiff import DeepDiff

    delta = DeepDiff(before, after, ignore_order=True, view="tree")
    out: list[FieldChange] = []
    for items in delta.values():
        for item in items:
            pointer = "".join(f"/{part}" for part in item.path(output_format="list"))
            out.append(FieldChange(pointer or "/", _absent(item.t1), _absent(item.t2)))
    return tuple(sorted(out, key=lambda c: c.field))


def _absent(value: Any) -> Any:
    # deepdiff marks a missing side with its NotPresent sentinel; show it as None.
    return None if type(value).__name__ == "NotPresent" else value


def diff_models(
    desired: BotDoc, observed: BotDoc | None, *, ignore: Iterable[str] = ()
) -> list[Change]:
    """Changes that turn ``observed`` (the live export; ``None``: no bot yet) into ``desired``.

    Args:
        desired: the rendered model.
        observed: the live model, or ``None`` when the workspace has no bot.
        ignore: ``ignoreChanges`` pointers: ``/metadata/KEY``, ``/intents/NAME/FIELD``
            or ``/intents/*/FIELD`` (likewise entities, dialogs).

    Returns:
        Changes ordered by resource kind (intents, entities, dialogs, metadata), then key.
    """
    # Like Terraform's ignore_changes: ignored paths are still set when the bot is created.
    rules = _Ignore.parse(ignore if observed is not None else ())
    want = canonicalize(desired)
    have = canonicalize(observed) if observed is not None else {}
    changes: list[Change] = []
    for kind in ITEM_KEYS:
        changes += _diff_items(kind, want.get(kind, []), have.get(kind, []), rules)
    changes += _diff_metadata(want.get("metadata", {}), have.get("metadata", {}), rules)
    return changes


def iso_expiry(expires_at: datetime | None) -> str | None:
    """An expiry as the config writes it (``2027-06-30T00:00:00Z``), or ``None``."""
    return None if expires_at is None else expires_at.isoformat().replace("+00:00", "Z")


def _grant_view(user_id: str, role_id: str, expires_at: datetime | None) -> dict[str, Any]:
    view: dict[str, Any] = {"userId": user_id, "roleId": role_id}
    if expires_at is not None:
        view["expiresAt"] = iso_expiry(expires_at)
    return view


def diff_roles(
    desired: Sequence[RoleAssignment] | None,
    observed: Sequence[RoleGrant],
    *,
    now: datetime | None = None,
) -> list[Change]:
    """Role changes by ``userId``; ``desired is None`` means roles are not managed (no changes).

    With ``now``, the platform keeps no expiry (Cognigy.AI v2.0) and tenantops enforces
    it: a role whose ``expiresAt`` has passed is revoked, and expiries are not compared.
    """
    if desired is None:
        return []
    if now is None:
        want = {r.user_id: _grant_view(r.user_id, r.role_id, r.expires_at) for r in desired}
        have = {g.user_id: _grant_view(g.user_id, g.role_id, g.expires_at) for g in observed}
    else:
        live = [r for r in desired if r.expires_at is None or r.expires_at > now]
        want = {r.user_id: _grant_view(r.user_id, r.role_id, None) for r in live}
        have = {g.user_id: _grant_view(g.user_id, g.role_id, None) for g in observed}
    changes: list[Change] = []
    for user in sorted(want.keys() | have.keys()):
        after, before = want.get(user), have.get(user)
        if before is None:
            changes.append(Change("role", user, "create", None, after))
        elif after is None:
            changes.append(Change("role", user, "delete", before, None))
        elif before != after:
            changes.append(
                Change("role", user, "update", before, after, _field_changes(before, after))
            )
    return changes


def summarize(changes: Iterable[Change]) -> dict[str, int]:
    """Counts by action: ``{"create": n, "update": n, "delete": n}``."""
    counts = {"create": 0, "update": 0, "delete": 0}
    for change in changes:
        counts[change.action] += 1
    return counts

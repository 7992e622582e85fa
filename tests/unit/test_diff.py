"""Diff by key: creates, updates, deletes per resource; order and server fields never count."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from tenantops.backends.base import RoleGrant
from tenantops.core.diff import diff_models, diff_roles, summarize
from tenantops.core.model import RoleAssignment

LIVE: dict[str, Any] = {
    "botId": "b",
    "version": "1.0.7",
    "intents": [
        {"name": "hello", "examples": ["hi", "hello"], "actions": ["greet"]},
        {"name": "bye", "examples": ["bye"], "actions": ["part"]},
    ],
    "entities": [{"name": "carrier", "values": ["ups", "dhl"], "synonyms": {"ups": ["a", "b"]}}],
    "dialogs": [{"id": "d1", "node": "start", "next": "d2"}, {"id": "d2", "node": "end"}],
    "metadata": {"exportedAt": "2026-01-01T00:00:00Z", "locale": "en-US", "channel": "web"},
}


def desired(**edits: Any) -> dict[str, Any]:
    model = copy.deepcopy(LIVE)
    model.pop("version")
    model["metadata"].pop("exportedAt")
    model.update(edits)
    return model


def test_identical_models_have_no_changes() -> None:
    """The desired model equals the live one: no change, whatever version/exportedAt say."""
    assert diff_models(desired(), LIVE) == []


def test_reordering_is_not_a_change() -> None:
    """Items, examples, values and synonyms in another order are the same model."""
    model = desired()
    model["intents"] = [
        dict(i, examples=list(reversed(i["examples"]))) for i in reversed(model["intents"])
    ]
    model["dialogs"].reverse()
    model["entities"][0] = dict(
        model["entities"][0], values=["dhl", "ups"], synonyms={"ups": ["b", "a"]}
    )
    assert diff_models(model, LIVE) == []


def test_create_update_delete_of_each_kind() -> None:
    """Each item kind reports creates, updates (with the fields that changed) and deletes."""
    model = desired()
    model["intents"] = [
        {"name": "hello", "examples": ["hi", "hello", "hey"], "actions": ["greet"]},
        {"name": "thanks", "examples": ["thx"], "actions": ["ok"]},
    ]
    model["entities"] = []
    model["dialogs"] = [
        {"id": "d1", "node": "start", "next": "d3"},
        {"id": "d2", "node": "end"},
        {"id": "d3", "node": "x"},
    ]
    model["metadata"] = {"locale": "de-DE", "channel": "web", "brand": "Acme"}
    changes = [(c.resource, c.key, c.action) for c in diff_models(model, LIVE)]
    assert changes == [
        ("intent", "bye", "delete"),
        ("intent", "hello", "update"),
        ("intent", "thanks", "create"),
        ("entity", "carrier", "delete"),
        ("dialog", "d1", "update"),
        ("dialog", "d3", "create"),
        ("metadata", "brand", "create"),
        ("metadata", "locale", "update"),
    ]
    hello = diff_models(model, LIVE)[1]
    (field,) = hello.fields
    assert field.field == "examples"
    assert sorted(field.after) == ["hello", "hey", "hi"]


def test_missing_bot_makes_everything_a_create() -> None:
    """With no live bot, every item and metadata key is a create."""
    counts = summarize(diff_models(desired(), None))
    assert counts == {"create": 2 + 1 + 2 + 2, "update": 0, "delete": 0}


def test_ignore_changes_paths() -> None:
    """ignoreChanges hides metadata keys and item fields (by key or for every item)."""
    model = desired()
    model["metadata"]["channel"] = "voice"
    model["intents"][0]["actions"] = ["wave"]
    model["intents"][1]["actions"] = ["leave"]
    assert len(diff_models(model, LIVE)) == 3
    assert [
        c.key
        for c in diff_models(model, LIVE, ignore=["/metadata/channel", "/intents/hello/actions"])
    ] == ["bye"]
    assert diff_models(model, LIVE, ignore=["/metadata/channel", "/intents/*/actions"]) == []


def test_nested_metadata_update_lists_inner_paths() -> None:
    """An update of a nested metadata value names the inner paths that changed."""
    model = desired()
    model["metadata"]["routing"] = {"queue": "gold", "hours": [9, 17]}
    live = copy.deepcopy(LIVE)
    live["metadata"]["routing"] = {"queue": "silver", "hours": [9, 17]}
    (change,) = diff_models(model, live)
    assert [(f.field, f.before, f.after) for f in change.fields] == [("/queue", "silver", "gold")]


def test_integral_floats_equal_ints() -> None:
    """maxRetries 3 and 3.0 are the same value to a JSON reader."""
    model = desired()
    model["metadata"]["maxRetries"] = 3
    live = copy.deepcopy(LIVE)
    live["metadata"]["maxRetries"] = 3.0
    assert diff_models(model, live) == []


def test_roles_by_user() -> None:
    """Roles diff by userId: missing assigned, changed updated, unlisted deleted."""
    when = datetime(2027, 1, 1, tzinfo=UTC)
    want = (
        RoleAssignment(user_id="a", role_id="admin"),
        RoleAssignment(user_id="b", role_id="editor", expires_at=when),
        RoleAssignment(user_id="c", role_id="viewer"),
    )
    have = [
        RoleGrant(userId="a", roleId="admin"),
        RoleGrant(userId="b", roleId="editor"),
        RoleGrant(userId="z", roleId="admin"),
    ]
    changes = diff_roles(want, have)
    assert [(c.key, c.action) for c in changes] == [
        ("b", "update"),
        ("c", "create"),
        ("z", "delete"),
    ]
    assert changes[0].after == {
        "userId": "b",
        "roleId": "editor",
        "expiresAt": "2027-01-01T00:00:00Z",
    }


def test_unmanaged_roles_never_change() -> None:
    """A tenant without a roles key leaves the workspace's roles alone."""
    assert diff_roles(None, [RoleGrant(userId="z", roleId="admin")]) == []
    assert [c.action for c in diff_roles((), [RoleGrant(userId="z", roleId="admin")])] == ["delete"]


def test_shape_problem_finds_what_diff_relies_on() -> None:
    """Exports without string keys, or with a key twice, are refused before any diff."""
    from tenantops.core.model import shape_problem

    assert shape_problem(LIVE) is None
    assert shape_problem({"intents": []}) == "botId must be a non-empty string"
    assert (
        shape_problem(dict(LIVE, intents=[{"examples": []}])) == "intents/0 needs a string 'name'"
    )
    assert shape_problem(dict(LIVE, dialogs=[{"id": "d"}, {"id": "d"}])) == "dialogs has 'd' twice"
    assert shape_problem(dict(LIVE, metadata=[])) == "metadata must be an object"

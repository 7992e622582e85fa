"""The cognigy-v2 mapping: locales, managed nodes, and a project read into the bot model."""

from __future__ import annotations

import pytest

from tenantops.backends.cognigy_v2.http import _route
from tenantops.backends.cognigy_v2.view import (
    IntentView,
    LexiconView,
    NodeView,
    ProjectView,
    _read_nodes,
    node_comment,
    pick_locale,
)
from tenantops.errors import PlanError

LOCALES = [
    {"_id": "a" * 24, "name": "English", "nluLanguage": "en-US", "primary": True},
    {"_id": "b" * 24, "name": "de-DE", "nluLanguage": "ge-GE"},
]


@pytest.mark.parametrize(
    ("lang", "chosen"), [("en-US", "a" * 24), ("de-DE", "b" * 24), (None, "a" * 24)]
)
def test_locale_by_nlu_language_or_name_else_primary(lang: str | None, chosen: str) -> None:
    """langCode matches nluLanguage or the locale's name; without one, the primary."""
    assert pick_locale(LOCALES, lang, "p")["_id"] == chosen


def test_unknown_lang_code_names_the_project_locales() -> None:
    """A langCode no locale matches is an error that lists what the project has."""
    with pytest.raises(PlanError) as info:
        pick_locale(LOCALES, "fr-FR", "proj1")
    assert str(info.value) == (
        "no locale of project proj1 matches langCode 'fr-FR'; "
        "its locales: English (en-US), de-DE (ge-GE)"
    )


def test_only_marked_nodes_are_tenantops() -> None:
    """Nodes without the tenantops comment marker, or without a label, are left out."""
    chart = {
        "nodes": [
            {"_id": "s", "type": "start"},
            {
                "_id": "n1",
                "type": "say",
                "label": "Hi",
                "analyticsLabel": "d1",
                "comment": node_comment({"next": "d2"}),
            },
            {"_id": "n2", "type": "say", "label": "UI", "analyticsLabel": "ui", "comment": "mine"},
            {"_id": "n3", "type": "say", "label": "x", "comment": node_comment({})},
        ]
    }
    start, nodes = _read_nodes(chart)
    assert start == "s"
    assert nodes == {"d1": NodeView("n1", "Hi", {"next": "d2"})}


def test_project_reads_into_the_bot_model() -> None:
    """Intents, lexicons, nodes and context map onto intents, entities, dialogs, metadata."""
    view = ProjectView(
        project_id="p" * 24,
        flow={"_id": "f" * 24, "name": "Main"},
        locale=LOCALES[0],
        start_node="s",
        context={"brand": "Acme"},
        intents={"greet": IntentView("i1", {"actions": ["wave"], "tone": "warm"}, {"hi": "s1"})},
        lexicons={
            "color": LexiconView("l1", {"red": ("e1", {"crimson": "k1"}), "blue": ("e2", {})})
        },
        nodes={"d1": NodeView("n1", "Hi", {"next": "d2"})},
    )
    assert view.to_model() == {
        "botId": "Main",
        "intents": [{"name": "greet", "examples": ["hi"], "actions": ["wave"], "tone": "warm"}],
        "entities": [
            {"name": "color", "values": ["blue", "red"], "synonyms": {"red": ["crimson"]}}
        ],
        "dialogs": [{"id": "d1", "node": "Hi", "next": "d2"}],
        "metadata": {"brand": "Acme"},
    }


def test_routes_are_counted_without_ids() -> None:
    """Call counts group by route: 24-hex ids and UUIDs become {id}."""
    assert _route(f"flows/{'a' * 24}/intents/{'b' * 24}/sentences") == (
        "flows/{id}/intents/{id}/sentences"
    )
    assert _route("snapshots/123e4567-e89b-12d3-a456-426614174000/restore") == (
        "snapshots/{id}/restore"
    )

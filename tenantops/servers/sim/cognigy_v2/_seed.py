"""Seeding: whole projects built in one admin call, as if someone had clicked them together.

``POST /_sim/seed`` takes a :class:`SeedBody`: users, and projects with locales,
flows (default context, intents with sentences, chart nodes in order after the start
node, each with optional ``children``), lexicons (entries with keyphrases), members
(by email; users are created as needed) and snapshots (taken of the seeded state at
once, no task). It answers the ids of what it made, by name, so a test can address
them. This module knows the seed format and nothing about HTTP.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from tenantops.servers.sim.cognigy_v2._lookup import create_flow
from tenantops.servers.sim.cognigy_v2._problems import invalid
from tenantops.servers.sim.cognigy_v2._routes_access import add_member
from tenantops.servers.sim.cognigy_v2._runtime import V2Runtime
from tenantops.servers.sim.cognigy_v2._snapshots import take_snapshot
from tenantops.servers.sim.cognigy_v2._store import Doc

__all__ = ["SeedBody", "seed"]

_BY = "seed"


class _Seed(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class LocaleSeed(_Seed):
    """A locale; the first one is primary unless one says ``primary``."""

    name: str = Field(min_length=1)
    nlu_language: str | None = None
    primary: bool = False


class SentenceSeed(_Seed):
    """A sentence in a named locale (the primary one by default)."""

    text: str = Field(min_length=1)
    locale: str | None = None


class IntentSeed(_Seed):
    """An intent and its sentences (plain strings are primary-locale sentences)."""

    name: str = Field(min_length=1)
    description: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    sentences: list[str | SentenceSeed] = Field(default_factory=list)


class NodeSeed(_Seed):
    """A chart node; ``children`` become its branches, in order."""

    type: str = Field(min_length=1)
    label: str = ""
    comment: str = ""
    analytics_label: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    children: list[NodeSeed] = Field(default_factory=list)


class FlowSeed(_Seed):
    """A flow with its default context, intents and nodes (placed after ``start``)."""

    name: str = Field(min_length=1)
    context: dict[str, Any] = Field(default_factory=dict)
    intents: list[IntentSeed] = Field(default_factory=list)
    nodes: list[NodeSeed] = Field(default_factory=list)


class EntrySeed(_Seed):
    """A lexicon entry and its synonyms."""

    main_keyphrase: str = Field(min_length=1)
    keyphrases: list[str] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)


class LexiconSeed(_Seed):
    """A lexicon and its entries."""

    name: str = Field(min_length=1)
    description: str = ""
    entries: list[EntrySeed] = Field(default_factory=list)


class MemberSeed(_Seed):
    """A project member by email, with roles."""

    email: str = Field(min_length=3)
    roles: list[str] = Field(default_factory=list)


class SnapshotSeed(_Seed):
    """A snapshot of the seeded project."""

    name: str = Field(min_length=1)
    description: str = ""


class ProjectSeed(_Seed):
    """A whole project."""

    name: str = Field(min_length=1)
    description: str = ""
    locales: list[LocaleSeed] = Field(
        default_factory=lambda: [LocaleSeed(name="en-US")], min_length=1
    )
    flows: list[FlowSeed] = Field(default_factory=lambda: [FlowSeed(name="Main")])
    lexicons: list[LexiconSeed] = Field(default_factory=list)
    members: list[MemberSeed] = Field(default_factory=list)
    snapshots: list[SnapshotSeed] = Field(default_factory=list)


class UserSeed(_Seed):
    """An organisation user."""

    email: str = Field(min_length=3)
    name: str | None = None


class SeedBody(_Seed):
    """``POST /_sim/seed``."""

    users: list[UserSeed] = Field(default_factory=list)
    projects: list[ProjectSeed] = Field(default_factory=list)


def seed(runtime: V2Runtime, body: SeedBody) -> dict[str, Any]:
    """Build everything ``body`` describes; answers the new ids by name.

    Raises:
        Problem: 400 when a project asks for more snapshots than the cap.
    """
    users = {u.email: runtime.store.ensure_user(u.email, u.name)["_id"] for u in body.users}
    return {"users": users, "projects": [_project(runtime, p) for p in body.projects]}


def _project(runtime: V2Runtime, spec: ProjectSeed) -> dict[str, Any]:
    store = runtime.store
    if len(spec.snapshots) > runtime.config.max_snapshots:
        raise invalid(f"a project holds at most {runtime.config.max_snapshots} snapshots")
    fields = {
        "name": spec.name,
        "description": spec.description,
        "referenceId": store.new_reference_id(),
    }
    project = store.insert("projects", fields, by=_BY)
    project_id = project["_id"]
    locales = _locales(runtime, project_id, spec.locales)
    flows = [_flow(runtime, project_id, f, locales) for f in spec.flows]
    lexicons = {lex.name: _lexicon(runtime, project_id, lex) for lex in spec.lexicons}
    for member in spec.members:
        user = store.ensure_user(member.email)
        membership = add_member(runtime, project_id, user["_id"], by=_BY)
        store.update("members", membership["_id"], {"roles": list(member.roles)}, by=_BY)
    snapshots = {
        snap.name: take_snapshot(store, project_id, snap.name, snap.description, by=_BY)["_id"]
        for snap in spec.snapshots
    }
    return {
        "_id": project_id,
        "name": spec.name,
        "locales": locales,
        "flows": flows,
        "lexicons": lexicons,
        "snapshots": snapshots,
    }


def _locales(runtime: V2Runtime, project_id: str, specs: list[LocaleSeed]) -> dict[str, str]:
    primary = next((s.name for s in specs if s.primary), specs[0].name)
    ids = {}
    for spec in specs:
        doc = {
            "name": spec.name,
            "nluLanguage": spec.nlu_language or spec.name,
            "primary": spec.name == primary,
            "fallbackLocaleReference": None,
            "referenceId": runtime.store.new_reference_id(),
            "projectReference": project_id,
        }
        ids[spec.name] = runtime.store.insert("locales", doc, by=_BY)["_id"]
    # The primary locale goes first, so it is the one "no localeId" means.
    return dict(sorted(ids.items(), key=lambda item: item[0] != primary))


def _flow(
    runtime: V2Runtime, project_id: str, spec: FlowSeed, locales: dict[str, str]
) -> dict[str, Any]:
    flow = create_flow(runtime, project_id, spec.name, by=_BY, context=spec.context)
    intents = {i.name: _intent(runtime, flow["_id"], i, locales) for i in spec.intents}
    primary = next(iter(locales.values()))
    start = runtime.store.find("nodes", flowReference=flow["_id"], type="start")[0]
    nodes: dict[str, str] = {}
    previous = start["_id"]
    for node_spec in spec.nodes:
        previous = _node(runtime, flow, node_spec, primary, ("insertAfter", previous), nodes)
    return {"_id": flow["_id"], "name": spec.name, "intents": intents, "nodes": nodes}


def _intent(runtime: V2Runtime, flow_id: str, spec: IntentSeed, locales: dict[str, str]) -> str:
    store = runtime.store
    primary = next(iter(locales.values()))
    fields = {
        "name": spec.name,
        "description": spec.description,
        "data": spec.data,
        "tags": [],
        "isRejectIntent": False,
        "isDisabled": False,
        "localeReference": primary,
        "referenceId": store.new_reference_id(),
        "flowReference": flow_id,
    }
    intent_id = str(store.insert("intents", fields, by=_BY)["_id"])
    for sentence in spec.sentences:
        text, locale = (
            (sentence, None) if isinstance(sentence, str) else (sentence.text, sentence.locale)
        )
        if locale is not None and locale not in locales:
            raise invalid(f"sentence {text!r} names the unknown locale {locale!r}")
        doc = {
            "text": text,
            "slots": [],
            "localeReference": locales[locale] if locale else primary,
            "intentReference": intent_id,
            "flowReference": flow_id,
        }
        store.insert("sentences", doc, by=_BY)
    return intent_id


def _node(
    runtime: V2Runtime,
    flow: Doc,
    spec: NodeSeed,
    locale_id: str,
    where: tuple[str, str],
    ids: dict[str, str],
) -> str:
    fields = spec.model_dump(by_alias=True, exclude={"children"})
    node = runtime.chart.new_node(flow["_id"], fields, locale_id, by=_BY)
    mode, target = where
    runtime.chart.place(
        node["_id"], "insertAfter" if mode == "insertAfter" else "appendChild", target
    )
    ids[spec.label or node["_id"]] = node["_id"]
    for child in spec.children:
        _node(runtime, flow, child, locale_id, ("appendChild", node["_id"]), ids)
    return str(node["_id"])


def _lexicon(runtime: V2Runtime, project_id: str, spec: LexiconSeed) -> str:
    store = runtime.store
    fields = {
        "name": spec.name,
        "description": spec.description,
        "referenceId": store.new_reference_id(),
        "projectReference": project_id,
    }
    lexicon = store.insert("lexicons", fields, by=_BY)
    for entry in spec.entries:
        doc = {
            "mainKeyphrase": entry.main_keyphrase,
            "data": json.dumps(entry.data),
            "slotReferences": [],
            "keyphrases": [{"_id": store.new_id(), "value": k} for k in entry.keyphrases],
            "referenceId": store.new_reference_id(),
            "lexiconReference": lexicon["_id"],
        }
        store.insert("entries", doc, by=_BY)
    return str(lexicon["_id"])

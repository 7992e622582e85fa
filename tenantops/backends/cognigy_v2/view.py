"""Read one project's managed flow into tenantops' bot model, keeping the ids to write with.

The pinned mapping (README, "Real Cognigy.AI"):

=========================== ==============================================================
model                       Cognigy.AI v2.0
=========================== ==============================================================
``intents[].name``          intent ``name`` in the managed flow
``intents[].examples``      that intent's sentence texts in the tenant's locale
``intents[].actions``       intent ``data.actions`` (other item fields: the rest of ``data``)
``entities[].name``         lexicon ``name`` in the project
``entities[].values``       the lexicon entries' ``mainKeyphrase``
``entities[].synonyms[v]``  the other keyphrases of entry ``v``
``dialogs[].id``, ``.node`` chart node ``analyticsLabel``, ``label`` in the managed flow
``dialogs[].next`` (+rest)  the node's ``comment``: ``{"tenantops": {"next": ...}}``
``metadata``                the managed flow's default ``context``
=========================== ==============================================================

A chart node is tenantops' only when its comment carries the ``tenantops`` marker; other
nodes are never read into the model, changed or deleted. A :class:`ProjectView` holds
``_id``s, so it is valid only until the next write or restore: a restore recreates
resources with new ids, and nothing may keep them across one.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from tenantops.backends.cognigy_v2.http import V2Http
from tenantops.core.model import BotDoc, canonicalize
from tenantops.errors import NotFoundError, PlanError

__all__ = [
    "MARKER",
    "IntentView",
    "LexiconView",
    "NodeView",
    "ProjectView",
    "node_comment",
    "read_project",
]

#: The key of tenantops' own data in a chart node's comment.
MARKER = "tenantops"
Doc = dict[str, Any]


@dataclass(slots=True)
class IntentView:
    """An intent with its sentences in the tenant's locale (text -> sentence id)."""

    id: str
    data: Doc
    sentences: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class LexiconView:
    """A lexicon's entries: main keyphrase -> (entry id, {synonym -> keyphrase id})."""

    id: str
    entries: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NodeView:
    """A tenantops-managed chart node."""

    id: str
    label: str
    extra: Doc


@dataclass(slots=True)
class ProjectView:
    """The managed flow of one project as read now, with the ids a write needs."""

    project_id: str
    flow: Doc
    locale: Doc
    start_node: str
    context: Doc
    intents: dict[str, IntentView]
    lexicons: dict[str, LexiconView]
    nodes: dict[str, NodeView]

    @property
    def flow_id(self) -> str:
        return str(self.flow["_id"])

    @property
    def locale_id(self) -> str:
        return str(self.locale["_id"])

    def to_model(self) -> BotDoc:
        """The live bot in tenantops' model, canonical order."""
        intents = [
            {
                **{k: v for k, v in i.data.items() if k != "actions"},
                "name": name,
                "examples": sorted(i.sentences),
                "actions": list(i.data.get("actions") or []),
            }
            for name, i in self.intents.items()
        ]
        entities = [
            {
                "name": name,
                "values": sorted(lex.entries),
                "synonyms": {v: sorted(syn) for v, (_, syn) in lex.entries.items() if syn},
            }
            for name, lex in self.lexicons.items()
        ]
        dialogs = [{**n.extra, "id": key, "node": n.label} for key, n in self.nodes.items()]
        return canonicalize(
            {
                "botId": str(self.flow.get("name")),
                "intents": intents,
                "entities": entities,
                "dialogs": dialogs,
                "metadata": dict(self.context),
            }
        )


def node_comment(extra: Doc) -> str:
    """The comment that marks a node as tenantops' and carries the dialog's other fields."""
    return json.dumps({MARKER: extra}, sort_keys=True, separators=(",", ":"))


def _managed(node: Doc) -> Doc | None:
    try:
        parsed = json.loads(node.get("comment") or "")
    except ValueError:
        return None
    if not isinstance(parsed, dict) or not isinstance(parsed.get(MARKER), dict):
        return None
    return dict(parsed[MARKER])


async def read_project(
    http: V2Http, project_id: str, flow_name: str, lang_code: str | None
) -> ProjectView:
    """Read the managed flow ``flow_name`` of project ``project_id`` in the tenant's locale.

    Raises:
        NotFoundError: no such project or flow.
        PlanError: no locale of the project matches ``lang_code`` (names them).
    """
    locales, flows = await asyncio.gather(
        http.list_all("locales", projectId=project_id), http.list_all("flows", projectId=project_id)
    )
    locale = pick_locale(locales, lang_code, project_id)
    flow = next((f for f in flows if f.get("name") == flow_name), None)
    if flow is None:
        names = ", ".join(sorted(str(f.get("name")) for f in flows)) or "none"
        raise NotFoundError(
            f"project {project_id} has no flow named {flow_name!r} (its flows: {names}); "
            "set `flow:` in the template",
            status=404,
        )
    flow_id = str(flow["_id"])
    detail, intents, lexicons, chart = await asyncio.gather(
        http.get(f"flows/{flow_id}", preferredLocaleId=locale["_id"]),
        _read_intents(http, flow_id, str(locale["_id"])),
        _read_lexicons(http, project_id),
        http.get(f"flows/{flow_id}/chart", preferredLocaleId=locale["_id"]),
    )
    start, nodes = _read_nodes(chart)
    return ProjectView(
        project_id=project_id,
        flow=flow,
        locale=locale,
        start_node=start,
        context=dict(detail.get("context") or {}),
        intents=intents,
        lexicons=lexicons,
        nodes=nodes,
    )


def pick_locale(locales: list[Doc], lang_code: str | None, project_id: str) -> Doc:
    """The locale whose ``nluLanguage`` or name is ``lang_code``, else the primary one.

    Raises:
        PlanError: ``lang_code`` matches none; the message names the project's locales.
    """
    if lang_code:
        for locale in locales:
            if lang_code in (locale.get("nluLanguage"), locale.get("name")):
                return locale
        names = (
            ", ".join(f"{loc.get('name')} ({loc.get('nluLanguage')})" for loc in locales) or "none"
        )
        raise PlanError(
            f"no locale of project {project_id} matches langCode {lang_code!r}; "
            f"its locales: {names}"
        )
    primary = next((loc for loc in locales if loc.get("primary")), None)
    if primary is None and not locales:
        raise PlanError(f"project {project_id} has no locale")
    return primary or locales[0]


async def _read_intents(http: V2Http, flow_id: str, locale_id: str) -> dict[str, IntentView]:
    rows = await http.list_all(f"flows/{flow_id}/intents")

    async def sentences(intent: Doc) -> dict[str, str]:
        found = await http.list_all(
            f"flows/{flow_id}/intents/{intent['_id']}/sentences", localeId=locale_id
        )
        return {str(s["text"]): str(s["_id"]) for s in found}

    texts = await asyncio.gather(*(sentences(i) for i in rows))
    return {
        str(i["name"]): IntentView(str(i["_id"]), dict(i.get("data") or {}), t)
        for i, t in zip(rows, texts, strict=True)
    }


async def _read_lexicons(http: V2Http, project_id: str) -> dict[str, LexiconView]:
    rows = await http.list_all("lexicons", projectId=project_id)
    entries = await asyncio.gather(
        *(http.list_all(f"lexicons/{lex['_id']}/entries") for lex in rows)
    )
    out: dict[str, LexiconView] = {}
    for lex, found in zip(rows, entries, strict=True):
        view = LexiconView(str(lex["_id"]))
        for entry in found:
            main = str(entry["mainKeyphrase"])
            synonyms = {
                str(k["value"]): str(k["_id"])
                for k in entry.get("keyphrases") or []
                if k.get("value") != main
            }
            view.entries[main] = (str(entry["_id"]), synonyms)
        out[str(lex["name"])] = view
    return out


def _read_nodes(chart: Doc) -> tuple[str, dict[str, NodeView]]:
    start = ""
    nodes: dict[str, NodeView] = {}
    for node in chart.get("nodes") or []:
        if node.get("type") == "start":
            start = str(node["_id"])
        extra = _managed(node)
        label = node.get("analyticsLabel")
        if extra is not None and label:
            nodes[str(label)] = NodeView(str(node["_id"]), str(node.get("label") or ""), extra)
    return start, nodes

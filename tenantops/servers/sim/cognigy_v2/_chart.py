"""A flow's chart: its nodes, and the relations (``next`` and ``children``) that order them.

Every flow has one chart (``{_id, nodes, relations}``) that starts as a ``start`` node
followed by an ``end`` node. Each node has one relation ``{_id, node, children, next}``:
``next`` continues a sequence, ``children`` hold the branches of nodes such as
``if`` or ``switch`` (each child heads a sequence of its own).

Placing a node (``POST chart/nodes`` and ``nodes/{n}/move``) takes a ``mode`` and a
``target``: ``append``/``insertAfter`` put it right after the target; ``prepend``/
``insertBefore`` right before it (in its sequence, or heading the target's branch);
``appendChild``/``prependChild``/``insertChildAt`` (with ``position``) make it a child
of the target. A moved node takes its children along; its ``next`` sequence stays
where it was. Deleting a node joins its neighbours and deletes its children's
branches. ``start`` and ``end`` nodes are neither created, moved nor deleted.
"""

from __future__ import annotations

from typing import Any, Literal

from tenantops.servers.sim.cognigy_v2._problems import invalid, not_found
from tenantops.servers.sim.cognigy_v2._store import Doc, Store, public

__all__ = ["FIXED_TYPES", "Chart", "Mode"]

Mode = Literal[
    "append",
    "prepend",
    "appendChild",
    "prependChild",
    "insertChildAt",
    "insertAfter",
    "insertBefore",
]
#: Node types every chart has exactly one of.
FIXED_TYPES = frozenset({"start", "end"})


class Chart:
    """The chart operations of one store.

    Args:
        store: the documents (``charts``, ``nodes`` and ``relations`` tables).
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    # ------------------------------------------------------------------ whole chart

    def create(self, flow_id: str, locale_id: str | None, *, by: str) -> Doc:
        """A new chart for ``flow_id``: ``start`` then ``end``."""
        chart = self._store.insert("charts", {"flowReference": flow_id}, by=by)
        start = self.new_node(flow_id, {"type": "start", "label": "Start"}, locale_id, by=by)
        end = self.new_node(flow_id, {"type": "end", "label": "End"}, locale_id, by=by)
        self.relation(start["_id"])["next"] = end["_id"]
        return chart

    def render(self, flow_id: str) -> Doc:
        """``GET flows/{f}/chart``: ``{_id, nodes, relations}``."""
        charts = self._store.find("charts", flowReference=flow_id)
        nodes = self._store.find("nodes", flowReference=flow_id)
        relations = self._store.find("relations", flowReference=flow_id)
        keys = ("_id", "node", "children", "next")
        return {
            "_id": charts[0]["_id"] if charts else None,
            "nodes": [public(n) for n in nodes],
            "relations": [{k: r.get(k) for k in keys} for r in relations],
        }

    def new_node(
        self, flow_id: str, fields: dict[str, Any], locale_id: str | None, *, by: str
    ) -> Doc:
        """Store a node (not yet placed) and its empty relation."""
        defaults: dict[str, Any] = {
            "label": "",
            "comment": "",
            "analyticsLabel": None,
            "config": {},
        }
        doc = {
            **defaults,
            "extension": "@cognigy/basic-nodes",
            "isDisabled": False,
            "isEntryPoint": False,
            **fields,
            "referenceId": self._store.new_reference_id(),
            "flowReference": flow_id,
            "localeReference": locale_id,
        }
        node = self._store.insert("nodes", doc, by=by)
        relation = {"node": node["_id"], "children": [], "next": None, "flowReference": flow_id}
        self._store.insert("relations", relation, by=by)
        return node

    def relation(self, node_id: str) -> Doc:
        """The node's relation (``KeyError`` when the node has none)."""
        found = self._store.find("relations", node=node_id)
        if not found:
            raise KeyError(node_id)
        return found[0]

    # ------------------------------------------------------------------ placing

    def _target(self, node_id: str, mode: Mode, target_id: str, position: int | None) -> Doc:
        """The target node, once it is known to take ``node_id`` at ``mode``."""
        target_node = self._store.get("nodes", target_id)
        node = self._store.get("nodes", node_id)
        if (
            target_node is None
            or node is None
            or target_node["flowReference"] != node["flowReference"]
        ):
            raise not_found("target node", target_id)
        if mode in ("append", "insertAfter") and target_node["type"] == "end":
            raise invalid("nothing can follow the end node; insert before it")
        if mode in ("prepend", "insertBefore") and target_node["type"] == "start":
            raise invalid("nothing can precede the start node; insert after it")
        if mode == "insertChildAt" and position is None:
            raise invalid("mode insertChildAt needs a position", missing=True)
        return target_node

    def place(self, node_id: str, mode: Mode, target_id: str, position: int | None = None) -> None:
        """Put a detached node at ``mode`` relative to ``target_id``.

        Raises:
            Problem: 404 for an unknown target; 400 when the target cannot take it there.
        """
        target_node = self._target(node_id, mode, target_id, position)
        target, relation = self.relation(target_id), self.relation(node_id)
        if mode in ("append", "insertAfter"):
            relation["next"], target["next"] = target["next"], node_id
        elif mode in ("prepend", "insertBefore"):
            self._insert_before(node_id, relation, target_id, target_node)
        elif mode == "insertChildAt":
            index = position if position is not None else 0
            target["children"].insert(max(0, min(index, len(target["children"]))), node_id)
        elif mode == "prependChild":
            target["children"].insert(0, node_id)
        else:
            target["children"].append(node_id)
        self._store.dirty = True

    def _insert_before(self, node_id: str, relation: Doc, target_id: str, target_node: Doc) -> None:
        relation["next"] = target_id
        for other in self._store.find("relations", flowReference=target_node["flowReference"]):
            if other["next"] == target_id and other["node"] != node_id:
                other["next"] = node_id
                return
            if target_id in other["children"]:
                other["children"][other["children"].index(target_id)] = node_id
                return

    def detach(self, node_id: str) -> None:
        """Take a node out of its place, joining what came before and after it."""
        relation = self.relation(node_id)
        following = relation["next"]
        flow_id = relation["flowReference"]
        for other in self._store.find("relations", flowReference=flow_id):
            if other["next"] == node_id:
                other["next"] = following
            if node_id in other["children"]:
                index = other["children"].index(node_id)
                other["children"][index : index + 1] = [following] if following else []
        relation["next"] = None
        self._store.dirty = True

    def subtree(self, node_id: str) -> set[str]:
        """The node and everything its children lead to (not its own ``next``)."""
        seen: set[str] = {node_id}
        stack = list(self.relation(node_id)["children"])
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            rel = self.relation(current)
            stack += [*rel["children"], *([rel["next"]] if rel["next"] else [])]
        return seen

    def move(self, node_id: str, mode: Mode, target_id: str, position: int | None = None) -> None:
        """Move a node (with its children) to a new place.

        Raises:
            Problem: 400 when the target is the node or inside its branches.
        """
        if target_id in self.subtree(node_id):
            raise invalid("a node cannot move next to or into itself or its own branches")
        self._target(node_id, mode, target_id, position)
        self.detach(node_id)
        self.place(node_id, mode, target_id, position)

    def delete(self, node_id: str) -> None:
        """Delete a node and its children's branches; its neighbours join up."""
        branch = self.subtree(node_id)
        self.detach(node_id)
        for gone in branch:
            self._store.remove("nodes", gone)
            self._store.remove_where("relations", node=gone)

    def remove_flow(self, flow_id: str) -> None:
        """Delete a flow's whole chart."""
        for table in ("charts", "nodes", "relations"):
            self._store.remove_where(table, flowReference=flow_id)

"""Helpers for tests of the Cognigy.AI v2.0 simulator: a seeded project, and task polling.

``seed_project`` builds one project through ``POST /_sim/seed`` (a flow with context,
two intents with sentences in two locales, a small chart, a lexicon, a member and a
snapshot) and answers the seed's id map. ``settle`` moves a fake clock past a task.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx

from tenantops.servers.sim.cognigy_v2 import V2Config

__all__ = ["PROJECT", "config", "seed_project", "settle"]

#: The project ``seed_project`` builds unless told otherwise.
PROJECT: dict[str, Any] = {
    "name": "acme",
    "locales": [{"name": "en-US", "primary": True}, {"name": "de-DE"}],
    "flows": [
        {
            "name": "Main",
            "context": {"tier": "gold"},
            "intents": [
                {"name": "greet", "data": {"actions": ["wave"]}, "sentences": ["hi", "hello"]},
                {"name": "bye", "sentences": ["bye", {"text": "tschuess", "locale": "de-DE"}]},
            ],
            "nodes": [
                {"type": "say", "label": "Welcome", "analyticsLabel": "welcome"},
                {"type": "if", "label": "Known?", "children": [{"type": "then", "label": "Yes"}]},
            ],
        }
    ],
    "lexicons": [
        {"name": "colors", "entries": [{"mainKeyphrase": "red", "keyphrases": ["crimson"]}]}
    ],
    "members": [{"email": "carol@example.com", "roles": ["base_role"]}],
    "snapshots": [{"name": "baseline"}],
}


def config(**changes: Any) -> V2Config:
    """An admin-enabled config with instant tasks, changed as asked."""
    return V2Config(**{"admin": True, "task_seconds": 0.0, **changes})


async def seed_project(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    """Seed :data:`PROJECT` (with ``changes`` to its top-level keys); answers its id map."""
    project = {**copy.deepcopy(PROJECT), **changes}
    response = await client.post("/_sim/seed", json={"projects": [project]})
    assert response.status_code == 201, response.text
    return dict(response.json()["projects"][0])


async def settle(client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    """The task after one more request (tasks settle lazily); assumes its time is up."""
    response = await client.get(f"/v2.0/tasks/{task_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())

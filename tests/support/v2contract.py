"""The Cognigy.AI v2.0 contract suite's plumbing: the target, raw calls, scratch resources, findings.

``tests/contract_v2`` runs against the simulator by default, or against any installation
named by ``TENANTOPS_CONTRACT_BASE_URL`` (see :func:`target_from_env`). Every call goes
through :class:`V2Api`, a thin ``httpx.Client`` that adds the prefix and the API key and
reports an unexpected answer with its status and body. Everything a check creates is
named ``tenantops-contract-<random>`` and registered with :class:`Scratch`, which deletes
it afterwards (re-finding it by name when a restore gave it a new ``_id``); nothing
else in the project is ever changed. :class:`Findings` collects what the API did where
the research notes are uncertain, for the end of the run.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = [
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "ENV_DESTRUCTIVE",
    "ENV_PROJECT_ID",
    "OBJECT_ID",
    "PREFIX",
    "Findings",
    "Scratch",
    "Target",
    "V2Api",
    "target_from_env",
]

ENV_BASE_URL = "TENANTOPS_CONTRACT_BASE_URL"
ENV_API_KEY = "TENANTOPS_CONTRACT_API_KEY"
ENV_PROJECT_ID = "TENANTOPS_CONTRACT_PROJECT_ID"
ENV_DESTRUCTIVE = "TENANTOPS_CONTRACT_DESTRUCTIVE"

#: Names of everything the suite creates.
PREFIX = "tenantops-contract-"
#: A Cognigy ``_id``.
OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
_FINAL = frozenset({"done", "error", "cancelled"})


@dataclass(frozen=True)
class Target:
    """Where the suite runs.

    Attributes:
        base_url: the API host; ``/new/v2.0`` is added.
        api_key: sent as ``X-API-Key``.
        project_id: the project scratch resources are made in.
        simulated: the target is the simulator this run started.
        destructive: restores and the snapshot cap may run (always on the simulator).
        poll: seconds between task polls.
    """

    base_url: str
    api_key: str
    project_id: str
    simulated: bool
    destructive: bool
    poll: float


def target_from_env(env: Mapping[str, str]) -> Target | None:
    """The real installation the environment names, or ``None`` for the simulator.

    Raises:
        ValueError: a base URL without the key or the project id; the message names
            the variable to set.
    """
    base_url = env.get(ENV_BASE_URL, "").strip()
    if not base_url:
        return None
    api_key = env.get(ENV_API_KEY, "").strip()
    if not api_key:
        raise ValueError(
            f"{ENV_BASE_URL} is set but {ENV_API_KEY} is not: set it to an API key of the "
            "installation (to run only the contract flavour's suite, run pytest tests/contract)"
        )
    project_id = env.get(ENV_PROJECT_ID, "").strip()
    if not OBJECT_ID.match(project_id):
        raise ValueError(
            f"{ENV_BASE_URL} is set but {ENV_PROJECT_ID} is not a project id: set it to the "
            "24-hex id of a project the suite may create and delete its "
            f"{PREFIX}* scratch resources in"
        )
    return Target(
        base_url=base_url.rstrip("/"),
        api_key=api_key,
        project_id=project_id,
        simulated=False,
        destructive=env.get(ENV_DESTRUCTIVE) == "1",
        poll=0.5,
    )


def scratch_name(what: str = "") -> str:
    """A fresh name the suite owns: ``tenantops-contract-<what><random>``."""
    return f"{PREFIX}{what}{uuid.uuid4().hex[:10]}"


class V2Api:
    """Raw calls to the target's REST API v2.0, with the key; see the module docstring."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.http = httpx.Client(
            base_url=target.base_url,
            headers={"X-API-Key": target.api_key, "Accept": "application/json"},
            timeout=60,
        )

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; ``path`` is under ``/new/v2.0`` unless it starts with ``/``."""
        url = path if path.startswith("/") else f"/new/v2.0/{path}"
        return self.http.request(method, url, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer of a call that must succeed (``{}`` for an empty one)."""
        response = self.call(method, path, **kwargs)
        assert response.is_success, (
            f"{method} {path} answered {response.status_code}: {response.text[:600]}"
        )
        return response.json() if response.content else {}

    def items(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a list, following ``nextCursor`` (or ``next``) 100 at a time."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(1000):
            query = {**params, "limit": 100, **({"next": cursor} if cursor else {})}
            page = self.ok("GET", path, params=query)
            items += page.get("items") or []
            cursor = page.get("nextCursor") or page.get("next")
            if not cursor or not page.get("items"):
                return items
        raise AssertionError(f"GET {path}: more than 1000 pages")

    def wait_task(self, task_id: str, *, timeout: float = 600) -> tuple[dict[str, Any], list[str]]:
        """Poll ``tasks/{id}`` until it ends: the last answer and every status seen, in order."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        interval = self.target.poll
        while True:
            task = self.ok("GET", f"tasks/{task_id}")
            status = str(task.get("status"))
            if not seen or seen[-1] != status:
                seen.append(status)
            if status in _FINAL:
                return task, seen
            assert time.monotonic() < deadline, f"task {task_id} still {status} after {timeout} s"
            time.sleep(interval)
            interval = min(interval * 1.2, 5.0) if not self.target.simulated else interval

    def run_task(self, method: str, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Start a task with one call and wait for it; answers the task, which must be done."""
        started = self.ok(method, path, json=dict(body))
        task_id = str(started.get("_id"))
        assert OBJECT_ID.match(task_id), f"{method} {path} did not answer a task: {started}"
        task, seen = self.wait_task(task_id)
        assert task["status"] == "done", f"{method} {path}: task went {seen}: {task}"
        return task


@dataclass
class _Owned:
    kind: str
    name: str
    id: str
    remove: Callable[[str], httpx.Response]
    find: Callable[[], list[dict[str, Any]]]


class Scratch:
    """Creates ``tenantops-contract-*`` resources and deletes them, newest first, at the end."""

    def __init__(self, api: V2Api) -> None:
        self.api = api
        self.project_id = api.target.project_id
        self._owned: list[_Owned] = []

    def flow(self) -> dict[str, Any]:
        """A new empty flow (its chart has a start node) in the project."""
        name = scratch_name("flow-")
        flow = self.api.ok("POST", "flows", json={"projectId": self.project_id, "name": name})
        self._own("flow", name, flow, lambda i: self.api.call("DELETE", f"flows/{i}"), "flows")
        return dict(flow)

    def lexicon(self) -> dict[str, Any]:
        """A new lexicon in the project."""
        name = scratch_name("lexicon-")
        body = {"projectId": self.project_id, "name": name, "description": "tenantops contract"}
        lexicon = self.api.ok("POST", "lexicons", json=body)
        self._own(
            "lexicon", name, lexicon, lambda i: self.api.call("DELETE", f"lexicons/{i}"), "lexicons"
        )
        return dict(lexicon)

    def snapshot(self) -> dict[str, Any]:
        """A new snapshot of the project, once its task is done, found by its name."""
        name = scratch_name("snapshot-")
        body = {"projectId": self.project_id, "name": name, "description": "tenantops contract"}
        self.api.run_task("POST", "snapshots", body)
        (snapshot,) = self.snapshots_named(name)
        self._own("snapshot", name, snapshot, self._delete_snapshot, "snapshots")
        return snapshot

    def snapshots_named(self, name: str) -> list[dict[str, Any]]:
        """The project's snapshots called ``name``."""
        found = self.api.items("snapshots", projectId=self.project_id, filter=name)
        return [s for s in found if s.get("name") == name]

    def adopt_snapshot(self, name: str) -> None:
        """Own a snapshot made by a check itself (deleted at the end if it exists)."""
        for snapshot in self.snapshots_named(name):
            self._own("snapshot", name, snapshot, self._delete_snapshot, "snapshots")

    def _delete_snapshot(self, snapshot_id: str) -> httpx.Response:
        # Answers at once; cleanup() waits for every delete task at the end.
        return self.api.call("DELETE", f"snapshots/{snapshot_id}")

    def _own(
        self,
        kind: str,
        name: str,
        doc: Mapping[str, Any],
        remove: Callable[[str], httpx.Response],
        collection: str,
    ) -> None:
        def find() -> list[dict[str, Any]]:
            rows = self.api.items(collection, projectId=self.project_id, filter=name)
            return [r for r in rows if r.get("name") == name]

        self._owned.append(_Owned(kind, name, str(doc["_id"]), remove, find))

    def cleanup(self) -> list[str]:
        """Delete everything owned, newest first; answers what could not be deleted."""
        left: list[str] = []
        tasks: list[str] = []
        for owned in reversed(self._owned):
            responses = [owned.remove(owned.id)]
            if responses[0].status_code == 404:
                # A restore recreates resources under new ids: find ours again by name.
                responses = [owned.remove(str(again["_id"])) for again in owned.find()]
            for response in responses:
                if not response.is_success:
                    left.append(f"{owned.kind} {owned.name}: {response.status_code}")
                elif owned.kind == "snapshot":
                    tasks.append(str(response.json()["_id"]))
        self._owned.clear()
        for task_id in tasks:
            task, _ = self.api.wait_task(task_id)
            if task["status"] != "done":
                left.append(f"snapshot delete task {task_id}: {task['status']}")
        return left


@dataclass
class Findings:
    """What the target did where ``cognigy-v2-api.md`` marks a fact [uncertain]."""

    target: str
    notes: dict[str, str] = field(default_factory=dict)

    def note(self, topic: str, text: str) -> None:
        self.notes[topic] = text

    def lines(self) -> list[str]:
        return [f"  {topic}: {text}" for topic, text in sorted(self.notes.items())]

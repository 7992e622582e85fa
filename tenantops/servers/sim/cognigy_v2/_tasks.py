"""Tasks: Cognigy's asynchronous jobs, as a pure function of time, and the effects they carry.

A task created at ``t`` with run time ``T`` (``--task-seconds``) is ``queued`` until
``t + T/4``, ``active`` until ``t + T``, then ``done`` or ``error`` (with a
``failReason``). ``POST tasks/{t}/cancel`` on a queued or active task makes it
``cancelling`` for ``T/4``, then ``cancelled``; a cancelled task's later effects never
happen (an effect already applied stays).

Effects happen lazily: :meth:`TaskRunner.tick`, run before every request, applies
every event that is due, in time order across tasks: a handler's ``activate`` when
the task turns active, its ``finish`` when it ends. ``finish`` may answer a
``failReason``; a reason decided at creation (injected training failures) wins, and
then the handler does nothing. Handlers live with their resources (snapshots in
:mod:`._snapshots`); this module owns timing, status and the task documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from tenantops.servers.sim.cognigy_v2._config import V2Config
from tenantops.servers.sim.cognigy_v2._problems import conflict
from tenantops.servers.sim.cognigy_v2._store import Doc, Store, millis, public

__all__ = ["TOTAL_STEPS", "TaskHandler", "TaskRunner", "Training"]

#: ``totalStep`` of every task.
TOTAL_STEPS = 100
_QUEUED_SHARE = 0.25
_CANCEL_SHARE = 0.25
_FINAL = ("finish", "cancelled")


class TaskHandler(Protocol):
    """What a kind of task does to the state."""

    def activate(self, task: Doc) -> None:
        """Called once when the task turns ``active``."""

    def finish(self, task: Doc) -> str | None:
        """Called once when the task ends; returns a ``failReason`` to end in ``error``."""


class Training:
    """``trainIntents``: changes no resource; a failure is decided at creation."""

    def activate(self, task: Doc) -> None:
        """Nothing to do."""

    def finish(self, task: Doc) -> str | None:
        """Training that was not made to fail succeeds."""
        return None


class TaskRunner:
    """Creates tasks, answers their status at any time, and applies their effects.

    Args:
        store: the documents (tasks live in its ``tasks`` table).
        config: the run's settings (``task_seconds``, ``clock``).
        handlers: the effect of each task ``name``; unknown names have none.
    """

    def __init__(self, store: Store, config: V2Config, handlers: Mapping[str, TaskHandler]) -> None:
        self._store = store
        self._seconds = config.task_seconds
        self._clock = config.clock
        self._handlers = dict(handlers)
        self._open: set[str] = set()
        self.reload()

    def reload(self) -> None:
        """Re-read which tasks are still running (after a reset or a load)."""
        tasks = self._store.tables["tasks"].values()
        self._open = {t["_id"] for t in tasks if not set(t.get("_simApplied", [])) & set(_FINAL)}

    # ------------------------------------------------------------------ creating

    def create(
        self,
        name: str,
        data: Mapping[str, Any],
        *,
        project_id: str | None,
        by: str,
        fail_reason: str | None = None,
    ) -> Doc:
        """Start a task; it is ``queued`` now.

        Args:
            name: the task's kind (``trainIntents``, ``createSnapshot``...).
            data: its parameters, as the API shows them.
            project_id: the project ``GET tasks?projectId`` lists it under.
            by: who asked.
            fail_reason: end in ``error`` with this reason, whatever the handler says.

        Returns:
            The stored task.
        """
        doc: Doc = {
            "name": name,
            "data": dict(data),
            "projectReference": project_id,
            "_simStart": self._clock(),
            "_simFailReason": fail_reason,
            "_simCancelAt": None,
            "_simApplied": [],
            "_simOutcome": None,
        }
        task = self._store.insert("tasks", doc, by=by)
        self._open.add(task["_id"])
        return task

    def created_reply(self, task: Doc) -> Doc:
        """The answer to the request that created ``task`` (``type`` + ``parameters``)."""
        created = task["createdAt"]
        return {
            "_id": task["_id"],
            "type": task["name"],
            "parameters": dict(task["data"]),
            "status": "queued",
            "currentStep": 0,
            "totalStep": TOTAL_STEPS,
            "createdAt": created,
            "lastCreatedAt": created,
            "lastChangedAt": created,
        }

    # ------------------------------------------------------------------ time

    def _times(self, task: Doc) -> tuple[float, float]:
        start = float(task["_simStart"])
        return start + self._seconds * _QUEUED_SHARE, start + self._seconds

    def _events(self, task: Doc) -> list[tuple[float, str]]:
        active_at, end = self._times(task)
        cancel_at = task.get("_simCancelAt")
        if cancel_at is None:
            return [(active_at, "activate"), (end, "finish")]
        events = [(active_at, "activate")] if active_at <= cancel_at else []
        return [*events, (cancel_at + self._seconds * _CANCEL_SHARE, "cancelled")]

    def tick(self) -> None:
        """Apply every due event of every running task, oldest event first."""
        if not self._open:
            return
        now = self._clock()
        due: list[tuple[float, str, str]] = []
        for task_id in self._open:
            task = self._store.tables["tasks"].get(task_id)
            if task is None:
                continue
            applied = task["_simApplied"]
            due += [
                (at, task_id, kind)
                for at, kind in self._events(task)
                if at <= now and kind not in applied
            ]
        for _, task_id, kind in sorted(due):
            self._apply(self._store.tables["tasks"][task_id], kind)
        self._open = {t for t in self._open if t in self._store.tables["tasks"]}
        self._open -= {
            t
            for t in self._open
            if set(self._store.tables["tasks"][t]["_simApplied"]) & set(_FINAL)
        }

    def _apply(self, task: Doc, kind: str) -> None:
        task["_simApplied"].append(kind)
        self._store.dirty = True
        if kind == "cancelled":
            return
        handler = self._handlers.get(task["name"], Training())
        preset = task.get("_simFailReason")
        if kind == "activate":
            if preset is None:
                handler.activate(task)
            return
        reason = preset if preset is not None else handler.finish(task)
        task["_simOutcome"] = "error" if reason else "done"
        task["failReason"] = reason

    # ------------------------------------------------------------------ reading

    def status(self, task: Doc) -> str:
        """The task's status now (after :meth:`tick`)."""
        now = self._clock()
        active_at, end = self._times(task)
        if task.get("_simCancelAt") is not None:
            return "cancelled" if "cancelled" in task["_simApplied"] else "cancelling"
        if now < active_at:
            return "queued"
        if now < end or task.get("_simOutcome") is None:
            return "active"
        return str(task["_simOutcome"])

    def render(self, task: Doc) -> Doc:
        """``GET tasks/{t}``: the task document with its status and progress now."""
        now = self._clock()
        status = self.status(task)
        active_at, end = self._times(task)
        stop = end if task.get("_simCancelAt") is None else float(task["_simCancelAt"])
        progress = (min(now, stop) - active_at) / (end - active_at) if end > active_at else 1.0
        step = {"queued": 0, "done": TOTAL_STEPS}.get(
            status, int(TOTAL_STEPS * max(0.0, min(1.0, progress)))
        )
        finished = None
        if status in ("done", "error"):
            finished = millis(end)
        elif status == "cancelled":
            finished = millis(stop + self._seconds * _CANCEL_SHARE)
        return {
            **public(task),
            "status": status,
            "currentStep": step,
            "totalStep": TOTAL_STEPS,
            "failReason": task.get("failReason") if status == "error" else None,
            "lastRunAt": millis(active_at) if now >= active_at else None,
            "lastFinishedAt": finished,
        }

    def cancel(self, task: Doc) -> Doc:
        """Ask a queued or active task to stop; answers it, ``cancelling``.

        Raises:
            Problem: 409 (code 1004) when the task has already ended or is stopping.
        """
        status = self.status(task)
        if status not in ("queued", "active"):
            raise conflict(f"task {task['_id']} is {status}; only queued or active tasks cancel")
        task["_simCancelAt"] = self._clock()
        self._store.dirty = True
        self._open.add(task["_id"])
        return self.render(task)

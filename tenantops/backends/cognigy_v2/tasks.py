"""Cognigy.AI tasks (training, snapshots, restores): start, wait with backoff, read the end.

A task goes ``queued -> active -> done | error | cancelled``. Queued is not failure (the
official CLI's mistake): only ``error`` and ``cancelled`` are, and the deadline. Polls
count against the quota, so they back off (0.5 s growing 1.5x, at most 10 s), and a poll
whose retries ran out is a round without news, not the end of the task.
"""

from __future__ import annotations

from typing import Any

from tenantops.backends.cognigy_v2.http import V2Http
from tenantops.backends.retry import is_retryable
from tenantops.errors import ApiError, TaskFailedError
from tenantops.polling import poll

__all__ = ["FINAL", "task_id_of", "wait_task"]

#: States after which a task never changes again.
FINAL = frozenset({"done", "error", "cancelled"})


def task_id_of(answer: Any) -> str:
    """The id of a task a POST started (the answer is the created task)."""
    task_id = answer.get("_id") if isinstance(answer, dict) else None
    if not task_id:
        raise ApiError(f"expected a task in the answer, got {str(answer)[:200]}")
    return str(task_id)


async def wait_task(
    http: V2Http, task_id: str, *, timeout: float, what: str, first: float = 0.5
) -> dict[str, Any]:
    """Wait for task ``task_id`` to end; answer it when ``done``.

    Raises:
        TaskFailedError: it ended in ``error`` or ``cancelled`` (with the platform's
            ``failReason``), or was still running after ``timeout`` seconds.
    """
    task, final = await poll(
        lambda: http.get(f"tasks/{task_id}"),
        lambda t: t.get("status") in FINAL,
        first=first,
        longest=10.0,
        timeout=timeout,
        transient=is_retryable,
    )
    if not final:
        raise TaskFailedError(
            f"{what}: task {task_id} still {task.get('status')} after {timeout:g} s", task=task
        )
    if task.get("status") != "done":
        reason = task.get("failReason") or "no reason given"
        raise TaskFailedError(f"{what}: task {task_id} {task.get('status')}: {reason}", task=task)
    return dict(task)

"""The :class:`~tenantops.backends.base.Backend` for Cognigy.AI REST API v2.0.

A tenant's workspace is a project id; its bot is the template's managed flow. A deploy
is snapshot-guarded and converged by name (see :mod:`.writer`), then trained:

1. the backup snapshot ``<idempotency key>-pre`` is found (a killed run took it) or room
   is made for it and it is taken; it is reported through ``on_event`` before any write;
2. the flow is converged to the model, re-reading the project after an ambiguous
   failure instead of repeating a write;
3. training of the tenant's locale starts; the deployment is that task.

The deployment id is ``<project>/<backup snapshot>/<training task>``: status reads the
task, and a rollback cancels it if it still runs and restores the backup. A deploy that
stops between the backup and the training is rolled back by the ``rollback_id``
``<project>/<backup snapshot>/`` it reported with the backup: the restore alone. Nothing here
remembers an ``_id`` across a write or a restore: the only cache is the last
:class:`~tenantops.backends.cognigy_v2.view.ProjectView` read, dropped on every write.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from tenantops.backends.base import (
    Deployment,
    DeploymentState,
    DeploymentStatus,
    EventSink,
    SessionContext,
)
from tenantops.backends.cognigy_v2.http import V2Http
from tenantops.backends.cognigy_v2.snapshots import restore, take_backup
from tenantops.backends.cognigy_v2.tasks import FINAL, task_id_of, wait_task
from tenantops.backends.cognigy_v2.view import ProjectView, read_project
from tenantops.backends.cognigy_v2.writer import converge
from tenantops.core.model import BotDoc, RoleGrant
from tenantops.errors import (
    ApiError,
    ConflictError,
    NotFoundError,
    RelayError,
    ServerError,
    TaskFailedError,
    TransportError,
)

__all__ = ["CognigyV2Backend"]

#: Project reads kept for the deploy that may follow them (one per concurrent tenant).
_VIEWS_KEPT = 64
#: Rounds of read-and-converge after an ambiguous write failure.
_CONVERGE_ROUNDS = 3
_TASK_STATE: dict[str, DeploymentState] = {
    "queued": "pending",
    "active": "processing",
    "cancelling": "processing",
}


class CognigyV2Backend:
    """Plan, apply and drift against the real Cognigy.AI v2.0 API.

    Args:
        http: the API client.
        keep_snapshots: ``api.snapshots.keep``: tenantops backups kept per project.
        task_timeout: ``api.taskTimeout``: seconds a snapshot or restore task may take.
    """

    def __init__(
        self, http: V2Http, *, keep_snapshots: int = 3, task_timeout: float = 600.0
    ) -> None:
        self.http = http
        self.keep_snapshots = keep_snapshots
        self.task_timeout = task_timeout
        # The last reads, for a deploy right after its observe; a plan of a large fleet
        # must not keep every project's ids, so only the newest few stay.
        self._views: OrderedDict[tuple[str, str, str | None], ProjectView] = OrderedDict()
        self._me: str | None = None

    def __repr__(self) -> str:
        return f"CognigyV2Backend({self.http.base_url!r})"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    # ------------------------------------------------------------------ bots

    async def export_bot(
        self, bot_id: str, *, workspace_id: str | None = None, locale: str | None = None
    ) -> BotDoc:
        """Flow ``bot_id`` of project ``workspace_id`` in the locale of ``locale``."""
        if not workspace_id:
            raise NotFoundError(
                f"cognigy-v2 needs a project id to export flow {bot_id!r}", status=404
            )
        view = await read_project(self.http, workspace_id, bot_id, locale)
        self._views[(workspace_id, bot_id, locale)] = view
        while len(self._views) > _VIEWS_KEPT:
            self._views.popitem(last=False)
        return view.to_model()

    async def deploy(
        self,
        model: BotDoc,
        *,
        target_workspace: str,
        idempotency_key: str,
        locale: str | None = None,
        on_event: EventSink | None = None,
    ) -> Deployment:
        """Back up, converge and train (see the module docstring).

        ``locale`` is the tenant's ``langCode`` (``None``: the primary locale), the
        locale its export reads: writing another would never converge.
        """
        flow = str(model["botId"])
        backup = await take_backup(
            self.http,
            target_workspace,
            f"{idempotency_key}-pre",
            keep=self.keep_snapshots,
            timeout=self.task_timeout,
        )
        if on_event is not None:
            on_event(
                "backup_snapshot",
                {
                    "snapshot_id": backup,
                    "name": f"{idempotency_key}-pre",
                    # Restores the backup; no training to stop yet (see rollback()).
                    "rollback_id": f"{target_workspace}/{backup}/",
                },
            )
        view = await self._converge(target_workspace, flow, locale, model)
        answer = await self.http.post(
            f"flows/{view.flow_id}/intents/train", {"localeId": view.locale_id, "mode": "full"}
        )
        deployment = f"{target_workspace}/{backup}/{task_id_of(answer)}"
        return Deployment(deploymentId=deployment, status="processing")

    async def _converge(
        self, project: str, flow: str, locale: str | None, model: BotDoc
    ) -> ProjectView:
        key = (project, flow, locale)
        for attempt in range(1, _CONVERGE_ROUNDS + 1):
            view = self._views.pop(key, None) or await read_project(
                self.http, project, flow, locale
            )
            try:
                await converge(self.http, view, model)
                return view
            except (TransportError, ServerError):
                # A write may or may not have happened: read again and converge from there.
                if attempt == _CONVERGE_ROUNDS:
                    raise
        raise AssertionError("unreachable")

    async def deployment_status(self, deployment_id: str) -> DeploymentStatus:
        """The training task's state: done is success, error or cancelled is failure."""
        _, _, task_id = _parts(deployment_id)
        if not task_id:
            raise NotFoundError(f"{deployment_id!r} started no training", status=404)
        task = await self.http.get(f"tasks/{task_id}")
        status = str(task.get("status"))
        if status == "done":
            return DeploymentStatus(deploymentId=deployment_id, status="success")
        if status in FINAL:
            reason = task.get("failReason") or f"training {status}"
            return DeploymentStatus(deploymentId=deployment_id, status="failed", errorDetail=reason)
        return DeploymentStatus(
            deploymentId=deployment_id, status=_TASK_STATE.get(status, "pending")
        )

    async def rollback(self, deployment_id: str) -> DeploymentStatus:
        """Stop the training if it still runs, then restore the backup snapshot.

        ``deployment_id`` may name no training (``<project>/<backup>/``, the
        ``rollback_id`` of a deploy that stopped before it): then the restore alone.
        """
        project, backup, task_id = _parts(deployment_id)
        if task_id:
            task = await self.http.get(f"tasks/{task_id}")
            if task.get("status") not in FINAL:
                with contextlib.suppress(ConflictError):  # it ended meanwhile
                    await self.http.post(f"tasks/{task_id}/cancel")
        self._views.clear()
        await self._await_restores(project)
        await restore(self.http, project, backup, timeout=self.task_timeout)
        return DeploymentStatus(deploymentId=deployment_id, status="rolled_back")

    async def _await_restores(self, project: str) -> None:
        """Let a restore that a killed run started end first: two restores running at
        once would each rebuild the project, and it would hold everything twice."""
        for task in await self.http.list_all("tasks", projectId=project):
            if task.get("name") == "restoreSnapshot" and task.get("status") not in FINAL:
                # However it ends, the backup is restored again after it.
                with contextlib.suppress(TaskFailedError):
                    await wait_task(
                        self.http, str(task["_id"]), timeout=self.task_timeout, what="a restore"
                    )

    # ------------------------------------------------------------------ roles

    async def _acting_user(self) -> str:
        if self._me is None:
            me = await self.http.get("users/me")
            self._me = str(me.get("email") or me.get("_id"))
        return self._me

    async def list_roles(self, workspace_id: str) -> list[RoleGrant]:
        """Project members and their first role; the member tenantops acts as is left out,
        so that exclusive role management can never lock tenantops out."""
        me = await self._acting_user()
        members = await self.http.list_all(f"projects/{workspace_id}/members")
        return [
            RoleGrant(userId=str(m.get("email") or m.get("id")), roleId=sorted(m["roles"])[0])
            for m in members
            if m.get("roles") and (m.get("email") or m.get("id")) != me
        ]

    async def assign_role(
        self, workspace_id: str, user_id: str, role_id: str, *, expires_at: datetime | None = None
    ) -> None:
        """Make ``user_id`` (an e-mail) a member with exactly ``role_id``.

        Cognigy.AI has no role expiry: tenantops enforces ``expiresAt`` itself (plan
        revokes an expired role, drift reports it). The user tenantops acts as is never
        changed: taking its admin role away would lock tenantops out.
        """
        if user_id == await self._acting_user():
            raise ApiError(
                f"refusing to change the role of {user_id}: tenantops acts as this user "
                "(its API key or OAuth client); remove it from the tenant's roles"
            )
        member = await self._member(workspace_id, user_id, create=True)
        path = f"projects/{workspace_id}/members/{member['_id']}"
        if role_id not in member.get("roles", []):
            await self.http.post(f"{path}/addroletomember", {"role": role_id})
        for other in member.get("roles", []):
            if other != role_id:
                await self.http.post(f"{path}/removerolefrommember", {"role": other})

    async def revoke_role(self, workspace_id: str, user_id: str) -> None:
        """Remove the member from the project (never the user tenantops acts as)."""
        if user_id == await self._acting_user():
            raise ApiError(f"refusing to remove {user_id}: tenantops acts as this user")
        member = await self._member(workspace_id, user_id, create=False)
        await self.http.post(
            f"projects/{workspace_id}/removeprojectmember", {"userId": member["_id"]}
        )

    async def _member(self, project: str, email: str, *, create: bool) -> dict[str, Any]:
        members = await self.http.list_all(f"projects/{project}/members", filter=email)
        found = next((m for m in members if (m.get("email") or m.get("id")) == email), None)
        if found is not None:
            return found
        if not create:
            raise NotFoundError(f"{email} is not a member of project {project}", status=404)
        users = await self.http.list_all("users", filter=email)
        user = next((u for u in users if u.get("email") == email), None)
        if user is None:
            raise NotFoundError(
                f"no Cognigy.AI user has the e-mail {email}; invite them to the organisation first",
                status=404,
            )
        await self.http.post(f"projects/{project}/addprojectmember", {"userId": user["_id"]})
        return {"_id": user["_id"], "roles": []}

    # ------------------------------------------------------------------ sessions

    async def get_session_context(self, session_id: str) -> SessionContext:
        """The real API cannot read a context: Redis is the relay's only truth here."""
        return SessionContext(sessionId=session_id, context={}, version=0)

    async def patch_session_context(
        self, session_id: str, context: Mapping[str, str | None], *, from_version: int
    ) -> int:
        """The real API has no versioned write: the relay injects (see below) instead."""
        raise RelayError(
            "Cognigy.AI v2.0 has no versioned context write; the session relay injects the "
            "full context on this flavour (tenantops.relay.injector)"
        )

    async def inject_session_context(
        self, session_id: str, context: Mapping[str, str | None], *, user_id: str
    ) -> None:
        """``POST sessions/{sid}/context/inject``: the full context, as the webhook's user.

        The caller sends the whole state each time (a removed key as ``null``), so a
        repeat is harmless; the context the API answers is not read (it cannot be
        trusted to be the newest: another inject may have followed).
        """
        path = f"sessions/{quote(session_id, safe='')}/context/inject"
        await self.http.post(path, {"userId": user_id, "context": dict(context)})


def _parts(deployment_id: str) -> tuple[str, str, str]:
    """``<project>/<backup>/<training task>``; the task is empty before training began."""
    project, backup, task = [*deployment_id.split("/"), "", "", ""][:3]
    if not (project and backup):
        raise ApiError(f"{deployment_id!r} is not a cognigy-v2 deployment id")
    return project, backup, task

"""The simulator's live state, and its optional persistence in ``DIR/state.json``.

Owns workspaces (deployed bots and role assignments), bot sources, deployments,
sessions and idempotency keys, and advances deployments lazily with :meth:`SimState.tick`.
It knows nothing of HTTP, tokens or faults: callers pass the time, and the outcome of
a deployment, in.

Every public method runs without awaiting, so concurrent requests on the one event
loop never see a half-done change. With a state directory, every change is written
back at once: to a temporary file in the directory, fsynced, then ``os.replace``d over
``state.json``, so a crash leaves the old file or the new one, never a torn one.

``state.json`` is a JSON object; every key is optional, so a hand-written seed may
hold only ``workspaces`` and ``sources``::

    {
      "clients": [{"clientId": "ci", "clientSecret": "s3cret",
                   "scopes": ["bot:export", "bot:deploy"],      # default: all scopes
                   "workspaces": ["ws-a"]}],                     # default: ["*"]
      "sources": {"src-bot-123": "ws-source"},       # botId -> its source workspace
      "workspaces": {
        "ws-source": {
          "bots": {"src-bot-123": {<bot model, botId as the key>}},
          "users": {"u-1": {"roleId": "editor", "expiresAt": "2027-01-31T00:00:00Z"}}
        }
      },
      "sessions": {"s-1": {"context": {"orderId": "A-7"}, "version": 3}},
      "deployments": {
        "dep-1": {"deploymentId": "dep-1", "clientId": "ci", "workspaceId": "ws-a",
                  "botId": "src-bot-123", "model": {<bot model>},
                  "createdAt": 1716199200.0,                     # Unix seconds
                  "outcome": "success" | "failed", "errorDetail": null,
                  "idempotencyKey": "k-1", "fingerprint": "<sha256 of the request>",
                  "settled": true, "rolledBack": false,
                  "previous": {<bot model>} | null}              # what a rollback restores
      },
      "counters": {"deployment": 1, "revision": 4}   # behind dep-<n> and "1.0.<n>"
    }

Clients come from the file plus ``--client``; only the file's are written back.
Tokens, fault settings, rate-limit windows and the request log are never persisted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tenantops.core.model import BotDoc
from tenantops.durable import atomic_write_text
from tenantops.errors import ConfigError
from tenantops.servers.sim.contract._config import DEFAULT_CLIENT, SimClient, SimConfig
from tenantops.servers.sim.contract._export import ExportCache
from tenantops.servers.sim.contract._records import (
    Deployment,
    DeploymentStatus,
    RoleRecord,
    SessionRecord,
    StateFile,
    Workspace,
)

__all__ = ["SimState", "VersionConflictError", "VersionStepError"]

_FAILURE = "simulated deployment failure (--deploy-fail-rate): the workspace keeps its model"


class VersionConflictError(Exception):
    """A session write named a version other than the current one."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the session is at version {current}")
        self.current = current


class VersionStepError(ValueError):
    """A session write would not move the version by exactly one."""


class SimState:
    """All state of one simulator; see the module docstring for what it holds.

    Args:
        config: the run's settings; ``config.state_dir`` turns persistence on.

    Raises:
        ConfigError: ``state.json`` exists but is not valid.
    """

    def __init__(self, config: SimConfig) -> None:
        self._deploy_seconds = config.deploy_seconds
        self._path = config.state_dir / "state.json" if config.state_dir else None
        initial = _load(self._path) if self._path else StateFile()
        self._initial = initial.model_copy(deep=True)
        clients = {c.client_id: c for c in (*initial.clients, *config.clients)}
        #: Every client the token endpoint accepts, by id.
        self.clients: dict[str, SimClient] = clients or {DEFAULT_CLIENT.client_id: DEFAULT_CLIENT}
        self._install(initial)

    def _install(self, data: StateFile) -> None:
        self.data = data
        deployments = sorted(data.deployments.values(), key=lambda d: d.created_at)
        self._replays = {
            (d.client_id, d.idempotency_key): d.deployment_id
            for d in deployments
            if d.idempotency_key is not None
        }
        self._open = [d.deployment_id for d in deployments if not (d.settled or d.rolled_back)]
        self._exports = ExportCache()
        for workspace in data.workspaces.values():
            for bot_id, doc in workspace.bots.items():
                if not isinstance(doc.get("version"), str):
                    workspace.bots[bot_id] = {**doc, "version": self._next_version()}

    # ------------------------------------------------------------------ deployments

    def tick(self, now: float) -> None:
        """Settle every deployment whose time is up; apply the successful ones, oldest first."""
        if not self._open:
            return
        still_open: list[str] = []
        for deployment_id in self._open:
            deployment = self.data.deployments[deployment_id]
            if now - deployment.created_at < self._deploy_seconds:
                still_open.append(deployment_id)
            else:
                self._settle(deployment)
        if len(still_open) != len(self._open):
            self._open = still_open
            self._save()

    def _settle(self, deployment: Deployment) -> None:
        deployment.settled = True
        if deployment.outcome == "success":
            bots = self.data.workspaces.setdefault(deployment.workspace_id, Workspace()).bots
            deployment.previous = bots.get(deployment.bot_id)
            bots[deployment.bot_id] = {**deployment.model, "version": self._next_version()}

    def status(self, deployment: Deployment, now: float) -> DeploymentStatus:
        """The deployment's status at ``now`` (call after :meth:`tick` with the same ``now``)."""
        return deployment.status_at(now, self._deploy_seconds)

    def deployment(self, deployment_id: str, now: float) -> Deployment | None:
        """The deployment with that id, advanced to ``now``, or ``None``."""
        self.tick(now)
        return self.data.deployments.get(deployment_id)

    def replay(self, client_id: str, key: str) -> Deployment | None:
        """The deployment this client already started with that ``Idempotency-Key``."""
        deployment_id = self._replays.get((client_id, key))
        return self.data.deployments[deployment_id] if deployment_id else None

    def deploy(
        self,
        *,
        client_id: str,
        workspace_id: str,
        model: BotDoc,
        now: float,
        failed: bool,
        key: str | None = None,
        fingerprint: str = "",
    ) -> Deployment:
        """Start a deployment of ``model`` to ``workspace_id`` (created if new).

        Args:
            client_id: the client that asked, for idempotency and the record.
            workspace_id: the target workspace.
            model: a valid bot model, stored as given.
            now: the time of the request.
            failed: the outcome, decided by the caller's fault injector.
            key: the request's ``Idempotency-Key``, if any.
            fingerprint: hash of the request body, compared on a replay of ``key``.

        Returns:
            The new deployment, pending.
        """
        self.tick(now)
        deployment = Deployment(
            deployment_id=self._next_deployment_id(),
            client_id=client_id,
            workspace_id=workspace_id,
            bot_id=str(model["botId"]),
            model=model,
            created_at=now,
            outcome="failed" if failed else "success",
            error_detail=_FAILURE if failed else None,
            idempotency_key=key,
            fingerprint=fingerprint,
        )
        self.data.deployments[deployment.deployment_id] = deployment
        self.data.workspaces.setdefault(workspace_id, Workspace())
        self._open.append(deployment.deployment_id)
        if key is not None:
            self._replays[(client_id, key)] = deployment.deployment_id
        self._save()
        return deployment

    def rollback(self, deployment_id: str, now: float) -> Deployment | None:
        """Roll a deployment back; ``None`` when unknown. Rolling back twice changes nothing.

        An applied success restores the model served before it (removing the bot if
        there was none); a deployment still running is cancelled and never applies; a
        failed one only changes its status.
        """
        deployment = self.deployment(deployment_id, now)
        if deployment is None or deployment.rolled_back:
            return deployment
        if deployment.settled and deployment.outcome == "success":
            bots = self.data.workspaces.setdefault(deployment.workspace_id, Workspace()).bots
            if deployment.previous is None:
                bots.pop(deployment.bot_id, None)
            else:
                bots[deployment.bot_id] = deployment.previous
        deployment.rolled_back = True
        if deployment_id in self._open:
            self._open.remove(deployment_id)
        self._save()
        return deployment

    # ------------------------------------------------------------------ bots

    def source_of(self, bot_id: str) -> str | None:
        """The bot's source workspace, if one is registered."""
        return self.data.sources.get(bot_id)

    def export_json(
        self, workspace_id: str, bot_id: str, now: float, exported_at: str
    ) -> bytes | None:
        """The bot as the workspace serves it, encoded, with ``metadata.exportedAt`` set.

        ``None`` when the workspace has no such bot. Encoded bytes are cached per model,
        so an export costs a lookup and a splice.
        """
        self.tick(now)
        workspace = self.data.workspaces.get(workspace_id)
        doc = workspace.bots.get(bot_id) if workspace else None
        if doc is None:
            return None
        return self._exports.render((workspace_id, bot_id), doc, exported_at)

    def put_bot(self, workspace_id: str, doc: BotDoc, now: float) -> str:
        """Replace a bot as if edited in the Cognigy UI; returns its new version."""
        self.tick(now)
        version = self._next_version()
        bots = self.data.workspaces.setdefault(workspace_id, Workspace()).bots
        bots[str(doc["botId"])] = {**doc, "version": version}
        self._save()
        return version

    def delete_bot(self, workspace_id: str, bot_id: str, now: float) -> bool:
        """Remove a bot from a workspace; ``False`` when it was not there."""
        self.tick(now)
        workspace = self.data.workspaces.get(workspace_id)
        if workspace is None or workspace.bots.pop(bot_id, None) is None:
            return False
        self._save()
        return True

    def set_source(self, bot_id: str, workspace_id: str) -> None:
        """Register the workspace an export without ``workspaceId`` reads the bot from."""
        self.data.sources[bot_id] = workspace_id
        self._save()

    # ------------------------------------------------------------------ roles

    def assign_role(self, workspace_id: str, user_id: str, role: RoleRecord) -> bool:
        """Give a user a role in a workspace (created if new); ``True`` when the user had none."""
        users = self.data.workspaces.setdefault(workspace_id, Workspace()).users
        created = user_id not in users
        users[user_id] = role
        self._save()
        return created

    def roles(self, workspace_id: str) -> list[tuple[str, RoleRecord]]:
        """The workspace's assignments sorted by user id; empty for an unknown workspace."""
        workspace = self.data.workspaces.get(workspace_id)
        return sorted(workspace.users.items()) if workspace else []

    def revoke_role(self, workspace_id: str, user_id: str) -> bool:
        """Remove a user's role; ``False`` when the user had none there."""
        workspace = self.data.workspaces.get(workspace_id)
        if workspace is None or workspace.users.pop(user_id, None) is None:
            return False
        self._save()
        return True

    # ------------------------------------------------------------------ sessions

    def session(self, session_id: str) -> SessionRecord:
        """The session's context and version; version 0 and empty for an unknown one."""
        return self.data.sessions.get(session_id) or SessionRecord()

    def patch_session(
        self, session_id: str, *, expected: int, new: int, changes: Mapping[str, str | None]
    ) -> int:
        """Merge ``changes`` into the context (``None`` removes a key) at version ``new``.

        Raises:
            VersionConflictError: the session is not at version ``expected``.
            VersionStepError: ``new`` is not ``expected + 1``.
        """
        current = self.session(session_id)
        if current.version != expected:
            raise VersionConflictError(current.version)
        if new != expected + 1:
            raise VersionStepError("the body's version must be the If-Match version plus one")
        context = dict(current.context)
        for key, value in changes.items():
            if value is None:
                context.pop(key, None)
            else:
                context[key] = value
        self.data.sessions[session_id] = SessionRecord(context=context, version=expected + 1)
        self._save()
        return expected + 1

    # ------------------------------------------------------------------ whole state

    def dump(self) -> dict[str, Any]:
        """The whole state as JSON, with clients listed but their secrets left out."""
        out = self.data.model_dump(mode="json", by_alias=True)
        out["clients"] = [
            c.model_dump(mode="json", by_alias=True, exclude={"client_secret"})
            for c in self.clients.values()
        ]
        return out

    def reset(self) -> None:
        """Go back to the state loaded at start (or empty), and persist that."""
        self._install(self._initial.model_copy(deep=True))
        self._save()

    def _next_version(self) -> str:
        self.data.counters.revision += 1
        return f"1.0.{self.data.counters.revision}"

    def _next_deployment_id(self) -> str:
        # Seeded files may hold any ids; skip past the ones they took.
        while True:
            self.data.counters.deployment += 1
            deployment_id = f"dep-{self.data.counters.deployment}"
            if deployment_id not in self.data.deployments:
                return deployment_id

    def _save(self) -> None:
        if self._path is None:
            return
        data = self.data.model_dump(mode="json", by_alias=True)
        # ensure_ascii: a lone surrogate from a JSON request must not make the write fail.
        atomic_write_text(self._path, json.dumps(data, indent=2, ensure_ascii=True) + "\n")


def _load(path: Path) -> StateFile:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return StateFile()
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read the simulator state ({exc}); fix or remove it", path=path
        ) from exc
    try:
        return StateFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        pointer = "".join(f"/{part}" for part in first["loc"])
        raise ConfigError(
            f"invalid simulator state: {first['msg']}; fix or remove it", path=path, pointer=pointer
        ) from exc

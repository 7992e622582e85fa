"""The audit trail: append-only, hash-chained JSON lines, one file per tenant.

This module owns the on-disk format of ``audit/<tenant>.jsonl``, who counts as the
actor, and the check that every chain is intact. It must not decide what is worth
recording (``apply`` does) nor print anything (the CLI does).

Each line is one :class:`AuditRecord`. A record's ``hash`` is the SHA-256 of the
canonical JSON of its other fields, ``prev_hash`` included, so editing, deleting,
inserting or reordering a record breaks the chain at that point. :meth:`AuditLog.append`
returns only once the line is on disk (``fsync``), so a step announced by a record
runs after the record is durable, and a process killed at any point leaves the trail
intact up to its last complete line.

Secrets are masked by value with a :class:`~tenantops.core.redact.Redactor` before a record
is hashed or written; the trail never holds a secret the redactor knows about.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tenantops.core.model import is_name
from tenantops.core.redact import Redactor
from tenantops.durable import fsync_dir
from tenantops.errors import AuditError

__all__ = [
    "GENESIS",
    "IMPORTED",
    "AuditLog",
    "AuditProblem",
    "AuditRecord",
    "detect_actor",
    "verify",
]

#: The ``prev_hash`` of a tenant's first record.
GENESIS = "0" * 64
#: The event of ``tenantops import``: a live bot became a tenant's baseline, nothing deployed.
IMPORTED = "imported"

_SUFFIX = ".jsonl"
#: How much of a file's end is read at a time to find its last complete line.
_CHUNK = 64 * 1024


class AuditRecord(BaseModel):
    """One line of a tenant's audit trail.

    Attributes:
        seq: 1-based position in the tenant's chain.
        time: RFC 3339 UTC with milliseconds (``2026-11-21T07:10:00.123Z``).
        tenant: the tenant the trail belongs to (the file's stem).
        event: what happened or is about to happen (``deploy_requested``).
        actor: who ran tenantops (see :func:`detect_actor`).
        plan_id: the plan being applied, when there is one.
        details: event-specific JSON, secrets masked.
        prev_hash: ``hash`` of the previous record, :data:`GENESIS` for the first.
        hash: SHA-256 (hex) of the canonical JSON of every other field.
    """

    # strict: a seq edited from 7 to "7" must not validate, or it would hash the same.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    seq: int = Field(ge=1)
    time: str
    tenant: str
    event: str
    actor: str
    plan_id: str | None
    details: dict[str, Any]
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")


def _digest(fields: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``fields`` without ``hash``."""
    body = {k: v for k, v in fields.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _join(*parts: str | None) -> str:
    return " ".join(p for p in parts if p)


def detect_actor(env: Mapping[str, str] | None = None) -> str:
    """Who is running tenantops, from the CI environment or else the local account.

    Args:
        env: the environment to read; ``os.environ`` by default.

    Returns:
        ``github:<actor> <repository> run <id>`` on GitHub Actions,
        ``gitlab:<login> <project> pipeline <id>`` on GitLab CI (parts that are not
        set are left out), else ``<user>@<host>``.
    """
    env = os.environ if env is None else env
    if env.get("GITHUB_ACTIONS") == "true":
        run_id = env.get("GITHUB_RUN_ID")
        return _join(
            f"github:{env.get('GITHUB_ACTOR', '')}",
            env.get("GITHUB_REPOSITORY"),
            f"run {run_id}" if run_id else None,
        )
    if env.get("GITLAB_CI") == "true":
        pipeline = env.get("CI_PIPELINE_ID")
        return _join(
            f"gitlab:{env.get('GITLAB_USER_LOGIN', '')}",
            env.get("CI_PROJECT_PATH"),
            f"pipeline {pipeline}" if pipeline else None,
        )
    try:
        user = getpass.getuser()
    # No USER/LOGNAME and no passwd entry (a bare container): KeyError before 3.13, OSError after.
    except (KeyError, OSError):
        user = "unknown"
    try:
        host = socket.gethostname()
    except OSError:
        host = "unknown-host"
    return f"{user}@{host}"


def _check_tenant(tenant: str) -> str:
    # The name becomes a file name: nothing that could leave the audit folder.
    if not is_name(tenant):
        raise AuditError(f"'{tenant}' is not a valid tenant name for an audit trail")
    return tenant


def _read_tail(fd: int, size: int) -> tuple[int, bytes]:
    """(offset just after the last newline, the last complete line without its newline).

    ``(0, b"")`` when the file holds no newline at all.
    """
    buf = b""
    pos = size
    while pos > 0:
        step = min(_CHUNK, pos)
        pos -= step
        buf = os.pread(fd, step, pos) + buf
        last = buf.rfind(b"\n")
        if last == -1:
            continue
        before = buf.rfind(b"\n", 0, last)
        if before != -1 or pos == 0:
            return pos + last + 1, buf[before + 1 : last]
    return 0, b""


@dataclass(frozen=True, slots=True)
class _Tip:
    """The end of a chain as last seen: file size, last seq and last hash."""

    size: int
    seq: int
    hash: str


class AuditLog:
    """Appends records to, and reads them from, the trails in one folder.

    Safe across processes: every append holds an exclusive ``flock`` on the tenant's
    file, so two runs never interleave lines or fork a chain.
    """

    def __init__(
        self, directory: Path, *, actor: str | None = None, redactor: Redactor | None = None
    ) -> None:
        """Open the audit folder ``directory`` (created on first append).

        Args:
            directory: where the ``<tenant>.jsonl`` files live.
            actor: who to record; :func:`detect_actor` by default.
            redactor: masks secrets in ``details`` and ``plan_id``.
        """
        self.directory = directory
        self.actor = detect_actor() if actor is None else actor
        self._redactor = redactor or Redactor()
        self._tips: dict[str, _Tip] = {}

    def path(self, tenant: str) -> Path:
        """The trail file of ``tenant``."""
        return self.directory / f"{_check_tenant(tenant)}{_SUFFIX}"

    def append(
        self,
        tenant: str,
        event: str,
        *,
        plan_id: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> AuditRecord:
        """Add a record to ``tenant``'s trail and return once it is on disk.

        A torn last line (a write cut short by a crash) is cut off first and the cut
        is itself recorded as an ``audit_repaired`` record, so the chain stays whole.

        Args:
            tenant: whose trail.
            event: what happens (``deploy_requested``).
            plan_id: the plan being applied, if any.
            details: JSON-like facts about the event; secrets are masked.

        Returns:
            The record as written.

        Raises:
            AuditError: ``details`` is not JSON, the trail's last record is
                unreadable, or the file cannot be written.
        """
        path = self.path(tenant)
        body = self._body(tenant, event, plan_id, details)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            created = not path.exists()
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise AuditError(f"cannot open the audit trail {path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            tip = self._tip(fd, tenant, path)
            record = self._write(fd, tenant, tip, body)
        except OSError as exc:
            raise AuditError(f"cannot write the audit trail {path}: {exc}") from exc
        finally:
            os.close(fd)  # closing also releases the flock
        if created:
            try:
                fsync_dir(path.parent)
            except OSError as exc:
                raise AuditError(f"cannot sync the audit folder {path.parent}: {exc}") from exc
        return record

    def records(self, tenant: str) -> list[AuditRecord]:
        """Every complete record of ``tenant``'s trail, in order (``[]`` without a file).

        Raises:
            AuditError: a line is not an audit record (``tenantops audit verify``
                says more).
        """
        path = self.path(tenant)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise AuditError(f"cannot read the audit trail {path}: {exc}") from exc
        records = []
        for number, line in enumerate(_complete_lines(data), start=1):
            try:
                records.append(AuditRecord.model_validate_json(line))
            except ValidationError as exc:
                raise AuditError(
                    f"{path}:{number}: not an audit record; run `tenantops audit verify`"
                ) from exc
        return records

    def tenants(self) -> list[str]:
        """Sorted names of the tenants that have a trail."""
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob(f"*{_SUFFIX}") if p.is_file())

    # ------------------------------------------------------------------ internals

    def _body(
        self,
        tenant: str,
        event: str,
        plan_id: str | None,
        details: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """The record's fields except the chain ones, JSON-normalized and masked."""
        raw = {
            "tenant": tenant,
            "event": event,
            "actor": self.actor,
            "plan_id": plan_id,
            "details": dict(details or {}),
        }
        try:
            # A JSON round trip makes what is hashed now equal to what is read back
            # (tuples become lists, keys strings), so a fresh record always verifies.
            text = json.dumps(raw, allow_nan=False, ensure_ascii=False)
            body: dict[str, Any] = json.loads(text.encode("utf-8"))
        except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
            raise AuditError(f"audit record '{event}' cannot be stored as JSON: {exc}") from exc
        body["details"] = self._redactor.redact(body["details"])
        if plan_id is not None:
            body["plan_id"] = self._redactor.text(body["plan_id"])
        return body

    def _tip(self, fd: int, tenant: str, path: Path) -> _Tip:
        """The chain's end, read from disk unless the file is the size last seen."""
        size = os.fstat(fd).st_size
        cached = self._tips.get(tenant)
        if cached is not None and cached.size == size:
            return cached
        end, last = _read_tail(fd, size)
        if end < size:
            # A torn write: keep every complete line, then record the repair.
            tip = _tip_of(last, end, path)
            os.ftruncate(fd, end)
            repair = {
                "tenant": tenant,
                "event": "audit_repaired",
                "actor": self.actor,
                "plan_id": None,
                "details": {"dropped_bytes": size - end},
            }
            self._write(fd, tenant, tip, repair)
            return self._tips[tenant]
        return _tip_of(last, end, path)

    def _write(self, fd: int, tenant: str, tip: _Tip, body: Mapping[str, Any]) -> AuditRecord:
        fields = {"seq": tip.seq + 1, "time": _now(), **body, "prev_hash": tip.hash}
        record = AuditRecord.model_validate({**fields, "hash": _digest(fields)})
        line = json.dumps(record.model_dump(), separators=(",", ":"), ensure_ascii=False)
        view = memoryview((line + "\n").encode("utf-8"))
        # One write on an O_APPEND fd puts the whole line at the end; the loop only
        # covers the short write a full disk can cause, still under the flock.
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        self._tips[tenant] = _Tip(os.fstat(fd).st_size, record.seq, record.hash)
        return record


def _tip_of(last: bytes, end: int, path: Path) -> _Tip:
    if end == 0:
        return _Tip(0, 0, GENESIS)
    try:
        record = AuditRecord.model_validate_json(last)
    except ValidationError as exc:
        raise AuditError(
            f"{path}: the last record is unreadable, so the chain cannot be extended; "
            "run `tenantops audit verify` and restore the file from a backup"
        ) from exc
    return _Tip(end, record.seq, record.hash)


def _complete_lines(data: bytes) -> list[bytes]:
    """The newline-terminated lines of ``data``; a torn last line is left out."""
    lines = data.split(b"\n")
    # split leaves "" after a final newline, or the torn remainder without one.
    return lines[:-1]


@dataclass(frozen=True)
class AuditProblem:
    """The first broken record of one trail.

    Attributes:
        tenant: whose trail.
        seq: the broken record's ``seq`` when it could be read.
        line: 1-based line in the file.
        message: what is wrong.
        path: the trail file, when known.
    """

    tenant: str
    seq: int | None
    line: int
    message: str
    path: Path | None = None

    @property
    def file(self) -> str:
        """The trail file as shown to people: relative to the working directory if inside it."""
        if self.path is None:
            return f"{self.tenant}{_SUFFIX}"
        try:
            return str(self.path.resolve().relative_to(Path.cwd().resolve()))
        except (ValueError, OSError):
            return str(self.path)

    @property
    def description(self) -> str:
        """``record <seq>: <message>``, or just the message when the record is unreadable."""
        return f"record {self.seq}: {self.message}" if self.seq is not None else self.message

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.description}"


def verify(directory: Path) -> list[AuditProblem]:
    """Check every trail in ``directory`` and report the first broken record of each.

    A record is broken when it is not an audit record, belongs to another tenant, has
    the wrong ``seq``, a ``prev_hash`` that is not the previous record's ``hash``, or a
    ``hash`` that does not match its content. So an edited record fails its own hash,
    and a deleted, inserted or reordered one breaks the ``seq``/``prev_hash`` links.

    A chain alone cannot show that records were cut off the *end* of a trail: what
    remains is a valid, shorter chain. The lockfile's and the plans' ``plan_id`` refer
    to the trail, which is how such a cut is noticed. A last line without a newline is
    not a problem: it is a write interrupted by a crash, and the next append removes
    it and records an ``audit_repaired`` record.

    Args:
        directory: the audit folder; a missing folder has no trails and no problems.

    Returns:
        At most one problem per trail, sorted by tenant; empty when every chain is intact.

    Raises:
        AuditError: a trail file cannot be read.
    """
    if not directory.is_dir():
        return []
    problems = []
    for path in sorted(directory.glob(f"*{_SUFFIX}")):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise AuditError(f"cannot read the audit trail {path}: {exc}") from exc
        problem = _verify_trail(path, data)
        if problem is not None:
            problems.append(problem)
    return sorted(problems, key=lambda p: p.tenant)


def _verify_trail(path: Path, data: bytes) -> AuditProblem | None:
    tenant = path.stem
    prev = GENESIS
    for number, line in enumerate(_complete_lines(data), start=1):
        try:
            raw = json.loads(line)
            record = AuditRecord.model_validate(raw)
        except (ValueError, ValidationError) as exc:
            # ValidationError is a ValueError; show its first complaint only.
            why = _first_error(exc)
            return AuditProblem(tenant, None, number, f"not an audit record ({why})", path)
        message = _link_problem(tenant, number, prev, raw, record)
        if message is not None:
            return AuditProblem(tenant, record.seq, number, message, path)
        prev = record.hash
    return None


def _link_problem(
    tenant: str, expected: int, prev: str, raw: Mapping[str, Any], record: AuditRecord
) -> str | None:
    """What is wrong with one parsed record at position ``expected``, if anything."""
    if record.tenant != tenant:
        return f"belongs to tenant '{record.tenant}', not '{tenant}'"
    if record.seq != expected:
        return f"expected record {expected} here: a record was deleted, inserted or moved"
    # Recompute over the raw JSON, not the model, so no lax parsing can hide an edit.
    if _digest(raw) != record.hash:
        return "hash mismatch: the record was changed after it was written"
    if record.prev_hash != prev:
        return (
            "prev_hash is not the hash of the record before it: "
            "a record before it was changed, deleted or moved"
        )
    return None


def _first_error(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        loc = ".".join(str(part) for part in error["loc"])
        return f"{loc}: {error['msg']}" if loc else str(error["msg"])
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg}"
    return str(exc)

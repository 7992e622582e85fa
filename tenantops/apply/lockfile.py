"""``tenantops.lock``: what tenantops last applied to each tenant, and how to write it safely.

The lockfile is JSON with sorted keys and two-space indent, so that it diffs well in
git. Each entry holds the applied model (secrets masked) and its hash over the real
values, which is what ``drift`` compares the live export with. Writes are atomic (a
temporary file in the same folder, fsync, rename, fsync of the folder): a crash leaves
the old or the new lockfile, never a torn one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tenantops.core.model import BotDoc
from tenantops.errors import LockfileError

__all__ = ["LockEntry", "Lockfile", "atomic_write_text", "read_lockfile", "write_lockfile"]


class _Lock(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class BaseInfo(_Lock):
    """The base bot a model was rendered from."""

    botId: str | None = None
    version: str | None = None


class LockEntry(_Lock):
    """What was last applied to one tenant."""

    workspace: str
    model_sha256: str
    deployment_id: str | None = None
    status: str
    applied_at: str
    base: BaseInfo = Field(default_factory=BaseInfo)
    config_sha256: str | None = None
    plan_id: str | None = None
    #: The applied model with secrets masked: what drift shows differences against.
    model: BotDoc | None = None


class Lockfile(_Lock):
    """The whole lockfile."""

    lockfile_version: Literal[1] = 1
    tenants: dict[str, LockEntry] = Field(default_factory=dict)


def read_lockfile(path: Path) -> Lockfile:
    """The lockfile at ``path``; an empty one when the file does not exist.

    Raises:
        LockfileError: the file is unreadable, not JSON, or not a lockfile.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Lockfile()
    except OSError as exc:
        raise LockfileError(f"cannot read the lockfile {path}: {exc}") from exc
    try:
        return Lockfile.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise LockfileError(
            f"{path}:{exc.lineno}: the lockfile is not valid JSON ({exc.msg}); restore it from git"
        ) from exc
    except ValidationError as exc:
        raise LockfileError(
            f"{path}: not a tenantops lockfile of version 1: {exc.errors()[0]['msg']}"
        ) from exc


def lockfile_text(lock: Lockfile) -> str:
    """The lockfile's stable text form."""
    data: Any = lock.model_dump(mode="json", exclude_none=True)
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically and durably."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_lockfile(path: Path, lock: Lockfile) -> None:
    """Write ``lock`` to ``path`` atomically."""
    try:
        atomic_write_text(path, lockfile_text(lock))
    except OSError as exc:
        raise LockfileError(f"cannot write the lockfile {path}: {exc}") from exc

"""``tenantops.lock``: what tenantops last applied to each tenant, and how to write it safely.

The lockfile is JSON with sorted keys and two-space indent, so that it diffs well in
git. Each entry holds the applied model (secrets masked) and its hash over the real
values, which is what ``drift`` compares the live export with. Writes are atomic (a
temporary file in the same folder, fsync, rename, fsync of the folder): a crash leaves
the old or the new lockfile, never a torn one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tenantops.core.lock import BaseInfo, LockedRole, LockEntry, Lockfile
from tenantops.durable import atomic_write_text
from tenantops.errors import LockfileError

__all__ = [
    "BaseInfo",
    "LockEntry",
    "LockedRole",
    "Lockfile",
    "lockfile_guard",
    "read_lockfile",
    "same_entry",
    "write_lockfile",
]


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


def write_lockfile(path: Path, lock: Lockfile) -> None:
    """Write ``lock`` to ``path`` atomically."""
    try:
        atomic_write_text(path, lockfile_text(lock))
    except OSError as exc:
        raise LockfileError(f"cannot write the lockfile {path}: {exc}") from exc


@contextlib.contextmanager
def lockfile_guard(lockfile: Path) -> Iterator[None]:
    """Serialise read-modify-write cycles of ``lockfile`` across processes.

    The guard is ``.tenantops/lockfile.guard`` beside the lockfile, the file apply
    locks too, so an import and an apply never lose each other's entries.
    """
    guard = lockfile.parent / ".tenantops" / "lockfile.guard"
    guard.parent.mkdir(parents=True, exist_ok=True)
    with guard.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def same_entry(old: LockEntry | None, new: LockEntry) -> bool:
    """Whether ``new`` records what ``old`` does, the time it was written aside."""
    if old is None:
        return False
    return old.model_copy(update={"applied_at": new.applied_at}) == new

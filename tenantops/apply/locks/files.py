"""Leases as JSON files in one folder, for runs on the same machine (the default store)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from tenantops.apply.locks.lease import (
    Lease,
    LeaseInfo,
    LockStore,
    acquire_polling,
    check_args,
    check_tenant,
    new_lease,
)
from tenantops.durable import atomic_write_text
from tenantops.errors import LockfileError

__all__ = ["FileLocks"]


class FileLocks(LockStore):
    """Leases as JSON files in one folder, for runs on the same machine (the default).

    ``<tenant>.lease`` holds the lease. Every read-check-write of it happens under an
    exclusive ``flock`` on ``<tenant>.guard``, so two processes can never both take a
    tenant; lease writes are atomic. Guard files stay: unlinking a file others may be
    waiting to lock would let two processes lock two different inodes.
    """

    def __init__(self, directory: Path, *, clock: Callable[[], float] = time.time) -> None:
        """Keep leases in ``directory``.

        Args:
            directory: the lease folder, created when first needed.
            clock: wall-clock time for lease timestamps (tests inject a fake one).
        """
        self.directory = directory
        self._clock = clock

    def __repr__(self) -> str:
        return f"FileLocks({str(self.directory)!r})"

    async def acquire(self, tenant: str, *, holder: str, ttl: float, timeout: float) -> Lease:
        """See :meth:`LockStore.acquire`."""
        check_args(tenant, ttl, timeout)

        async def attempt() -> Lease | LeaseInfo | None:
            with self._guard(tenant) as path:
                current = self._read(path, tenant)
                now = self._clock()
                held = current is not None and current.expires_at > now
                if current is not None and held and not current.is_orphaned:
                    return current
                info = new_lease(tenant, holder, now, ttl)
                self._write(path, info)
            return Lease(info, ttl=ttl, keeper=self, taken_over=current if held else None)

        return await acquire_polling(tenant, attempt, timeout)

    async def peek(self, tenant: str) -> LeaseInfo | None:
        """See :meth:`LockStore.peek`."""
        check_tenant(tenant)
        if not self.directory.is_dir():
            return None  # nothing was ever locked here; don't create the folder to say so
        with self._guard(tenant) as path:
            current = self._read(path, tenant)
        return current if current and current.expires_at > self._clock() else None

    async def break_lock(self, tenant: str) -> LeaseInfo | None:
        """See :meth:`LockStore.break_lock`; an expired or unreadable file goes too."""
        check_tenant(tenant)
        if not self.directory.is_dir():
            return None
        with self._guard(tenant) as path:
            try:
                current: LeaseInfo | None = self._read(path, tenant)
            except LockfileError:
                current = None
            _remove(path)
        return current if current and current.expires_at > self._clock() else None

    async def aclose(self) -> None:
        """Nothing to close: every call opens and closes its own files."""

    async def _renew_lease(self, info: LeaseInfo, ttl: float) -> LeaseInfo | None:
        with self._guard(info.tenant) as path:
            current = self._read(path, info.tenant)
            if current is None or current.token != info.token:
                return None
            renewed = replace(current, expires_at=self._clock() + ttl)
            self._write(path, renewed)
        return renewed

    async def _release_lease(self, info: LeaseInfo) -> None:
        with self._guard(info.tenant) as path:
            try:
                current = self._read(path, info.tenant)
            except LockfileError:
                return
            if current is not None and current.token == info.token:
                _remove(path)

    @contextlib.contextmanager
    def _guard(self, tenant: str) -> Iterator[Path]:
        """Hold the tenant's guard lock; yields the lease file's path.

        The critical sections are a few small file operations, so blocking the event
        loop on ``flock`` is cheaper than a thread hop per call.
        """
        guard = self.directory / f"{tenant}.guard"
        with _os_errors(f"cannot lock {guard}"):
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(guard, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            with _os_errors(f"cannot lock {guard}"):
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield self.directory / f"{tenant}.lease"
        finally:
            os.close(fd)  # closing the descriptor drops the flock

    @staticmethod
    def _read(path: Path, tenant: str) -> LeaseInfo | None:
        try:
            return LeaseInfo.from_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LockfileError(f"cannot read the lease file {path}: {exc}") from exc
        except ValueError as exc:
            raise LockfileError(
                f"{path} is not a lease file ({exc}); run `tenantops unlock {tenant}` to remove it"
            ) from exc

    @staticmethod
    def _write(path: Path, info: LeaseInfo) -> None:
        with _os_errors(f"cannot write the lease file {path}"):
            atomic_write_text(path, info.to_json())


def _remove(path: Path) -> None:
    with _os_errors(f"cannot remove the lease file {path}"):
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def _os_errors(what: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise LockfileError(f"{what}: {exc}") from exc

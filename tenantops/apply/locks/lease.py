"""Tenant leases: what a lease is, how it is kept alive, and the LockStore Protocol.

A lease names its holder and expires on its own unless renewed, so a killed CI job
frees its tenant after one TTL; while a lease is held, a background task renews it
every third of its TTL, and :meth:`Lease.check` tells the holder, before each change,
whether it may still make it. The stores that keep leases (files, Redis) live beside
this module and know nothing of what an apply does.

A lease also says where its holder runs (:class:`Origin`) and when that process
started, so that a lease whose holder is certainly dead can be taken over at once:
:func:`is_lease_orphaned` decides, and any doubt means waiting out the TTL.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from tenantops.core.model import is_name
from tenantops.errors import LockfileError
from tenantops.polling import poll

__all__ = [
    "Keeper",
    "Lease",
    "LeaseInfo",
    "LockStore",
    "Origin",
    "acquire_polling",
    "check_args",
    "check_tenant",
    "is_lease_orphaned",
    "iso",
    "new_lease",
]

_FIRST_POLL, _MAX_POLL = 0.05, 0.5


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """Who holds a tenant's lease, and until when (unix seconds).

    ``host``, ``boot_id``, ``pid_ns``, ``pid`` and ``start_ticks`` (when that process
    started, in clock ticks since boot) name the holding process, so that a run in the
    same place can tell that the holder died and take its lease over at once instead of
    waiting out the TTL (see :func:`is_lease_orphaned`; older leases lack some of them).
    """

    tenant: str
    holder: str
    token: str
    acquired_at: float
    expires_at: float
    host: str | None = None
    pid: int | None = None
    boot_id: str | None = None
    pid_ns: str | None = None
    start_ticks: int | None = None

    @property
    def is_orphaned(self) -> bool:
        """Whether the holder ran here and is certainly gone; see :func:`is_lease_orphaned`."""
        if self.pid is None or self.pid <= 0:
            return False
        alive, started = _look_up(self.pid)
        return is_lease_orphaned(self, Origin.current(), alive=alive, start_ticks=started)

    @property
    def acquired_iso(self) -> str:
        """``acquired_at`` as UTC ISO 8601, for messages."""
        return iso(self.acquired_at)

    @property
    def expires_iso(self) -> str:
        """``expires_at`` as UTC ISO 8601, for messages."""
        return iso(self.expires_at)

    def to_json(self) -> str:
        """The lease as stored in a lease file or a Redis value."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> LeaseInfo:
        """Parse a stored lease.

        Raises:
            ValueError: ``raw`` is not a lease.
        """
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError("a lease is a JSON object")
        try:
            return cls(
                tenant=str(doc["tenant"]),
                holder=str(doc["holder"]),
                token=str(doc["token"]),
                acquired_at=float(doc["acquired_at"]),
                expires_at=float(doc["expires_at"]),
                host=doc.get("host"),
                pid=int(doc["pid"]) if doc.get("pid") is not None else None,
                boot_id=doc.get("boot_id"),
                pid_ns=doc.get("pid_ns"),
                start_ticks=(
                    int(doc["start_ticks"]) if doc.get("start_ticks") is not None else None
                ),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"missing or mistyped field {exc}") from exc


class Keeper(Protocol):
    """What a :class:`Lease` needs from its backend; both calls compare the token."""

    async def _renew_lease(self, info: LeaseInfo, ttl: float) -> LeaseInfo | None:
        """The renewed lease, or None when ``info.token`` no longer holds the tenant."""
        ...

    async def _release_lease(self, info: LeaseInfo) -> None: ...


class Lease:
    """A held tenant lock, renewed in the background until released.

    Use it as an async context manager (``async with await locks.acquire(...)``) or
    call :meth:`release` yourself.

    Attributes:
        info: the lease as last written (``expires_at`` moves on each renewal).
        ttl: seconds each renewal extends the lease by.
        lost: True once a renewal found the lease broken or expired, or none covered
            it for a whole TTL; :meth:`check` then raises, since another run may now
            hold the tenant.
        taken_over: the unexpired lease of a dead process on this machine that this one
            replaced, for the audit trail; ``None`` when the tenant was free.
    """

    def __init__(
        self, info: LeaseInfo, *, ttl: float, keeper: Keeper, taken_over: LeaseInfo | None = None
    ) -> None:
        self.info = info
        self.ttl = ttl
        self.lost = False
        self.taken_over = taken_over
        self._keeper = keeper
        self._released = False
        loop = asyncio.get_running_loop()
        self._valid_until = loop.time() + ttl
        self._task: asyncio.Task[None] | None = loop.create_task(
            self._keep_alive(), name=f"renew lease on {info.tenant}"
        )

    def __repr__(self) -> str:
        return f"<Lease {self.info.tenant} held by {self.info.holder!r} lost={self.lost}>"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()

    async def renew(self) -> None:
        """Extend the lease to now + ``ttl``, if this run still holds it.

        Raises:
            LockfileError: the lease was broken, expired and taken, or released; or
                the lock store cannot be reached.
        """
        if self._released or not await self._refresh():
            raise self._lost_error()

    def check(self) -> None:
        """Raise unless this run may still change the tenant; call it before each change.

        Asks no store: the background renewal finds a broken or taken lease, and a lease
        that no renewal has covered for a whole TTL (the store unreachable) may have
        expired and been taken, so it counts as lost as well.

        Raises:
            LockfileError: the lease was lost or released.
        """
        if asyncio.get_running_loop().time() >= self._valid_until:
            self.lost = True
        if self.lost or self._released:
            raise self._lost_error()

    def _lost_error(self) -> LockfileError:
        return LockfileError(
            f"lost the lock on tenant {self.info.tenant}: its lease expired or was "
            "broken with `tenantops unlock`; another run may be changing it, so "
            "stop and check before applying again"
        )

    async def release(self) -> None:
        """Stop renewing and remove the lease if this run still holds it; idempotent.

        Raises:
            LockfileError: the lock store cannot be reached (the lease then expires).
        """
        if self._released:
            return
        self._released = True
        if self._task is not None:
            self._task.cancel()
            # asyncio.wait, unlike awaiting the task, lets our own cancellation through.
            # The keeper also checks _released: a cancel that lands inside a Redis call
            # can be lost (see tenantops.relay.injector), and release must still return.
            await asyncio.wait({self._task}, timeout=self.ttl)
            self._task = None
        await self._keeper._release_lease(self.info)

    async def _refresh(self) -> bool:
        # Timed on the monotonic clock from before the write, so it never overstates.
        started = asyncio.get_running_loop().time()
        renewed = await self._keeper._renew_lease(self.info, self.ttl)
        if renewed is None:
            self.lost = True
            return False
        self.info = renewed
        self._valid_until = started + self.ttl
        return True

    async def _keep_alive(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._released:
            await asyncio.sleep(self.ttl / 3)
            if self._released:
                return
            try:
                if not await self._refresh():
                    return
            except LockfileError:
                # Store unreachable: keep trying while the last renewal still covers us.
                if loop.time() >= self._valid_until:
                    self.lost = True
                    return


class LockStore(Protocol):
    """Where tenant leases live: lease files or Redis."""

    async def acquire(self, tenant: str, *, holder: str, ttl: float, timeout: float) -> Lease:
        """Take ``tenant``'s lease, waiting up to ``timeout`` seconds while another run holds it.

        Args:
            tenant: the tenant to lock.
            holder: who is taking it, shown to anyone who has to wait.
            ttl: seconds the lease lives without renewal.
            timeout: seconds to wait for a held lease to be released or to expire.

        Raises:
            LockfileError: still held after ``timeout`` (the message names the holder),
                or the lock store cannot be used.
        """
        ...

    async def peek(self, tenant: str) -> LeaseInfo | None:
        """The tenant's current unexpired lease, or None."""
        ...

    async def break_lock(self, tenant: str) -> LeaseInfo | None:
        """Remove the tenant's lease, whoever holds it; the live lease removed, or None."""
        ...

    async def aclose(self) -> None:
        """Release the backend's connections (not the leases)."""
        ...


async def acquire_polling(
    tenant: str, attempt: Callable[[], Awaitable[Lease | LeaseInfo | None]], timeout: float
) -> Lease:
    """Run ``attempt`` with a growing sleep until it returns a Lease or ``timeout`` runs out.

    Raises:
        LockfileError: still held at the deadline; the message names the last holder seen.
    """
    holders: list[LeaseInfo] = []

    def taken(result: Lease | LeaseInfo | None) -> bool:
        if isinstance(result, LeaseInfo):
            holders.append(result)
        return isinstance(result, Lease)

    result, _ = await poll(attempt, taken, first=_FIRST_POLL, longest=_MAX_POLL, timeout=timeout)
    if isinstance(result, Lease):
        return result
    raise _locked_error(tenant, holders[-1] if holders else None)


def _locked_error(tenant: str, holder: LeaseInfo | None) -> LockfileError:
    what = (
        f"locked by {holder.holder} since {holder.acquired_iso} "
        f"(lease expires {holder.expires_iso})"
        if holder
        else "locked"
    )
    return LockfileError(
        f"tenant {tenant} is {what}; wait, or run `tenantops unlock {tenant}` if that run is dead"
    )


def new_lease(tenant: str, holder: str, now: float, ttl: float) -> LeaseInfo:
    here, pid = Origin.current(), os.getpid()
    return LeaseInfo(
        tenant=tenant,
        holder=holder,
        token=secrets.token_hex(16),
        acquired_at=now,
        expires_at=now + ttl,
        host=here.host,
        pid=pid,
        boot_id=here.boot_id,
        pid_ns=here.pid_ns,
        start_ticks=_start_ticks(pid),
    )


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a process runs, as far as telling a lease's dead holder from a live one goes.

    Containers on one kernel share its boot id and may share the host name
    (``--uts=host``, ``--network host``), and a pid means one process only inside its
    pid namespace: it takes all three to say that a pid names the same process here.

    Attributes:
        host: the host name.
        boot_id: the kernel's boot id; None where unreadable (not Linux).
        pid_ns: the pid namespace, e.g. ``pid:[4026531836]``; None where unreadable,
            or where ``/proc`` belongs to another pid namespace than this process.
    """

    host: str
    boot_id: str | None
    pid_ns: str | None

    @classmethod
    def current(cls) -> Origin:
        """Where this process runs now."""
        return cls(host=_HOST, boot_id=_BOOT_ID or None, pid_ns=_pid_namespace())


def is_lease_orphaned(
    info: LeaseInfo, here: Origin, *, alive: bool, start_ticks: int | None
) -> bool:
    """Whether ``info``'s holder is certainly gone, so its lease may be taken before it expires.

    Only a holder of the same host, boot and pid namespace as ``here`` can be judged.
    It is gone when its pid is, or when the pid now names a process that started at
    another time than the lease records (the pid was reused). Anything unknown, in the
    lease or here, means not orphaned: the lease is then waited out.

    Args:
        info: the lease found.
        here: where the judging process runs.
        alive: whether ``info.pid`` names a live process here.
        start_ticks: when that process started, in clock ticks since boot (None: unknown).
    """
    if info.pid is None or info.pid <= 0 or info.start_ticks is None:
        return False  # an older lease, or one written without a /proc to read
    if not (here.boot_id and here.pid_ns):
        return False  # this process cannot tell where it runs
    if (info.host, info.boot_id, info.pid_ns) != (here.host, here.boot_id, here.pid_ns):
        return False
    if not alive:
        return True
    return start_ticks is not None and start_ticks != info.start_ticks


def _look_up(pid: int) -> tuple[bool, int | None]:
    """Whether ``pid`` is alive in this pid namespace, and when it started (if readable)."""
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False, None
    except (OSError, OverflowError):
        pass  # PermissionError: alive, just someone else's; anything else: assume alive
    return True, _start_ticks(pid)


def _start_ticks(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot; None where unreadable."""
    try:
        return _parse_start_ticks(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return None


def _parse_start_ticks(stat: str) -> int | None:
    """Field 22 (``starttime``) of a ``/proc/<pid>/stat`` line; None if it is not one."""
    # Field 2 is the command in parentheses, which may itself hold spaces and ')':
    # count the fields from the last ')'. The first field after it is field 3.
    _, paren, rest = stat.rpartition(")")
    fields = rest.split()
    if not paren or len(fields) < 20 or not fields[19].isdigit():
        return None
    return int(fields[19])


def _pid_namespace() -> str | None:
    """This process's pid namespace; None without Linux's /proc, or with another one's."""
    try:
        if os.readlink("/proc/self") != str(os.getpid()):
            return None  # /proc of another pid namespace: its pids are not ours
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _boot_id() -> str:
    """This boot's id (Linux); empty elsewhere, which disables takeovers."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


_HOST = socket.gethostname()
_BOOT_ID = _boot_id()


def check_tenant(tenant: str) -> None:
    if not is_name(tenant):
        raise LockfileError(f"cannot lock {tenant!r}: not a tenant name")


def check_args(tenant: str, ttl: float, timeout: float) -> None:
    check_tenant(tenant)
    if ttl <= 0 or timeout < 0:
        raise ValueError(f"ttl must be > 0 and timeout >= 0, not {ttl} and {timeout}")


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

"""Per-tenant apply locks: leases that name their holder and expire on their own.

This module owns taking, renewing, releasing and breaking a tenant's lease, in two
backends behind :class:`LockBackend`: lease files guarded by ``flock`` (the default, for
runs on one machine) and Redis keys with a TTL (``--lock-url redis://...``, for CI
runners on different machines). It is the one place redis exceptions raised by locking
are translated into :class:`~tenantops.errors.LockfileError`.

It must not know what an apply does: the caller holds a :class:`Lease` around its
work. A lease expires unless renewed, so a killed CI job frees its tenant after one
TTL; while a lease is held, a background task renews it every third of its TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import getpass
import json
import os
import re
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self
from urllib.parse import unquote, urlsplit, urlunsplit

from tenantops.apply.lockfile import atomic_write_text
from tenantops.errors import LockfileError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "FileLocks",
    "Lease",
    "LeaseInfo",
    "LockBackend",
    "RedisLocks",
    "default_holder",
    "open_locks",
]

#: Tenant names as the config allows them; also keeps lease file names inside the folder.
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_FIRST_POLL, _MAX_POLL = 0.05, 0.5


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """Who holds a tenant's lease, and until when (unix seconds)."""

    tenant: str
    holder: str
    token: str
    acquired_at: float
    expires_at: float

    @property
    def acquired_iso(self) -> str:
        """``acquired_at`` as UTC ISO 8601, for messages."""
        return _iso(self.acquired_at)

    @property
    def expires_iso(self) -> str:
        """``expires_at`` as UTC ISO 8601, for messages."""
        return _iso(self.expires_at)

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
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"missing or mistyped field {exc}") from exc


class _Keeper(Protocol):
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
        lost: True once a renewal found the lease broken or expired; the caller should
            stop changing the tenant, since another run may now hold it.
    """

    def __init__(self, info: LeaseInfo, *, ttl: float, keeper: _Keeper) -> None:
        self.info = info
        self.ttl = ttl
        self.lost = False
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
            raise LockfileError(
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
            await asyncio.wait({self._task})
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
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                if not await self._refresh():
                    return
            except LockfileError:
                # Store unreachable: keep trying while the last renewal still covers us.
                if loop.time() >= self._valid_until:
                    self.lost = True
                    return


class LockBackend(Protocol):
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


class FileLocks(LockBackend):
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
        """See :meth:`LockBackend.acquire`."""
        _check_args(tenant, ttl, timeout)

        async def attempt() -> Lease | LeaseInfo | None:
            with self._guard(tenant) as path:
                current = self._read(path, tenant)
                now = self._clock()
                if current is not None and current.expires_at > now:
                    return current
                info = _new_lease(tenant, holder, now, ttl)
                self._write(path, info)
            return Lease(info, ttl=ttl, keeper=self)

        return await _poll(tenant, attempt, timeout)

    async def peek(self, tenant: str) -> LeaseInfo | None:
        """See :meth:`LockBackend.peek`."""
        _check_tenant(tenant)
        if not self.directory.is_dir():
            return None  # nothing was ever locked here; don't create the folder to say so
        with self._guard(tenant) as path:
            current = self._read(path, tenant)
        return current if current and current.expires_at > self._clock() else None

    async def break_lock(self, tenant: str) -> LeaseInfo | None:
        """See :meth:`LockBackend.break_lock`; an expired or unreadable file goes too."""
        _check_tenant(tenant)
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


# Both scripts compare the token inside the stored JSON, so a run whose lease expired
# and was taken over can neither extend nor delete its successor's lease.
_RENEW = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local ok, lease = pcall(cjson.decode, current)
if not ok or type(lease) ~= 'table' or lease['token'] ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""
_RELEASE = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local ok, lease = pcall(cjson.decode, current)
if not ok or type(lease) ~= 'table' or lease['token'] ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""


class RedisLocks(LockBackend):
    """Leases as Redis keys with a TTL, for CI runners on different machines.

    The key is ``prefix + tenant`` and its value the lease as JSON. Redis expires the
    key itself, so a lease's life does not depend on the runners' clocks agreeing.
    """

    def __init__(
        self, url: str, *, prefix: str = "tenantops:lock:", connect_timeout: float = 5.0
    ) -> None:
        """Connect lazily to the Redis at ``url`` (nothing is sent until the first call).

        Args:
            url: ``redis://`` or ``rediss://`` URL, as ``redis.asyncio.from_url`` takes it.
            prefix: put before each tenant name to make its key.
            connect_timeout: seconds to wait for a connection or an answer.
        """
        # redis is imported here, not at the top, so file locks never pay for it.
        import redis.asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialWithJitterBackoff

        self.url = _mask_url(url)
        self.prefix = prefix
        self._password = urlsplit(url).password
        # redis-py's default of ten retries makes a dead server take many seconds to
        # report; the acquire loop already polls, so two quick retries are enough.
        self._client: Redis = redis.asyncio.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=connect_timeout,
            socket_timeout=connect_timeout,
            retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=2),
        )
        self._renew_script = self._client.register_script(_RENEW)
        self._release_script = self._client.register_script(_RELEASE)

    def __repr__(self) -> str:
        return f"RedisLocks({self.url!r}, prefix={self.prefix!r})"

    async def acquire(self, tenant: str, *, holder: str, ttl: float, timeout: float) -> Lease:
        """See :meth:`LockBackend.acquire`."""
        _check_args(tenant, ttl, timeout)
        key = self.prefix + tenant

        async def attempt() -> Lease | LeaseInfo | None:
            info = _new_lease(tenant, holder, time.time(), ttl)
            with self._map_errors():
                if await self._client.set(key, info.to_json(), nx=True, px=_ms(ttl)):
                    return Lease(info, ttl=ttl, keeper=self)
            # None if the holder released between our SET and this read: poll again.
            return await self.peek(tenant)

        return await _poll(tenant, attempt, timeout)

    async def peek(self, tenant: str) -> LeaseInfo | None:
        """See :meth:`LockBackend.peek`; ``expires_at`` is Redis's TTL, not the holder's clock."""
        _check_tenant(tenant)
        with self._map_errors():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.get(self.prefix + tenant)
                pipe.pttl(self.prefix + tenant)
                raw, pttl = await pipe.execute()
        info = self._parse(raw, tenant)
        if info is not None and pttl > 0:
            info = replace(info, expires_at=time.time() + pttl / 1000)
        return info

    async def break_lock(self, tenant: str) -> LeaseInfo | None:
        """See :meth:`LockBackend.break_lock`."""
        _check_tenant(tenant)
        with self._map_errors():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.get(self.prefix + tenant)
                pipe.delete(self.prefix + tenant)
                raw, _ = await pipe.execute()
        try:
            return self._parse(raw, tenant)
        except LockfileError:
            return None  # an unreadable value is gone now, which is what was asked

    async def aclose(self) -> None:
        """Close the connection pool."""
        with self._map_errors():
            await self._client.aclose()

    async def _renew_lease(self, info: LeaseInfo, ttl: float) -> LeaseInfo | None:
        renewed = replace(info, expires_at=time.time() + ttl)
        with self._map_errors():
            done = await self._renew_script(
                keys=[self.prefix + info.tenant], args=[info.token, renewed.to_json(), _ms(ttl)]
            )
        return renewed if done else None

    async def _release_lease(self, info: LeaseInfo) -> None:
        with self._map_errors():
            await self._release_script(keys=[self.prefix + info.tenant], args=[info.token])

    def _parse(self, raw: str | None, tenant: str) -> LeaseInfo | None:
        if raw is None:
            return None
        try:
            return LeaseInfo.from_json(raw)
        except ValueError as exc:
            raise LockfileError(
                f"the lease of tenant {tenant} in {self.url} is unreadable ({exc}); "
                f"run `tenantops unlock {tenant}` to remove it"
            ) from exc

    @contextlib.contextmanager
    def _map_errors(self) -> Iterator[None]:
        """Turn any redis error into a LockfileError naming the URL, never the password."""
        from redis.exceptions import RedisError

        try:
            yield
        except RedisError as exc:
            detail = str(exc)
            if self._password:
                detail = detail.replace(self._password, "***")
            raise LockfileError(
                f"cannot use the lock store {self.url}: {detail}; check that Redis is "
                "reachable and the --lock-url is right"
            ) from exc


def open_locks(lock_url: str | None, default_dir: Path) -> LockBackend:
    """The lock backend a ``--lock-url`` names.

    Args:
        lock_url: None or ``file://`` (lease files in ``default_dir``),
            ``file:///some/dir`` (lease files there), ``redis://`` or ``rediss://``.
        default_dir: the lease folder when the URL names none.

    Raises:
        LockfileError: an unsupported URL scheme.
    """
    if not lock_url:
        return FileLocks(default_dir)
    parts = urlsplit(lock_url)
    if parts.scheme == "file" and parts.netloc in ("", "localhost"):
        return FileLocks(Path(unquote(parts.path)) if parts.path else default_dir)
    if parts.scheme in ("redis", "rediss"):
        return RedisLocks(lock_url)
    raise LockfileError(
        f"unsupported lock URL {_mask_url(lock_url)}; use file:///dir, redis:// or rediss://"
    )


def default_holder() -> str:
    """Who is running: ``user@host pid N``; callers may pass a better name (a CI run)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name in the environment or passwd database
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


async def _poll(
    tenant: str, attempt: Callable[[], Awaitable[Lease | LeaseInfo | None]], timeout: float
) -> Lease:
    """Run ``attempt`` with a growing sleep until it returns a Lease or ``timeout`` runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = _FIRST_POLL
    holder: LeaseInfo | None = None
    while True:
        result = await attempt()
        if isinstance(result, Lease):
            return result
        holder = result or holder
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise _locked_error(tenant, holder)
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 1.5, _MAX_POLL)


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


def _new_lease(tenant: str, holder: str, now: float, ttl: float) -> LeaseInfo:
    return LeaseInfo(
        tenant=tenant,
        holder=holder,
        token=secrets.token_hex(16),
        acquired_at=now,
        expires_at=now + ttl,
    )


def _check_tenant(tenant: str) -> None:
    if not _TENANT.match(tenant):
        raise LockfileError(f"cannot lock {tenant!r}: not a tenant name")


def _check_args(tenant: str, ttl: float, timeout: float) -> None:
    _check_tenant(tenant)
    if ttl <= 0 or timeout < 0:
        raise ValueError(f"ttl must be > 0 and timeout >= 0, not {ttl} and {timeout}")


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _remove(path: Path) -> None:
    with _os_errors(f"cannot remove the lease file {path}"):
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def _os_errors(what: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise LockfileError(f"{what}: {exc}") from exc


def _mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe for messages and reprs."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))

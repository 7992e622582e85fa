"""Leases as Redis keys with a TTL, for CI runners on different machines (``--lock-url``)."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from tenantops.apply.locks.lease import (
    Lease,
    LeaseInfo,
    LockStore,
    acquire_polling,
    check_args,
    check_tenant,
    new_lease,
)
from tenantops.errors import LockfileError
from tenantops.redis_errors import map_redis_errors

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisLocks", "mask_url"]


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


class RedisLocks(LockStore):
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

        self.url = mask_url(url)
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
        """See :meth:`LockStore.acquire`."""
        check_args(tenant, ttl, timeout)
        key = self.prefix + tenant

        async def attempt() -> Lease | LeaseInfo | None:
            info = new_lease(tenant, holder, time.time(), ttl)
            with self._map_errors():
                if await self._client.set(key, info.to_json(), nx=True, px=_ms(ttl)):
                    return Lease(info, ttl=ttl, keeper=self)
            # None if the holder released between our SET and this read: poll again.
            current = await self.peek(tenant)
            if current is None or not current.is_orphaned:
                return current
            # Its holder died on this machine: remove exactly its lease, then take ours.
            await self._release_lease(current)
            with self._map_errors():
                if await self._client.set(key, info.to_json(), nx=True, px=_ms(ttl)):
                    return Lease(info, ttl=ttl, keeper=self, taken_over=current)
            return await self.peek(tenant)

        return await acquire_polling(tenant, attempt, timeout)

    async def peek(self, tenant: str) -> LeaseInfo | None:
        """See :meth:`LockStore.peek`; ``expires_at`` is Redis's TTL, not the holder's clock."""
        check_tenant(tenant)
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
        """See :meth:`LockStore.break_lock`."""
        check_tenant(tenant)
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

    def _map_errors(self) -> AbstractContextManager[None]:
        """Redis errors as a LockfileError naming the URL, never the password."""

        def make(detail: str, unavailable: bool, kind: type[BaseException]) -> LockfileError:
            return LockfileError(
                f"cannot use the lock store {self.url}: {detail}; check that Redis is "
                "reachable and the --lock-url is right"
            )

        return map_redis_errors(make, secret=self._password)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe for messages and reprs."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))

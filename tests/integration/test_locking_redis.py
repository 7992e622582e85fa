"""Redis leases against a real redis-server: the file-lease behaviours, plus failures."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio
from click.testing import CliRunner

from tenantops.apply.locks import LeaseInfo, RedisLocks
from tenantops.cli.app import App
from tenantops.cli.unlock import unlock
from tenantops.errors import LockfileError

pytestmark = pytest.mark.integration

URL = "redis://127.0.0.1:6379/0"
TTL = 30.0


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards."""
    name = f"test:tenantops:lock:{uuid.uuid4().hex}:"
    client = redis.asyncio.from_url(URL)
    try:
        await client.ping()
    except redis.ConnectionError:
        await client.aclose()
        pytest.fail(
            f"no redis-server at {URL}: start one (.ci/run does) to run the Redis lock tests"
        )
    yield name
    keys = [key async for key in client.scan_iter(match=f"{name}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def locks(prefix: str) -> AsyncIterator[RedisLocks]:
    backend = RedisLocks(URL, prefix=prefix)
    yield backend
    await backend.aclose()


@pytest.fixture
async def other(prefix: str) -> AsyncIterator[RedisLocks]:
    """A second backend on the same prefix, as another CI runner would have."""
    backend = RedisLocks(URL, prefix=prefix)
    yield backend
    await backend.aclose()


async def plant_lease(prefix: str, tenant: str, *, holder: str, ttl: float) -> LeaseInfo:
    """Store a lease as a run that has since died would have left it."""
    now = time.time()
    info = LeaseInfo(tenant, holder, "dead-token", now, now + ttl)
    client = redis.asyncio.from_url(URL)
    await client.set(prefix + tenant, info.to_json(), px=round(ttl * 1000))
    await client.aclose()
    return info


async def test_acquire_and_release(locks: RedisLocks, other: RedisLocks, prefix: str) -> None:
    """Acquire stores the lease JSON under prefix + tenant with a TTL; release deletes it."""
    async with await locks.acquire("acme", holder="alice", ttl=TTL, timeout=0) as lease:
        current = await other.peek("acme")
        assert current is not None
        assert (current.holder, current.token) == ("alice", lease.info.token)
        assert current.expires_at == pytest.approx(lease.info.expires_at, abs=1)
    assert await other.peek("acme") is None


async def test_second_acquire_times_out_naming_holder(locks: RedisLocks, other: RedisLocks) -> None:
    """Another runner waits out its timeout, then is told who holds the tenant."""
    async with await locks.acquire("acme", holder="github:alice run 42", ttl=TTL, timeout=0):
        started = time.monotonic()
        with pytest.raises(LockfileError) as caught:
            await other.acquire("acme", holder="bob", ttl=TTL, timeout=0.3)
        assert time.monotonic() - started >= 0.3
    assert str(caught.value).startswith("tenant acme is locked by github:alice run 42 since ")
    assert "run `tenantops unlock acme` if that run is dead" in str(caught.value)


async def test_concurrent_holders_never_overlap(prefix: str) -> None:
    """Runners with their own connections hold one tenant one at a time."""
    events: list[tuple[str, str]] = []

    async def apply(name: str) -> None:
        backend = RedisLocks(URL, prefix=prefix)
        try:
            async with await backend.acquire("acme", holder=name, ttl=TTL, timeout=10):
                events.append(("in", name))
                await asyncio.sleep(0.05)
                events.append(("out", name))
        finally:
            await backend.aclose()

    await asyncio.gather(*(apply(f"run{i}") for i in range(4)))
    assert len(events) == 8
    for enter, leave in zip(events[::2], events[1::2], strict=True):
        assert enter[0] == "in"
        assert leave == ("out", enter[1])


async def test_waiter_gets_lease_soon_after_release(locks: RedisLocks, other: RedisLocks) -> None:
    """A waiting runner takes the tenant within one poll of the holder releasing it."""
    first = await locks.acquire("acme", holder="first", ttl=TTL, timeout=0)
    waiter = asyncio.create_task(other.acquire("acme", holder="second", ttl=TTL, timeout=10))
    await asyncio.sleep(0.3)
    assert not waiter.done()
    await first.release()
    released = time.monotonic()
    second = await waiter
    assert time.monotonic() - released < 0.75
    await second.release()


async def test_expired_lease_is_taken_over(locks: RedisLocks, prefix: str) -> None:
    """A dead runner's lease blocks until Redis expires it, then is taken over."""
    await plant_lease(prefix, "acme", holder="dead run", ttl=0.2)
    with pytest.raises(LockfileError, match="locked by dead run"):
        await locks.acquire("acme", holder="new", ttl=TTL, timeout=0)
    async with await locks.acquire("acme", holder="new", ttl=TTL, timeout=2) as lease:
        assert lease.info.holder == "new"


async def test_renewal_keeps_lease_past_its_ttl(locks: RedisLocks, other: RedisLocks) -> None:
    """The background renewal keeps the key alive well past one TTL."""
    async with await locks.acquire("acme", holder="long deploy", ttl=0.45, timeout=0) as lease:
        await asyncio.sleep(1.0)
        current = await other.peek("acme")
        assert current is not None
        assert current.token == lease.info.token
        assert not lease.lost


async def test_stale_holder_can_neither_renew_nor_release(
    locks: RedisLocks, other: RedisLocks
) -> None:
    """After its lease was broken and retaken, the old holder cannot renew or delete it."""
    old = await locks.acquire("acme", holder="old", ttl=TTL, timeout=0)
    await other.break_lock("acme")
    new = await other.acquire("acme", holder="new", ttl=TTL, timeout=0)
    with pytest.raises(LockfileError, match="lost the lock on tenant acme"):
        await old.renew()
    assert old.lost
    await old.release()
    current = await other.peek("acme")
    assert current is not None
    assert current.token == new.info.token
    await new.release()


async def test_renewal_notices_a_broken_lock(locks: RedisLocks, other: RedisLocks) -> None:
    """When someone breaks the lease, the next renewal marks it lost."""
    lease = await locks.acquire("acme", holder="victim", ttl=0.3, timeout=0)
    removed = await other.break_lock("acme")
    assert removed is not None
    assert removed.token == lease.info.token
    await asyncio.sleep(0.5)
    assert lease.lost
    await lease.release()


async def test_break_lock_when_free(locks: RedisLocks) -> None:
    """break_lock on a free tenant returns None."""
    assert await locks.break_lock("acme") is None


async def test_unreachable_redis_fails_fast_without_password() -> None:
    """A dead Redis is a LockfileError within seconds, naming the URL but not the password."""
    backend = RedisLocks("redis://:hunter2@127.0.0.1:1/0", connect_timeout=1)
    started = time.monotonic()
    with pytest.raises(LockfileError) as caught:
        await backend.acquire("acme", holder="a", ttl=TTL, timeout=0)
    assert time.monotonic() - started < 5
    await backend.aclose()
    message = str(caught.value)
    assert "redis://:***@127.0.0.1:1/0" in message
    assert "hunter2" not in message
    assert "hunter2" not in repr(backend)


def test_unlock_command_with_redis(repo: Path) -> None:
    """`unlock --lock-url redis://...` breaks a runner's lease under the default prefix."""
    # The command uses the default prefix, so a unique tenant name keeps this test apart.
    tenant, prefix = f"t-{uuid.uuid4().hex}", "tenantops:lock:"
    # The CLI runs its own event loop, so this test is sync and seeds Redis with asyncio.run.
    asyncio.run(plant_lease(prefix, tenant, holder="runner 7", ttl=TTL))
    try:
        result = CliRunner().invoke(unlock, [tenant, "--lock-url", URL], obj=App(root=repo))
        again = CliRunner().invoke(
            unlock, [tenant], obj=App(root=repo), env={"TENANTOPS_LOCK_URL": URL}
        )
    finally:
        asyncio.run(_delete(prefix + tenant))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"unlocked {tenant} (was held by runner 7 since ")
    assert again.exit_code == 0, again.output
    assert again.stdout == f"{tenant} was not locked\n"


async def _delete(key: str) -> None:
    client = redis.asyncio.from_url(URL)
    await client.delete(key)
    await client.aclose()

"""Redis leases against a real Redis (the ``standalone_redis`` fixture): the file-lease
behaviours, plus failures, the same-host takeover of a killed holder's lease (audited
as ``lease_taken_over``), and an apply that loses its lease in the middle of a slow
deploy (broken by another runner, by `tenantops unlock` on lease files, or with Redis
gone for longer than the TTL)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from click.testing import CliRunner
from support.demo import DEMO_ENV, ROOT, demo_sim
from support.redisserver import standalone, standalone_url
from support.simserver import SimServer, run_sim

from tenantops.apply.audit import AuditLog
from tenantops.apply.interpret import Applier, ApplyOptions, TenantResult
from tenantops.apply.lockfile import read_lockfile
from tenantops.apply.locks import Lease, LeaseInfo, LockStore, RedisLocks
from tenantops.cli.app import App
from tenantops.cli.unlock import unlock
from tenantops.errors import LockfileError
from tenantops.pipeline.planner import Planner

pytestmark = pytest.mark.integration

URL = standalone_url()
TTL = 30.0


@pytest.fixture
async def prefix(standalone_redis: str) -> AsyncIterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards."""
    name = f"test:tenantops:lock:{uuid.uuid4().hex}:"
    client = redis.asyncio.from_url(standalone_redis)
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


# ---------------------------------------------------------------- a holder process on this host

_HOLDER = """
import asyncio, sys
from tenantops.apply.locks import RedisLocks

async def main() -> None:
    locks = RedisLocks(sys.argv[1], prefix=sys.argv[2])
    await locks.acquire(sys.argv[3], holder="run about to die", ttl=3600, timeout=5)
    print("held", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


@pytest.fixture
def holder(prefix: str) -> Iterator[subprocess.Popen[str]]:
    """A process of this machine holding tenant stark's lease (an hour's TTL) under ``prefix``."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, URL, prefix, "stark"], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    try:
        assert process.stdout.readline() == "held\n"
        yield process
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    with demo_sim(tmp_path_factory.mktemp("sim-state")) as server:
        yield server


@pytest.fixture(scope="module")
def slow_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    """A simulator seeded like the demo's whose deployments take 2 s."""
    state = tmp_path_factory.mktemp("slow-sim-state")
    shutil.copy(ROOT / "demo/sim-state/state.json", state / "state.json")
    with run_sim("--deploy-seconds", "2", state_dir=state) as server:
        yield server


async def _apply_stark(repo: Path, locks: LockStore, **options: Any) -> TenantResult:
    """Plan and apply tenant stark as `tenantops apply` does, with the leases in ``locks``.

    ``--lock-timeout 0`` unless ``options`` say otherwise: the tenant is taken over at
    once, or reported locked.
    """
    app = App(root=repo)
    backend = app.backend()
    try:
        plan = await Planner(app.fleet(), backend).plan(app.select(["stark"]))
        applier = Applier(
            fleet=app.fleet(),
            backend=backend,
            journal=app.journal(),
            locks=locks,
            lockfile=app.lockfile,
            options=ApplyOptions(
                **{"lock_timeout": 0, "deploy_timeout": 30, "holder": "next run", **options}
            ),
        )
        [result] = await applier.apply(plan)
    finally:
        await backend.aclose()
    return result


def _audit(repo: Path) -> list[tuple[str, dict[str, object]]]:
    """Tenant stark's audit records: (event, details), oldest first."""
    return [(r.event, r.details) for r in AuditLog(repo / "audit", actor="test").records("stark")]


def _takeovers(repo: Path) -> list[dict[str, object]]:
    return [details for event, details in _audit(repo) if event == "lease_taken_over"]


def _use_sim(sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> None:
    sim.admin("POST", "/_sim/reset").raise_for_status()
    for key, value in DEMO_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("COGNIGY_BASE_URL", sim.base_url)


@pytest.fixture
def demo_env(sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_sim(sim, monkeypatch)


@pytest.fixture
def slow_env(slow_sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_sim(slow_sim, monkeypatch)


@pytest.mark.usefixtures("demo_env")
async def test_lease_of_a_killed_holder_is_taken_over_at_once(
    repo: Path, locks: RedisLocks, holder: subprocess.Popen[str], other: RedisLocks
) -> None:
    """SIGKILLed on this host, its Redis lease is taken over without waiting, and audited."""
    held = await other.peek("stark")
    assert held is not None
    assert held.pid == holder.pid
    assert held.pid_ns is not None
    assert held.start_ticks is not None
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    result = await _apply_stark(repo, locks)
    assert (result.outcome, result.message) == ("applied", "")
    [details] = _takeovers(repo)
    assert details == {
        "holder": "run about to die",
        "pid": holder.pid,
        "acquired_at": held.acquired_iso,
    }
    assert await other.peek("stark") is None


@pytest.mark.usefixtures("demo_env")
async def test_lease_of_a_live_holder_is_not_taken_over(
    repo: Path, locks: RedisLocks, holder: subprocess.Popen[str], other: RedisLocks
) -> None:
    """While its holder process runs, the Redis lease keeps the tenant locked, naming it."""
    result = await _apply_stark(repo, locks)
    assert result.outcome == "locked"
    assert result.message.startswith("tenant stark is locked by run about to die since ")
    assert _takeovers(repo) == []
    current = await other.peek("stark")
    assert current is not None
    assert current.pid == holder.pid


# ---------------------------------------------------------------- a lease lost mid-deploy

#: Renewed every 0.2 s, so a broken lease is noticed long before the 2 s deploy ends.
SHORT_TTL = 0.6


async def _apply_stark_losing_its_lease(
    repo: Path, sim: SimServer, locks: LockStore, lose: Callable[[], Awaitable[None]]
) -> TenantResult:
    """Apply stark with a short lease, and call ``lose`` while its deployment is running."""
    applying = asyncio.create_task(
        _apply_stark(repo, locks, lock_ttl=SHORT_TTL, poll_initial=0.1, poll_max=0.3)
    )
    try:
        deadline = time.monotonic() + 20
        while not (found := await asyncio.to_thread(_deployments, sim)):
            assert not applying.done(), applying.result()
            assert time.monotonic() < deadline, "the deployment never started"
            await asyncio.sleep(0.05)
        assert [d["status"] for d in found] in (["pending"], ["processing"])
        await lose()
    except BaseException:
        applying.cancel()
        raise
    return await applying


def _deployments(sim: SimServer) -> list[dict[str, Any]]:
    return list(sim.admin("GET", "/_sim/deployments").json()["deployments"])


def _assert_failed_on_the_lost_lease(repo: Path, result: TenantResult) -> None:
    """Failed with the lost-lock message, audited, and nothing more done for the tenant."""
    assert result.outcome == "failed"
    assert result.message.startswith("lost the lock on tenant stark: its lease expired or ")
    events = _audit(repo)
    assert events[-1][0] == "apply_failed"
    assert events[-1][1]["error"] == result.message
    names = [event for event, _ in events]
    assert "applied" not in names  # the lockfile entry's own record
    assert "rollback_requested" not in names
    assert "stark" not in read_lockfile(repo / "tenantops.lock").tenants


@pytest.mark.usefixtures("slow_env")
async def test_apply_stops_when_another_runner_breaks_and_takes_its_lease(
    repo: Path, slow_sim: SimServer, locks: RedisLocks, other: RedisLocks
) -> None:
    """A lease broken mid-deploy fails the tenant: no lockfile entry, and the new holder's lease stays."""
    taken: list[Lease] = []

    async def break_and_take() -> None:
        assert await other.break_lock("stark") is not None
        taken.append(await other.acquire("stark", holder="second run", ttl=TTL, timeout=0))

    try:
        result = await _apply_stark_losing_its_lease(repo, slow_sim, locks, break_and_take)
        _assert_failed_on_the_lost_lease(repo, result)
        current = await other.peek("stark")
        assert current is not None
        assert current.token == taken[0].info.token  # the first run left the second's lease
    finally:
        for lease in taken:
            await lease.release()


@pytest.mark.usefixtures("slow_env")
async def test_apply_stops_when_its_lease_file_is_unlocked(
    repo: Path, slow_sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tenantops unlock` during a deploy fails the tenant, with no lockfile entry."""
    monkeypatch.delenv("TENANTOPS_LOCK_URL", raising=False)

    async def unlock_stark() -> None:
        unlocking = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "tenantops", "unlock", "stark"),
            cwd=repo,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await unlocking.communicate()
        assert unlocking.returncode == 0
        assert out.decode().startswith("unlocked stark (was held by next run since ")

    result = await _apply_stark_losing_its_lease(
        repo, slow_sim, App(root=repo).locks(None), unlock_stark
    )
    _assert_failed_on_the_lost_lease(repo, result)


@pytest.mark.usefixtures("slow_env")
async def test_apply_stops_when_redis_is_gone_for_longer_than_the_ttl(
    repo: Path, slow_sim: SimServer, tmp_path: Path
) -> None:
    """With the lock store unreachable past the TTL, the tenant fails (and release is no crash)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    with contextlib.ExitStack() as server:
        server.enter_context(standalone(url, tmp_path / "private-redis"))
        locks = RedisLocks(url, connect_timeout=1)
        try:
            # Closing the stack stops the server; leaving the block again is then a no-op.
            result = await _apply_stark_losing_its_lease(
                repo, slow_sim, locks, lambda: asyncio.to_thread(server.close)
            )
        finally:
            await locks.aclose()
    _assert_failed_on_the_lost_lease(repo, result)

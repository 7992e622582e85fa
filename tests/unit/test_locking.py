"""File leases: taking, waiting, expiry, renewal, breaking, losing, taking over a dead
holder's lease, and ``tenantops unlock``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from tenantops.apply.locks import FileLocks, LeaseInfo, RedisLocks, open_locks
from tenantops.apply.locks.lease import Origin, _parse_start_ticks, is_lease_orphaned, new_lease
from tenantops.cli.app import App
from tenantops.cli.unlock import unlock
from tenantops.errors import LockfileError

TTL = 30.0


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def plantreplace(
    LEASE, directory: Path, tenant: str, *, holder: str, expires_at: float
) -> LeaseInfo:
    """Write a lease file as a run that has since died would have left it."""
    info = LeaseInfo(tenant, holder, "dead-token", expires_at - TTL, expires_at)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{tenant}.lease").write_text(info.to_json())
    return info


@pytest.fixture
def lock_dir(tmp_path: Path) -> Path:
    return tmp_path / "locks"


async def test_acquire_writes_lease_and_release_removes_it(lock_dir: Path) -> None:
    """A lease file names tenant, holder, times and the holding process; release removes it."""
    locks = FileLocks(lock_dir)
    lease = await locks.acquire("acme", holder="alice@laptop pid 1", ttl=TTL, timeout=0)
    stored = json.loads((lock_dir / "acme.lease").read_text())
    assert set(stored) == {
        *("tenant", "holder", "token", "acquired_at", "expires_at"),
        *("host", "pid", "boot_id", "pid_ns", "start_ticks"),
    }
    assert stored["pid"] == os.getpid()
    assert stored["holder"] == "alice@laptop pid 1"
    assert stored["expires_at"] == pytest.approx(stored["acquired_at"] + TTL)
    assert await locks.peek("acme") == lease.info
    await lease.release()
    await lease.release()
    assert not (lock_dir / "acme.lease").exists()
    assert await locks.peek("acme") is None


async def test_context_manager_releases(lock_dir: Path) -> None:
    """Leaving ``async with`` releases the lease, even on an error."""
    locks = FileLocks(lock_dir)
    with pytest.raises(RuntimeError):
        async with await locks.acquire("acme", holder="a", ttl=TTL, timeout=0):
            raise RuntimeError("deploy failed")
    assert await locks.peek("acme") is None


async def test_second_acquire_times_out_naming_holder(lock_dir: Path) -> None:
    """A held tenant makes another acquire wait out its timeout, then say who holds it."""
    first, second = FileLocks(lock_dir), FileLocks(lock_dir)
    async with await first.acquire("acme", holder="alice@ci pid 7", ttl=TTL, timeout=0) as lease:
        started = time.monotonic()
        with pytest.raises(LockfileError) as caught:
            await second.acquire("acme", holder="bob", ttl=TTL, timeout=0.3)
        assert time.monotonic() - started >= 0.3
    message = str(caught.value)
    assert message.startswith("tenant acme is locked by alice@ci pid 7 since ")
    assert f"(lease expires {lease.info.expires_iso})" in message
    assert "run `tenantops unlock acme` if that run is dead" in message


async def test_waiter_gets_lease_soon_after_release(lock_dir: Path) -> None:
    """A waiting acquire takes the tenant within one poll of the holder releasing it."""
    locks = FileLocks(lock_dir)
    first = await locks.acquire("acme", holder="first", ttl=TTL, timeout=0)
    waiter = asyncio.create_task(locks.acquire("acme", holder="second", ttl=TTL, timeout=10))
    await asyncio.sleep(0.3)
    assert not waiter.done()
    await first.release()
    released = time.monotonic()
    second = await waiter
    assert time.monotonic() - released < 0.75
    assert second.info.holder == "second"
    await second.release()


async def test_concurrent_holders_never_overlap(lock_dir: Path) -> None:
    """Several tasks locking one tenant through separate backends run one at a time."""
    events: list[tuple[str, str]] = []

    async def apply(name: str) -> None:
        locks = FileLocks(lock_dir)
        async with await locks.acquire("acme", holder=name, ttl=TTL, timeout=10):
            events.append(("in", name))
            await asyncio.sleep(0.05)
            events.append(("out", name))

    await asyncio.gather(*(apply(f"run{i}") for i in range(4)))
    assert len(events) == 8
    for enter, leave in zip(events[::2], events[1::2], strict=True):
        assert enter[0] == "in"
        assert leave == ("out", enter[1])


async def test_unexpired_lease_of_dead_run_blocks(lock_dir: Path) -> None:
    """A dead run's lease still blocks the tenant until its expiry."""
    clock = FakeClock()
    plantreplace(LEASE, lock_dir, "acme", holder="dead run", expires_at=clock.now + 1)
    locks = FileLocks(lock_dir, clock=clock)
    current = await locks.peek("acme")
    assert current is not None
    assert current.holder == "dead run"
    with pytest.raises(LockfileError, match="locked by dead run"):
        await locks.acquire("acme", holder="new", ttl=TTL, timeout=0)


@pytest.mark.parametrize("past_expiry", [0.0, 1.0, 3600.0])
async def test_expired_lease_is_taken_over(lock_dir: Path, past_expiry: float) -> None:
    """A lease whose expires_at has come is free: peek ignores it and acquire takes it."""
    clock = FakeClock()
    plantreplace(LEASE, lock_dir, "acme", holder="dead run", expires_at=clock.now)
    clock.now += past_expiry
    locks = FileLocks(lock_dir, clock=clock)
    assert await locks.peek("acme") is None
    async with await locks.acquire("acme", holder="new", ttl=TTL, timeout=0) as lease:
        assert lease.info.acquired_at == clock.now
        assert await locks.peek("acme") == lease.info


async def test_stale_holder_can_neither_renew_nor_release(lock_dir: Path) -> None:
    """Once its expired lease is taken over, the old holder's renew fails and release is a no-op."""
    clock = FakeClock()
    old = await FileLocks(lock_dir, clock=clock).acquire("acme", holder="old", ttl=TTL, timeout=0)
    clock.now += TTL + 1
    locks = FileLocks(lock_dir, clock=clock)
    new = await locks.acquire("acme", holder="new", ttl=TTL, timeout=0)
    with pytest.raises(LockfileError, match="lost the lock on tenant acme"):
        await old.renew()
    assert old.lost
    await old.release()
    assert await locks.peek("acme") == new.info
    await new.release()


async def test_renewal_keeps_lease_past_its_ttl(lock_dir: Path) -> None:
    """The background renewal keeps a held lease alive well past one TTL."""
    locks = FileLocks(lock_dir)
    # Two TTLs long, with renewals every 0.4 s: a loaded CI machine still renews in time.
    async with await locks.acquire("acme", holder="long deploy", ttl=1.2, timeout=0) as lease:
        first_expiry = lease.info.expires_at
        await asyncio.sleep(2.4)
        current = await FileLocks(lock_dir).peek("acme")
        assert current is not None
        assert current.token == lease.info.token
        assert current.expires_at > first_expiry
        assert not lease.lost


async def test_renewal_notices_a_broken_lock(lock_dir: Path) -> None:
    """When someone breaks the lease, the next renewal marks it lost and stops."""
    locks = FileLocks(lock_dir)
    lease = await locks.acquire("acme", holder="victim", ttl=0.3, timeout=0)
    assert await FileLocks(lock_dir).break_lock("acme") == lease.info
    await asyncio.sleep(0.5)
    assert lease.lost
    await lease.release()


async def test_check_passes_while_held_and_raises_once_broken(lock_dir: Path) -> None:
    """check() is quiet while the lease is held; after a break is noticed it raises, as renew does."""
    lease = await FileLocks(lock_dir).acquire("acme", holder="victim", ttl=0.3, timeout=0)
    lease.check()
    await FileLocks(lock_dir).break_lock("acme")
    await asyncio.sleep(0.5)
    with pytest.raises(LockfileError, match="lost the lock on tenant acme") as caught:
        lease.check()
    assert "broken with `tenantops unlock`" in str(caught.value)
    await lease.release()


async def test_check_raises_after_release(lock_dir: Path) -> None:
    """A released lease no longer allows changes."""
    lease = await FileLocks(lock_dir).acquire("acme", holder="a", ttl=TTL, timeout=0)
    await lease.release()
    with pytest.raises(LockfileError, match="lost the lock on tenant acme"):
        lease.check()


class UnreachableLocks(FileLocks):
    """Lease files whose renewals fail as an unreachable store's do."""

    async def _renew_lease(self, info: LeaseInfo, ttl: float) -> LeaseInfo | None:
        raise LockfileError("cannot use the lock store: unreachable")


async def test_check_raises_once_no_renewal_covered_a_whole_ttl(lock_dir: Path) -> None:
    """With the store unreachable, the lease counts as lost once its last renewal ran out."""
    lease = await UnreachableLocks(lock_dir).acquire("acme", holder="a", ttl=0.3, timeout=0)
    await asyncio.sleep(0.15)
    lease.check()  # renewals failed, but the lease is still covered
    await asyncio.sleep(0.2)
    with pytest.raises(LockfileError, match="lost the lock on tenant acme"):
        lease.check()
    assert lease.lost
    await lease.release()


async def test_explicit_renew_moves_expiry(lock_dir: Path) -> None:
    """renew() extends expires_at to now + ttl by the backend's clock."""
    clock = FakeClock()
    locks = FileLocks(lock_dir, clock=clock)
    async with await locks.acquire("acme", holder="a", ttl=TTL, timeout=0) as lease:
        clock.now += 10
        await lease.renew()
        assert lease.info.expires_at == clock.now + TTL
        assert await locks.peek("acme") == lease.info


async def test_break_lock(lock_dir: Path) -> None:
    """break_lock returns the live lease it removed, and None when there was none."""
    locks = FileLocks(lock_dir)
    assert await locks.break_lock("acme") is None
    assert not lock_dir.exists()
    lease = await locks.acquire("acme", holder="a", ttl=TTL, timeout=0)
    assert await locks.break_lock("acme") == lease.info
    assert await locks.break_lock("acme") is None
    again = await locks.acquire("acme", holder="b", ttl=TTL, timeout=0)
    await lease.release()
    assert await locks.peek("acme") == again.info
    await again.release()


async def test_unreadable_lease_file_blocks_until_broken(lock_dir: Path) -> None:
    """A lease file that is not a lease stops acquire with advice; break_lock clears it."""
    lock_dir.mkdir()
    (lock_dir / "acme.lease").write_text("{not json")
    locks = FileLocks(lock_dir)
    with pytest.raises(LockfileError, match="run `tenantops unlock acme` to remove it"):
        await locks.acquire("acme", holder="a", ttl=TTL, timeout=0)
    assert await locks.break_lock("acme") is None
    async with await locks.acquire("acme", holder="a", ttl=TTL, timeout=0):
        pass


@pytest.mark.parametrize("tenant", ["../etc", "a/b", "", ".hidden"])
async def test_tenant_names_cannot_escape_the_folder(lock_dir: Path, tenant: str) -> None:
    """Names that are not tenant names are refused before any file is touched."""
    with pytest.raises(LockfileError, match="not a tenant name"):
        await FileLocks(lock_dir).acquire(tenant, holder="a", ttl=TTL, timeout=0)
    assert not lock_dir.exists()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (None, "default"),
        ("", "default"),
        ("file://", "default"),
        ("file:///srv/locks", "/srv/locks"),
    ],
)
def test_open_locks_file_urls(tmp_path: Path, url: str | None, expected: str) -> None:
    """No URL or a file: URL gives lease files, in the default folder unless one is named."""
    locks = open_locks(url, tmp_path / "default")
    assert isinstance(locks, FileLocks)
    assert locks.directory == (tmp_path / "default" if expected == "default" else Path(expected))


async def test_open_locks_redis_masks_password() -> None:
    """A redis URL gives RedisLocks whose repr hides the password."""
    locks = open_locks("redis://ci:hunter2@redis.internal:6380/2", Path("unused"))
    assert isinstance(locks, RedisLocks)
    assert "hunter2" not in repr(locks)
    assert "redis://ci:***@redis.internal:6380/2" in repr(locks)
    await locks.aclose()


def test_open_locks_refuses_other_schemes() -> None:
    """An unknown scheme is an error that names the supported ones, without the password."""
    with pytest.raises(LockfileError, match="unsupported lock URL") as caught:
        open_locks("etcd://root:hunter2@etcd:2379", Path("unused"))
    assert "hunter2" not in str(caught.value)


# ---------------------------------------------------------------- processes

_CONTENDER = """
import asyncio, os, sys, time
from pathlib import Path
from tenantops.apply.locks import FileLocks

async def main() -> None:
    directory, log, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    while not go.exists():
        time.sleep(0.01)
    locks = FileLocks(directory)
    for _ in range(3):
        async with await locks.acquire("acme", holder=str(os.getpid()), ttl=10, timeout=30):
            with open(log, "a") as f:
                f.write(f"in {os.getpid()}\\n")
            await asyncio.sleep(0.05)
            with open(log, "a") as f:
                f.write(f"out {os.getpid()}\\n")

asyncio.run(main())
"""


@pytest.mark.integration
def test_processes_are_serialised(tmp_path: Path) -> None:
    """Separate processes contending for one tenant hold it one at a time."""
    log, go = tmp_path / "log", tmp_path / "go"
    args = [sys.executable, "-c", _CONTENDER, str(tmp_path / "locks"), str(log), str(go)]
    procs = [subprocess.Popen(args) for _ in range(3)]
    go.touch()
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    lines = log.read_text().splitlines()
    assert len(lines) == 18
    for enter, leave in zip(lines[::2], lines[1::2], strict=True):
        assert enter.startswith("in ")
        assert leave == "out " + enter.removeprefix("in ")


# ---------------------------------------------------------------- tenantops unlock


def test_unlock_breaks_a_held_lock(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`unlock TENANT` removes the lease and says whose it was."""
    monkeypatch.delenv("TENANTOPS_LOCK_URL", raising=False)
    info = plantreplace(
        LEASE,
        repo / ".tenantops" / "locks",
        "acme",
        holder="ci run 42",
        expires_at=time.time() + TTL,
    )
    result = CliRunner().invoke(unlock, ["acme"], obj=App(root=repo))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"unlocked acme (was held by ci run 42 since {info.acquired_iso})\n"
    assert not (repo / ".tenantops" / "locks" / "acme.lease").exists()


def test_unlock_when_not_locked(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`unlock` on a free tenant says so and exits 0."""
    monkeypatch.delenv("TENANTOPS_LOCK_URL", raising=False)
    result = CliRunner().invoke(unlock, ["acme"], obj=App(root=repo))
    assert result.exit_code == 0, result.output
    assert result.stdout == "acme was not locked\n"


def test_unlock_reads_lock_url_from_env(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TENANTOPS_LOCK_URL picks the lock store when --lock-url is not given."""
    elsewhere = tmp_path / "shared-locks"
    plantreplace(LEASE, elsewhere, "globex", holder="other box", expires_at=time.time() + TTL)
    monkeypatch.setenv("TENANTOPS_LOCK_URL", elsewhere.as_uri())
    result = CliRunner().invoke(unlock, ["globex"], obj=App(root=repo))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("unlocked globex (was held by other box since ")
    assert not (elsewhere / "globex.lease").exists()


def _dead_pid() -> int:
    """The pid of a process of this machine that has exited."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout)


async def test_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(lock_dir: Path) -> None:
    """A same-host lease whose process is gone is replaced at once, and says whose it was."""
    acquired = time.time()
    dead = LeaseInfo("acme", "killed run", "t", acquired, acquired + 3600)
    dead = LeaseInfo(**{**json.loads(dead.to_json()), **_here(pid=_dead_pid())})
    lock_dir.mkdir(parents=True, exist_ok=True)
    (lock_dir / "acme.lease").write_text(dead.to_json())
    started = time.monotonic()
    async with await FileLocks(lock_dir).acquire(
        "acme", holder="next", ttl=TTL, timeout=5
    ) as lease:
        assert time.monotonic() - started < 1
        assert lease.taken_over == dead
        assert lease.info.holder == "next"


async def test_lease_of_a_live_process_is_not_taken_over(lock_dir: Path) -> None:
    """A same-host lease whose process still runs keeps the tenant locked."""
    acquired = time.time()
    alive = LeaseInfo(
        "acme", "running run", "t", acquired, acquired + 3600, **_here(pid=os.getpid())
    )
    lock_dir.mkdir(parents=True, exist_ok=True)
    (lock_dir / "acme.lease").write_text(alive.to_json())
    with pytest.raises(LockfileError, match="locked by running run"):
        await FileLocks(lock_dir).acquire("acme", holder="next", ttl=TTL, timeout=0)


def _here(*, pid: int, **changes: object) -> dict[str, object]:
    """Where this process runs and when it started, as a lease written here records them."""
    mine = json.loads(new_lease("x", "x", 0.0, 1.0).to_json())
    keys = ("host", "boot_id", "pid_ns", "start_ticks")
    return {**{key: mine[key] for key in keys}, "pid": pid, **changes}


def _planted(lock_dir: Path, **where: object) -> LeaseInfo:
    """An unexpired lease of tenant acme written from ``where``."""
    acquired = time.time()
    info = LeaseInfo("acme", "holder", "t", acquired, acquired + 3600, **where)
    lock_dir.mkdir(parents=True, exist_ok=True)
    (lock_dir / "acme.lease").write_text(info.to_json())
    return info


@pytest.mark.skipif(not Path("/proc/self/ns/pid").exists(), reason="needs Linux's /proc")
def test_a_lease_records_pid_namespace_and_start_time() -> None:
    """A new lease names this process's pid namespace and its start time from /proc."""
    info = new_lease("acme", "a", 0.0, 1.0)
    assert info.pid_ns == os.readlink("/proc/self/ns/pid")
    assert info.pid_ns.startswith("pid:[")
    assert info.start_ticks == _parse_start_ticks(Path(f"/proc/{os.getpid()}/stat").read_text())
    assert info.start_ticks is not None


@pytest.mark.skipif(not Path("/proc/self/ns/pid").exists(), reason="needs Linux's /proc")
async def test_a_dead_pid_of_another_pid_namespace_is_not_taken_over(lock_dir: Path) -> None:
    """Another container's holder (same host and boot, other pid namespace) is waited out."""
    _planted(lock_dir, **_here(pid=_dead_pid(), pid_ns="pid:[1]"))
    with pytest.raises(LockfileError, match="locked by holder"):
        await FileLocks(lock_dir).acquire("acme", holder="next", ttl=TTL, timeout=0)


@pytest.mark.skipif(not Path("/proc/self/ns/pid").exists(), reason="needs Linux's /proc")
async def test_a_reused_pid_is_taken_over(lock_dir: Path) -> None:
    """A live pid that started at another time than the lease says is not its holder."""
    here = _here(pid=os.getpid())
    assert isinstance(here["start_ticks"], int)
    planted = _planted(lock_dir, **{**here, "start_ticks": here["start_ticks"] - 1})
    async with await FileLocks(lock_dir).acquire(
        "acme", holder="next", ttl=TTL, timeout=0
    ) as lease:
        assert lease.taken_over == planted


async def test_a_lease_without_pid_namespace_or_start_time_is_waited_out(lock_dir: Path) -> None:
    """A lease written before pid namespaces and start times were recorded is never taken over."""
    _planted(lock_dir, **_here(pid=_dead_pid(), pid_ns=None, start_ticks=None))
    with pytest.raises(LockfileError, match="locked by holder"):
        await FileLocks(lock_dir).acquire("acme", holder="next", ttl=TTL, timeout=0)


# ---------------------------------------------------------------- the takeover decision

HERE = Origin(host="ci-1", boot_id="boot-a", pid_ns="pid:[4026531836]")


#: A lease written at HERE by pid 4242, which started at tick 1000.
LEASE = LeaseInfo(
    "acme", "a", "t", 0.0, 60.0, HERE.host, 4242, HERE.boot_id, HERE.pid_ns, start_ticks=1000
)


@pytest.mark.parametrize(
    ("lease", "here", "alive", "started", "orphaned"),
    [
        pytest.param(LEASE, HERE, False, None, True, id="same place, pid gone"),
        pytest.param(LEASE, HERE, True, 1000, False, id="same place, holder alive"),
        pytest.param(LEASE, HERE, True, 1001, True, id="pid reused: other start time"),
        pytest.param(LEASE, HERE, True, None, False, id="alive, start time unreadable"),
        pytest.param(
            replace(LEASE, pid_ns="pid:[4026532000]"), HERE, False, None, False, id="other ns"
        ),
        pytest.param(replace(LEASE, boot_id="boot-b"), HERE, False, None, False, id="other boot"),
        pytest.param(replace(LEASE, host="ci-2"), HERE, False, None, False, id="other host"),
        pytest.param(
            replace(LEASE, pid_ns=None), HERE, False, None, False, id="lease lacks pid ns"
        ),
        pytest.param(
            replace(LEASE, start_ticks=None), HERE, False, None, False, id="lease lacks start time"
        ),
        pytest.param(
            replace(LEASE, boot_id=None), HERE, False, None, False, id="lease lacks boot id"
        ),
        pytest.param(replace(LEASE, pid=None), HERE, False, None, False, id="lease lacks pid"),
        pytest.param(
            replace(LEASE, pid_ns=None),
            Origin("ci-1", "boot-a", None),
            False,
            None,
            False,
            id="here: no pid ns",
        ),
        pytest.param(
            replace(LEASE, boot_id=None),
            Origin("ci-1", None, HERE.pid_ns),
            False,
            None,
            False,
            id="here: no boot id",
        ),
    ],
)
def test_is_lease_orphaned(
    lease: LeaseInfo, here: Origin, alive: bool, started: int | None, orphaned: bool
) -> None:
    """Only a holder of this host, boot and pid namespace that is gone or whose pid was reused."""
    assert is_lease_orphaned(lease, here, alive=alive, start_ticks=started) is orphaned


@pytest.mark.parametrize(
    ("stat", "ticks"),
    [
        ("4242 (python3) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 1 2", 98765),
        ("4242 (a) b (c) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 555 1 2", 555),
        ("4242 (x y z) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 7 0 0", 7),
        ("4242 (python3) S 1 4242", None),
        ("not a stat line", None),
    ],
)
def test_parse_start_ticks(stat: str, ticks: int | None) -> None:
    """Field 22 is counted from the last ')', so a command with spaces or ')' cannot shift it."""
    assert _parse_start_ticks(stat) == ticks

"""The Redis Cluster fixture, and the redis-py asyncio cluster behaviour the relay relies on.

Most tests share one module-scoped cluster and must leave it healthy. The
failover and teardown tests break things, so each starts its own cluster.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.exceptions
from redis.asyncio.cluster import RedisCluster
from support.rediscluster import (
    CLIENT_KWARGS,
    ClusterNode,
    ClusterUnderTest,
    start_cluster,
)

pytestmark = pytest.mark.integration

#: Compare-and-set of a session blob and its version counter, like the relay's
#: transitions: KEYS[1] blob, KEYS[2] version; ARGV[1] expected version, ARGV[2] blob.
CAS_SCRIPT = """
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current ~= tonumber(ARGV[1]) then
  return -1
end
redis.call('SET', KEYS[1], ARGV[2])
return redis.call('INCR', KEYS[2])
"""

#: What a call may raise while a master is failing over (see the fixture's docstring).
TRANSIENT = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterDownError,
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterUnderTest]:
    """One healthy 3 + 3 cluster for the tests that do not break it."""
    with start_cluster(tmp_path_factory.mktemp("rediscluster")) as running:
        yield running


def session_keys(sid: str) -> list[str]:
    """The two keys of a session; the hash tag puts them in the same slot."""
    return [f"cognigy:session:{{{sid}}}", f"cognigy:session:version:{{{sid}}}"]


def session_on(cluster: ClusterUnderTest, master: ClusterNode, prefix: str = "s") -> str:
    """A session id whose keys live on ``master``."""
    for index in range(10_000):
        sid = f"{prefix}{index}"
        if cluster.master_for_key(session_keys(sid)[0]) is master:
            return sid
    raise AssertionError(f"no session id maps to {master.address}")


def is_alive(node: ClusterNode, pid: int) -> bool:
    """Whether ``pid`` is still this node's server (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    # redis-server or the packaged valkey-server: both retitle the process "<name> host:port".
    is_server = b"redis-server" in cmdline or b"valkey-server" in cmdline
    return is_server and str(node.port).encode() in cmdline


def test_cluster_has_three_masters_with_one_replica_each(cluster: ClusterUnderTest) -> None:
    """start_cluster gives 3 serving masters, each with one attached running replica."""
    masters = cluster.masters()
    replicas = [replica for master in masters for replica in cluster.replicas_of(master)]

    assert len(masters) == 3
    assert [len(cluster.replicas_of(master)) for master in masters] == [1, 1, 1]
    assert {id(node) for node in masters + replicas} == {id(node) for node in cluster.nodes}
    assert all(node.is_running() for node in cluster.nodes)
    assert cluster.startup_urls == [f"redis://127.0.0.1:{node.port}" for node in cluster.nodes]
    cluster.wait_healthy(timeout=1, min_replicas=1)


@pytest.mark.parametrize("key", ["a", "b", "cognigy:session:{s1}", "cognigy:session:version:{s1}"])
def test_master_for_key_names_the_node_that_serves_it(cluster: ClusterUnderTest, key: str) -> None:
    """The node master_for_key returns accepts the key without a MOVED redirect."""
    node = cluster.master_for_key(key)

    assert node.command("SET", key, "direct") is True
    assert node.command("GET", key) == "direct"


def test_fail_master_refuses_a_replica(cluster: ClusterUnderTest) -> None:
    """fail_master stops nothing when it is given a replica."""
    replica = cluster.replicas_of(cluster.masters()[0])[0]

    with pytest.raises(ValueError, match="not a master"):
        cluster.fail_master(replica)
    assert replica.is_running()


async def test_set_get_across_slots_through_async_client(cluster: ClusterUnderTest) -> None:
    """An async RedisCluster client writes and reads keys spread over every master."""
    keys = [f"spread:{index}" for index in range(60)]
    owners = {key: cluster.master_for_key(key) for key in keys}
    assert {id(node) for node in owners.values()} == {id(m) for m in cluster.masters()}

    async with cluster.async_client(decode_responses=True) as client:
        await asyncio.gather(*(client.set(key, f"value-{key}") for key in keys))
        values = await asyncio.gather(*(client.get(key) for key in keys))

    assert values == [f"value-{key}" for key in keys]
    # Each key landed on the master the fixture computed, not just somewhere.
    assert all(owners[key].command("GET", key) == f"value-{key}" for key in keys)


async def test_from_url_discovers_every_master(cluster: ClusterUnderTest) -> None:
    """RedisCluster.from_url with one node's URL finds every master."""
    # Replicas only show up once CLUSTER SLOTS lists them: Redis 7 leaves out a
    # replica until its replication offset is non-zero, so compare the masters.
    async with RedisCluster.from_url(cluster.startup_urls[-1], **CLIENT_KWARGS) as client:
        assert await client.ping() is True
        assert {node.port for node in client.get_primaries()} == {
            master.port for master in cluster.masters()
        }


async def test_hash_tagged_script_runs_atomically_on_the_owning_master(
    cluster: ClusterUnderTest,
) -> None:
    """A registered script on {sid}-tagged keys runs once per version on the slot's master."""
    master = cluster.masters()[0]
    sid = session_on(cluster, master, prefix="atomic")
    async with cluster.async_client(decode_responses=True) as client:
        script = client.register_script(CAS_SCRIPT)
        results = await asyncio.gather(
            *(script(keys=session_keys(sid), args=[0, f"blob-{n}"]) for n in range(20))
        )

    assert sorted(results) == [-1] * 19 + [1]
    winner = results.index(1)
    blob, version = session_keys(sid)
    assert master.command("GET", blob) == f"blob-{winner}"
    assert master.command("GET", version) == "1"


async def test_script_falls_back_from_noscript_on_a_fresh_master(
    cluster: ClusterUnderTest,
) -> None:
    """EVALSHA on a master without the script reloads it (NOSCRIPT fallback) and succeeds."""
    first, fresh = cluster.masters()[:2]
    async with cluster.async_client(decode_responses=True) as client:
        script = client.register_script(CAS_SCRIPT)
        assert await script(keys=session_keys(session_on(cluster, first, "ns")), args=[0, "x"]) == 1
        fresh.command("SCRIPT", "FLUSH")
        assert fresh.command("SCRIPT", "EXISTS", script.sha) == [0]

        assert await script(keys=session_keys(session_on(cluster, fresh, "ns")), args=[0, "y"]) == 1

        assert fresh.command("SCRIPT", "EXISTS", script.sha) == [1]
        with pytest.raises(redis.exceptions.RedisClusterException, match="same key slot"):
            await script(keys=["cognigy:session:{a}", "cognigy:session:version:{b}"], args=[0, "z"])


async def probe(client: RedisCluster, key: str, errors: list[BaseException]) -> None:
    """Read ``key`` every 50 ms during the failover, collecting what calls raise."""
    while True:
        try:
            await client.get(key)
        except Exception as exc:  # the test asserts on the types seen
            errors.append(exc)
        await asyncio.sleep(0.05)


async def until_ok(
    client: RedisCluster, key: str, errors: list[BaseException], *, timeout: float
) -> object:
    """GET ``key`` until a call succeeds; transient errors are collected, not raised."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await client.get(key)
        except TRANSIENT as exc:
            errors.append(exc)
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)


async def test_same_client_recovers_after_fail_master(tmp_path: Path) -> None:
    """After fail_master the replica serves the slots and the same client sees the old data."""
    with start_cluster(tmp_path) as cluster:
        victim = cluster.masters()[0]
        (replica,) = cluster.replicas_of(victim)
        sid = session_on(cluster, victim)
        blob, version = session_keys(sid)
        async with cluster.async_client(decode_responses=True) as client:
            script = client.register_script(CAS_SCRIPT)
            assert await script(keys=[blob, version], args=[0, "before"]) == 1
            # Replication is asynchronous: without WAIT the write could die with the master.
            assert victim.command("WAIT", 1, 1000) >= 1

            errors: list[BaseException] = []
            probing = asyncio.create_task(probe(client, blob, errors))
            promoted = await asyncio.to_thread(cluster.fail_master, victim)
            failed_over = time.monotonic()
            value = await until_ok(client, blob, errors, timeout=5)
            recovered_after = time.monotonic() - failed_over
            probing.cancel()
            # Promoted replicas lack the script (SCRIPT LOAD is not replicated): fallback.
            assert await script(keys=[blob, version], args=[1, "after"]) == 2

        assert promoted is replica
        assert not victim.is_running()
        assert cluster.master_for_key(blob) is promoted
        assert value == "before"
        assert recovered_after < 2.0
        assert all(isinstance(error, TRANSIENT) for error in errors), errors

        victim.start()
        cluster.wait_healthy(min_replicas=1)
        assert cluster.replicas_of(promoted) == [victim]


def fail_inside_cluster(tmp_path: Path, nodes: list[ClusterNode]) -> None:
    """Start a cluster, stop a replica, pause a master, then fail as a test would."""
    with start_cluster(tmp_path) as cluster:
        nodes.extend(cluster.nodes)
        masters = cluster.masters()
        cluster.replicas_of(masters[0])[0].stop()
        masters[1].pause()
        cluster.wait_healthy(timeout=0.5, min_replicas=1)


def test_teardown_kills_every_node_even_after_a_failure(tmp_path: Path) -> None:
    """Leaving the block by an error, with a node stopped and one paused, kills all nodes."""
    nodes: list[ClusterNode] = []

    with pytest.raises(RuntimeError, match="redis cluster not ready") as failure:
        fail_inside_cluster(tmp_path, nodes)

    assert "redis.log" in str(failure.value)
    assert len(nodes) == 6
    assert all(node.process.returncode is not None for node in nodes)
    assert not [node.address for node in nodes if is_alive(node, node.process.pid)]
    assert list(tmp_path.iterdir()) == []

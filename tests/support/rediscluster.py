"""A real Redis Cluster for integration tests: :func:`start_cluster`.

``start_cluster(tmp_path)`` runs 3 masters and 3 replicas as server processes
(``redis-server`` on PATH, else the packaged ``valkey-server``: see
:func:`support.redisserver.server_binary`) on free loopback ports, each with its
files in its own directory under ``tmp``. It joins them with ``CLUSTER MEET``,
``CLUSTER ADDSLOTSRANGE`` and ``CLUSTER REPLICATE`` (what ``redis-cli --cluster
create`` does; the packaged server has no CLI) and waits until the cluster is
healthy (about 2 s). ``cluster-node-timeout`` is 1000 ms, so a stopped
master's replica takes over in 2-3 s. On exit every process is killed and reaped
and the directories are removed, whatever the test did. This module owns only
those processes: it never touches another Redis (such as the standalone one on
6379)::

    with start_cluster(tmp_path) as cluster:
        async with cluster.async_client() as client:   # initialized, then closed
            await client.set("k", "v")
        promoted = cluster.fail_master(cluster.master_for_key("k"))

How redis-py 8.1's ``redis.asyncio.cluster.RedisCluster`` behaves
-----------------------------------------------------------------
Measured with this fixture and redis-server 7.0 (valkey-server 9.1 passes the
same tests). The relay relies on these facts,
and ``tests/integration/test_rediscluster_fixture.py`` pins the main ones.

Connecting. ``RedisCluster(startup_nodes=[ClusterNode(host, port), ...])`` and
``RedisCluster.from_url("redis://host:port")`` both discover every node. Pass
several startup nodes: ``from_url`` takes one, so the client cannot start while
that node is down. Call ``await client.initialize()`` (or use ``async with
client``) before a new client serves concurrent tasks: when 32 commands hit a
fresh client at once, some fail with ``AttributeError: 'NoneType' object has no
attribute 'writelines'`` (in 26 of 30 trials). After ``initialize()`` this never
happened (0 of 30). The client learns about replicas only from CLUSTER SLOTS,
and Redis 7 leaves a replica out of that reply until its replication offset is
non-zero, i.e. until the first write. This only matters for reads from replicas.

Scripts. ``client.register_script(src)(keys=[...], args=[...])`` with keys that
share a hash tag (``cognigy:session:{s1}``, ``cognigy:session:version:{s1}``)
sends EVALSHA to the master of that slot, where it runs atomically. When the
reply is NOSCRIPT, redis-py sends SCRIPT LOAD to *every* primary and tries again.
So a master that never saw the script works. A promoted replica has no copy of
the script (Redis 7 does not replicate SCRIPT LOAD), but the first call loads it.
That reload fails with ``ConnectionError`` while *any* master is down, even when
the key's own master is fine. Keys in different slots fail in the client with
``RedisClusterException`` ("all keys must map to the same key slot").
``RedisClusterException`` and ``SlotNotCoveredError`` are *not* ``RedisError``
subclasses, and ``ClusterDownError`` *is* a ``ResponseError``.

Failover. A master is stopped with SIGTERM, and its replica is promoted 2.2-3 s
later, which is about cluster-node-timeout plus 1 s.

- Keys of the dead master: each call raises ``redis.exceptions.ConnectionError``
  ("Error 111 connecting to ...", the first one may be "Connection closed by
  server.") after 0.4-1.2 s. Each ConnectionError makes the client reread the
  topology (CLUSTER SLOTS) and retry at once, 11 attempts with the default retry,
  but until the promotion every slot map still names the dead node.
- Keys of the other masters: from the moment the dead node is flagged FAIL until
  the promotion (0.3-1 s), nodes answer CLUSTERDOWN. The client then closes *all*
  its connections, sleeps 0.25 s and retries. With the default 10 retries, no
  error reached the caller and calls took up to about 1 s. With 0-3 retries, the
  caller got ``ClusterDownError``, and some in-flight calls got
  ``ConnectionError`` or ``TimeoutError``.
- A hung master (SIGSTOP, see :meth:`ClusterNode.pause`: connect works, no reply
  comes): each attempt blocks for ``socket_timeout`` and then raises
  ``TimeoutError``, which is retried like ConnectionError. With the default
  ``socket_timeout`` (5 s), calls took up to 7.5 s. With ``socket_timeout=1``
  they took up to 2.7 s, and no error reached the caller.
- Recovery: the *same client object* recovers by itself. The first call made after
  the promotion succeeds, because the failed calls already marked the topology
  stale. There is no restart and no manual ``initialize()``.
- Never seen: ``MaxConnectionsError`` (the client ran out of its 100 connections
  per node, which failover does not cause), and ``MovedError``, ``AskError`` and
  ``TryAgainError``, which the client handles inside.
- In 8.1 the async cluster client takes only the retry *count* from ``retry``
  (the backoff is ignored). Retries happen at once, except for the 0.25 s pause
  after CLUSTERDOWN. ``cluster_error_retry_attempts`` is deprecated: it raises a
  DeprecationWarning, which our ``filterwarnings = error`` turns into an error,
  so pass ``retry=Retry(...)`` instead. ``reinitialize_steps`` only counts MOVED
  replies (resharding) and plays no part in failover.

Recommended settings, in :data:`CLIENT_KWARGS`: ``socket_connect_timeout=0.5`` and
``socket_timeout=1.0``, so that a hung or unreachable node costs 1 s per attempt
(the session scripts are short). Keep the default retry (10). Pass every known
node in ``startup_nodes``, and ``await client.initialize()`` at startup. Treat
``ConnectionError``, ``TimeoutError``, ``ClusterDownError`` and
``SlotNotCoveredError`` as transient ("try again shortly"). Bound each request
with ``asyncio.timeout``, because retries multiplied by ``socket_timeout`` can add
up to 11 s while a master hangs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from redis.asyncio.cluster import ClusterNode as RedisClusterNode
from redis.asyncio.cluster import RedisCluster
from redis.backoff import NoBackoff
from redis.retry import Retry

from support.redisserver import server_binary

__all__ = [
    "CLIENT_KWARGS",
    "HOST",
    "ClusterNode",
    "ClusterUnderTest",
    "start_cluster",
]

HOST = "127.0.0.1"
SLOTS = 16384

#: Settings for ``redis.asyncio.cluster.RedisCluster`` that recover quickly from a
#: failover; the module docstring has the measurements behind them. The default
#: retry (10 attempts) stays: it hides CLUSTERDOWN from keys of healthy masters.
CLIENT_KWARGS: dict[str, Any] = {
    "socket_connect_timeout": 0.5,
    "socket_timeout": 1.0,
}

#: A node's cluster bus listens on its port + 10000 (Redis hard-codes the offset).
_BUS_OFFSET = 10_000
_NODE_TIMEOUT_MS = 1000
_POLL_INTERVAL = 0.05
_READY_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
_LOG_TAIL_LINES = 20
_PORT_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class _Entry:
    """One line of ``CLUSTER NODES``: how one node sees another."""

    node_id: str
    port: int
    flags: frozenset[str]
    master_id: str | None
    slots: tuple[tuple[int, int], ...]

    @property
    def is_failing(self) -> bool:
        return bool(self.flags & {"fail", "fail?", "handshake", "noaddr"})

    @property
    def is_serving_master(self) -> bool:
        return "master" in self.flags and bool(self.slots) and not self.is_failing


def _parse_slot_range(token: str) -> tuple[int, int]:
    start, _, end = token.partition("-")
    return int(start), int(end or start)


def _parse_nodes(text: str) -> list[_Entry]:
    """Parse ``CLUSTER NODES`` (https://redis.io/commands/cluster-nodes/)."""
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 8:
            continue
        # "127.0.0.1:30001@40001[,hostname]"; a node without address shows ":0@0".
        address = fields[1].split("@", 1)[0]
        entries.append(
            _Entry(
                node_id=fields[0],
                port=int(address.rsplit(":", 1)[1] or 0),
                flags=frozenset(fields[2].split(",")),
                master_id=None if fields[3] == "-" else fields[3],
                # "[slot->-id]" / "[slot-<-id]" mark slots being migrated: not owned.
                slots=tuple(_parse_slot_range(t) for t in fields[8:] if not t.startswith("[")),
            )
        )
    return entries


def _parse_info(text: str) -> dict[str, str]:
    """Parse the ``key:value`` lines of ``CLUSTER INFO``."""
    pairs = (line.partition(":") for line in text.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, _, value in pairs}


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _free_ports(count: int, *, exclude: Collection[int] = ()) -> list[int]:
    """Distinct free loopback ports P whose cluster bus port P + 10000 is free too."""
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        # Every probe socket stays bound until all ports are chosen, so the kernel
        # never hands out the same port (or a chosen bus port) twice.
        while len(ports) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(sock)
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
            if port + _BUS_OFFSET > 65535 or port in exclude:
                continue
            bus = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(bus)
            try:
                bus.bind((HOST, port + _BUS_OFFSET))
            except OSError:
                continue
            ports.append(port)
    finally:
        for sock in held:
            sock.close()
    return ports


def _spawn(port: int, directory: Path) -> subprocess.Popen[bytes]:
    args = [
        server_binary(),
        *("--port", str(port), "--bind", HOST, "--protected-mode", "no"),
        *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
        *("--cluster-node-timeout", str(_NODE_TIMEOUT_MS)),
        # 0 lets any replica be promoted, however long its link was down: tests
        # stop masters at will and must not depend on replication timing.
        *("--cluster-replica-validity-factor", "0"),
        *("--cluster-allow-reads-when-down", "no"),
        *("--save", "", "--appendonly", "no", "--daemonize", "no"),
        # Redis 7 waits 5 s by default before a diskless full sync, in case more
        # replicas show up; here it would only delay every (re)attached replica.
        *("--repl-diskless-sync-delay", "0"),
        *("--dir", str(directory), "--logfile", str(directory / "redis.log")),
    ]
    # Errors before the log file opens (a bad flag) go to stdout/stderr: keep them.
    with (directory / "console.log").open("ab") as console:
        return subprocess.Popen(args, stdout=console, stderr=subprocess.STDOUT)


@dataclass(eq=False)
class ClusterNode:
    """One server process of the cluster, on ``127.0.0.1:port`` with its own ``dir``.

    ``process`` is replaced by :meth:`start`; ``port`` and ``dir`` (with its
    ``nodes.conf``, so the node keeps its identity) never change.
    """

    port: int
    process: subprocess.Popen[bytes]
    dir: Path

    @property
    def address(self) -> str:
        """``host:port``, as ``CLUSTER NODES`` writes it."""
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:port``."""
        return f"redis://{self.address}"

    @property
    def log(self) -> Path:
        """The node's ``redis.log``."""
        return self.dir / "redis.log"

    def is_running(self) -> bool:
        """Whether the process is alive (it may still be loading or unreachable)."""
        return self.process.poll() is None

    def command(self, *args: str | int) -> Any:
        """Send one command to this node only and return the raw reply.

        Raises:
            redis.RedisError: the node did not answer, or answered with an error.
        """
        # A one-shot client with no retries: a stopped node must fail at once, not
        # after redis-py's default backoff.
        with redis.Redis(
            host=HOST,
            port=self.port,
            socket_connect_timeout=1.0,
            socket_timeout=2.0,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        ) as client:
            return client.execute_command(*args)

    def stop(self) -> None:
        """Stop the node as a crash would look to its peers: SIGTERM, kill after 5 s."""
        if not self.is_running():
            return
        self.process.terminate()
        # A paused process would only act on SIGTERM once resumed.
        self.resume()
        try:
            self.process.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def start(self, timeout: float = _READY_TIMEOUT) -> None:
        """Restart a stopped node on the same port and dir, and wait until it answers.

        Raises:
            RuntimeError: it exited or did not answer ``PING`` in time (its log
                tail is in the message).
        """
        if self.is_running():
            return
        self.process = _spawn(self.port, self.dir)
        self.wait_ready(timeout)

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): connects still succeed, nothing answers.

        This is a hung or partitioned node. Its peers fail it over as if it were
        dead. :meth:`ClusterUnderTest.wait_healthy` keeps waiting until it resumes.
        """
        if self.is_running():
            os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Undo :meth:`pause` (SIGCONT). Does nothing if the node is not paused."""
        if self.is_running():
            os.kill(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the node and reap it; a no-op when it is not running."""
        if self.is_running():
            self.process.kill()
        self.process.wait()

    def wait_ready(self, timeout: float = _READY_TIMEOUT) -> None:
        """Wait until the node answers ``PING``; kill it if it does not in time.

        Raises:
            RuntimeError: it exited or did not answer (its log tail is in the message).
        """
        deadline = time.monotonic() + timeout
        while self.is_running() and time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if self.command("PING"):
                    return
            time.sleep(_POLL_INTERVAL)
        state = "did not answer PING" if self.is_running() else "exited"
        self.kill()
        raise RuntimeError(f"cluster node {self.address} {state}:\n{self.logs()}")

    def logs(self) -> str:
        """The tail of the node's log and console output, for error messages."""
        console = _tail(self.dir / "console.log").strip()
        text = f"--- {self.address} {self.log}\n{_tail(self.log)}"
        return f"{text}\n--- console\n{console}" if console else text


def _launch_node(directory: Path, *, exclude: Collection[int]) -> ClusterNode:
    """Start a fresh node in ``directory`` on a free port, retrying port races."""
    directory.mkdir(parents=True, exist_ok=True)
    for _ in range(_PORT_ATTEMPTS):
        (port,) = _free_ports(1, exclude=exclude)
        node = ClusterNode(port, _spawn(port, directory), directory)
        try:
            node.wait_ready()
        except RuntimeError:
            # Another process may have taken the port (or its bus port) between the
            # probe and the bind; any other failure is real.
            if "Address already in use" not in _tail(node.log, 50):
                raise
            node.log.unlink(missing_ok=True)
            continue
        return node
    raise RuntimeError(f"no free port pair for a cluster node after {_PORT_ATTEMPTS} tries")


@dataclass(eq=False)
class ClusterUnderTest:
    """A running cluster of :class:`ClusterNode` s, with helpers to inspect and break it.

    Named so as not to clash with ``redis.asyncio.cluster.RedisCluster``.
    """

    nodes: list[ClusterNode]

    @property
    def startup_urls(self) -> list[str]:
        """``redis://127.0.0.1:PORT`` for every node, stopped ones included."""
        return [node.url for node in self.nodes]

    def live_nodes(self) -> list[ClusterNode]:
        """The nodes whose process is running."""
        return [node for node in self.nodes if node.is_running()]

    def node_at(self, port: int) -> ClusterNode:
        """The node listening on ``port``.

        Raises:
            KeyError: no node of this cluster uses the port.
        """
        for node in self.nodes:
            if node.port == port:
                return node
        raise KeyError(port)

    def async_client(self, **overrides: Any) -> RedisCluster:
        """A ``redis.asyncio.cluster.RedisCluster`` on every node, with :data:`CLIENT_KWARGS`.

        Use it as ``async with cluster.async_client() as client:``, which
        initializes the client before first use (see the module docstring for why)
        and closes it at the end.
        """
        startup = [RedisClusterNode(HOST, node.port) for node in self.nodes]
        return RedisCluster(startup_nodes=startup, **{**CLIENT_KWARGS, **overrides})

    def masters(self) -> list[ClusterNode]:
        """The masters that serve slots, ordered by first slot, per a live node's view."""
        serving = [e for e in self._view() if e.is_serving_master]
        return [self.node_at(e.port) for e in sorted(serving, key=lambda e: e.slots[0][0])]

    def replicas_of(self, master: ClusterNode) -> list[ClusterNode]:
        """The nodes configured as replicas of ``master``, running or not."""
        entries = self._view()
        (me,) = [e for e in entries if e.port == master.port]
        return [self.node_at(e.port) for e in entries if e.master_id == me.node_id]

    def master_for_key(self, key: str) -> ClusterNode:
        """The master that owns ``key``'s slot (``CLUSTER KEYSLOT`` + ``CLUSTER SLOTS``).

        Raises:
            LookupError: no master serves the slot (the cluster is not healthy).
        """
        node = self._answering_node()
        slot = int(node.command("CLUSTER", "KEYSLOT", key))
        for start, end, master, *_replicas in node.command("CLUSTER", "SLOTS"):
            if int(start) <= slot <= int(end):
                return self.node_at(int(master[1]))
        raise LookupError(f"no master serves slot {slot} of {key!r}")

    def wait_healthy(self, timeout: float = 30, *, min_replicas: int = 0) -> None:
        """Wait until every live node agrees the cluster is fully up.

        Healthy means, on every running node: ``cluster_state:ok`` with all 16384
        slots ok, the same slot → master map, every slot-owning master running and
        not flagged failing with at least ``min_replicas`` running replicas, and
        every running replica's link to its master up.

        Raises:
            RuntimeError: not healthy within ``timeout`` seconds (the last problem
                seen and the tails of the nodes' logs are in the message).
        """
        self._poll(self._health_problem, min_replicas, timeout=timeout, nodes=self.nodes)

    def fail_master(self, node: ClusterNode, timeout: float = 30) -> ClusterNode:
        """Stop master ``node`` and wait until a replica has taken over its slots.

        Returns:
            The promoted replica, once the whole cluster is healthy again.

        Raises:
            ValueError: ``node`` is not a serving master, or has no running replica.
            RuntimeError: no replica was promoted, or the cluster did not become
                healthy, within ``timeout`` seconds (log tails in the message).
        """
        deadline = time.monotonic() + timeout
        if node not in self.masters():
            raise ValueError(f"{node.address} is not a master serving slots")
        candidates = [r for r in self.replicas_of(node) if r.is_running()]
        if not candidates:
            raise ValueError(f"{node.address} has no running replica to promote")
        node.stop()
        involved = [node, *candidates]
        self._poll(
            self._promotion_problem, candidates, timeout=deadline - time.monotonic(), nodes=involved
        )
        self._poll(self._health_problem, 0, timeout=deadline - time.monotonic(), nodes=involved)
        # Health means the slots are served by a running node: one of the candidates.
        promoted = [c for c in candidates if c in self.masters()]
        return promoted[0]

    # -- internals -----------------------------------------------------------------

    def _answering_node(self) -> ClusterNode:
        for node in self.live_nodes():
            with contextlib.suppress(redis.RedisError):
                node.command("PING")
                return node
        raise RuntimeError("no node of the cluster answers")

    def _view(self) -> list[_Entry]:
        return _parse_nodes(self._answering_node().command("CLUSTER", "NODES"))

    def _poll(
        self,
        problem: Callable[[Any], str | None],
        arg: Any,
        *,
        timeout: float,
        nodes: list[ClusterNode],
    ) -> None:
        """Call ``problem(arg)`` every 50 ms until it returns None, or raise."""
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            last = problem(arg)
            if last is None:
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(_POLL_INTERVAL)
        logs = "\n".join(node.logs() for node in nodes)
        raise RuntimeError(f"redis cluster not ready after {timeout:.1f}s: {last}\n{logs}")

    def _promotion_problem(self, candidates: list[ClusterNode]) -> str | None:
        for candidate in candidates:
            with contextlib.suppress(redis.RedisError):
                if candidate.command("INFO", "replication").get("role") == "master":
                    return None
        return f"no replica of the stopped master promoted yet ({[c.port for c in candidates]})"

    def _health_problem(self, min_replicas: int) -> str | None:
        live = self.live_nodes()
        if not live:
            return "no node is running"
        owners: dict[int, dict[int, tuple[tuple[int, int], ...]]] = {}
        for node in live:
            try:
                info = _parse_info(node.command("CLUSTER", "INFO"))
                entries = _parse_nodes(node.command("CLUSTER", "NODES"))
                replication = node.command("INFO", "replication")
            except redis.RedisError as exc:
                return f"{node.address} did not answer: {exc!r}"
            if info.get("cluster_state") != "ok":
                return f"{node.address} reports cluster_state:{info.get('cluster_state')}"
            if info.get("cluster_slots_ok") != str(SLOTS):
                return f"{node.address} reports cluster_slots_ok:{info.get('cluster_slots_ok')}"
            if replication.get("role") == "slave" and replication.get("master_link_status") != "up":
                return f"replica {node.address} has its master link down"
            problem = self._topology_problem(node, entries, {n.port for n in live}, min_replicas)
            if problem:
                return problem
            owners[node.port] = {e.port: e.slots for e in entries if e.is_serving_master}
        first_port, first = next(iter(owners.items()))
        for port, view in owners.items():
            if view != first:
                return f"{HOST}:{port} and {HOST}:{first_port} disagree on slot owners"
        return None

    @staticmethod
    def _topology_problem(
        observer: ClusterNode, entries: list[_Entry], running: set[int], min_replicas: int
    ) -> str | None:
        for entry in entries:
            if "master" not in entry.flags or not entry.slots:
                continue
            # Right after a master dies its peers still report cluster_state:ok until
            # node-timeout passes: only a running owner counts as healthy.
            if entry.port not in running or entry.is_failing:
                return f"{observer.address} routes slots to {HOST}:{entry.port}, which is down"
            replicas = [
                e
                for e in entries
                if e.master_id == entry.node_id and e.port in running and not e.is_failing
            ]
            if len(replicas) < min_replicas:
                return (
                    f"{observer.address} sees {len(replicas)} replica(s) of "
                    f"{HOST}:{entry.port}, want {min_replicas}"
                )
        return None


def _create(cluster: ClusterUnderTest, masters: int) -> None:
    """Join the nodes as ``redis-cli --cluster create`` would: epochs, meet, slots, replicas.

    The first ``masters`` nodes share the slots in even ranges; the others replicate
    them in turn.
    """
    primaries, replicas = cluster.nodes[:masters], cluster.nodes[masters:]
    # Distinct config epochs up front, as redis-cli sets them, so that no epoch
    # collision has to be resolved (and no slot owner argued over) after the meet.
    for epoch, node in enumerate(primaries, start=1):
        node.command("CLUSTER", "SET-CONFIG-EPOCH", epoch)
    first = cluster.nodes[0]
    for node in cluster.nodes[1:]:
        first.command("CLUSTER", "MEET", HOST, node.port)
    # REPLICATE needs the master known to the replica: wait for gossip to spread the meet.
    cluster._poll(_meet_problem, cluster.nodes, timeout=_READY_TIMEOUT, nodes=cluster.nodes)
    for index, node in enumerate(primaries):
        start, end = index * SLOTS // masters, (index + 1) * SLOTS // masters - 1
        node.command("CLUSTER", "ADDSLOTSRANGE", start, end)
    for index, node in enumerate(replicas):
        master_id = primaries[index % masters].command("CLUSTER", "MYID")
        node.command("CLUSTER", "REPLICATE", master_id)


def _meet_problem(nodes: list[ClusterNode]) -> str | None:
    """None once every node knows every other one, past the handshake."""
    for node in nodes:
        entries = _parse_nodes(node.command("CLUSTER", "NODES"))
        known = {e.port for e in entries if not e.flags & {"handshake", "noaddr"}}
        if known != {n.port for n in nodes}:
            return f"{node.address} knows only {sorted(known)} so far"
    return None


@contextlib.contextmanager
def start_cluster(
    tmp: Path, *, masters: int = 3, replicas_per_master: int = 1
) -> Iterator[ClusterUnderTest]:
    """Run a Redis Cluster of ``masters * (1 + replicas_per_master)`` nodes until the block ends.

    Each node gets its own directory under ``tmp``. On exit every server process
    is killed and reaped, and the directories are removed, whatever happened in
    the block (a failed test, a stopped or restarted node).

    Args:
        tmp: a scratch directory, e.g. ``tmp_path``.
        masters: how many masters share the 16384 slots (>= 3: a failover needs a
            majority of them).
        replicas_per_master: replicas attached to each master.

    Raises:
        ServerNotFoundError: no server binary (the message says what to install).
        RuntimeError: a node did not start, joining them failed, or the cluster was
            not healthy within 30 s (log tails in the message).
    """
    if masters < 3:
        raise ValueError("a cluster needs at least 3 masters to fail over")
    base = tmp / f"redis-cluster-{uuid.uuid4().hex[:8]}"
    nodes: list[ClusterNode] = []
    try:
        for index in range(masters * (1 + replicas_per_master)):
            taken = {port for node in nodes for port in (node.port, node.port + _BUS_OFFSET)}
            nodes.append(_launch_node(base / f"node-{index}", exclude=taken))
        cluster = ClusterUnderTest(nodes)
        _create(cluster, masters)
        cluster.wait_healthy(min_replicas=replicas_per_master)
        if len(cluster.masters()) != masters:
            raise RuntimeError(f"expected {masters} masters, got {cluster.masters()}")
        yield cluster
    finally:
        # nodes (not cluster.nodes) so a failure half-way through startup cleans up too.
        for node in nodes:
            node.kill()
        shutil.rmtree(base, ignore_errors=True)

"""The session relay on cognigy-v2: Redis is the only truth, contexts are injected, coalesced.

Real Redis, the cognigy-v2 simulator as a real HTTP server, and (for the load test)
two real ``tenantops session-relay`` processes sharing one Redis and one quota.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from redis import exceptions as redis_exceptions
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from support.rediscluster import CLIENT_KWARGS, HOST, start_cluster
from support.redisserver import standalone_url
from support.relay import SECRET, payload, signed
from support.simserver import SimServer, _free_port, run_sim, wait_healthy

from tenantops.backends.cognigy_v2.backend import CognigyV2Backend
from tenantops.backends.cognigy_v2.http import V2Http
from tenantops.core.model import RateLimit
from tenantops.errors import StateError
from tenantops.relay.app import create_app
from tenantops.relay.injector import Injector
from tenantops.relay.metrics import RelayMetrics
from tenantops.relay.outbox import PENDING_KEY, Due, Outbox, injected_key, lock_key
from tenantops.relay.quota import QUOTA_KEY, Schedule, SharedPace, schedule_for
from tenantops.relay.signatures import WebhookVerifier
from tenantops.relay.store import SessionStore, context_key, version_key
from tenantops.relay.wire import decode

# standalone_redis: the standalone Redis (started when none answers) that the relays use.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("standalone_redis")]

API_KEY = "relay-v2-key-0123456789"
#: A database of its own: the quota and pending keys are global to it.
DB = 12


def redis_url() -> str:
    return standalone_url(db=DB)


def sid() -> str:
    return f"v2-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with run_sim(
        "--api-key", f"{API_KEY}:ops@example.com", "--rate-limit", "1000/5m", flavor="cognigy-v2"
    ) as server:
        yield server


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url(), socket_connect_timeout=0.5)
    # Each test starts with a fresh quota schedule and pending set (nothing else is shared).
    await client.delete(QUOTA_KEY, PENDING_KEY)
    try:
        yield client
    finally:
        await client.delete(QUOTA_KEY, PENDING_KEY)
        await client.aclose()


def upstream(session: dict[str, Any] | None, field: str = "lastInjected") -> dict[str, Any]:
    """A session's context as upstream holds it: ``null`` is a removed key."""
    return {k: v for k, v in (session or {}).get(field, {}).items() if v is not None}


def sim_session(sim: SimServer, session_id: str) -> dict[str, Any] | None:
    response = sim.admin("GET", f"/_sim/sessions/{session_id}")
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return dict(response.json())


@dataclass
class InProcessRelay:
    http: httpx.AsyncClient
    store: SessionStore
    injector: Injector

    async def send(self, data: dict[str, Any]) -> httpx.Response:
        body, headers = signed(data)
        return await self.http.post("/webhook", content=body, headers=headers)


@asynccontextmanager
async def v2_relay(
    sim: SimServer,
    redis: Redis | RedisCluster,
    schedule: Schedule | None = None,
    *,
    outbox: type[Outbox] = Outbox,
    pace_type: type[SharedPace] = SharedPace,
    sink: Any = None,
    **injector: Any,
) -> AsyncIterator[InProcessRelay]:
    """The relay app in-process (ASGI) with its injector, over real Redis and the simulator."""
    backend = CognigyV2Backend(V2Http(sim.base_url, api_key=API_KEY))
    store = SessionStore(redis, tracks_injects=True)
    pace = pace_type(redis, schedule or schedule_for(RateLimit.parse("1000/5m")))
    inj = Injector(outbox(store), pace, sink or backend, RelayMetrics(), **injector)
    app = create_app(store, inj, WebhookVerifier([SECRET]))
    await inj.start()
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://relay") as http:
            yield InProcessRelay(http, store, inj)
    finally:
        await inj.stop()
        await backend.aclose()


async def test_webhook_is_answered_then_its_full_context_injected(
    sim: SimServer, redis: Redis
) -> None:
    """The answer follows the Redis commit; upstream gets the whole merged context and userId."""
    s = sid()
    async with v2_relay(sim, redis) as relay:
        first = await relay.send(payload(s, 0, plan="gold", lang="en"))
        assert first.status_code == 200, first.text
        assert first.json() == {"status": "accepted", "version": 1}
        second = await relay.send(payload(s, 1, lang="de", cart=["a", 2]))
        assert second.json()["version"] == 2
        await relay.injector.idle()
    session = sim_session(sim, s)
    assert session is not None
    assert session["userId"] == "u-1"
    # The full state, not just the second webhook's keys; non-strings as their JSON text.
    assert session["lastInjected"] == {"plan": "gold", "lang": "de", "cart": '["a",2]'}
    assert session["context"] == session["lastInjected"]
    assert session["injections"] <= 2


async def test_a_removed_key_is_injected_as_null(sim: SimServer, redis: Redis) -> None:
    """Inject merges on the platform, so a key removed in Redis is sent as null, once."""
    s = sid()
    async with v2_relay(sim, redis) as relay:
        await relay.send(payload(s, 0, a="1", b="2"))
        await relay.injector.idle()
        await relay.send(payload(s, 1, b=None))
        await relay.injector.idle()
        await relay.send(payload(s, 2, c="3"))
        await relay.injector.idle()
    session = sim_session(sim, s)
    assert session is not None
    assert session["injections"] == 3
    assert session["lastInjected"] == {"a": "1", "c": "3"}
    assert session["context"] == {"a": "1", "b": None, "c": "3"}


async def test_a_burst_on_one_session_is_coalesced_to_its_newest_state(
    sim: SimServer, redis: Redis
) -> None:
    """While an inject waits for its turn under the quota, newer states replace the pending one."""
    s = sid()
    # No burst and one call per 0.5 s: 20 webhooks in a row cannot each get an inject.
    slow = Schedule(interval=0.5, burst=0)
    async with v2_relay(sim, redis, slow) as relay:
        for n in range(20):
            answer = await relay.send(payload(s, n, step=str(n)))
            assert answer.status_code == 200
        await relay.injector.idle()
        stored = await relay.store.get(s)
    session = sim_session(sim, s)
    assert session is not None
    assert stored is not None
    assert session["lastInjected"] == {"step": "19"} == dict(stored.variables)
    assert session["injections"] <= 3


async def test_a_session_left_pending_by_a_dead_process_is_swept(
    sim: SimServer, redis: Redis
) -> None:
    """A commit whose process died before injecting is found in the pending set and sent."""
    s = sid()
    store = SessionStore(redis, tracks_injects=True)
    await store.transition(
        session_id=s, webhook_id="w1", version=0, context={"k": "v"}, node="n", user_id="u-9", now=1
    )
    # As a killed process leaves it: pending for a while, never injected.
    await redis.zadd(PENDING_KEY, {s: int(time.time() * 1000) - 60_000})
    async with v2_relay(sim, redis, sweep_every=0.1, stale_after=1.0) as relay:
        for _ in range(100):
            if sim_session(sim, s) is not None and not await redis.zscore(PENDING_KEY, s):
                break
            await asyncio.sleep(0.1)
        await relay.injector.idle()
    session = sim_session(sim, s)
    assert session is not None
    assert (session["userId"], session["lastInjected"]) == ("u-9", {"k": "v"})
    assert await redis.zscore(PENDING_KEY, s) is None


async def test_the_sweep_reaches_a_dead_process_session_behind_many_held_ones(
    sim: SimServer, redis: Redis
) -> None:
    """150 older pending sessions held by a live process (waiting for the quota) do not
    hide a session a dead process left: the sweep pages through them all."""
    held = [sid() for _ in range(150)]
    long_ago = int(time.time() * 1000) - 60_000
    await redis.zadd(PENDING_KEY, {s: long_ago + n for n, s in enumerate(held)})
    for s in held:
        await redis.set(lock_key(s), "another-live-process", px=60_000)
    orphan = sid()
    store = SessionStore(redis, tracks_injects=True)
    await store.transition(
        session_id=orphan,
        webhook_id="w",
        version=0,
        context={"k": "v"},
        node="n",
        user_id="u",
        now=1,
    )
    await redis.zadd(PENDING_KEY, {orphan: long_ago + 1_000})
    try:
        async with v2_relay(sim, redis, sweep_every=0.05, stale_after=1.0) as relay:
            for _ in range(100):
                if sim_session(sim, orphan) is not None:
                    break
                await asyncio.sleep(0.05)
            await relay.injector.idle()
    finally:
        await redis.delete(*(lock_key(s) for s in held))
    assert upstream(sim_session(sim, orphan)) == {"k": "v"}


async def test_failed_injects_are_retried_with_the_newest_state(
    sim: SimServer, redis: Redis
) -> None:
    """Server errors upstream: the inject is retried after backoff, never lost."""
    s = sid()
    sim.admin("PUT", "/_sim/faults", json={"errorRate": 0.6}).raise_for_status()
    try:
        async with v2_relay(sim, redis, retry_waits=(0.05,) * 12) as relay:
            for n in range(5):
                assert (await relay.send(payload(s, n, step=str(n)))).status_code == 200
            await relay.injector.idle()
    finally:
        sim.admin("PUT", "/_sim/faults", json={"errorRate": 0}).raise_for_status()
    session = sim_session(sim, s)
    assert session is not None
    assert session["lastInjected"] == {"step": "4"}


class SlowSink:
    """The simulator's inject, reached ``delay`` seconds after it was sent (a slow network)."""

    def __init__(self, sim: SimServer, delay: float) -> None:
        self.backend = CognigyV2Backend(V2Http(sim.base_url, api_key=API_KEY))
        self.delay = delay

    async def inject_session_context(self, session_id: str, context: Any, *, user_id: str) -> None:
        await asyncio.sleep(self.delay)
        await self.backend.inject_session_context(session_id, context, user_id=user_id)


async def test_an_inject_that_lost_its_lock_and_landed_last_is_sent_again(
    sim: SimServer, redis: Redis
) -> None:
    """Process 1's slow send of an old state lands after process 2's newer one: upstream
    must still end at the newest state, never at the one that arrived last."""
    s = sid()
    slow = SlowSink(sim, delay=1.5)
    async with (
        v2_relay(sim, redis, sink=slow) as one,
        v2_relay(sim, redis) as two,
    ):
        assert (await one.send(payload(s, 0, step="old", gone="1"))).status_code == 200
        await asyncio.sleep(0.3)  # process 1 is sending "old"
        await redis.delete(lock_key(s))  # its lock ran out (a Redis outage past the TTL)
        assert (await two.send(payload(s, 1, step="new", gone=None))).status_code == 200
        await two.injector.idle()
        assert upstream(sim_session(sim, s)) == {"step": "new"}
        await one.injector.idle()  # "old" lands now, and must not be the end of it
        await two.injector.idle()
        due = await Outbox(one.store).due(s)
    await slow.backend.aclose()
    assert upstream(sim_session(sim, s)) == {"step": "new"}
    assert not isinstance(due, Due), due


async def test_a_reopened_session_is_injected_although_the_old_one_was(
    sim: SimServer, redis: Redis
) -> None:
    """A session that expired and opened again at version 0 starts a new injected record."""
    s = sid()
    async with v2_relay(sim, redis) as relay:
        for n in range(3):
            assert (await relay.send(payload(s, n, step=str(n)))).status_code == 200
        await relay.injector.idle()
        await redis.delete(context_key(s), version_key(s))  # it expired
        assert (await relay.send(payload(s, 0, fresh="yes"))).status_code == 200
        await relay.injector.idle()
    assert upstream(sim_session(sim, s)) == {"fresh": "yes"}


class MarkFails(Outbox):
    """An outbox whose pending mark fails once, at the ``failing``-th call (1-based)."""

    failing = 1
    calls = 0

    async def mark(self, session_id: str) -> None:
        type(self).calls += 1
        if type(self).calls == type(self).failing:
            raise StateError(
                "Redis is unavailable (ClusterDownError); retry shortly", unavailable=True
            )
        await super().mark(session_id)


@pytest.mark.parametrize(("failing", "answered"), [(1, 503), (2, 200)])
async def test_a_pending_mark_that_fails_loses_no_state(
    sim: SimServer, redis: Redis, failing: int, answered: int
) -> None:
    """Failing before the commit: 503 and nothing stored, so the redelivery goes through.
    Failing after it: the state was committed and marked before, so 200. Either way,
    upstream gets the state and the session leaves the pending set."""
    s = sid()
    fails = type("Fails", (MarkFails,), {"failing": failing, "calls": 0})
    async with v2_relay(sim, redis, outbox=fails) as relay:
        body, headers = signed(payload(s, 0, step="1"))
        first = await relay.http.post("/webhook", content=body, headers=headers)
        assert first.status_code == answered, first.text
        assert (await relay.store.get(s) is None) == (answered == 503)
        again = await relay.http.post("/webhook", content=body, headers=headers)
        assert again.status_code == 200, again.text
        await relay.injector.idle()
    assert upstream(sim_session(sim, s)) == {"step": "1"}
    assert await redis.zscore(PENDING_KEY, s) is None


class PaceFailsOnce(SharedPace):
    """A shared schedule whose Redis drops the connection on the first reservation."""

    failed = False

    async def reserve(self) -> float:
        if not PaceFailsOnce.failed:
            PaceFailsOnce.failed = True
            raise redis_exceptions.ConnectionError("Connection reset by peer")
        return await super().reserve()


async def test_a_redis_failure_while_reserving_a_turn_defers_the_inject(
    sim: SimServer, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """The session stays pending, the sweep sends it, and the log says why it waited."""
    s = sid()
    PaceFailsOnce.failed = False
    async with v2_relay(
        sim, redis, pace_type=PaceFailsOnce, sweep_every=0.1, stale_after=0.3
    ) as relay:
        assert (await relay.send(payload(s, 0, step="1"))).status_code == 200
        for _ in range(50):
            if upstream(sim_session(sim, s)) == {"step": "1"}:
                break
            await asyncio.sleep(0.1)
        await relay.injector.idle()
    assert PaceFailsOnce.failed
    assert upstream(sim_session(sim, s)) == {"step": "1"}
    deferred = [r for r in caplog.records if r.getMessage() == "inject deferred"]
    assert [getattr(r, "session_id", None) for r in deferred] == [s]


async def test_processes_share_one_schedule(redis: Redis) -> None:
    """Two paces on one Redis key reserve distinct turns: the schedule holds across them."""
    schedule = Schedule(interval=0.2, burst=2)
    one, two = SharedPace(redis, schedule), SharedPace(redis, schedule)
    started = time.monotonic()
    delays = await asyncio.gather(*(p.reserve() for p in [one, two] * 10))
    elapsed = time.monotonic() - started
    sends = sorted(d for d in delays)
    # The first burst + 1 go at once; then one every interval, whichever pace asked.
    assert sends[: schedule.burst + 1] == [0.0] * (schedule.burst + 1)
    assert sends[-1] >= (len(sends) - schedule.burst - 1) * schedule.interval - elapsed - 0.01


# ---------------------------------------------------------------------- two processes


@contextmanager
def relay_process(
    sim: SimServer, *, stderr: IO[bytes] | None = None, log_level: str = "error"
) -> Iterator[str]:
    """``tenantops session-relay --flavor cognigy-v2`` as a real server; answers its URL."""
    port = _free_port()
    env = {
        **os.environ,
        "COGNIGY_BASE_URL": sim.base_url,
        "COGNIGY_API_KEY": API_KEY,
        "TENANTOPS_WEBHOOK_SECRET": SECRET,
        "REDIS_URL": redis_url(),
    }
    args = [
        "session-relay",
        "--flavor",
        "cognigy-v2",
        "--port",
        str(port),
        "--log-level",
        log_level,
    ]
    proc = subprocess.Popen([sys.executable, "-m", "tenantops", *args], env=env, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, name="tenantops session-relay")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


async def _drive_session(
    http: httpx.AsyncClient, relays: list[str], session_id: str, until: float, every: float
) -> int:
    """One session's webhooks, in order, each to a random relay; answers how many."""
    rng = random.Random(session_id)
    version = 0
    next_at = time.monotonic() + rng.random() * every
    while time.monotonic() < until:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        next_at += every
        context: dict[str, Any] = {"step": str(version), "n": rng.randrange(1000)}
        if version % 7 == 3:
            context["extra"] = None  # removals too
        elif version % 7 == 1:
            context["extra"] = f"x{version}"
        body, headers = signed(payload(session_id, version, **context))
        answer = await http.post(f"{rng.choice(relays)}/webhook", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        version += 1
    return version


async def test_two_processes_at_50_per_second_converge_within_the_quota(
    sim: SimServer, redis: Redis
) -> None:
    """50 webhooks/s over 20 sessions for 30 s, through two relay processes, on 1000/5m.

    Upstream calls stay within the schedule (hence the quota: no 429), and every
    session's last injected context equals its final state in Redis.
    """
    sim.admin("DELETE", "/_sim/counters").raise_for_status()
    sessions = [sid() for _ in range(20)]
    seconds, per_session_every = 30.0, 20 / 50
    with relay_process(sim) as one, relay_process(sim) as two:
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=10) as http:
            sent = await asyncio.gather(
                *(
                    _drive_session(http, [one, two], s, started + seconds, per_session_every)
                    for s in sessions
                )
            )
        finals = {s: decode(await redis.get(context_key(s))) for s in sessions}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(upstream(sim_session(sim, s)) == dict(finals[s].variables) for s in sessions):
                break
            await asyncio.sleep(0.5)
        elapsed = time.monotonic() - started
    counters = sim.admin("GET", "/_sim/counters").json()
    route = "POST /v2.0/sessions/{sessionId}/context/inject"
    injects = counters["routes"].get(route, 0)
    statuses = counters["statuses"].get(route, {})
    webhooks = sum(sent)
    print(
        f"\n{webhooks} webhooks over {seconds:.0f} s -> {injects} injects in {elapsed:.1f} s "
        f"(statuses {statuses})"
    )
    assert webhooks >= 0.9 * 50 * seconds
    for s in sessions:
        session = sim_session(sim, s)
        assert session is not None, s
        assert upstream(session) == dict(finals[s].variables) == upstream(session, "context"), s
        assert session["userId"] == "u-1"
    assert set(statuses) == {"200"}, statuses  # never a 429
    assert injects <= schedule_for(RateLimit.parse("1000/5m")).most_in(elapsed)
    assert injects < webhooks / 5  # coalesced: most commits ride along with a newer one


async def test_two_relays_on_a_redis_cluster_converge(sim: SimServer, tmp_path: Path) -> None:
    """On a Redis Cluster the outbox works across slots: each session's keys share one."""
    with start_cluster(tmp_path) as cluster:
        nodes = [ClusterNode(HOST, node.port) for node in cluster.nodes]
        one_client = RedisCluster(startup_nodes=nodes, **CLIENT_KWARGS)
        two_client = RedisCluster(startup_nodes=nodes, **CLIENT_KWARGS)
        sessions = [sid() for _ in range(12)]
        try:
            async with v2_relay(sim, one_client) as one, v2_relay(sim, two_client) as two:
                for version in range(6):
                    for n, s in enumerate(sessions):
                        relay = (one, two)[(n + version) % 2]
                        answer = await relay.send(payload(s, version, step=str(version), n=str(n)))
                        assert answer.status_code == 200, answer.text
                await asyncio.gather(one.injector.idle(), two.injector.idle())
                finals = {s: await one.store.get(s) for s in sessions}
        finally:
            await one_client.aclose()
            await two_client.aclose()
        for n, s in enumerate(sessions):
            final = finals[s]
            assert final is not None
            assert (
                upstream(sim_session(sim, s)) == dict(final.variables) == {"step": "5", "n": str(n)}
            )
        slots = {
            cluster.master_for_key(k).port
            for k in (context_key(sessions[0]), injected_key(sessions[0]), lock_key(sessions[0]))
        }
        assert len(slots) == 1


def test_a_rate_limited_upstream_is_retried_and_logged_as_json_lines(tmp_path: Path) -> None:
    """429s from Cognigy.AI: the relay honours Retry-After, converges, and logs each retry
    as one JSON line (never stamina's raw record)."""
    with run_sim(
        "--api-key", f"{API_KEY}:ops@example.com", "--rate-limit", "3/1s", flavor="cognigy-v2"
    ) as tight:
        sessions = [sid() for _ in range(8)]
        stderr = tmp_path / "relay.log"
        with stderr.open("wb") as log, relay_process(tight, stderr=log, log_level="warning") as url:
            for s in sessions:
                body, headers = signed(payload(s, 0, k=s))
                assert (
                    httpx.post(f"{url}/webhook", content=body, headers=headers).status_code == 200
                )
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if all(upstream(sim_session(tight, s)) == {"k": s} for s in sessions):
                    break
                time.sleep(0.2)
        converged = [upstream(sim_session(tight, s)) == {"k": s} for s in sessions]
        statuses = tight.admin("GET", "/_sim/counters").json()["statuses"]
    assert all(converged)
    inject = statuses["POST /v2.0/sessions/{sessionId}/context/inject"]
    assert inject.get("429", 0) > 0  # the quota really was hit
    assert inject["200"] == len(sessions)
    text = stderr.read_text()
    assert "stamina" not in text
    lines = text.splitlines()
    retries = [json.loads(line) for line in lines if '"upstream retry"' in line]
    assert retries
    assert all("429" in r["error"] for r in retries)


async def test_stop_returns_while_the_sweep_talks_to_redis(sim: SimServer, redis: Redis) -> None:
    """Shutting down never hangs, wherever the sweeper is (a cancel inside a Redis call
    can be lost on its way out, so stopping must not depend on it)."""
    for _ in range(40):
        async with v2_relay(sim, redis, sweep_every=0.0005) as relay:
            await asyncio.sleep(random.random() * 0.02)
            async with asyncio.timeout(10):
                await relay.injector.stop()

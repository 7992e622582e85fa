"""`tenantops session-relay`: every row of the webhook contract, with real Redis and the simulator."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from support.relay import SECRET, Relay, payload, relay, signed
from support.simserver import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    SimServer,
    run_sim,
    wait_healthy,
)

from tenantops.relay.store import context_key, version_key
from tenantops.relay.wire import decode

# standalone_redis: the standalone Redis (started when none answers) that the relays use.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("standalone_redis")]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with run_sim() as server:
        yield server


@pytest.fixture
async def r(sim: SimServer) -> AsyncIterator[Relay]:
    sim.admin("PUT", "/_sim/faults", json={"errorRate": 0, "retryAfter": 0}).raise_for_status()
    async with relay(sim.base_url) as rel:
        yield rel


def sid() -> str:
    return f"s-{uuid.uuid4().hex}"


async def test_version_zero_opens_the_session(r: Relay) -> None:
    """Version 0 opens the session: protobuf in Redis with its TTL, context PATCHed upstream."""
    s = sid()
    response = await r.send(payload(s, 0, orderId="A-7"))
    assert response.status_code == 200
    assert response.json() == {"status": "accepted", "version": 1}
    redis = r.store.redis
    state = decode(await redis.get(context_key(s)))
    assert (state.session_id, state.current_node, dict(state.variables), state.version) == (
        s,
        "order_lookup",
        {"orderId": "A-7"},
        1,
    )
    assert int(await redis.get(version_key(s))) == 1
    assert 1790 <= await redis.ttl(context_key(s)) <= 1800
    upstream = await r.upstream.get_session_context(s)
    assert (upstream.version, upstream.context) == (1, {"orderId": "A-7"})


async def test_transitions_advance_and_stale_ones_conflict(r: Relay) -> None:
    """A webhook at the stored version is accepted; an older one answers 409 with the current version."""
    s = sid()
    assert (await r.send(payload(s, 0, a="1"))).status_code == 200
    assert (await r.send(payload(s, 1, b="2"))).json() == {"status": "accepted", "version": 2}
    stale = await r.send(payload(s, 1, c="3"))
    assert stale.status_code == 409
    assert stale.json()["error"] == "version_conflict"
    assert stale.json()["currentVersion"] == 2
    state = decode(await r.store.redis.get(context_key(s)))
    assert dict(state.variables) == {"a": "1", "b": "2"}


async def test_unknown_session_with_version_is_gone(r: Relay) -> None:
    """Any version but 0 needs a live session: 410."""
    response = await r.send(payload(sid(), 3, a="1"))
    assert response.status_code == 410
    assert response.json()["error"] == "session_gone"


async def test_redelivery_answers_the_same_and_writes_nothing(r: Relay, sim: SimServer) -> None:
    """The same webhook-id again: the first answer, no second write anywhere."""
    s = sid()
    first = await r.send(payload(s, 0, a="1"), webhook_id="msg_fixed_" + s)
    sim.admin("DELETE", "/_sim/requests").raise_for_status()
    again = await r.send(payload(s, 0, a="1"), webhook_id="msg_fixed_" + s)
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert int(await r.store.redis.get(version_key(s))) == 1
    assert [
        q for q in sim.admin("GET", "/_sim/requests").json()["requests"] if "/session/" in q["path"]
    ] == []


async def test_signatures(r: Relay) -> None:
    """Missing or wrong signatures are 401; the official library's, with a rotated secret, pass."""
    body, headers = signed(payload(sid(), 0))
    missing = {k: v for k, v in headers.items() if k != "webhook-signature"}
    assert (await r.http.post("/webhook", content=body, headers=missing)).status_code == 401
    tampered = await r.http.post(
        "/webhook", content=body.replace(b'"u-1"', b'"u-2"'), headers=headers
    )
    assert tampered.status_code == 401
    wrong = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
    assert (await r.send(payload(sid(), 0), secret=wrong)).status_code == 401
    assert (await r.http.post("/webhook", content=body, headers=headers)).status_code == 200


async def test_body_over_64_kib_is_413(r: Relay) -> None:
    """A body over 64 KiB is refused before anything else."""
    big = payload(sid(), 0, blob="x" * (65 * 1024))
    assert (await r.send(big)).status_code == 413


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        ({"sessionId": None}, "/sessionId"),
        ({"version": -1}, "/version"),
        ({"version": "seven"}, "/version"),
        ({"context": ["not", "a", "map"]}, "/context"),
        ({"timestamp": None}, "/timestamp"),
    ],
)
async def test_wrong_shape_is_422_naming_the_field(
    r: Relay, broken: dict[str, Any], field: str
) -> None:
    """A payload of the wrong shape is 422, naming the field."""
    data = {**payload(sid(), 0), **broken}
    response = await r.send(data)
    assert response.status_code == 422
    assert response.json()["details"][0]["path"] == field
    assert field in response.json()["message"]


async def test_non_string_values_are_kept_as_json(r: Relay) -> None:
    """Numbers, booleans, lists and objects are kept as their JSON text, never dropped."""
    s = sid()
    assert (
        await r.send(payload(s, 0, n=5, ok=True, items=[1, 2], cart={"a": 1}))
    ).status_code == 200
    state = decode(await r.store.redis.get(context_key(s)))
    assert dict(state.variables) == {"n": "5", "ok": "true", "items": "[1,2]", "cart": '{"a":1}'}
    assert (await r.upstream.get_session_context(s)).context == dict(state.variables)


async def test_upstream_conflict_is_fetched_merged_and_retried(r: Relay) -> None:
    """Cognigy.AI ahead of the webhook: 409 upstream, fetch, merge, PATCH from its version."""
    s = sid()
    assert (await r.send(payload(s, 0, a="1"))).status_code == 200
    await r.upstream.patch_session_context(s, {"fromUi": "x"}, from_version=1)
    response = await r.send(payload(s, 1, b="2"))
    assert response.json() == {"status": "accepted", "version": 3}
    assert (await r.upstream.get_session_context(s)).context == {"a": "1", "fromUi": "x", "b": "2"}


async def test_failed_patch_is_502_and_a_redelivery_succeeds(r: Relay, sim: SimServer) -> None:
    """Upstream failing for good answers 502; the same delivery later goes through."""
    s = sid()
    sim.admin("PUT", "/_sim/faults", json={"errorRate": 1.0, "retryAfter": 0}).raise_for_status()
    body, headers = signed(payload(s, 0, a="1"))
    failed = await r.http.post("/webhook", content=body, headers=headers)
    assert failed.status_code == 502
    sim.admin("PUT", "/_sim/faults", json={"errorRate": 0}).raise_for_status()
    again = await r.http.post("/webhook", content=body, headers=headers)
    assert again.status_code == 200
    assert (await r.upstream.get_session_context(s)).context == {"a": "1"}
    assert int(await r.store.redis.get(version_key(s))) == 1


async def test_a_failed_delivery_overtaken_by_a_newer_one_is_409_on_redelivery(
    r: Relay, sim: SimServer
) -> None:
    """Version 1's PATCH failed, version 2 went through: redelivering 1 must not undo 2."""
    s = sid()
    assert (await r.send(payload(s, 0, step="opened"))).status_code == 200
    sim.admin("PUT", "/_sim/faults", json={"errorRate": 1.0, "retryAfter": 0}).raise_for_status()
    body, headers = signed(payload(s, 1, step="old"))
    assert (await r.http.post("/webhook", content=body, headers=headers)).status_code == 502
    sim.admin("PUT", "/_sim/faults", json={"errorRate": 0}).raise_for_status()
    assert (await r.send(payload(s, 2, step="new"))).status_code == 200
    again = await r.http.post("/webhook", content=body, headers=headers)
    assert again.status_code == 409, again.text
    assert again.json()["currentVersion"] == 3
    assert (await r.upstream.get_session_context(s)).context == {"step": "new"}


async def test_redis_unreachable_is_503_never_500(sim: SimServer) -> None:
    """No Redis: webhooks get 503 with Retry-After, readyz 503, healthz 200."""
    async with relay(sim.base_url, redis_url="redis://127.0.0.1:1/0") as rel:
        response = await rel.send(payload(sid(), 0))
        assert response.status_code == 503
        assert response.headers["retry-after"]
        assert (await rel.http.get("/readyz")).status_code == 503
        assert (await rel.http.get("/healthz")).status_code == 200


async def test_metrics(r: Relay) -> None:
    """/metrics exposes requests by outcome and the latency histograms."""
    await r.send(payload(sid(), 0))
    await r.send(payload(sid(), 5))
    text = (await r.http.get("/metrics")).text
    assert 'tenantops_relay_requests_total{outcome="accepted"}' in text
    assert 'tenantops_relay_requests_total{outcome="gone"}' in text
    for name in ("transition", "redis", "upstream"):
        assert f"tenantops_relay_{name}_seconds_bucket" in text


async def test_no_lost_updates(sim: SimServer) -> None:
    """20 sessions x 50 racing senders over two relay replicas: nothing acknowledged is lost."""
    async with relay(sim.base_url) as one, relay(sim.base_url) as two:
        sessions = [sid() for _ in range(20)]
        accepted: dict[str, list[str]] = {s: [] for s in sessions}
        rng = random.Random(5)
        for s in sessions:
            assert (await one.send(payload(s, 0, opened="yes"))).status_code == 200
            accepted[s].append("opened")

        statuses: list[tuple[int, str]] = []

        async def sender(s: str, n: int) -> None:
            replica = one if n % 2 else two
            version = 1
            key = f"k{n}"
            webhook = signed(payload(s, version, **{key: str(n)}))
            for _ in range(200):  # bounded: give up rather than loop forever
                response = await replica.http.post(
                    "/webhook", content=webhook[0], headers=webhook[1]
                )
                statuses.append((response.status_code, response.json().get("error", "")))
                if response.status_code == 200:
                    accepted[s].append(key)
                    return
                assert response.status_code in (409, 503), response.text
                if response.status_code == 409:
                    # A new event from the dialog engine, at the version it now holds.
                    version = response.json()["currentVersion"]
                    webhook = signed(payload(s, version, **{key: str(n)}))
                # On 503 the sender redelivers the same message (same webhook-id).
                await asyncio.sleep(rng.random() * 0.02)

        await asyncio.gather(*(sender(s, n) for s in sessions for n in range(50)))
        assert Counter(s for s, _ in statuses)[200] == 1000, sorted(Counter(statuses).items())
        for s in sessions:
            stored = decode(await one.store.redis.get(context_key(s)))
            upstream = await one.upstream.get_session_context(s)
            assert stored.version == len(accepted[s]) == 51
            for key in accepted[s]:
                if key != "opened":
                    assert key in stored.variables
                    assert key in upstream.context


def test_cli_refuses_to_start_without_a_secret() -> None:
    """Without TENANTOPS_WEBHOOK_SECRET and --insecure-skip-signature, the relay will not start."""
    env = {k: v for k, v in os.environ.items() if k != "TENANTOPS_WEBHOOK_SECRET"}
    out = subprocess.run(
        [sys.executable, "-m", "tenantops", "session-relay"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1
    assert "TENANTOPS_WEBHOOK_SECRET" in out.stderr


def test_real_server_end_to_end(sim: SimServer) -> None:
    """`tenantops session-relay` as a real server: signed webhook accepted, health and metrics served."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "COGNIGY_BASE_URL": sim.base_url,
        "OAUTH_CLIENT_ID": DEFAULT_CLIENT_ID,
        "OAUTH_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "TENANTOPS_WEBHOOK_SECRET": SECRET,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tenantops", "session-relay", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, proc, name="tenantops session-relay")
        body, headers = signed(payload(sid(), 0, a="1"))
        response = httpx.post(f"{base}/webhook", content=body, headers=headers)
        assert response.status_code == 200
        assert httpx.get(f"{base}/readyz").status_code == 200
        assert "tenantops_relay_requests_total" in httpx.get(f"{base}/metrics").text
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    log = err.decode()
    assert '"outcome":"accepted"' in log
    assert SECRET not in log


async def test_large_versions_stay_exact(r: Relay) -> None:
    """Versions up to 2^53 - 2 are stored exactly (Lua numbers are doubles); larger ones are 422."""
    s = sid()
    big = 2**53 - 2
    assert (await r.send(payload(s, 0))).status_code == 200
    assert (await r.send(payload(s, big, a="1"))).status_code == 200
    assert int(await r.store.redis.get(version_key(s))) == big + 1
    stale = await r.send(payload(s, big, b="2"))
    assert stale.json()["currentVersion"] == big + 1
    assert (await r.send(payload(s, 2**53))).status_code == 422

"""Session state in Redis (standalone or Redis Cluster): one atomic script per transition.

Owns the Redis keys of a session, all hash-tagged with ``{<sessionId>}`` so they share
a cluster slot and one Lua script may touch them together:

- ``cognigy:session:{<sid>}``: the serialized protobuf ``SessionContext``;
- ``cognigy:session:version:{<sid>}``: the stored version (the last accepted webhook's
  ``version`` plus one);
- ``cognigy:delivery:{<sid>}:<webhook-id>``: what became of a delivery, so a redelivered
  webhook is answered as the first time and written once;
- on cognigy-v2, ``cognigy:injected:{<sid>}`` and ``cognigy:inject:lock:{<sid>}``, which
  :mod:`tenantops.relay.outbox` reads and writes; a transition that opens a session
  (again) voids what the injected record says was sent (``tracks_injects``).

A transition is optimistic: read a snapshot (one script), merge in Python (protobuf
cannot be merged in Lua), then one compare-and-set script that re-checks everything
against the snapshot's version and writes context, version and delivery together. If
another replica moved the session in between, the transition starts again. There is
no GET-then-SET window (the seed's race). Redis failures become
:class:`~tenantops.errors.StateError` through :func:`tenantops.redis_errors.map_redis_errors`
(an unreachable or failing-over Redis, or one that does not answer within
:data:`OPERATION_TIMEOUT`, with ``unavailable=True``, which the relay answers with 503
and ``Retry-After``). What a transition came to is a
:data:`~tenantops.relay.transition.Transition`; deciding the answer is not done here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from tenantops.errors import StateError
from tenantops.redis_errors import map_redis_errors
from tenantops.relay.transition import (
    PENDING_TIMEOUT,
    Accepted,
    Conflict,
    Gone,
    Transition,
    read_delivery,
)
from tenantops.relay.wire import SessionState, as_text, decode, encode

__all__ = [
    "PENDING_TIMEOUT",
    "SessionStore",
    "Transition",
    "cluster_nodes_from_env",
    "context_key",
    "delivery_key",
    "injected_key",
    "lock_key",
    "version_key",
]

#: Delivery outcomes kept this long (seconds): senders retry for about a day.
DELIVERY_TTL = 24 * 3600
_ATTEMPTS = 8
#: Seconds one store operation may take before the relay gives up with a 503.
OPERATION_TIMEOUT = 3.0
_T = TypeVar("_T")


def context_key(session_id: str) -> str:
    return f"cognigy:session:{{{session_id}}}"


def version_key(session_id: str) -> str:
    return f"cognigy:session:version:{{{session_id}}}"


def delivery_key(session_id: str, webhook_id: str) -> str:
    return f"cognigy:delivery:{{{session_id}}}:{webhook_id}"


def injected_key(session_id: str) -> str:
    return f"cognigy:injected:{{{session_id}}}"


def lock_key(session_id: str) -> str:
    return f"cognigy:inject:lock:{{{session_id}}}"


# KEYS: context, version, delivery. Returns {context or false, version or false, delivery or false}.
_SNAPSHOT = """
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3])}
"""

# KEYS: context, version, delivery, injected. ARGV: expected stored version ("" = none),
# webhook version, new context bytes, session TTL, delivery TTL, now (Unix seconds), new
# version, "1" when injects are tracked (cognigy-v2).
# Returns {"ok"} | {"dup", answer, stored} | {"gone"} | {"conflict", stored} | {"moved"}.
_TRANSITION = """
local answer = redis.call('GET', KEYS[3])
if answer then return {'dup', answer, redis.call('GET', KEYS[2]) or ''} end
local stored = redis.call('GET', KEYS[2]) or ''
if stored ~= ARGV[1] then return {'moved'} end
local wanted = tonumber(ARGV[2])
if wanted ~= 0 and redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
if stored ~= '' and tonumber(stored) > wanted then return {'conflict', stored} end
if stored == '' and ARGV[8] == '1' then
  -- A session opened again: what was injected for the one before says nothing of it
  -- (and a send of the old one still in flight must not be recorded as this one's).
  redis.call('HDEL', KEYS[4], 'v')
  redis.call('HINCRBY', KEYS[4], 'epoch', 1)
  redis.call('EXPIRE', KEYS[4], ARGV[4])
end
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
redis.call('SET', KEYS[2], ARGV[7], 'EX', ARGV[4])
redis.call('SET', KEYS[3], 'pending:' .. ARGV[6], 'EX', ARGV[5])
return {'ok'}
"""


def _state_error(detail: str, unavailable: bool, kind: type[BaseException]) -> StateError:
    """The store's error for a redis-py failure, as :func:`map_redis_errors` reports it."""
    if unavailable:
        # Only the exception's name: its text names hosts and ports, and this message
        # goes back to whoever sent the webhook.
        return StateError(
            f"Redis is unavailable ({kind.__name__}); retry shortly", unavailable=True
        )
    return StateError(f"Redis refused a session operation: {detail}")


class SessionStore:
    """Session state and delivery records in Redis; the same code for standalone and cluster."""

    def __init__(
        self,
        redis: Any,
        *,
        session_ttl: int = 1800,
        delivery_ttl: int = DELIVERY_TTL,
        max_concurrency: int = 64,
        tracks_injects: bool = False,
    ) -> None:
        """Wrap a ``redis.asyncio.Redis`` or ``redis.asyncio.cluster.RedisCluster`` client.

        ``max_concurrency`` bounds the operations in flight: redis-py's pools raise
        ``MaxConnectionsError`` past their size instead of waiting (100 per node for the
        cluster client), so a burst of webhooks queues here rather than failing.
        ``tracks_injects`` is for cognigy-v2, whose relay records what it injected.
        """
        self.redis = redis
        self.tracks_injects = tracks_injects
        self.session_ttl = session_ttl
        self.delivery_ttl = delivery_ttl
        self._snapshot = redis.register_script(_SNAPSHOT)
        self._transition = redis.register_script(_TRANSITION)
        self._slots = asyncio.Semaphore(max_concurrency)
        self._ready = False
        self._init_lock = asyncio.Lock()

    async def run(self, operation: Callable[[], Awaitable[_T]]) -> _T:
        """Run one store operation: a slot, a time bound, and Redis errors as StateError.

        Raises:
            StateError: Redis failed (``unavailable`` when it is unreachable, failing
                over or slower than :data:`OPERATION_TIMEOUT`).
        """
        async with self._slots:
            try:
                # A hung master makes the cluster client retry for ~11 s; answer 503 long before.
                async with asyncio.timeout(OPERATION_TIMEOUT):
                    with map_redis_errors(_state_error):
                        if not self._ready:
                            await self._load_slots()
                        return await operation()
            except TimeoutError as exc:
                message = "Redis did not answer in time; retry shortly"
                raise StateError(message, unavailable=True) from exc

    async def _load_slots(self) -> None:
        # A cluster client used concurrently before its first slot-map load can fail
        # some calls (redis-py 8); load it once, up front.
        async with self._init_lock:
            if not self._ready:
                await self.redis.initialize()
                self._ready = True

    async def ping(self) -> bool:
        """Whether Redis answers."""
        try:
            return bool(await self.run(self.redis.ping))
        except StateError:
            return False

    async def aclose(self) -> None:
        await self.redis.aclose()

    async def transition(
        self,
        *,
        session_id: str,
        webhook_id: str,
        version: int,
        context: Mapping[str, str | None],
        node: str,
        user_id: str,
        now: int,
    ) -> Transition:
        """Apply one webhook to the session, atomically, or say why not.

        Raises:
            StateError: Redis failed (``unavailable`` when it is unreachable or failing over).
        """
        keys = [
            context_key(session_id),
            version_key(session_id),
            delivery_key(session_id, webhook_id),
            injected_key(session_id),
        ]

        def merge(base: SessionState) -> SessionState:
            return base.merged(context, node=node, user_id=user_id, version=version + 1, now=now)

        return await self.run(
            lambda: self._apply(keys, session_id, version=version, now=now, merge=merge)
        )

    async def _apply(
        self,
        keys: list[str],
        session_id: str,
        *,
        version: int,
        now: int,
        merge: Callable[[SessionState], SessionState],
    ) -> Transition:
        """Snapshot, merge, compare-and-set; again while another replica moves the session."""
        for _ in range(_ATTEMPTS):
            raw, stored, delivery = await self._snapshot(keys=keys)
            if delivery is not None:
                return read_delivery(delivery, now, stored=_int(stored), version=version)
            new = merge(decode(raw) if raw is not None else SessionState(session_id=session_id))
            expected = stored.decode() if stored is not None else ""
            # The new version is computed here: Lua numbers are doubles, and tostring()
            # would write 1e14 and above in exponent form.
            args = [
                expected,
                version,
                encode(new),
                self.session_ttl,
                self.delivery_ttl,
                now,
                str(version + 1),
                "1" if self.tracks_injects else "",
            ]
            reply = await self._transition(keys=keys, args=args)
            done = _verdict(reply, new, now=now, version=version)
            if done is not None:
                return done
        stored_now = await self.redis.get(version_key(session_id))
        return Conflict(current_version=int(stored_now or 0))

    async def finish(self, session_id: str, webhook_id: str, answer: Mapping[str, Any]) -> None:
        """Remember a delivery's final answer, for redeliveries."""
        key, record = delivery_key(session_id, webhook_id), json.dumps(dict(answer))
        await self.run(lambda: self.redis.set(key, record, ex=self.delivery_ttl))

    async def upstream_failed(self, session_id: str, webhook_id: str) -> None:
        """Mark a stored delivery whose PATCH upstream failed: a redelivery redoes only the PATCH."""
        key = delivery_key(session_id, webhook_id)
        await self.run(lambda: self.redis.set(key, "upstream_failed", ex=self.delivery_ttl))

    async def get(self, session_id: str) -> SessionState | None:
        """The stored session, if it is alive."""
        raw = await self.run(lambda: self.redis.get(context_key(session_id)))
        return decode(raw) if raw is not None else None


def _int(value: bytes | str | None) -> int | None:
    """A stored version, or ``None`` when there is none."""
    text = as_text(value) if value is not None else ""
    return int(text) if text else None


def _verdict(
    result: Sequence[Any], new: SessionState, *, now: int, version: int
) -> Transition | None:
    """What the compare-and-set script's reply means; ``None`` for "start again"."""
    outcome = as_text(result[0])
    match outcome:
        case "ok":
            return Accepted(state=new)
        case "dup":
            return read_delivery(result[1], now, stored=_int(result[2]), version=version)
        case "gone":
            return Gone()
        case "conflict":
            return Conflict(current_version=int(result[1]))
        case _:
            # "moved": another replica changed the session between snapshot and write.
            return None


def cluster_nodes_from_env(env: Mapping[str, str]) -> Sequence[str]:
    """``REDIS_NODE_1``, ``REDIS_NODE_2``, ... (the seed's style), in order, as ``host:port``."""
    nodes = []
    index = 1
    while f"REDIS_NODE_{index}" in env:
        nodes.append(env[f"REDIS_NODE_{index}"])
        index += 1
    return nodes

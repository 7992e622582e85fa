"""Session state in Redis (standalone or Redis Cluster): one atomic script per transition.

Owns the Redis keys of a session, all hash-tagged with ``{<sessionId>}`` so they share
a cluster slot and one Lua script may touch them together:

- ``cognigy:session:{<sid>}``: the serialized protobuf ``SessionContext``;
- ``cognigy:session:version:{<sid>}``: the stored version (the last accepted webhook's
  ``version`` plus one);
- ``cognigy:delivery:{<sid>}:<webhook-id>``: what became of a delivery, so a redelivered
  webhook is answered as the first time and written once.

A transition is optimistic: read a snapshot (one script), merge in Python (protobuf
cannot be merged in Lua), then one compare-and-set script that re-checks everything
against the snapshot's version and writes context, version and delivery together. If
another replica moved the session in between, the transition starts again. There is
no GET-then-SET window (the seed's race). Owns the translation of redis exceptions:
an unreachable or failing-over Redis is :class:`~tenantops.errors.StateError` with
``unavailable=True``, which the relay answers with 503 and ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from redis import exceptions as redis_errors

from tenantops.errors import StateError
from tenantops.relay.wire import SessionState, decode, encode

__all__ = ["SessionStore", "Transition", "context_key", "delivery_key", "version_key"]

#: Delivery outcomes kept this long (seconds): senders retry for about a day.
DELIVERY_TTL = 24 * 3600
_ATTEMPTS = 8
#: Seconds one store operation may take before the relay gives up with a 503.
OPERATION_TIMEOUT = 3.0
#: Seconds after which a delivery still marked pending is taken for abandoned.
PENDING_TIMEOUT = 120


def context_key(session_id: str) -> str:
    return f"cognigy:session:{{{session_id}}}"


def version_key(session_id: str) -> str:
    return f"cognigy:session:version:{{{session_id}}}"


def delivery_key(session_id: str, webhook_id: str) -> str:
    return f"cognigy:delivery:{{{session_id}}}:{webhook_id}"


# KEYS: context, version, delivery. Returns {context or false, version or false, delivery or false}.
_SNAPSHOT = """
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3])}
"""

# KEYS: context, version, delivery. ARGV: expected stored version ("" = none), webhook
# version, new context bytes, session TTL, delivery TTL, now (Unix seconds), new version.
# Returns {"ok"} | {"dup", answer} | {"gone"} | {"conflict", stored} | {"moved"}.
_TRANSITION = """
local answer = redis.call('GET', KEYS[3])
if answer then return {'dup', answer} end
local stored = redis.call('GET', KEYS[2]) or ''
if stored ~= ARGV[1] then return {'moved'} end
local wanted = tonumber(ARGV[2])
if wanted ~= 0 and redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
if stored ~= '' and tonumber(stored) > wanted then return {'conflict', stored} end
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
redis.call('SET', KEYS[2], ARGV[7], 'EX', ARGV[4])
redis.call('SET', KEYS[3], 'pending:' .. ARGV[6], 'EX', ARGV[5])
return {'ok'}
"""

TransitionKind = Literal[
    "accepted", "duplicate", "in_progress", "retry_upstream", "conflict", "gone"
]


@dataclass(frozen=True, slots=True)
class Transition:
    """What the store made of a webhook.

    ``accepted``: stored; ``duplicate``: seen before, ``answer`` is the first answer;
    ``in_progress``: seen before and not finished yet; ``retry_upstream``: seen before,
    stored, but its PATCH upstream failed (redo only that); ``conflict``: the stored
    version is ahead (``current_version``); ``gone``: no live session for a version > 0.
    """

    kind: TransitionKind
    state: SessionState | None = None
    current_version: int | None = None
    answer: Mapping[str, Any] | None = None


@asynccontextmanager
async def _redis_errors() -> AsyncIterator[None]:
    """Translate redis-py failures (standalone and cluster) into StateError."""
    try:
        # A hung master makes the cluster client retry for ~11 s; answer 503 long before.
        async with asyncio.timeout(OPERATION_TIMEOUT):
            yield
    except TimeoutError as exc:
        raise StateError("Redis did not answer in time; retry shortly", unavailable=True) from exc
    except (
        redis_errors.RedisClusterException,
        redis_errors.ConnectionError,
        redis_errors.TimeoutError,
        redis_errors.ClusterDownError,
        redis_errors.TryAgainError,
        redis_errors.MasterDownError,
        redis_errors.ReadOnlyError,
        redis_errors.BusyLoadingError,
        redis_errors.MaxConnectionsError,
        redis_errors.ClusterError,
        redis_errors.SlotNotCoveredError,
    ) as exc:
        raise StateError(
            f"Redis is unavailable ({type(exc).__name__}); retry shortly", unavailable=True
        ) from exc
    except redis_errors.RedisError as exc:
        raise StateError(f"Redis refused a session operation: {exc}") from exc


class SessionStore:
    """Session state and delivery records in Redis; the same code for standalone and cluster."""

    def __init__(
        self,
        redis: Any,
        *,
        session_ttl: int = 1800,
        delivery_ttl: int = DELIVERY_TTL,
        max_concurrency: int = 64,
    ) -> None:
        """Wrap a ``redis.asyncio.Redis`` or ``redis.asyncio.cluster.RedisCluster`` client.

        ``max_concurrency`` bounds the operations in flight: redis-py's pools raise
        ``MaxConnectionsError`` past their size instead of waiting (100 per node for the
        cluster client), so a burst of webhooks queues here rather than failing.
        """
        self.redis = redis
        self.session_ttl = session_ttl
        self.delivery_ttl = delivery_ttl
        self._snapshot = redis.register_script(_SNAPSHOT)
        self._transition = redis.register_script(_TRANSITION)
        self._slots = asyncio.Semaphore(max_concurrency)
        self._ready = False
        self._init_lock = asyncio.Lock()

    async def _ensure_ready(self) -> None:
        # A cluster client used concurrently before its first slot-map load can fail
        # some calls (redis-py 8); load it once, up front.
        if self._ready:
            return
        async with self._init_lock:
            if not self._ready:
                await self.redis.initialize()
                self._ready = True

    async def ping(self) -> bool:
        """Whether Redis answers."""
        try:
            async with self._slots, _redis_errors():
                await self._ensure_ready()
                return bool(await self.redis.ping())
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
        ]
        async with self._slots, _redis_errors():
            await self._ensure_ready()
            for _ in range(_ATTEMPTS):
                raw, stored, delivery = await self._snapshot(keys=keys)
                if delivery is not None:
                    return _seen(delivery, now)
                base = decode(raw) if raw is not None else SessionState(session_id=session_id)
                new = base.merged(context, node=node, user_id=user_id, version=version + 1, now=now)
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
                ]
                result = await self._transition(keys=keys, args=args)
                outcome = result[0].decode() if isinstance(result[0], bytes) else str(result[0])
                if outcome == "ok":
                    return Transition("accepted", state=new)
                if outcome == "dup":
                    return _seen(result[1], now)
                if outcome == "gone":
                    return Transition("gone")
                if outcome == "conflict":
                    return Transition("conflict", current_version=int(result[1]))
                # "moved": another replica changed the session between snapshot and write.
            stored_now = await self.redis.get(version_key(session_id))
        return Transition("conflict", current_version=int(stored_now or 0))

    async def finish(self, session_id: str, webhook_id: str, answer: Mapping[str, Any]) -> None:
        """Remember a delivery's final answer, for redeliveries."""
        async with self._slots, _redis_errors():
            await self._ensure_ready()
            await self.redis.set(
                delivery_key(session_id, webhook_id), json.dumps(dict(answer)), ex=self.delivery_ttl
            )

    async def upstream_failed(self, session_id: str, webhook_id: str) -> None:
        """Mark a stored delivery whose PATCH upstream failed: a redelivery redoes only the PATCH."""
        async with self._slots, _redis_errors():
            await self._ensure_ready()
            await self.redis.set(
                delivery_key(session_id, webhook_id), "upstream_failed", ex=self.delivery_ttl
            )

    async def get(self, session_id: str) -> SessionState | None:
        """The stored session, if it is alive."""
        async with self._slots, _redis_errors():
            await self._ensure_ready()
            raw = await self.redis.get(context_key(session_id))
        return decode(raw) if raw is not None else None


def _seen(delivery: bytes | str, now: int) -> Transition:
    text = delivery.decode() if isinstance(delivery, bytes) else delivery
    if text.startswith("pending:"):
        # A replica that died mid-delivery never finishes it: after a while, redo the PATCH.
        if now - int(text.removeprefix("pending:")) > PENDING_TIMEOUT:
            return Transition("retry_upstream")
        return Transition("in_progress")
    if text == "upstream_failed":
        return Transition("retry_upstream")
    return Transition("duplicate", answer=json.loads(text))


def cluster_nodes_from_env(env: Mapping[str, str]) -> Sequence[str]:
    """``REDIS_NODE_1``, ``REDIS_NODE_2``, ... (the seed's style), in order, as ``host:port``."""
    nodes = []
    index = 1
    while f"REDIS_NODE_{index}" in env:
        nodes.append(env[f"REDIS_NODE_{index}"])
        index += 1
    return nodes

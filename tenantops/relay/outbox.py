"""What still has to reach Cognigy.AI, kept in Redis so that any relay process can send it.

On cognigy-v2 a session's context has no read, no version and no ``If-Match``: Redis
is the only truth, and the relay injects the full merged context. The outbox holds,
beside the session's own keys (hash tag ``{<sid>}``, one cluster slot):

- ``cognigy:injected:{<sid>}``: the version last injected (``v``), the keys upstream
  may hold (``keys``, JSON), so that a key removed since is sent as ``null``, and an
  ``epoch`` that moves whenever what upstream holds stops being known (see ``injected``);
- ``cognigy:inject:lock:{<sid>}``: which process is injecting the session now (a random
  token, with a TTL the holder renews), so that two processes never send the same
  session at once and an older state never lands after a newer one;

and, in a key of its own, ``tenantops:relay:pending``: a sorted set of session ids by
the Unix time (ms) of their last commit. It lets a process find the sessions another
one left behind when it crashed (see ``stale``). No step here holds a lock across a
commit: the protocol that makes every commit reach upstream is in
:mod:`tenantops.relay.injector`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tenantops.relay.store import SessionStore, context_key, injected_key, lock_key
from tenantops.relay.wire import SessionState, as_text, decode

__all__ = [
    "PENDING_KEY",
    "SWEEP_PAGE",
    "Due",
    "Lost",
    "Outbox",
    "Settled",
    "injected_key",
    "lock_key",
]

PENDING_KEY = "tenantops:relay:pending"
#: Stale sessions one sweep looks at.
SWEEP_PAGE = 100


@dataclass(frozen=True, slots=True)
class Due:
    """The session's state is newer than what was injected: send ``context``."""

    state: SessionState
    #: The full context to inject: the state's variables, and ``None`` for removed keys.
    context: dict[str, str | None]
    #: The injected record's epoch when this was read (see :meth:`Outbox.injected`).
    epoch: int = 0


@dataclass(frozen=True, slots=True)
class Settled:
    """Upstream has the newest state, or the session expired: nothing to send."""


@dataclass(frozen=True, slots=True)
class Lost:
    """This process no longer holds the session's inject lock (it expired)."""


# KEYS: context, injected, lock. ARGV: token ("" = do not check the lock).
_PEEK = """
if ARGV[1] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[1] then return {'lost'} end
return {'ok', redis.call('GET', KEYS[1]), redis.call('HGET', KEYS[2], 'v'),
        redis.call('HGET', KEYS[2], 'keys'), redis.call('HGET', KEYS[2], 'epoch') or '0'}
"""

# KEYS: injected, lock. ARGV: token, version, keys JSON, TTL seconds, epoch read with
# the state. Returns 1 (recorded, lock released) or 0 (not: what upstream holds is unknown).
_RECORD = """
local epoch = redis.call('HGET', KEYS[1], 'epoch') or '0'
local held = redis.call('GET', KEYS[2]) == ARGV[1]
if held then redis.call('DEL', KEYS[2]) end
if held and epoch == ARGV[5] then
  local done = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
  if tonumber(ARGV[2]) > done then
    redis.call('HSET', KEYS[1], 'v', ARGV[2], 'keys', ARGV[3])
    redis.call('EXPIRE', KEYS[1], ARGV[4])
  end
  return 1
end
-- This send went out without the lock, or beside another one whose order is unknown:
-- upstream may now hold an older state than the one recorded. Forget the version, so
-- the newest state goes again, under a new epoch, so that no send read before now is
-- recorded; keep every key either send set, so that removed ones go as null.
local keys = cjson.decode(redis.call('HGET', KEYS[1], 'keys') or '[]')
local seen = {}
for _, k in ipairs(keys) do seen[k] = true end
for _, k in ipairs(cjson.decode(ARGV[3])) do
  if not seen[k] then seen[k] = true; keys[#keys + 1] = k end
end
table.sort(keys)
redis.call('HDEL', KEYS[1], 'v')
redis.call('HINCRBY', KEYS[1], 'epoch', 1)
if #keys > 0 then redis.call('HSET', KEYS[1], 'keys', cjson.encode(keys)) end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 0
"""

# KEYS: lock. ARGV: token, TTL ms ("" = release).
_HOLD = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
"""


def _verdict(reply: Sequence[Any]) -> Due | Settled | Lost:
    """What a ``_PEEK`` reply means for this session."""
    if as_text(reply[0]) == "lost":
        return Lost()
    raw, done, keys, epoch = reply[1], reply[2], reply[3], int(as_text(reply[4]))
    if raw is None:
        return Settled()  # expired: nothing left to converge to
    state = decode(raw)
    if done is not None and state.version <= int(done):
        return Settled()
    before = json.loads(keys) if keys is not None else []
    context: dict[str, str | None] = dict(state.variables)
    context.update({k: None for k in before if k not in state.variables})
    return Due(state=state, context=context, epoch=epoch)


class Outbox:
    """The outbox's Redis operations, through the session store's bounds and error mapping.

    Args:
        store: the session store (its client, timeouts and errors).
        lock_ttl: seconds an inject lock lives unless renewed; a crashed holder's
            sessions wait this long before another process sends them.
    """

    def __init__(self, store: SessionStore, *, lock_ttl: float = 10.0) -> None:
        self.store = store
        self.lock_ttl = lock_ttl
        redis = store.redis
        self._peek = redis.register_script(_PEEK)
        self._record = redis.register_script(_RECORD)
        self._hold = redis.register_script(_HOLD)

    def _keys(self, session_id: str) -> list[str]:
        return [context_key(session_id), injected_key(session_id), lock_key(session_id)]

    async def mark(self, session_id: str) -> None:
        """Note a commit: the session is pending until its state is injected."""
        now_ms = int(time.time() * 1000)
        await self.store.run(lambda: self.store.redis.zadd(PENDING_KEY, {session_id: now_ms}))

    async def stale(self, older_than: float, *, offset: int = 0) -> list[str]:
        """A page (:data:`SWEEP_PAGE`, oldest first, from ``offset``) of the pending
        sessions whose last commit is over ``older_than`` seconds old."""
        cutoff = int((time.time() - older_than) * 1000)
        found = await self.store.run(
            lambda: self.store.redis.zrangebyscore(PENDING_KEY, "-inf", cutoff, offset, SWEEP_PAGE)
        )
        return [as_text(sid) for sid in found]

    async def take(self, session_id: str, token: str) -> bool:
        """Take the session's inject lock; ``False`` while another process holds it."""
        ttl_ms = int(self.lock_ttl * 1000)
        key = lock_key(session_id)
        return bool(
            await self.store.run(lambda: self.store.redis.set(key, token, nx=True, px=ttl_ms))
        )

    async def renew(self, session_id: str, token: str) -> bool:
        """Extend a held lock by its TTL; ``False`` when it was lost."""
        ttl_ms = str(int(self.lock_ttl * 1000))
        keys = [lock_key(session_id)]
        return bool(await self.store.run(lambda: self._hold(keys=keys, args=[token, ttl_ms])))

    async def release(self, session_id: str, token: str) -> None:
        """Give the lock back, if it is still this token's."""
        keys = [lock_key(session_id)]
        await self.store.run(lambda: self._hold(keys=keys, args=[token, ""]))

    async def due(self, session_id: str, token: str = "") -> Due | Settled | Lost:
        """What the session needs now (``token``: check that this process holds the lock)."""
        keys = self._keys(session_id)
        return _verdict(await self.store.run(lambda: self._peek(keys=keys, args=[token])))

    async def injected(self, session_id: str, token: str, due: Due) -> bool:
        """Record ``due`` as sent and release the lock; ``False`` when that cannot be said.

        ``False`` when the lock was lost (its holder's send may have gone out after a
        newer one) or the epoch moved since ``due`` was read (another send's order is
        unknown): the version is forgotten then, so that the session is due again and
        its newest state is sent once more. A full inject is idempotent, so sending
        again is always safe; recording a send whose order is unknown is not.
        """
        keys = [injected_key(session_id), lock_key(session_id)]
        sent = sorted(k for k, v in due.context.items() if v is not None)
        args = [token, due.state.version, json.dumps(sent), self.store.session_ttl, due.epoch]
        return bool(await self.store.run(lambda: self._record(keys=keys, args=args)))

    async def forget(self, session_id: str) -> bool:
        """Drop a settled session from the pending set; ``False`` if a commit came meanwhile.

        A commit between the last check and the removal would otherwise lose its
        pending mark; checking again after the removal (and marking again) closes that gap.
        """
        await self.store.run(lambda: self.store.redis.zrem(PENDING_KEY, session_id))
        if isinstance(await self.due(session_id), Due):
            await self.mark(session_id)
            return False
        return True

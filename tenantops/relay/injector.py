"""cognigy-v2: converge every session's context upstream to its newest committed state.

A webhook is answered once its state is committed to Redis; :meth:`Injector.forward`
only marks the session pending (:mod:`tenantops.relay.outbox`) and wakes this
process' driver for it. One driver task per session, in whichever process got the
session's latest webhook, runs rounds until upstream holds the newest state:

1. take the session's inject lock; if another process holds it, stop: that holder
   checks again after it releases (step 5), and so sees this commit;
2. if upstream already has the newest state, release and stop;
3. wait for a turn under the quota that all relay processes share
   (:mod:`tenantops.relay.quota`);
4. read the state again (whatever was committed while waiting replaces the pending
   one: that is the coalescing), inject its full context with the webhook's
   ``userId``, and record the version together with releasing the lock;
5. after the release, check again; a commit that came meanwhile starts another round.

Since a commit always happens before its own lock attempt, and a holder's last check
happens after its release, no commit is left unsent by a process that stays up. A
process that dies leaves its sessions in the pending set; every process sweeps that
set for sessions pending longer than ``stale_after`` and drives them. Injecting the
full state is idempotent, so a failed inject is retried with backoff (reading the
newest state each time); a 4xx answer gives that state up (logged, counted) until the
next commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Literal, Protocol, assert_never

from tenantops.errors import ApiError, ApiStatusError, RateLimitedError, StateError
from tenantops.relay.metrics import RelayMetrics
from tenantops.relay.outbox import SWEEP_PAGE, Due, Lost, Outbox, Settled
from tenantops.relay.quota import SharedPace

__all__ = ["ContextSink", "Injector"]

_LOG = logging.getLogger("tenantops.relay.injector")
#: What became of one lock-held attempt to send a session's newest state.
_Sent = Literal["sent", "nothing", "failed"]


class ContextSink(Protocol):
    """Cognigy.AI's context inject (``POST sessions/{sid}/context/inject``)."""

    async def inject_session_context(
        self, session_id: str, context: Mapping[str, str | None], *, user_id: str
    ) -> None: ...


class Injector:
    """The cognigy-v2 :class:`~tenantops.relay.app.Upstream`, and its drivers and sweeper.

    Args:
        outbox: the pending set, inject locks and injected records in Redis.
        pace: the quota shared by every relay process.
        sink: the backend that injects.
        metrics: the relay's metrics.
        sweep_every: seconds between looks for sessions another process left pending.
        stale_after: seconds a session may stay pending before any process takes it.
        retry_waits: the waits between attempts when an inject fails (then it is left
            to the sweep).
    """

    def __init__(
        self,
        outbox: Outbox,
        pace: SharedPace,
        sink: ContextSink,
        metrics: RelayMetrics,
        *,
        sweep_every: float = 2.0,
        stale_after: float = 5.0,
        retry_waits: Sequence[float] = (0.5, 1.0, 2.0, 4.0),
    ) -> None:
        self.outbox = outbox
        self.pace = pace
        self.sink = sink
        self.metrics = metrics
        self.sweep_every = sweep_every
        self.stale_after = stale_after
        self.retry_waits = tuple(retry_waits)
        self._drivers: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._sweeper: asyncio.Task[None] | None = None
        # Stopping is a flag, not only a cancel: a cancel that lands inside a Redis call
        # can be swallowed on its way out (seen with redis-py on Python 3.11), and a
        # sweeper that missed it would keep the server from shutting down.
        self._stopping = asyncio.Event()

    # ------------------------------------------------------------------ Upstream

    async def accepting(self, session_id: str) -> None:
        """Mark the session pending before its commit, so no commit is out of the sweep's sight.

        A mark after the commit alone could fail (Redis, or the process dying between
        the two) and leave a committed state that no process knows to send.
        """
        await self.outbox.mark(session_id)

    async def forward(
        self, session_id: str, context: Mapping[str, str | None], version: int, *, user_id: str
    ) -> int:
        """Mark the committed session pending and wake its driver; the stored version."""
        try:
            await self.outbox.mark(session_id)  # the commit's time, for the sweep
        except StateError as exc:
            # Committed, and marked before (accepting()): the sweep sees it all the same.
            _LOG.warning("pending mark failed", extra={"session_id": session_id, "error": str(exc)})
        self.kick(session_id)
        return version + 1

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start sweeping for sessions left pending (by this or a dead process)."""
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="relay-inject-sweep")

    async def stop(self, grace: float = 5.0) -> None:
        """Stop sweeping; let running drivers finish for ``grace`` seconds, then cancel them.

        What they leave is still pending in Redis, for the next process to send.
        """
        self._stopping.set()
        tasks = [*self._drivers.values(), *([self._sweeper] if self._sweeper else [])]
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=grace)
        for task in late:
            task.cancel()
        if late:
            # Never wait for ever: what is left of them holds no state of this process.
            await asyncio.wait(late, timeout=1.0)

    async def idle(self) -> None:
        """Wait until this process drives no session (for tests: it lets every round finish)."""
        while self._drivers:
            await asyncio.gather(*self._drivers.values(), return_exceptions=True)

    # ------------------------------------------------------------------ driving

    def kick(self, session_id: str) -> None:
        """Make sure this process drives the session, or its running driver looks again."""
        if session_id in self._drivers:
            self._again.add(session_id)
            return
        task = asyncio.create_task(self._drive(session_id), name=f"relay-inject-{session_id}")
        self._drivers[session_id] = task

    async def _drive(self, session_id: str) -> None:
        try:
            again = True
            while again and not self._stopping.is_set():
                self._again.discard(session_id)
                again = await self._round(session_id) or session_id in self._again
        except StateError as exc:
            # Redis failed: the session stays pending, and the sweep comes back to it.
            _LOG.warning("inject deferred", extra={"session_id": session_id, "error": str(exc)})
        finally:
            # No await between the last check of _again and this: a kick cannot slip in.
            del self._drivers[session_id]

    async def _round(self, session_id: str) -> bool:
        """One lock-held pass; answers whether to go round again."""
        token = uuid.uuid4().hex
        if not await self.outbox.take(session_id, token):
            return False  # the holder looks again after it releases
        try:
            async with self._renewing(session_id, token):
                sent = await self._send_newest(session_id, token)
        except StateError:
            # Give the lock back if Redis lets us: the sweep need not wait out its TTL.
            with contextlib.suppress(StateError):
                await self.outbox.release(session_id, token)
            raise
        if sent != "sent":
            await self.outbox.release(session_id, token)
        if sent == "failed":
            return False  # the sweep comes back to it (mark() moved it to the back)
        match await self.outbox.due(session_id):
            case Due():
                return True
            case Settled():
                return not await self.outbox.forget(session_id)
            case Lost():  # pragma: no cover - due() without a token never answers Lost
                return False
            case other:
                assert_never(other)

    async def _send_newest(self, session_id: str, token: str) -> _Sent:
        """Inject the newest state if upstream lacks it.

        Answers ``sent`` (recorded, and the lock released with it), ``nothing`` (nothing
        to send, or the lock was lost) or ``failed`` (every attempt failed).
        """
        if not isinstance(await self.outbox.due(session_id, token), Due):
            return "nothing"
        for attempt, wait in enumerate((*self.retry_waits, None)):
            waited = time.perf_counter()
            # Through the store: bounded in time, and a Redis failure is a StateError,
            # which leaves the session pending for the sweep (a raw one killed the driver).
            delay = await self.outbox.store.run(self.pace.reserve)
            if delay > 0:
                await asyncio.sleep(delay)
            self.metrics.pace_wait.observe(time.perf_counter() - waited)
            due = await self.outbox.due(session_id, token)  # the newest, after the wait
            match due:
                case Settled() | Lost():
                    return "nothing"
                case Due():
                    pass
                case _:
                    assert_never(due)
            outcome = await self._inject(session_id, due, final=wait is None)
            if outcome != "failed":
                recorded = await self.outbox.injected(session_id, token, due)
                self.metrics.injects.labels(outcome if recorded else "lost").inc()
                if not recorded:
                    # Due again (its version was forgotten): kept in every sweep's sight.
                    await self.outbox.mark(session_id)
                return "sent" if recorded else "nothing"
            self.metrics.injects.labels("failed").inc()
            if wait is None:
                break
            _LOG.info("inject retry", extra={"session_id": session_id, "attempt": attempt + 1})
            await asyncio.sleep(wait)
        await self.outbox.mark(session_id)  # failed for now: the sweep retries it later
        return "failed"

    async def _inject(self, session_id: str, due: Due, *, final: bool) -> str:
        """Send one inject: ``sent``, ``rejected`` (a 4xx: give this state up) or ``failed``."""
        started = time.perf_counter()
        try:
            await self.sink.inject_session_context(
                session_id, due.context, user_id=due.state.user_id
            )
        except ApiError as exc:
            rejected = (
                isinstance(exc, ApiStatusError)
                and exc.status is not None
                and 400 <= exc.status < 500
                and not isinstance(exc, RateLimitedError)
            )
            level = logging.ERROR if rejected or final else logging.WARNING
            _LOG.log(
                level,
                "inject rejected" if rejected else "inject failed",
                extra={"session_id": session_id, "error": str(exc)},
            )
            return "rejected" if rejected else "failed"
        finally:
            self.metrics.inject_seconds.observe(time.perf_counter() - started)
        return "sent"

    @contextlib.asynccontextmanager
    async def _renewing(self, session_id: str, token: str) -> AsyncIterator[None]:
        """Keep the inject lock alive while the block waits for the quota and sends."""

        async def renew() -> None:
            # A renewal that fails for a passing reason (a slow or failing-over Redis) is
            # tried again until the lock would have run out; only then is it given up.
            loop = asyncio.get_running_loop()
            runs_out = loop.time() + self.outbox.lock_ttl
            while True:
                await asyncio.sleep(self.outbox.lock_ttl / 3)
                try:
                    if not await self.outbox.renew(session_id, token):
                        return  # lost: the record of this send will say so (injected())
                    runs_out = loop.time() + self.outbox.lock_ttl
                except StateError:
                    if loop.time() >= runs_out:
                        return

        keeper = asyncio.create_task(renew())
        try:
            yield
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, StateError):
                await keeper

    # ------------------------------------------------------------------ sweeping

    async def _sweep_forever(self) -> None:
        # Each sweep reads one page of the stale sessions, the next page the next time:
        # under a long quota wait, live processes hold many stale-looking sessions, and
        # always reading the oldest page would never reach those a dead process left.
        offset = 0
        while not await self._stopped_within(self.sweep_every):
            try:
                found = await self.outbox.stale(self.stale_after, offset=offset)
            except StateError as exc:
                _LOG.warning("inject sweep failed", extra={"error": str(exc)})
                continue
            offset = offset + len(found) if len(found) == SWEEP_PAGE else 0
            for session_id in found:
                if session_id not in self._drivers:
                    self.kick(session_id)

    async def _stopped_within(self, seconds: float) -> bool:
        """Wait ``seconds``, or less if :meth:`stop` is called; whether it was."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()

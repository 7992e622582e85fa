"""The live parts of one simulator, shared by its routes and middleware.

:class:`Runtime` bundles the state, the token store, the fault injector and the
request log so that a route receives one object; :class:`RequestNote` carries what a
route learns about a request (its client and workspace) out to the request log.
Neither decides anything.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from tenantops.servers.sim.contract._config import SimConfig
from tenantops.servers.sim.contract._faults import FaultInjector
from tenantops.servers.sim.contract._state import SimState
from tenantops.servers.sim.contract._tokens import TokenStore

__all__ = ["NOTE_KEY", "RequestLog", "RequestNote", "Runtime", "RuntimeDep", "note_of"]

#: Where the middleware keeps a request's :class:`RequestNote` in the ASGI scope.
NOTE_KEY = "tenantops.servers.sim.contract.note"


@dataclass(slots=True)
class RequestNote:
    """What is known about one request; routes fill in what only they can tell."""

    request_id: str
    client_id: str | None = None
    workspace_id: str | None = None


class RequestLog:
    """The last ``limit`` API requests received, oldest first, for ``GET /_sim/requests``."""

    def __init__(self, limit: int = 10_000) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)

    def add(self, entry: dict[str, Any]) -> None:
        """Record one finished request."""
        self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        """Every recorded request, oldest first."""
        return list(self._entries)

    def clear(self) -> None:
        """Forget every recorded request."""
        self._entries.clear()


@dataclass(slots=True)
class Runtime:
    """One simulator's live parts; ``app.state.runtime`` holds it."""

    config: SimConfig
    state: SimState
    tokens: TokenStore
    faults: FaultInjector
    log: RequestLog = field(default_factory=RequestLog)

    @property
    def clock(self) -> Callable[[], float]:
        """Wall-clock seconds (a fake in tests)."""
        return self.config.clock


async def _runtime(request: Request) -> Runtime:
    runtime = request.app.state.runtime
    assert isinstance(runtime, Runtime)
    return runtime


#: A route parameter that receives the :class:`Runtime`.
RuntimeDep = Annotated[Runtime, Depends(_runtime)]


def note_of(request: Request) -> RequestNote:
    """The request's note (a throwaway one outside the middleware, as in some tests)."""
    note = request.scope.get(NOTE_KEY)
    return note if isinstance(note, RequestNote) else RequestNote(request_id="")

"""Property-based API fuzzing for tests: schemathesis settings and a uvicorn server in a thread.

:func:`fuzz_config` is the one schemathesis configuration every fuzz test uses: a
fixed seed (each operation's Hypothesis seed is derived from it), a bounded number of
examples, no example database (so nothing from an earlier run is replayed) and no
shrinking (a failure is reported as found; shrinking would only add time).

:func:`serve_in_thread` runs an ASGI app with uvicorn on a free loopback port, in a
thread with an event loop of its own, exactly as ``tenantops serve`` does it: the
app's clients (aiohttp under httpx, redis.asyncio) live and are closed in that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import response_schema_conformance

__all__ = ["CHECKS", "SEED", "fuzz_config", "serve_in_thread"]

#: The seed of every fuzz run: the same requests, in the same order, every time.
SEED = 20_240_520

#: What the fuzzer asserts: no 5xx answer, and every answer matches its documented schema.
CHECKS = [not_a_server_error, response_schema_conformance]

_START_TIMEOUT = 20.0


def fuzz_config(*, max_examples: int, **extra: Any) -> SchemathesisConfig:
    """Schemathesis settings: fixed seed, ``max_examples`` per operation, no example database.

    ``extra`` is merged into the ``schemathesis.toml``-shaped mapping at the top level.
    """
    data: dict[str, Any] = {
        "seed": SEED,
        "generation": {
            "max-examples": max_examples,
            "database": "none",
            "no-shrink": True,
        },
        # Show failing requests as sent: every credential in these tests is a test constant.
        "output": {"sanitization": {"enabled": False}},
        **extra,
    }
    return SchemathesisConfig.from_dict(data)


@contextlib.contextmanager
def serve_in_thread(
    app: Any, *, on_stop: Callable[[], Awaitable[None]] | None = None
) -> Iterator[str]:
    """Serve ``app`` with uvicorn on ``127.0.0.1`` until the block ends; yields the base URL.

    ``on_stop`` runs in the server's event loop after it has stopped (close clients there).

    Raises:
        RuntimeError: the server did not start within 20 s.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    )
    failure: list[BaseException] = []

    async def main() -> None:
        try:
            await server.serve(sockets=[sock])
        finally:
            if on_stop is not None:
                await on_stop()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the test thread
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if failure or not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the app did not start on port {port}: {failure!r}")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        if failure:
            raise failure[0]

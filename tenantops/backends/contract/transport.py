"""How the API client's requests reach the server: one small interface, two implementations.

The client (:mod:`tenantops.backends.contract.client`) builds each request itself (URL,
headers, body bytes) and gets back an :class:`Answer`. Pacing, retries, token refresh
and the mapping of statuses to errors all sit in the client, above a :class:`Wire`, so
every call gets them whichever wire carries it:

- :class:`AiohttpWire`, the default: aiohttp's connection pool, used directly. httpx's
  own pool serialises badly under concurrency (encode/httpx#3215), and httpx's request
  and response objects over aiohttp (``httpx-aiohttp``) cost the session relay about
  0.5 ms of CPU per PATCH, with reference cycles that feed the garbage collector
  (profiled with ``bench/relay.py --profile``).
- :class:`HttpxWire`: any httpx transport, such as ``httpx.ASGITransport(app=...)`` in
  tests.

A request that got no answer is caught here and translated by
:func:`tenantops.backends.no_answer.no_answer_error` (refused, timed out, DNS...), the
one translation both flavours share. This module must not retry, pace, authorize or
judge a status: a 500 is an :class:`Answer` like a 200.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import httpx

from tenantops.backends.no_answer import NO_ANSWER, no_answer_error

__all__ = ["AiohttpWire", "Answer", "HttpxWire", "Wire"]

#: What a request that got no answer can raise, from either library.
_NO_ANSWER: tuple[type[BaseException], ...] = (*NO_ANSWER, aiohttp.ClientError)


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer, read in full.

    Attributes:
        status: the HTTP status code.
        headers: the answer's headers; lookups ignore case.
        content: the body, decompressed.
    """

    status: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body as JSON.

        Raises:
            ValueError: the body is not JSON.
        """
        return json.loads(self.content)


class Wire(Protocol):
    """Sends one request, with the headers it is given, and reads its whole answer."""

    async def send(
        self, method: str, url: str, *, content: bytes | None, headers: Mapping[str, str]
    ) -> Answer:
        """Send ``method url`` with ``content`` as the body.

        Raises:
            TransportError: no answer came (refused, reset, DNS, TLS, timeout).
        """
        ...

    async def aclose(self) -> None:
        """Close the connections."""
        ...


class AiohttpWire:
    """Requests over one aiohttp ``ClientSession``, opened on first use."""

    def __init__(self, *, timeout: float, max_connections: int) -> None:
        """Configure the pool; nothing is opened until the first request.

        Args:
            timeout: seconds for connecting (at most 10), for a free connection and for
                each read.
            max_connections: connection pool size.
        """
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout, sock_connect=min(timeout, 10.0), sock_read=timeout
        )
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Opened in the running event loop, which the session belongs to. httpx's SSL
        # context (certifi, SSL_CERT_FILE) keeps TLS as it was under httpx.
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            keepalive_timeout=5.0,
            ssl=httpx.create_ssl_context(),
        )
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def send(
        self, method: str, url: str, *, content: bytes | None, headers: Mapping[str, str]
    ) -> Answer:
        """See :meth:`Wire.send`."""
        session = self._session or self._open()
        try:
            async with session.request(
                method, url, data=content, headers=headers, allow_redirects=False
            ) as response:
                return Answer(response.status, response.headers, await response.read())
        except _NO_ANSWER as exc:
            raise no_answer_error(exc, method, url) from exc

    async def aclose(self) -> None:
        """See :meth:`Wire.aclose`."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class HttpxWire:
    """Requests through any httpx transport (tests pass ``httpx.ASGITransport``)."""

    def __init__(self, transport: httpx.AsyncBaseTransport, *, timeout: float) -> None:
        self._http = httpx.AsyncClient(
            transport=transport, timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0))
        )

    async def send(
        self, method: str, url: str, *, content: bytes | None, headers: Mapping[str, str]
    ) -> Answer:
        """See :meth:`Wire.send`."""
        try:
            response = await self._http.request(method, url, content=content, headers=headers)
        except _NO_ANSWER as exc:
            raise no_answer_error(exc, method, url) from exc
        return Answer(response.status_code, response.headers, response.content)

    async def aclose(self) -> None:
        """See :meth:`Wire.aclose`."""
        await self._http.aclose()

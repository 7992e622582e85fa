"""Why a request got no HTTP answer, said plainly: refused, timed out, DNS, or other.

Both flavours' HTTP layers (:mod:`tenantops.backends.contract.transport` over aiohttp or
httpx, :mod:`tenantops.backends.cognigy_v2.http` over httpx) hand the exception of a
request that got no answer to :func:`no_answer_error`, which is where it becomes a
:class:`~tenantops.errors.TransportError` (an :class:`~tenantops.errors.ApiTimeoutError`
when time ran out). The real cause sits at different depths: aiohttp keeps the OS error
in ``os_error``, httpx behind two ``__cause__`` links and an anyio "All connection
attempts failed", so the whole chain is read. This module must not send, retry or
judge a status; it never imports aiohttp (its errors subclass the builtin ones).
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx

from tenantops.errors import ApiTimeoutError, TransportError

__all__ = ["NO_ANSWER", "no_answer_error"]

#: What a request that got no answer can raise: httpx's errors, and the builtin ones
#: aiohttp's ``ClientError``s derive from (``OSError``, ``TimeoutError``).
NO_ANSWER: tuple[type[BaseException], ...] = (httpx.TransportError, OSError, TimeoutError)
_CHECK_URL = "check api.baseUrl (or COGNIGY_BASE_URL)"


def no_answer_error(exc: BaseException, method: str, url: str) -> TransportError:
    """The error for ``method url`` that got no answer because of ``exc``.

    The message names the cause and the address (``connection refused by
    127.0.0.1:8765``) and says what to check; ``reason`` (``refused``, ``timeout``,
    ``dns`` or ``failed``) and ``address`` carry the same facts as attributes.

    Args:
        exc: what httpx or aiohttp raised.
        method: the request's method.
        url: the request's full URL (it never carries secrets).
    """
    where = f"{method} {url}"
    host, address = _address(url)
    if _is_timeout(exc):
        return ApiTimeoutError(
            f"{where}: timed out waiting for {address}; is the API reachable and healthy?",
            reason="timeout",
            address=address,
        )
    if (dns := _find(exc, _is_dns_failure)) is not None:
        detail = getattr(dns, "strerror", None) or str(dns)
        return TransportError(
            f"{where}: DNS lookup of {host} failed ({detail}); {_CHECK_URL}",
            reason="dns",
            address=address,
        )
    if _find(exc, _is_refusal) is not None:
        return TransportError(
            f"{where}: connection refused by {address}; {_CHECK_URL}, and that the API "
            "is running there",
            reason="refused",
            address=address,
        )
    root = _root(exc)
    return TransportError(
        f"{where}: connection to {address} failed before an answer "
        f"({type(root).__name__}: {root or type(exc).__name__})",
        reason="failed",
        address=address,
    )


def _address(url: str) -> tuple[str, str]:
    """``(host, "host:port")`` of ``url``, the port defaulted from the scheme."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return host, host
    shown = f"[{host}]" if ":" in host else host
    return host, f"{shown}:{port}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then its causes and contexts, with aiohttp's ``os_error`` in line."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        inner = getattr(current, "os_error", None)
        if isinstance(inner, BaseException) and id(inner) not in seen:
            yield inner
        current = current.__cause__ or current.__context__


def _find(exc: BaseException, test: Callable[[BaseException], bool]) -> BaseException | None:
    return next((e for e in _chain(exc) if test(e)), None)


def _is_timeout(exc: BaseException) -> bool:
    # Only the outermost error counts: a connect timeout deep in a chain whose top is
    # "refused" is not what the user waited for.
    return isinstance(exc, httpx.TimeoutException | TimeoutError)


def _is_dns_failure(exc: BaseException) -> bool:
    return isinstance(exc, socket.gaierror)


def _is_refusal(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == (
        errno.ECONNREFUSED
    )


def _root(exc: BaseException) -> BaseException:
    *_, last = _chain(exc)
    return last

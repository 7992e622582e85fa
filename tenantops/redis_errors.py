"""The one place where redis-py's exceptions become tenantops errors.

The relay's session store and the Redis lock store both talk to Redis (standalone or
Cluster). Which failures mean "Redis is unavailable, retry shortly" and which mean
"Redis refused this operation" is decided here, once; each caller only says which
error class its users expect and what to tell them. redis-py is imported only when a
Redis-backed feature is actually used, so ``tenantops --help`` stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache

from tenantops.errors import TenantOpsError

__all__ = ["ErrorFactory", "map_redis_errors"]

#: Builds the caller's error from a message, whether Redis was merely unavailable, and
#: the type of redis-py's exception (whose name is safe to show; its text may name hosts).
ErrorFactory = Callable[[str, bool, type[BaseException]], TenantOpsError]


@cache
def _redis_error() -> type[BaseException]:
    from redis.exceptions import RedisError

    return RedisError


@cache
def _unavailable_types() -> tuple[type[BaseException], ...]:
    from redis import exceptions as e

    # Failovers, restarts and network trouble: the operation may well succeed shortly.
    return (
        e.ConnectionError,
        e.TimeoutError,
        e.ClusterDownError,
        e.TryAgainError,
        e.MasterDownError,
        e.ReadOnlyError,
        e.BusyLoadingError,
        e.MaxConnectionsError,
        e.SlotNotCoveredError,
        e.ClusterError,
        e.RedisClusterException,
    )


@contextmanager
def map_redis_errors(make_error: ErrorFactory, *, secret: str | None = None) -> Iterator[None]:
    """Translate redis-py failures raised inside the block with ``make_error``.

    Args:
        make_error: the caller's error for a message (``Type: text`` when Redis was
            unavailable), ``True`` when Redis was unavailable (as opposed to refusing
            the operation), and the type of redis-py's exception.
        secret: a password to mask should redis-py echo it in a message.

    Raises:
        TenantOpsError: whatever ``make_error`` builds, chained to the redis error.
    """
    try:
        yield
    except _redis_error() as exc:
        unavailable = isinstance(exc, _unavailable_types())
        detail = f"{type(exc).__name__}: {exc}" if unavailable else str(exc)
        if secret:
            detail = detail.replace(secret, "***")
        raise make_error(detail, unavailable, type(exc)) from exc

"""Per-tenant apply locks behind one :class:`LockStore` Protocol.

Two stores: lease files guarded by ``flock`` (the default, for runs on one machine,
:mod:`.files`) and Redis keys with a TTL (``--lock-url redis://...``, for CI runners on
different machines, :mod:`.redis_store`). The caller holds a :class:`Lease` around its
work and never learns which store it came from.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from tenantops.apply.locks.files import FileLocks
from tenantops.apply.locks.lease import Lease, LeaseInfo, LockStore
from tenantops.apply.locks.redis_store import RedisLocks, mask_url
from tenantops.errors import LockfileError

__all__ = ["FileLocks", "Lease", "LeaseInfo", "LockStore", "RedisLocks", "open_locks"]

#: Where lease files live, under the config repo, when ``--lock-url`` names no folder.
LOCKS_DIR = Path(".tenantops") / "locks"


def open_locks(lock_url: str | None, default_dir: Path) -> LockStore:
    """The lock backend a ``--lock-url`` names.

    Args:
        lock_url: None or ``file://`` (lease files in ``default_dir``),
            ``file:///some/dir`` (lease files there), ``redis://`` or ``rediss://``.
        default_dir: the lease folder when the URL names none.

    Raises:
        LockfileError: an unsupported URL scheme.
    """
    if not lock_url:
        return FileLocks(default_dir)
    parts = urlsplit(lock_url)
    if parts.scheme == "file" and parts.netloc in ("", "localhost"):
        return FileLocks(Path(unquote(parts.path)) if parts.path else default_dir)
    if parts.scheme in ("redis", "rediss"):
        return RedisLocks(lock_url)
    raise LockfileError(
        f"unsupported lock URL {mask_url(lock_url)}; use file:///dir, redis:// or rediss://"
    )

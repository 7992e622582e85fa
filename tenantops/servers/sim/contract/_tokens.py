"""Access tokens the simulator has issued: which client holds each, its scopes, its expiry.

Tokens live in memory only: a restarted simulator knows none, and clients must fetch
new ones (the contract's 401-then-refresh). This module owns no HTTP; :mod:`._auth`
speaks OAuth2 over it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace

__all__ = ["Grant", "TokenStore"]

# Expired grants are swept once the store grows past this many.
_SWEEP_AT = 10_000


@dataclass(frozen=True, slots=True)
class Grant:
    """What one access token stands for."""

    client_id: str
    scopes: frozenset[str]
    expires_at: float

    def is_live(self, now: float) -> bool:
        """Whether the token has not expired at ``now``."""
        return now < self.expires_at


class TokenStore:
    """Issued tokens by value.

    Args:
        ttl: seconds a token lives.
    """

    def __init__(self, ttl: int) -> None:
        self.ttl = ttl
        self._grants: dict[str, Grant] = {}

    def issue(self, client_id: str, scopes: Iterable[str], now: float) -> str:
        """A new random token for ``client_id`` with ``scopes``, valid for ``ttl`` seconds."""
        if len(self._grants) >= _SWEEP_AT:
            self._grants = {t: g for t, g in self._grants.items() if g.is_live(now)}
        token = secrets.token_urlsafe(32)
        self._grants[token] = Grant(client_id, frozenset(scopes), now + self.ttl)
        return token

    def lookup(self, token: str) -> Grant | None:
        """The grant behind ``token``, live or expired; ``None`` when never issued."""
        return self._grants.get(token)

    def expire_all(self, now: float) -> int:
        """Expire every live token now (to test refresh); returns how many were live."""
        live = [t for t, g in self._grants.items() if g.is_live(now)]
        for token in live:
            self._grants[token] = replace(self._grants[token], expires_at=now)
        return len(live)

    def clear(self) -> None:
        """Forget every token."""
        self._grants.clear()

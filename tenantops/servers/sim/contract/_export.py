"""Exports as bytes: a bot model encoded once per change, with only ``exportedAt`` spliced in.

Exports are the hot path (a plan exports every tenant's bot), so a stored model is
never validated or encoded again while it is unchanged. This module owns the encoding
cache and nothing else; :mod:`._state` decides which model a workspace serves.
"""

from __future__ import annotations

import json
import secrets

from tenantops.core.model import BotDoc

__all__ = ["ExportCache"]


class ExportCache:
    """Encoded exports per (workspace, bot), split where ``metadata.exportedAt`` goes."""

    def __init__(self) -> None:
        self._parts: dict[tuple[str, str], tuple[BotDoc, bytes, bytes]] = {}
        # A marker no stored model can contain, so the split point is unambiguous.
        self._marker = json.dumps(f"\x00{secrets.token_hex(8)}\x00")

    def render(self, key: tuple[str, str], doc: BotDoc, exported_at: str) -> bytes:
        """``doc`` as JSON bytes with ``metadata.exportedAt`` set to ``exported_at``."""
        # Stored models are replaced, never changed in place: identity means same content.
        parts = self._parts.get(key)
        if parts is None or parts[0] is not doc:
            metadata = dict(doc.get("metadata") or {})
            metadata["exportedAt"] = json.loads(self._marker)
            text = json.dumps({**doc, "metadata": metadata}, separators=(",", ":"))
            head, _, tail = text.partition(self._marker)
            parts = (doc, head.encode() + b'"', b'"' + tail.encode())
            self._parts[key] = parts
        return parts[1] + exported_at.encode() + parts[2]

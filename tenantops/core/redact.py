"""Mask secret values wherever they could surface: models, plans, logs, audit records.

Pure. Masking is by value, not by field: a secret a template wrote into a webhook URL
or an intent example is masked there too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from tenantops.core.diff import Change, FieldChange

__all__ = ["MASK", "Redactor"]

MASK = "(sensitive)"


class Redactor:
    """Replaces every occurrence of known secret values with :data:`MASK`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._values = frozenset(values)
        # Longest first, so a secret that contains another is masked whole.
        self._pattern = re.compile("|".join(map(re.escape, values))) if values else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __repr__(self) -> str:
        return f"Redactor({len(self._values)} secrets)"

    def union(self, other: Redactor) -> Redactor:
        """A redactor that masks the secrets of both."""
        return Redactor(self._values | other._values)

    def text(self, value: str) -> str:
        """``value`` with every secret masked."""
        if self._pattern is None:
            return value
        return self._pattern.sub(MASK, value)

    def redact(self, value: Any) -> Any:
        """A copy of a JSON-like value with every secret in every string (and key) masked."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                self.text(k) if isinstance(k, str) else k: self.redact(v) for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.redact(v) for v in value]
        return value

    def mask_change(self, change: Change) -> Change:
        """``change`` with secrets masked on both sides of every value.

        A value that replaces a secret, or that a secret replaces, is masked whole: the
        live side of a rotated secret holds its old value, which no redactor knows.
        """
        before, after = self._pair(change.before, change.after)
        fields = tuple(FieldChange(f.field, *self._pair(f.before, f.after)) for f in change.fields)
        return replace(change, before=before, after=after, fields=fields)

    def _pair(self, before: Any, after: Any) -> tuple[Any, Any]:
        masked_before, masked_after = self.redact(before), self.redact(after)
        scalar = not isinstance(before, dict | list) and not isinstance(after, dict | list)
        if scalar and (masked_before != before or masked_after != after):
            return (None if before is None else MASK), (None if after is None else MASK)
        return masked_before, masked_after

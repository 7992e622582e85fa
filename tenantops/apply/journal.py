"""The Journal Protocol: the durable record apply writes before every step it announces.

:class:`tenantops.apply.audit.AuditLog` (hash-chained JSON lines) is the implementation;
tests may pass any object with these two methods. Apply reads a tenant's records only
while observing, before it decides; everything after that is appends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

__all__ = ["Journal", "JournalRecord"]


class JournalRecord(Protocol):
    """What apply reads back from a record."""

    @property
    def event(self) -> str: ...

    @property
    def plan_id(self) -> str | None: ...

    @property
    def details(self) -> Mapping[str, Any]: ...


class Journal(Protocol):
    """An append-only, per-tenant record of what apply is about to do and did."""

    def append(
        self,
        tenant: str,
        event: str,
        *,
        plan_id: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> object:
        """Add a record and return once it is durable."""
        ...

    def records(self, tenant: str) -> Sequence[JournalRecord]:
        """The tenant's records, oldest first."""
        ...

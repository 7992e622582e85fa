"""Apply's results for people: a rich table and a summary line.

Pure: returns renderables and strings; the CLI prints them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from tenantops.apply.interpret import TenantResult

__all__ = ["apply_summary", "apply_table"]

_STYLE = {
    "applied": "green",
    "unchanged": "dim",
    "rolled_back": "yellow",
    "failed": "red",
    "refused": "red",
    "locked": "red",
}


def apply_table(results: Sequence[TenantResult]) -> Table:
    """One row per tenant, in name order: result, deployment, duration, note."""
    table = Table(title="Apply", title_justify="left")
    for column in ("tenant", "result", "deployment", "duration", "note"):
        table.add_column(column, overflow="fold")
    for r in sorted(results, key=lambda r: r.tenant):
        table.add_row(
            r.tenant,
            f"[{_STYLE[r.outcome]}]{r.outcome}[/]",
            r.deployment_id or "-",
            f"{r.duration:.1f} s",
            r.message,
        )
    return table


def apply_summary(results: Sequence[TenantResult]) -> str:
    """``Apply complete: 2 applied, 3 unchanged, 1 failed.``"""
    failed = sum(r.failed for r in results)
    applied = sum(r.outcome == "applied" for r in results)
    unchanged = len(results) - applied - failed
    return f"Apply complete: {applied} applied, {unchanged} unchanged, {failed} failed."

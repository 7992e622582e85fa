"""Apply's results: a rich table and a summary line for people, a document for scripts.

Pure: returns renderables, strings and JSON-ready dicts; the CLI prints them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Table

if TYPE_CHECKING:
    from tenantops.apply.interpret import TenantResult

__all__ = ["apply_json", "apply_summary", "apply_table"]

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


def _counts(results: Sequence[TenantResult]) -> dict[str, int]:
    failed = sum(r.failed for r in results)
    applied = sum(r.outcome == "applied" for r in results)
    return {"applied": applied, "unchanged": len(results) - applied - failed, "failed": failed}


def apply_summary(results: Sequence[TenantResult]) -> str:
    """``Apply complete: 2 applied, 3 unchanged, 1 failed.``"""
    n = _counts(results)
    return (
        f"Apply complete: {n['applied']} applied, {n['unchanged']} unchanged, {n['failed']} failed."
    )


def apply_json(plan_id: str, results: Sequence[TenantResult]) -> dict[str, Any]:
    """``apply --format json``: the run's plan, each tenant's result (by name) and the counts."""
    return {
        "planId": plan_id,
        "results": [
            {
                "tenant": r.tenant,
                "outcome": r.outcome,
                "deploymentId": r.deployment_id,
                "durationSeconds": round(r.duration, 3),
                "message": r.message,
            }
            for r in sorted(results, key=lambda r: r.tenant)
        ],
        "summary": _counts(results),
    }

"""Plans and drift reports for people: terminal text in Terraform's idiom, and markdown.

Pure: returns rich ``Text`` lines or strings; the CLI decides where they go. Secrets are
masked before anything is formatted (each tenant's redactor is applied to every value).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from rich.text import Text

from tenantops.core.diff import Change, FieldChange
from tenantops.core.drift import DriftReport, TenantDrift
from tenantops.core.plan import Plan, TenantPlan, change_json
from tenantops.core.redact import Redactor

__all__ = [
    "MARKDOWN_LIMIT",
    "drift_json",
    "drift_markdown",
    "drift_text",
    "plan_markdown",
    "plan_text",
    "summary_line",
]

#: GitHub refuses comments over 65,536 characters; keep a margin for the wrapper.
MARKDOWN_LIMIT = 60_000
_SYMBOL = {"create": "+", "update": "~", "delete": "-"}
_STYLE = {"create": "green", "update": "yellow", "delete": "red"}
_SHOWN_VALUES = 6


def summary_line(summary: dict[str, int]) -> str:
    """``Plan: X to add, Y to change, Z to destroy.``"""
    return (
        f"Plan: {summary['create']} to add, {summary['update']} to change, "
        f"{summary['delete']} to destroy."
    )


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _field_line(f: FieldChange) -> str:
    """How one field changed: added/removed members for lists, before -> after otherwise."""
    if isinstance(f.before, list) and isinstance(f.after, list):
        before = {json.dumps(v, sort_keys=True) for v in f.before}
        after = {json.dumps(v, sort_keys=True) for v in f.after}
        added = sorted(after - before)
        removed = sorted(before - after)
        if added or removed:
            parts = [f"+{v}" for v in added[:_SHOWN_VALUES]] + [
                f"-{v}" for v in removed[:_SHOWN_VALUES]
            ]
            more = len(added) + len(removed) - len(parts)
            return f"{f.field}: " + " ".join(parts) + (f" (+{more} more)" if more > 0 else "")
        return f"{f.field}: reordered {_short(f.before)} -> {_short(f.after)}"
    return f"{f.field}: {_short(f.before)} -> {_short(f.after)}"


def _label(change: Change) -> str:
    if change.resource == "metadata":
        if change.action == "update" and not change.fields:
            return f"metadata.{change.key}: {_short(change.before)} -> {_short(change.after)}"
        value = change.after if change.action == "create" else change.before
        return f"metadata.{change.key}" + (
            "" if change.action == "update" else f" = {_short(value)}"
        )
    if change.resource == "role":
        side = change.after if change.action != "delete" else change.before
        role = side.get("roleId") if isinstance(side, dict) else None
        return f"role {change.key}" + (f" ({role})" if role else "")
    return f"{change.resource} {change.key}"


def change_lines(change: Change, redactor: Redactor) -> list[tuple[str, str]]:
    """(action, line) pairs for one change: the headline, then one per changed field."""
    change = redactor.mask_change(change)
    lines: list[tuple[str, str]] = [
        (change.action, redactor.text(f"{_SYMBOL[change.action]} {_label(change)}"))
    ]
    if change.action == "update":
        for f in change.fields:
            lines.append(("update", redactor.text(f"    {_field_line(f)}")))
    return lines


def _tenant_heading(t: TenantPlan) -> str:
    where = f" (workspace {t.workspace})" if t.workspace else ""
    return f"# tenant {t.tenant}{where}"


def plan_text(plan: Plan) -> list[Text]:
    """The plan as styled terminal lines, ending with the ``Plan: ...`` summary."""
    out: list[Text] = []
    for t in plan.tenants:
        if t.status == "error":
            out.append(Text(f"{_tenant_heading(t)}: error", style="bold red"))
            out.append(Text(f"    {t.error}", style="red"))
            continue
        if t.status == "no_changes":
            out.append(Text(f"{_tenant_heading(t)}: no changes", style="dim"))
            continue
        out.append(Text(_tenant_heading(t), style="bold"))
        for change in t.changes:
            for action, line in change_lines(change, t.redactor):
                out.append(Text("  " + line, style=_STYLE[action]))
    out.append(Text(""))
    summary = plan.summary
    line = summary_line(summary)
    if summary["tenants_errored"]:
        line += f" {summary['tenants_errored']} tenant(s) failed to plan."
    out.append(Text(line, style="bold"))
    return out


def _diff_block_lines(changes: Iterable[Change], redactor: Redactor) -> str:
    """Change lines for a markdown ``diff`` block: GitHub colours ``+``, ``-`` and ``!`` but
    not ``~``, so updates (and their field lines) start with ``!``, as tfcmt does."""
    lines = []
    for change in changes:
        for action, line in change_lines(change, redactor):
            if action == "update":
                line = "!" + line[1:]
            lines.append(line)
    return "\n".join(lines)


def _tenant_markdown(t: TenantPlan) -> str:
    s = t.summary
    body = _diff_block_lines(t.changes, t.redactor)
    return (
        f"<details><summary><b>{t.tenant}</b> ({t.workspace}): "
        f"+{s['create']} ~{s['update']} -{s['delete']}</summary>\n\n"
        f"```diff\n{body}\n```\n</details>\n"
    )


def _tenant_stub(t: TenantPlan) -> str:
    s = t.summary
    return (
        f"<details><summary><b>{t.tenant}</b> ({t.workspace}): "
        f"+{s['create']} ~{s['update']} -{s['delete']}</summary>\n\n"
        f"{len(t.changes)} changes: too many to show here; see the JSON plan "
        "(`tenantops plan --format json`).\n</details>\n"
    )


def _table(tenants: Sequence[TenantPlan]) -> str:
    rows = ["| tenant | workspace | status | add | change | destroy |", "|---|---|---|--:|--:|--:|"]
    for t in tenants:
        s = t.summary
        status = {"changes": "changes", "no_changes": "no changes", "error": "**error**"}[t.status]
        rows.append(
            f"| {t.tenant} | {t.workspace} | {status} | {s['create']} | {s['update']} | {s['delete']} |"
        )
    return "\n".join(rows) + "\n"


def plan_markdown(plan: Plan, *, limit: int = MARKDOWN_LIMIT) -> str:
    """A pull-request comment: summary table, then one collapsible section per tenant.

    Stays under ``limit`` characters by replacing the largest tenants' sections with a
    one-line summary (and, for huge fleets, listing only tenants with changes or errors).
    """
    summary = plan.summary
    head = (
        f"### tenantops plan `{plan.plan_id}`\n\n**{summary_line(summary)}** "
        f"{summary['tenants_with_changes']} of {len(plan.tenants)} tenant(s) change"
        + (f", {summary['tenants_errored']} failed to plan" if summary["tenants_errored"] else "")
        + ".\n\n"
    )
    table = _table(plan.tenants)
    if len(head) + len(table) > limit // 2:
        shown = [t for t in plan.tenants if t.status != "no_changes"]
        table = (
            _table(shown)
            + f"\n{len(plan.tenants) - len(shown)} tenant(s) without changes not listed.\n"
        )
    errors = "".join(
        f"\n**{t.tenant}** failed to plan: `{t.error}`\n"
        for t in plan.tenants
        if t.status == "error"
    )
    sections = {t.tenant: _tenant_markdown(t) for t in plan.tenants if t.status == "changes"}
    budget = limit - len(head) - len(table) - len(errors) - 200
    for t in sorted(
        (t for t in plan.tenants if t.status == "changes"),
        key=lambda t: len(sections[t.tenant]),
        reverse=True,
    ):
        if sum(map(len, sections.values())) <= budget:
            break
        sections[t.tenant] = _tenant_stub(t)
    body = "\n".join(sections[t.tenant] for t in plan.tenants if t.tenant in sections)
    text = head + table + errors + ("\n" + body if body else "")
    return text if len(text) <= limit else text[: limit - 40] + "\n\n…(truncated)\n"


# --------------------------------------------------------------------------- drift

_DRIFT_LABEL = {
    "drift": "drifted",
    "no_drift": "no drift",
    "never_applied": "never applied",
    "error": "error",
}


def _drift_heading(t: TenantDrift) -> str:
    text = f"# tenant {t.tenant} (workspace {t.workspace}): {_DRIFT_LABEL[t.status]}"
    if t.status == "drift" and t.applied_at:
        text += f" since the apply of {t.applied_at}"
    return text


def _pending_line(t: TenantDrift) -> str | None:
    if t.status == "never_applied":
        return "    not applied by tenantops yet: run `tenantops plan` to see what apply would do"
    if t.pending:
        return "    the config also changed since it was applied (not drift): run `tenantops plan`"
    return None


def drift_text(report: DriftReport) -> list[Text]:
    """The drift report as styled terminal lines; changes go from applied to live."""
    out: list[Text] = []
    for t in report.tenants:
        style = {
            "drift": "bold yellow",
            "no_drift": "dim",
            "never_applied": "cyan",
            "error": "bold red",
        }[t.status]
        out.append(Text(_drift_heading(t), style=style))
        if t.error:
            out.append(Text(f"    {t.error}", style="red"))
        if t.note:
            out.append(Text(f"    {t.note}", style="yellow" if t.status == "drift" else "dim"))
        for change in t.changes:
            for action, line in change_lines(change, t.redactor):
                out.append(Text("  " + line, style=_STYLE[action]))
        pending = _pending_line(t)
        if pending:
            out.append(Text(pending, style="cyan"))
    s = report.summary
    out.append(Text(""))
    out.append(
        Text(
            f"Drift: {s['tenants_drifted']} of {len(report.tenants)} tenant(s) drifted, "
            f"{s['tenants_never_applied']} never applied, {s['tenants_pending']} with config "
            f"changes not yet applied, {s['tenants_errored']} failed.",
            style="bold",
        )
    )
    return out


def drift_markdown(report: DriftReport, *, limit: int = MARKDOWN_LIMIT) -> str:
    """The drift report for an issue or a chat message."""
    s = report.summary
    lines = [
        f"### tenantops drift: {s['tenants_drifted']} of {len(report.tenants)} tenant(s) drifted\n",
        "| tenant | workspace | status | config change pending |",
        "|---|---|---|---|",
    ]
    for t in report.tenants:
        pending = {True: "yes", False: "no", None: "?"}[t.pending]
        lines.append(f"| {t.tenant} | {t.workspace} | {_DRIFT_LABEL[t.status]} | {pending} |")
    text = "\n".join(lines) + "\n"
    for t in report.tenants:
        if t.status != "drift":
            continue
        body = _diff_block_lines(t.changes, t.redactor) or (t.note or "")
        section = f"\n<details><summary><b>{t.tenant}</b>: {len(t.changes)} difference(s)</summary>\n\n```diff\n{body}\n```\n</details>\n"
        if len(text) + len(section) > limit - 100:
            text += f"\n{t.tenant}: {len(t.changes)} difference(s), too many to show here.\n"
            continue
        text += section
    return text


def drift_json(report: DriftReport) -> dict[str, Any]:
    """The drift report for machines (``format_version`` 1); secrets masked."""
    return {
        "format_version": 1,
        "tenants": [
            {
                "tenant": t.tenant,
                "workspace": t.workspace,
                "status": t.status,
                "error": t.error,
                "note": t.note,
                "pending": t.pending,
                "applied_at": t.applied_at,
                "changes": [change_json(c, t.redactor) for c in t.changes],
                "summary": t.summary,
            }
            for t in report.tenants
        ],
        "summary": report.summary,
    }

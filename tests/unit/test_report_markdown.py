"""Markdown plans for pull-request comments: GitHub colours every changed line."""

from __future__ import annotations

from tenantops.core.diff import Change, FieldChange
from tenantops.core.plan import Plan, TenantPlan
from tenantops.report.changes import plan_markdown


def test_updates_are_marked_with_bang_so_github_colours_them() -> None:
    """In the diff block, an update and its field lines start with '!', never '~'."""
    update = Change(
        "intent",
        "greet",
        "update",
        {"name": "greet"},
        {"name": "greet"},
        (FieldChange("examples", ["hi"], ["hey"]),),
    )
    create = Change("intent", "bye", "create", None, {"name": "bye"})
    tenant = TenantPlan(tenant="acme", workspace="ws", status="changes", changes=(update, create))
    text = plan_markdown(Plan.of([tenant]))
    block = text.split("```diff\n", 1)[1].split("\n```", 1)[0].splitlines()
    assert block == ["! intent greet", '!   examples: +"hey" -"hi"', "+ intent bye"]

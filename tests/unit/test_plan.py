"""Plans as data: summaries, plan-file round trip, masking, markdown size cap."""

from __future__ import annotations

import json
from io import StringIO

from rich.console import Console

from tenantops.core.diff import diff_models
from tenantops.core.plan import Plan, TenantPlan, plan_from_json, plan_to_json
from tenantops.core.redact import Redactor
from tenantops.report.changes import MARKDOWN_LIMIT, plan_markdown, plan_text

SECRET = "tok-very-secret"


def tenant_plan(name: str, intents: int, *, secret: bool = False) -> TenantPlan:
    desired = {
        "botId": "b",
        "intents": [
            {"name": f"{name}_intent_{i}", "examples": [f"example {i} " * 8], "actions": ["a"]}
            for i in range(intents)
        ],
        "entities": [],
        "dialogs": [],
        "metadata": {"token": SECRET} if secret else {},
    }
    return TenantPlan.build(
        tenant=name,
        workspace=f"ws-{name}",
        desired=desired,
        live=None,
        changes=diff_models(desired, None),
        config_sha256="c" * 64,
        base={"botId": "b", "version": "1"},
        roles_managed=False,
        redactor=Redactor([SECRET]),
    )


def test_summary_counts_actions_and_tenants() -> None:
    """The plan summary adds up every tenant's changes and counts tenants by status."""
    plan = Plan.of(
        [tenant_plan("a", 3), tenant_plan("b", 0), TenantPlan.failed("c", "ws-c", "boom")]
    )
    assert plan.summary == {
        "create": 3,
        "update": 0,
        "delete": 0,
        "tenants_with_changes": 1,
        "tenants_errored": 1,
    }
    assert [t.tenant for t in plan.tenants] == ["a", "b", "c"]


def test_plan_file_round_trip_keeps_what_apply_needs() -> None:
    """A saved plan reads back with hashes, fingerprints and (masked) desired models."""
    plan = Plan.of([tenant_plan("a", 2, secret=True)])
    text = json.dumps(plan_to_json(plan, plan_file=True))
    assert SECRET not in text
    again = plan_from_json(json.loads(text))
    (t,) = again.tenants
    assert t.model_sha256 == plan.tenants[0].model_sha256
    assert t.live_fingerprint == "none"
    assert t.config_sha256 == "c" * 64
    assert t.desired is not None
    assert t.desired["metadata"]["token"] == "(sensitive)"
    assert [c.key for c in t.changes] == [c.key for c in plan.tenants[0].changes]


def test_markdown_stays_under_the_cap_for_300_tenants() -> None:
    """300 tenants with many changes: summary table first, under 60,000 characters."""
    plan = Plan.of([tenant_plan(f"t{i:03d}", 5 + i % 40) for i in range(300)])
    text = plan_markdown(plan)
    assert len(text) <= MARKDOWN_LIMIT
    assert text.index("| tenant | workspace |") < text.index("<details>")
    assert "| t299 | ws-t299 | changes |" in text
    assert "too many to show here" in text
    assert "Plan: " in text


def test_small_plans_show_every_section() -> None:
    """When everything fits, every tenant with changes gets its collapsible section."""
    text = plan_markdown(Plan.of([tenant_plan("a", 2), tenant_plan("b", 1)]))
    assert text.count("<details>") == 2
    assert "too many" not in text


def test_text_report_golden() -> None:
    """The terminal report, rendered without colour, reads as Terraform's does."""
    plan = Plan.of(
        [
            tenant_plan("a", 2, secret=True),
            tenant_plan("b", 0),
            TenantPlan.failed("c", "ws-c", "boom"),
        ]
    )
    out = StringIO()
    console = Console(file=out, width=80, color_system=None)
    for line in plan_text(plan):
        console.print(line)
    assert out.getvalue() == (
        "# tenant a (workspace ws-a)\n"
        "  + intent a_intent_0\n"
        "  + intent a_intent_1\n"
        '  + metadata.token = "(sensitive)"\n'
        "# tenant b (workspace ws-b): no changes\n"
        "# tenant c (workspace ws-c): error\n"
        "    boom\n"
        "\n"
        "Plan: 3 to add, 0 to change, 0 to destroy. 1 tenant(s) failed to plan.\n"
    )

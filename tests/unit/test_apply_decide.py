"""What apply decides for one tenant, as data: the steps for each situation it meets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from tenantops.apply.decide import (
    History,
    InFlight,
    Observed,
    PendingRollback,
    Rendered,
    decide,
    history_of,
    idempotency_key,
)
from tenantops.apply.explain import explain_steps
from tenantops.apply.steps import (
    AssignRole,
    Deploy,
    FinishRollback,
    RecordRecovered,
    Refuse,
    ResumeDeploy,
    RevokeRole,
    Skip,
    WriteLockEntry,
)
from tenantops.backends.base import RoleGrant
from tenantops.core.diff import Change
from tenantops.core.plan import NO_BOT, TenantPlan

PLAN_ID = "20261201T000000Z-abcd1234"
MODEL, LIVE, CONFIG = "m" * 64, "l" * 64, "c" * 64


def make_plan(*changes: Change, live: str = LIVE, status: str = "changes") -> TenantPlan:
    return TenantPlan(
        tenant="acme",
        workspace="ws-acme",
        status=status,  # type: ignore[arg-type]
        changes=changes,
        model_sha256=MODEL,
        live_fingerprint=live,
        config_sha256=CONFIG,
        error="boom" if status == "error" else None,
    )


INTENT = Change("intent", "greeting", "update", {"name": "greeting"}, {"name": "greeting", "x": 1})
ASSIGN = Change("role", "bob@x.example", "create", None, {"roleId": "editor"})
REVOKE = Change("role", "eve@x.example", "delete", {"roleId": "admin"}, None)


def observed(
    live: str = LIVE,
    *,
    history: History | None = None,
    rendered: Rendered | str | None = None,
    roles: dict[str, RoleGrant] | None = None,
    status: str | None = None,
) -> Observed:
    return Observed(
        rendered if rendered is not None else Rendered(CONFIG, MODEL),
        live,
        history or History(),
        roles,
        status,
    )


def test_fresh_tenant_is_deployed_then_recorded() -> None:
    """A workspace without the bot: deploy (attempt 1) and write the lock entry."""
    steps = decide(make_plan(INTENT, live=NO_BOT), PLAN_ID, observed(NO_BOT))
    assert steps == (Deploy(idempotency_key("acme", PLAN_ID, MODEL, 1), 1), WriteLockEntry())


def test_unchanged_tenant_only_records_the_lock_entry() -> None:
    """Live already equals the planned model: nothing is deployed."""
    steps = decide(make_plan(status="no_changes", live=MODEL), PLAN_ID, observed(MODEL))
    assert steps == (WriteLockEntry(),)


def test_ignored_differences_deploy_nothing() -> None:
    """Live differs only where ignoreChanges looks away: no model change, no deploy."""
    assert decide(make_plan(live=LIVE), PLAN_ID, observed(LIVE)) == (WriteLockEntry(),)


@pytest.mark.parametrize(
    ("rendered", "reason"),
    [
        (Rendered("other", MODEL), "the config changed since the plan was made"),
        (Rendered(CONFIG, "other"), "the rendered model differs from the plan's"),
        ("its config no longer loads (x); fix it and plan again", "no longer loads"),
    ],
)
def test_stale_config_is_refused(rendered: Rendered | str, reason: str) -> None:
    """A config that moved since the plan: one Refuse step, nothing else."""
    (step,) = decide(make_plan(INTENT), PLAN_ID, observed(rendered=rendered))
    assert isinstance(step, Refuse)
    assert reason in step.reason


def test_stale_live_is_refused() -> None:
    """A live bot edited since the plan (neither planned nor planned-against): refuse."""
    (step,) = decide(make_plan(INTENT), PLAN_ID, observed("u" * 64))
    assert step == Refuse(
        "the live bot changed since the plan was made; run `tenantops plan` again"
    )


def test_deploy_left_in_flight_is_resumed_with_its_key() -> None:
    """A killed run's unfinished deploy of this model is resumed, not deployed again."""
    flight = InFlight("tenantops-old-key", MODEL, "dep-7")
    steps = decide(make_plan(INTENT), PLAN_ID, observed("u" * 64, history=History(flight)))
    assert steps == (ResumeDeploy("tenantops-old-key", "dep-7"), WriteLockEntry())


def test_recovered_deploy_is_recorded_not_repeated() -> None:
    """Live is the planned model and the platform says the in-flight deploy succeeded."""
    flight = InFlight("k", MODEL, "dep-9")
    seen = observed(MODEL, history=History(flight), status="success")
    assert decide(make_plan(INTENT), PLAN_ID, seen) == (RecordRecovered("dep-9"), WriteLockEntry())


@pytest.mark.parametrize(
    ("deployment", "status"), [("dep-9", "failed"), ("dep-9", None), (None, None)]
)
def test_live_model_without_a_successful_deploy_is_seen_through(
    deployment: str | None, status: str | None
) -> None:
    """Live shows the model but the deploy is not known to have succeeded (Cognigy.AI writes
    before it trains): resume it with its key rather than record a success."""
    flight = InFlight("k", MODEL, deployment)
    seen = observed(MODEL, history=History(flight), status=status)
    assert decide(make_plan(INTENT), PLAN_ID, seen)[0] == ResumeDeploy("k", deployment)


def test_in_flight_deploy_of_another_model_does_not_count() -> None:
    """An unfinished deploy of a different model neither resumes nor excuses a stale live."""
    flight = InFlight("k", "o" * 64, "dep-1")
    (step,) = decide(make_plan(INTENT), PLAN_ID, observed("u" * 64, history=History(flight)))
    assert isinstance(step, Refuse)


def test_after_a_rollback_the_same_plan_deploys_under_a_new_key() -> None:
    """Each rollback of this plan bumps the attempt, so the retry is a new deployment."""
    steps = decide(make_plan(INTENT), PLAN_ID, observed(history=History(rollbacks=2)))
    assert steps[0] == Deploy(idempotency_key("acme", PLAN_ID, MODEL, 3), 3)
    assert idempotency_key("acme", PLAN_ID, MODEL, 3) != idempotency_key("acme", PLAN_ID, MODEL, 1)


def test_role_changes_become_assign_and_revoke_steps() -> None:
    """Role changes follow the model's steps, before the lock entry."""
    steps = decide(make_plan(INTENT, ASSIGN, REVOKE), PLAN_ID, observed())
    assert steps[1:] == (
        AssignRole("bob@x.example", "editor"),
        RevokeRole("eve@x.example"),
        WriteLockEntry(),
    )


def test_roles_already_live_are_not_changed_again() -> None:
    """A re-run after a crash skips role steps the workspace already reflects."""
    live = {"bob@x.example": RoleGrant(userId="bob@x.example", roleId="editor")}
    steps = decide(make_plan(ASSIGN, REVOKE, live=MODEL), PLAN_ID, observed(MODEL, roles=live))
    assert steps == (WriteLockEntry(),)


def test_role_with_expiry_is_compared_to_the_live_expiry() -> None:
    """The same role with another expiry is assigned again."""
    change = Change(
        "role",
        "bob@x.example",
        "update",
        None,
        {"roleId": "editor", "expiresAt": "2027-01-01T00:00:00Z"},
    )
    grant = RoleGrant(
        userId="bob@x.example", roleId="editor", expiresAt=datetime(2026, 1, 1, tzinfo=UTC)
    )
    steps = decide(
        make_plan(change, live=MODEL), PLAN_ID, observed(MODEL, roles={"bob@x.example": grant})
    )
    assert steps == (
        AssignRole("bob@x.example", "editor", "2027-01-01T00:00:00Z"),
        WriteLockEntry(),
    )


def test_failed_plan_is_skipped() -> None:
    """A tenant whose plan failed is skipped with the plan's error."""
    assert decide(make_plan(status="error"), PLAN_ID, None) == (
        Skip("not applied: the plan failed for it: boom"),
    )


@dataclass
class Record:
    event: str
    plan_id: str | None = PLAN_ID
    details: dict[str, Any] = field(default_factory=dict)


def test_history_finds_the_deploy_a_killed_run_left_in_flight() -> None:
    """requested + accepted with no end is in flight, with its key and deployment id."""
    records = [
        Record("deploy_requested", details={"idempotency_key": "k1", "model_sha256": MODEL}),
        Record("deploy_accepted", details={"deployment_id": "dep-1"}),
    ]
    assert history_of(records, PLAN_ID) == History(InFlight("k1", MODEL, "dep-1"), 0)


@pytest.mark.parametrize("end", ["deploy_succeeded", "rolled_back", "deploy_rejected", "applied"])
def test_history_closes_a_deploy_that_ended(end: str) -> None:
    """Any record of a deploy's end means nothing is in flight."""
    records = [
        Record("deploy_requested", details={"idempotency_key": "k", "model_sha256": MODEL}),
        Record(end),
    ]
    assert history_of(records, PLAN_ID).in_flight is None


def test_history_keeps_a_deploy_whose_apply_failed_in_flight() -> None:
    """apply_failed does not end a deploy: its answer may have been lost."""
    records = [
        Record("deploy_requested", details={"idempotency_key": "k", "model_sha256": MODEL}),
        Record("apply_failed"),
    ]
    assert history_of(records, PLAN_ID).in_flight == InFlight("k", MODEL, None)


def test_history_counts_rollbacks_of_this_plan_only() -> None:
    """Rollbacks under other plans do not change this plan's attempt number."""
    records = [Record("rolled_back"), Record("rolled_back", plan_id="other"), Record("rolled_back")]
    assert history_of(records, PLAN_ID).rollbacks == 2


def test_history_keeps_a_rollback_a_killed_run_requested() -> None:
    """rollback_requested with no rolled_back after it is a rollback to finish."""
    records = [
        Record("deploy_requested", details={"idempotency_key": "k", "model_sha256": MODEL}),
        Record("backup_snapshot", details={"rollback_id": "p/s/"}),
        Record(
            "rollback_requested", details={"reason": "r", "rollback_of": "p/s/", "expected": LIVE}
        ),
        Record("apply_failed"),
    ]
    assert history_of(records, PLAN_ID).rolling_back == PendingRollback("p/s/", "r", LIVE)
    assert history_of([*records, Record("rolled_back")], PLAN_ID).rolling_back is None


def test_history_reads_the_rollback_target_of_older_records() -> None:
    """Records from before rollback_of named the deployment only: that is the target."""
    records = [Record("rollback_requested", details={"deployment_id": "dep-3", "reason": "r"})]
    assert history_of(records, PLAN_ID).rolling_back == PendingRollback("dep-3", "r", None)


@pytest.mark.parametrize(
    "seen",
    [
        observed(MODEL, status="failed"),  # the model is live: would otherwise resume
        observed("u" * 64),  # live moved: would otherwise be refused as stale
        observed(rendered="its config no longer loads"),
    ],
)
def test_a_rollback_left_unfinished_comes_first_and_alone(seen: Observed) -> None:
    """Whatever the plan and the live bot say, an unfinished rollback is finished first
    and nothing else is done: a restore may still run, and a write would be lost in it."""
    pending = PendingRollback("p/s/", "training failed", LIVE)
    flight = InFlight("k", MODEL, "p/s/t")
    history = History(flight, 0, pending)
    seen = Observed(seen.rendered, seen.live_fingerprint, history, None, seen.in_flight_status)
    assert decide(make_plan(INTENT, ASSIGN), PLAN_ID, seen) == (
        FinishRollback("p/s/", "training failed", LIVE),
    )


def test_explain_describes_every_step() -> None:
    """The dry run's sentences name what apply would do, one per step."""
    flight = InFlight("k", MODEL, "dep-7")
    steps = decide(make_plan(INTENT, ASSIGN), PLAN_ID, observed("u" * 64, history=History(flight)))
    assert explain_steps(steps) == [
        "resume deployment dep-7 a killed run left in flight (idempotency key k); "
        "poll until it ends; roll back if it fails",
        "assign role editor to bob@x.example",
        "record the planned model as applied in the lockfile",
    ]
    assert explain_steps(()) == ["nothing to do"]
    assert explain_steps((FinishRollback("dep-7", "training failed"),)) == [
        "finish the rollback of dep-7 that a killed run began (training failed), "
        "then stop: plan again to deploy"
    ]

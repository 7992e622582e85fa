"""The audit trail: hash chain, verification, torn-write repair, redaction, actors, locking."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
import textwrap
import time
from itertools import pairwise
from pathlib import Path

import pytest

from tenantops.apply.audit import GENESIS, AuditLog, AuditProblem, AuditRecord, detect_actor, verify
from tenantops.core.redact import MASK, Redactor
from tenantops.errors import TenantOpsError


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "audit"


@pytest.fixture
def log(directory: Path) -> AuditLog:
    return AuditLog(directory, actor="tester@host")


def fill(log: AuditLog, tenant: str = "acme", count: int = 5) -> list[AuditRecord]:
    return [
        log.append(tenant, f"step_{i}", plan_id="plan-1", details={"i": i})
        for i in range(1, count + 1)
    ]


def lines(directory: Path, tenant: str = "acme") -> list[str]:
    return (directory / f"{tenant}.jsonl").read_text(encoding="utf-8").splitlines()


def write_lines(directory: Path, rows: list[str], tenant: str = "acme") -> None:
    (directory / f"{tenant}.jsonl").write_text("".join(r + "\n" for r in rows), encoding="utf-8")


def only_problem(directory: Path) -> AuditProblem:
    problems = verify(directory)
    assert len(problems) == 1, problems
    return problems[0]


def test_records_link_into_a_hash_chain(log: AuditLog, directory: Path) -> None:
    """Each record holds the previous hash and the SHA-256 of its own canonical fields."""
    records = fill(log)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert records[0].prev_hash == GENESIS
    for before, after in pairwise(records):
        assert after.prev_hash == before.hash
    first = json.loads(lines(directory)[0])
    body = {k: v for k, v in first.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert first["hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert log.records("acme") == records


def test_record_fields(log: AuditLog) -> None:
    """A record carries time in RFC 3339 UTC with milliseconds, actor, plan id and details."""
    record = log.append("acme", "deploy_requested", plan_id="p-9", details={"bot": "support"})
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record.time)
    assert (record.tenant, record.event, record.actor) == (
        "acme",
        "deploy_requested",
        "tester@host",
    )
    assert (record.plan_id, record.details) == ("p-9", {"bot": "support"})


def test_verify_accepts_intact_trails(log: AuditLog, directory: Path) -> None:
    """Intact trails of several tenants, and a missing folder, have no problems."""
    fill(log, "acme")
    fill(log, "globex", 3)
    assert verify(directory) == []
    assert verify(directory / "missing") == []
    assert log.tenants() == ["acme", "globex"]


def test_edited_record_is_named(log: AuditLog, directory: Path) -> None:
    """Changing a record's content breaks its hash; the problem names its seq and line."""
    fill(log)
    rows = lines(directory)
    rows[2] = rows[2].replace('"i":3', '"i":33')
    write_lines(directory, rows)
    problem = only_problem(directory)
    assert (problem.tenant, problem.seq, problem.line) == ("acme", 3, 3)
    assert "hash mismatch" in problem.message
    assert str(problem).endswith("acme.jsonl:3: record 3: " + problem.message)


def test_edited_record_with_recomputed_hash_breaks_the_next_link(
    log: AuditLog, directory: Path
) -> None:
    """Re-hashing an edited record does not help: the next record's prev_hash no longer matches."""
    fill(log)
    rows = lines(directory)
    edited = json.loads(rows[1])
    edited["details"] = {"i": 99}
    body = {k: v for k, v in edited.items() if k != "hash"}
    edited["hash"] = hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    rows[1] = json.dumps(edited)
    write_lines(directory, rows)
    problem = only_problem(directory)
    assert (problem.seq, problem.line) == (3, 3)
    assert "prev_hash" in problem.message


def test_deleted_middle_record_is_detected(log: AuditLog, directory: Path) -> None:
    """Deleting a record leaves a gap in seq where it was."""
    fill(log)
    rows = lines(directory)
    del rows[1]
    write_lines(directory, rows)
    problem = only_problem(directory)
    assert (problem.seq, problem.line) == (3, 2)
    assert "expected record 2" in problem.message


def test_reordered_records_are_detected(log: AuditLog, directory: Path) -> None:
    """Swapping two records is reported at the first one out of place."""
    fill(log)
    rows = lines(directory)
    rows[1], rows[2] = rows[2], rows[1]
    write_lines(directory, rows)
    problem = only_problem(directory)
    assert (problem.seq, problem.line) == (3, 2)


def test_record_from_another_tenant_is_detected(log: AuditLog, directory: Path) -> None:
    """A record copied from another tenant's trail does not belong in this one."""
    fill(log, "acme", 2)
    fill(log, "globex", 3)
    rows = lines(directory)
    rows.append(lines(directory, "globex")[2])
    write_lines(directory, rows)
    problem = only_problem(directory)
    assert (problem.tenant, problem.line) == ("acme", 3)
    assert "globex" in problem.message


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("not json", "invalid JSON"),
        ('{"seq": 2}', "not an audit record"),
        ("", "not an audit record"),
    ],
)
def test_unreadable_line_is_detected(
    log: AuditLog, directory: Path, row: str, expected: str
) -> None:
    """A line that is not an audit record is reported by line, without a seq."""
    fill(log, count=2)
    write_lines(directory, [*lines(directory), row])
    problem = only_problem(directory)
    assert (problem.seq, problem.line) == (None, 3)
    assert expected in problem.message
    assert str(problem).endswith("acme.jsonl:3: " + problem.message)


def test_string_seq_is_not_accepted(log: AuditLog, directory: Path) -> None:
    """Records are parsed strictly: a seq edited into a string is an error, not a quiet 7."""
    fill(log, count=1)
    write_lines(directory, [lines(directory)[0].replace('"seq":1', '"seq":"1"')])
    assert only_problem(directory).line == 1


def test_one_problem_per_trail_sorted_by_tenant(log: AuditLog, directory: Path) -> None:
    """Verify reports only the first broken record of each trail, tenants in order."""
    for tenant in ("globex", "acme"):
        fill(log, tenant)
        rows = lines(directory, tenant)
        write_lines(directory, [rows[0], rows[2], rows[1], *rows[3:]], tenant)
    assert [(p.tenant, p.line) for p in verify(directory)] == [("acme", 2), ("globex", 2)]


def test_torn_last_line_is_ignored_then_repaired(log: AuditLog, directory: Path) -> None:
    """A write cut short is no problem for verify, and the next append repairs and records it."""
    fill(log, count=3)
    path = directory / "acme.jsonl"
    torn = b'{"seq":4,"time":"2026-'
    with path.open("ab") as file:
        file.write(torn)
    assert verify(directory) == []
    assert len(log.records("acme")) == 3
    # A second AuditLog has no cached tip: it must find the tear on disk.
    record = AuditLog(directory, actor="other").append("acme", "deploy_requested")
    repaired = log.records("acme")[3]
    assert (repaired.seq, repaired.event) == (4, "audit_repaired")
    assert repaired.details == {"dropped_bytes": len(torn)}
    assert (record.seq, record.prev_hash) == (5, repaired.hash)
    assert verify(directory) == []
    assert path.read_bytes().endswith(b"\n")


def test_torn_only_line_is_repaired_from_genesis(log: AuditLog, directory: Path) -> None:
    """A trail whose very first write was torn restarts the chain at GENESIS."""
    directory.mkdir()
    (directory / "acme.jsonl").write_bytes(b'{"seq":1')
    record = log.append("acme", "deploy_requested")
    repaired = log.records("acme")[0]
    assert (repaired.event, repaired.prev_hash) == ("audit_repaired", GENESIS)
    assert record.seq == 2
    assert verify(directory) == []


def test_appending_after_an_unreadable_last_record_fails(log: AuditLog, directory: Path) -> None:
    """A trail whose last record is garbage cannot be extended: the error says what to run."""
    fill(log, count=1)
    write_lines(directory, [*lines(directory), "garbage"])
    with pytest.raises(TenantOpsError, match="audit verify"):
        AuditLog(directory).append("acme", "deploy_requested")


def test_secrets_are_masked(directory: Path) -> None:
    """Known secret values never reach the file, in details (values and keys) or the plan id."""
    log = AuditLog(directory, actor="ci", redactor=Redactor(["s3cret"]))
    record = log.append(
        "acme",
        "deploy_requested",
        plan_id="plan-s3cret",
        details={"url": "https://x/?token=s3cret", "nested": [{"s3cret": "a s3cret b"}]},
    )
    text = (directory / "acme.jsonl").read_text(encoding="utf-8")
    assert "s3cret" not in text
    assert record.plan_id == f"plan-{MASK}"
    assert record.details["url"] == f"https://x/?token={MASK}"
    assert record.details["nested"] == [{MASK: f"a {MASK} b"}]
    assert verify(directory) == []


def test_details_are_normalized_to_json(log: AuditLog, directory: Path) -> None:
    """Tuples and non-string keys are stored as JSON has them, so the record still verifies."""
    record = log.append("acme", "x", details={"steps": ("a", "b"), "n": {1: 2.5}})
    assert record.details == {"steps": ["a", "b"], "n": {"1": 2.5}}
    assert log.records("acme") == [record]
    assert verify(directory) == []


@pytest.mark.parametrize(
    "details", [{"when": object()}, {"ratio": float("nan")}, {"text": "lone \udc80"}]
)
def test_non_json_details_are_refused(log: AuditLog, details: dict[str, object]) -> None:
    """Details that JSON or UTF-8 cannot hold raise a TenantOpsError and write nothing."""
    with pytest.raises(TenantOpsError, match="cannot be stored as JSON"):
        log.append("acme", "x", details=details)
    assert log.records("acme") == []


@pytest.mark.parametrize("tenant", ["../etc", "a/b", ".hidden", ""])
def test_tenant_names_cannot_escape_the_folder(log: AuditLog, tenant: str) -> None:
    """A tenant name that is not a plain file name is refused."""
    with pytest.raises(TenantOpsError, match="not a valid tenant name"):
        log.append(tenant, "x")


def test_unicode_is_kept(log: AuditLog, directory: Path) -> None:
    """Non-ASCII text is written as UTF-8 and verifies."""
    log.append("acme", "x", details={"greeting": "Grüß Gott ✓"})
    assert "Grüß Gott ✓" in lines(directory)[0]
    assert verify(directory) == []


def test_two_logs_in_one_process_share_a_chain(directory: Path) -> None:
    """A log re-reads the tip when another writer grew the file since its last append."""
    first, second = AuditLog(directory, actor="a"), AuditLog(directory, actor="b")
    for _ in range(3):
        first.append("acme", "x")
        second.append("acme", "y")
    assert [r.seq for r in first.records("acme")] == [1, 2, 3, 4, 5, 6]
    assert verify(directory) == []


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {
                "GITHUB_ACTIONS": "true",
                "GITHUB_ACTOR": "octocat",
                "GITHUB_REPOSITORY": "acme/bots",
                "GITHUB_RUN_ID": "42",
            },
            "github:octocat acme/bots run 42",
        ),
        ({"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "octocat"}, "github:octocat"),
        (
            {
                "GITLAB_CI": "true",
                "GITLAB_USER_LOGIN": "jdoe",
                "CI_PROJECT_PATH": "group/bots",
                "CI_PIPELINE_ID": "7",
            },
            "gitlab:jdoe group/bots pipeline 7",
        ),
        ({"GITLAB_CI": "true", "CI_PIPELINE_ID": "7"}, "gitlab: pipeline 7"),
    ],
)
def test_actor_from_ci(env: dict[str, str], expected: str) -> None:
    """On GitHub Actions and GitLab CI the actor names the user, project and run."""
    assert detect_actor(env) == expected


def test_actor_local(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside CI the actor is user@host, and a missing user does not crash."""
    monkeypatch.setattr("socket.gethostname", lambda: "laptop")
    monkeypatch.setattr("getpass.getuser", lambda: "alice")
    assert detect_actor({}) == "alice@laptop"

    def no_user() -> str:
        raise OSError("no user")

    monkeypatch.setattr("getpass.getuser", no_user)
    assert detect_actor({"GITHUB_ACTIONS": "false"}) == "unknown@laptop"


_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from tenantops.apply.audit import AuditLog

    log = AuditLog(Path(sys.argv[1]), actor=sys.argv[2])
    go = Path(sys.argv[1]).parent / "go"
    while not go.exists():  # start together, so the appends overlap
        time.sleep(0.005)
    for i in range(int(sys.argv[3])):
        log.append("acme", "step", details={"i": i})
    """
)


@pytest.mark.integration
def test_concurrent_processes_keep_one_chain(directory: Path) -> None:
    """Two processes appending at once never interleave lines or fork the chain."""
    count = 60
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(directory), name, str(count)])
        for name in ("p1", "p2")
    ]
    (directory.parent / "go").touch()
    assert [w.wait(timeout=60) for w in writers] == [0, 0]
    records = AuditLog(directory).records("acme")
    assert [r.seq for r in records] == list(range(1, 2 * count + 1))
    assert sorted(r.actor for r in records) == ["p1"] * count + ["p2"] * count
    assert verify(directory) == []


@pytest.mark.integration
def test_sigkill_leaves_the_trail_intact(directory: Path) -> None:
    """A writer killed mid-run leaves a valid chain that the next append extends."""
    (directory.parent / "go").touch()
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(directory), "p1", "100000"])
    path = directory / "acme.jsonl"
    deadline = time.monotonic() + 30
    while not (path.exists() and path.stat().st_size > 5000) and time.monotonic() < deadline:
        time.sleep(0.01)
    writer.send_signal(signal.SIGKILL)
    assert writer.wait(timeout=10) == -signal.SIGKILL
    assert verify(directory) == []
    before = len(AuditLog(directory).records("acme"))
    assert AuditLog(directory).append("acme", "after_crash").seq == before + 1
    assert verify(directory) == []

"""`tenantops audit verify` and `tenantops audit show` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tenantops.apply.audit import AuditLog
from tenantops.cli import cli

pytestmark = pytest.mark.integration


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def trail(repo: Path) -> Path:
    """acme with three records and globex with one, in the repo's ``audit/``."""
    log = AuditLog(repo / "audit", actor="alice@laptop")
    log.append("acme", "deploy_requested", plan_id="plan-1", details={"bot": "support-bot"})
    log.append("acme", "deploy_succeeded", plan_id="plan-1", details={"version": 3})
    log.append("acme", "lock_released")
    log.append("globex", "deploy_requested", plan_id="plan-1")
    return repo / "audit"


def test_verify_without_trails(repo: Path) -> None:
    """No audit folder yet is fine: zero trails, exit 0."""
    code, out, err = run("audit", "verify")
    assert code == 0
    assert out == ""
    assert "ok: 0 record(s) in 0 trail(s), every chain intact" in err


def test_verify_intact(trail: Path) -> None:
    """Intact chains exit 0 with a count of records and trails."""
    code, _, err = run("audit", "verify")
    assert code == 0
    assert "ok: 4 record(s) in 2 trail(s), every chain intact" in err


def test_verify_names_first_broken_record(trail: Path) -> None:
    """An edited record exits 1 and names the file, line and record that broke."""
    path = trail / "acme.jsonl"
    rows = path.read_text(encoding="utf-8").splitlines(keepends=True)
    rows[1] = rows[1].replace('"version":3', '"version":4')
    path.write_text("".join(rows), encoding="utf-8")
    code, out, err = run("audit", "verify")
    assert code == 1
    assert out.splitlines() == [
        "audit/acme.jsonl:2: record 2: hash mismatch: the record was changed after it was written"
    ]
    assert "1 audit trail(s) broken" in err


def test_verify_github_annotations(trail: Path) -> None:
    """--format github prints one ::error annotation per broken trail."""
    path = trail / "globex.jsonl"
    path.write_text(path.read_text(encoding="utf-8") + "oops\n", encoding="utf-8")
    code, out, _ = run("audit", "verify", "--format", "github")
    assert code == 1
    assert out.startswith("::error file=audit/globex.jsonl,line=2,title=tenantops%3A globex::")
    assert "not an audit record" in out


def test_show_text(trail: Path) -> None:
    """show prints one line per record: time, event, actor, plan id and compact details."""
    code, out, _ = run("audit", "show", "acme")
    assert code == 0
    rows = out.splitlines()
    assert len(rows) == 3
    assert rows[0].endswith(
        '  deploy_requested       alice@laptop  plan=plan-1  {"bot":"support-bot"}'
    )
    assert rows[2].endswith("  lock_released          alice@laptop  plan=-  {}")


def test_show_json(trail: Path) -> None:
    """--format json prints the records as a JSON array, hashes included."""
    code, out, _ = run("audit", "show", "acme", "--format", "json")
    assert code == 0
    records = json.loads(out)
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records == [r.model_dump() for r in AuditLog(trail).records("acme")]


def test_show_unknown_tenant(trail: Path) -> None:
    """A tenant without a trail is an error, exit 1."""
    code, out, err = run("audit", "show", "initech")
    assert code == 1
    assert out == ""
    assert "error: no audit trail for tenant initech" in err


def test_audit_dir_from_config(repo: Path) -> None:
    """The audit folder comes from tenantops.yaml's ``audit:``."""
    config = repo / "tenantops.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("audit: audit/", "audit: trail/"),
        encoding="utf-8",
    )
    AuditLog(repo / "trail", actor="x").append("acme", "deploy_requested")
    code, out, _ = run("audit", "show", "acme")
    assert code == 0
    assert "deploy_requested" in out

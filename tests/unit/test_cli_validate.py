"""``tenantops validate`` and ``render`` as a user runs them: output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tenantops import __version__
from tenantops.cli import cli


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_validate_ok(repo: Path) -> None:
    """A valid repo exits 0 and says how many tenants were checked."""
    code, out, err = run("validate")
    assert code == 0
    assert out == ""
    assert "6 tenant(s) valid" in err


def test_validate_reports_all_errors_with_locations(repo: Path) -> None:
    """Errors in several tenants are all printed as file:line: message; exit 1."""
    (repo / "tenants/acme.yaml").write_text(
        (repo / "tenants/acme.yaml").read_text().replace("workspace: ws-acme", "workspce: ws-acme")
    )
    (repo / "tenants/globex.yaml").write_text(
        (repo / "tenants/globex.yaml").read_text().replace("maxRetries: 5", "maxRetries: x")
    )
    code, out, err = run("validate")
    assert code == 1
    lines = out.splitlines()
    assert any(line.startswith("tenants/acme.yaml:2: unknown key 'workspce'") for line in lines)
    assert any(
        line.startswith("tenants/acme.yaml:1: missing required key 'workspace'") for line in lines
    )
    assert any(line.startswith("tenants/globex.yaml:7: params.maxRetries") for line in lines)
    assert "in 2 of 6 tenant(s)" in err


def test_validate_four_kinds_of_broken_tenant(repo: Path) -> None:
    """A wrong type, an unknown key, a missing template variable and bad YAML: all four
    are reported with file and line beside a good tenant; exit 1 and no traceback."""

    def edit(name: str, old: str, new: str) -> None:
        path = repo / f"tenants/{name}.yaml"
        assert old in path.read_text()
        path.write_text(path.read_text().replace(old, new))

    edit("globex", "maxRetries: 5", "maxRetries: x")
    edit("acme", "envPrefix: acme", "envPrefix: acme\n  colour: blue")
    edit("initech", "  brand: Initech\n", "")
    (repo / "tenants/umbrella.yaml").write_text("name: umbrella\nworkspace: [ws-umbrella\n")
    (repo / "tenants/stark.yaml").unlink()
    code, out, err = run("validate")
    assert code == 1
    assert "Traceback" not in out + err
    assert out.splitlines() == [
        "tenants/acme.yaml:7: unknown key 'colour' in params",
        "tenants/globex.yaml:7: params.maxRetries: Input should be a valid integer, "
        "unable to parse string as an integer",
        "tenants/initech.yaml: templates/support-bot/overrides.yaml.j2:3: "
        "undefined variable 'vars.brand'",
        "tenants/umbrella.yaml:3: invalid YAML: did not find expected ',' or ']'",
    ]
    assert "4 error(s) in 4 of 5 tenant(s)" in err


def test_validate_unknown_tenant_has_no_pseudo_location(repo: Path) -> None:
    """Naming a tenant that has no file says which file was looked for."""
    code, _, err = run("validate", "nosuch")
    assert code == 1
    assert err == "error: unknown tenant 'nosuch': there is no tenants/nosuch.yaml (or .yml)\n"


def test_validate_selected_tenants_only(repo: Path) -> None:
    """Naming tenants validates only those."""
    (repo / "tenants/acme.yaml").write_text("name: [broken\n")
    code, _, err = run("validate", "globex", "wayne")
    assert code == 0
    assert "2 tenant(s) valid" in err


def test_validate_github_annotations(repo: Path) -> None:
    """--format github prints workflow commands GitHub turns into annotations."""
    (repo / "tenants/acme.yaml").write_text(
        (repo / "tenants/acme.yaml").read_text().replace("langCode: en-US", "langCode: English")
    )
    code, out, _ = run("validate", "--format", "github")
    assert code == 1
    (line,) = out.splitlines()
    assert line.startswith("::error file=tenants/acme.yaml,line=5,title=tenantops%3A acme::")
    assert "langCode" in line


def test_render_prints_canonical_json_with_secrets_masked(repo: Path) -> None:
    """render prints canonical JSON; secrets show as (sensitive)."""
    code, out, _ = run("render", "acme")
    assert code == 0
    model = json.loads(out)
    assert model["metadata"]["crmAuthToken"] == "(sensitive)"
    assert model["metadata"]["tenantWebhook"] == "https://hooks.acme.example/cognigy"
    assert "acme-crm-token-s3cr3t" not in out
    assert out == json.dumps(model, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert run("render", "acme")[1] == out


def test_render_show_secrets(repo: Path) -> None:
    """--show-secrets prints the real values."""
    _, out, _ = run("render", "acme", "--show-secrets")
    assert json.loads(out)["metadata"]["crmAuthToken"] == "acme-crm-token-s3cr3t"


def test_render_unknown_tenant(repo: Path) -> None:
    """Rendering a tenant that does not exist fails with its name."""
    code, _, err = run("render", "nobody")
    assert code == 1
    assert "unknown tenant 'nobody'" in err


def test_render_error_is_one_line_per_problem(repo: Path) -> None:
    """A template error surfaces as a located one-line error, not a traceback."""
    path = repo / "templates/support-bot/overrides.yaml.j2"
    path.write_text(path.read_text().replace("vars.supportEmail", "vars.supportMail"))
    code, out, err = run("render", "acme")
    assert code == 1
    assert out == ""
    assert "templates/support-bot/overrides.yaml.j2:4: undefined variable" in err
    assert "Traceback" not in err


def test_config_dir_option(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """-C DIR points at a config repo elsewhere."""
    monkeypatch.chdir(tmp_path)
    code, _, err = run("-C", str(repo), "validate")
    assert code == 0, err


def test_version() -> None:
    """--version prints the package version."""
    code, out, _ = run("--version")
    assert code == 0
    assert __version__ in out


@pytest.mark.parametrize("command", ["validate", "render", "sim"])
def test_help_on_every_command(command: str) -> None:
    """Every command answers --help."""
    code, out, _ = run(command, "--help")
    assert code == 0
    assert "Usage:" in out


def test_validate_on_cognigy_v2_wants_project_ids_as_workspaces(repo: Path) -> None:
    """On cognigy-v2 a workspace is a 24-hex project id: anything else is a located error."""
    config = repo / "tenantops.yaml"
    config.write_text(config.read_text().replace("api:\n", "api:\n  flavor: cognigy-v2\n", 1))
    for path in (repo / "tenants").glob("*.yaml"):
        if path.stem != "acme":
            text = path.read_text().replace(f"workspace: ws-{path.stem}", "workspace: " + "ab" * 12)
            path.write_text(text)
    code, out, _ = run("validate")
    assert code == 1
    assert out.splitlines() == [
        "tenants/acme.yaml:2: workspace must be the 24-hex id of the tenant's Cognigy.AI "
        "project (api.flavor is cognigy-v2), not 'ws-acme'"
    ]

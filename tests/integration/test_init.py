"""`tenantops init` scaffolds a config repo that validates and plans at once; `completion`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import click
import pytest
from click.shell_completion import BashComplete
from click.testing import CliRunner, Result
from support.simserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SimServer, run_sim

from tenantops.cli import cli
from tenantops.cli.completion import COMPLETE_VAR
from tenantops.config.scaffold import CI_EXAMPLES, scaffold_files

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCAFFOLD_DATA = ROOT / "tenantops" / "scaffold_files"


def invoke(*args: str) -> Result:
    """The CLI in-process, as `tenantops ARGS...`."""
    return CliRunner().invoke(cli, list(args))


def run_cli(repo: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """`tenantops -C repo ARGS...` as a subprocess: (exit code, stdout, stderr)."""
    out = subprocess.run(
        [sys.executable, "-m", "tenantops", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        timeout=120,
    )
    return out.returncode, out.stdout, out.stderr


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with run_sim("--deploy-seconds", "0.2") as server:
        yield server


# --------------------------------------------------------------------------- init


def test_init_validates_and_plans_at_once(tmp_path: Path, sim: SimServer) -> None:
    """The new repo passes validate with no environment, and plans its tenant as all creates."""
    repo = tmp_path / "config"
    result = invoke("init", str(repo))
    assert result.exit_code == 0, result.output
    assert f"Wrote 12 files in {repo}:\n" in result.output
    assert "  tenants/example.yaml\n" in result.output
    assert "Next steps:" in result.output
    assert "$ tenantops validate" in result.output

    code, _, err = run_cli(repo, "validate")
    assert (code, err) == (0, "1 tenant(s) valid\n")

    env = {
        "COGNIGY_BASE_URL": sim.base_url,
        "OAUTH_CLIENT_ID": DEFAULT_CLIENT_ID,
        "OAUTH_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
    }
    code, out, err = run_cli(repo, "plan", env=env)
    assert code == 0, err
    assert out.startswith("# tenant example (workspace ws-example)\n  + intent goodbye\n")
    lines = out.splitlines()
    assert sum(line.startswith("  + ") for line in lines) == 19
    assert not any(line.startswith(("  ~ ", "  - ")) for line in lines)
    assert lines[-1] == "Plan: 19 to add, 0 to change, 0 to destroy."


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    """An existing file stops init before it writes anything; --force overwrites."""
    (tmp_path / "tenantops.yaml").write_text("# mine\n")
    result = invoke("-C", str(tmp_path), "init")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {tmp_path} already has tenantops.yaml: nothing written; "
        "pass --force to overwrite\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["tenantops.yaml"]
    assert (tmp_path / "tenantops.yaml").read_text() == "# mine\n"

    result = invoke("-C", str(tmp_path), "init", "--force")
    assert result.exit_code == 0, result.output
    assert f"Wrote 12 files in {tmp_path} (1 overwritten):" in result.output
    assert (tmp_path / "tenantops.yaml").read_bytes() == (
        SCAFFOLD_DATA / "tenantops.yaml"
    ).read_bytes()


def test_init_twice_names_the_files(tmp_path: Path) -> None:
    """A second init into the same folder fails, naming what exists, and changes nothing."""
    assert invoke("init", str(tmp_path)).exit_code == 0
    (tmp_path / "tenants/example.yaml").write_text("name: edited\n")
    result = invoke("init", str(tmp_path))
    assert result.exit_code == 1
    assert "already has .github/workflows/tenantops-apply.yml" in result.stderr
    assert "and 9 more" in result.stderr
    assert (tmp_path / "tenants/example.yaml").read_text() == "name: edited\n"


def test_init_defaults_to_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without DIR, init writes into the current folder and says no `cd` is needed."""
    monkeypatch.chdir(tmp_path)
    result = invoke("init")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "tenantops.yaml").is_file()
    assert "$ cd " not in result.output


def test_scaffold_files() -> None:
    """The scaffold is a config repo: config, one template, one tenant, .gitignore, CI files."""
    paths = {str(f.path) for f in scaffold_files()}
    assert paths == {
        "tenantops.yaml",
        "templates/default/template.yaml",
        "templates/default/base.json",
        "templates/default/overrides.yaml.j2",
        "templates/default/schema.json",
        "tenants/example.yaml",
        ".gitignore",
        *CI_EXAMPLES,
    }
    gitignore = next(f for f in scaffold_files() if f.path == PurePosixPath(".gitignore"))
    ignored = gitignore.content.decode().splitlines()
    assert {".tenantops/", ".venv/", "__pycache__/", "*.pyc", ".demo/"} <= set(ignored)
    assert "tenantops.lock" not in ignored  # committed, like the audit trail


@pytest.mark.parametrize(("scaffold_path", "example"), sorted(CI_EXAMPLES.items()))
def test_scaffold_ci_files_are_the_examples(scaffold_path: str, example: str) -> None:
    """Each CI file init writes is byte for byte its examples/ci file."""
    (file,) = (f for f in scaffold_files() if str(f.path) == scaffold_path)
    data = "/".join(
        f"dot-{part[1:]}" if part.startswith(".") else part for part in scaffold_path.split("/")
    )
    assert file.content == (ROOT / "examples/ci" / example).read_bytes(), (
        f"tenantops/scaffold_files/{data} differs from examples/ci/{example}: "
        "edit examples/ci, then copy it over"
    )


def test_scaffold_data_is_found_by_the_package_data_glob() -> None:
    """No path part starts with a dot: setuptools' `scaffold_files/**/*` glob skips those."""
    data = [p.relative_to(SCAFFOLD_DATA) for p in SCAFFOLD_DATA.rglob("*") if p.is_file()]
    assert len(data) == len(scaffold_files())
    assert not [p for p in data if any(part.startswith(".") for part in p.parts)]


# --------------------------------------------------------------------------- completion


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_is_clicks_script(shell: str) -> None:
    """`tenantops completion SHELL` prints what `_TENANTOPS_COMPLETE=SHELL_source tenantops` does."""
    result = invoke("completion", shell)
    assert result.exit_code == 0
    env = {**os.environ, "_TENANTOPS_COMPLETE": f"{shell}_source"}
    native = subprocess.run(
        [sys.executable, "-m", "tenantops"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout == native.stdout


def test_completion_scripts() -> None:
    """Each script calls tenantops back through _TENANTOPS_COMPLETE and registers itself."""
    bash = invoke("completion", "bash").stdout
    assert "_TENANTOPS_COMPLETE=bash_complete" in bash
    assert "complete -o nosort -F _tenantops_completion tenantops" in bash
    zsh = invoke("completion", "zsh").stdout
    assert zsh.startswith("#compdef tenantops\n")
    assert "_TENANTOPS_COMPLETE=zsh_complete" in zsh
    fish = invoke("completion", "fish").stdout
    assert "complete --no-files --command tenantops" in fish
    assert "_TENANTOPS_COMPLETE=fish_complete" in fish


def test_completion_unknown_shell() -> None:
    """An unknown shell is a usage error naming the choices."""
    result = invoke("completion", "tcsh")
    assert result.exit_code == click.UsageError.exit_code
    assert "'tcsh' is not one of 'bash', 'zsh', 'fish'" in result.stderr


def test_completion_completes_commands() -> None:
    """What the scripts ask tenantops for: its commands, init and completion among them."""
    complete = BashComplete(cli, {}, "tenantops", COMPLETE_VAR)
    names = {item.value for item in complete.get_completions([], "")}
    assert {"plan", "apply", "drift", "validate", "init", "completion"} <= names
    assert [item.value for item in complete.get_completions(["completion"], "")] == [
        "bash",
        "zsh",
        "fish",
    ]

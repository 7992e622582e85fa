"""Building a fleet: every tenant's every error is found, and each names where to fix it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenantops.config import load_project
from tenantops.config.fleet import Fleet, build_fleet
from tenantops.errors import TemplateError, ValidationFailed

TEMPLATE = """\
metadata:
  brand: {{ vars.brand | tojson }}
  region: {{ vars.region | default("eu") | tojson }}
"""


def write_repo(root: Path, tenants: dict[str, str], *, template: str = TEMPLATE) -> Path:
    (root / "tenantops.yaml").write_text("api: {}\n")
    folder = root / "templates/v"
    folder.mkdir(parents=True)
    (folder / "template.yaml").write_text(
        "base: {file: base.json}\noverrides: overrides.yaml.j2\nschema: schema.json\n"
    )
    (folder / "base.json").write_text('{"botId": "b", "intents": [], "metadata": {}}')
    (folder / "schema.json").write_text('{"type": "object"}')
    (folder / "overrides.yaml.j2").write_text(template)
    (root / "tenants").mkdir()
    for name, body in tenants.items():
        (root / f"tenants/{name}.yaml").write_text(f"name: {name}\ntemplate: v\n{body}")
    return root


def tenant_body(i: int) -> str:
    """A distinct error for tenant ``i``: an unknown key, a bad type, or a missing var."""
    match i % 3:
        case 0:
            return f"workspace: ws-{i}\nvars: {{brand: B{i}}}\ncolour{i}: red\n"
        case 1:
            return f"workspace: ws-{i}\nvars: {{brand: B{i}}}\nparams: {{maxRetries: bad{i}}}\n"
        case _:
            return f"workspace: ws-{i}\nvars: {{other{i}: 1}}\n"


def test_every_tenant_error_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """60 tenants with 60 distinct errors: all 60 are reported, each under its own tenant."""
    names = {f"t{i:03d}": tenant_body(i) for i in range(60)}
    monkeypatch.chdir(write_repo(tmp_path, names))
    result = build_fleet(Fleet(load_project(Path("."))))
    assert sorted(result.failed) == sorted(names)
    assert len(result.errors) == 60
    lines = [str(e) for e in result.errors]
    for i in range(60):
        mine = [line for line in lines if line.startswith(f"tenants/t{i:03d}.yaml")]
        assert len(mine) == 1, (i, mine)
        (line,) = mine
        if i % 3 == 0:
            assert f"unknown key 'colour{i}'" in line
        elif i % 3 == 1:
            assert "params.maxRetries" in line
            assert f"bad{i}" in line or "integer" in line
        else:
            assert line == (
                f"tenants/t{i:03d}.yaml: templates/v/overrides.yaml.j2:2: "
                "undefined variable 'vars.brand'"
            )


def test_template_dependent_error_names_tenant_file_and_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tenant lacking a variable gets the tenant file, template line and variable path."""
    monkeypatch.chdir(write_repo(tmp_path, {"novar": "workspace: ws\n"}))
    result = build_fleet(Fleet(load_project(Path("."))))
    (error,) = result.errors
    assert isinstance(error, TemplateError)
    assert (error.tenant, error.line) == ("novar", 2)
    assert error.tenant_file == Path("tenants/novar.yaml")
    assert str(error) == (
        "tenants/novar.yaml: templates/v/overrides.yaml.j2:2: undefined variable 'vars.brand'"
    )


def test_broken_template_is_reported_once_with_the_tenants_it_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A syntax error is one error that counts the tenants it blocks; each still fails."""
    names = {f"t{i}": f"workspace: ws-{i}\nvars: {{brand: B}}\n" for i in range(8)}
    monkeypatch.chdir(write_repo(tmp_path, names, template="metadata: {{ vars.brand }\n"))
    fleet = Fleet(load_project(Path(".")))
    result = build_fleet(fleet)
    (error,) = result.errors
    assert error.blocks == tuple(sorted(names))
    assert str(error).startswith("templates/v/overrides.yaml.j2:1: template syntax error")
    assert str(error).endswith("(blocks 8 tenant(s): t0, t1, t2, t3, t4 and 3 more)")
    assert sorted(result.failed) == sorted(names)
    again = build_fleet(fleet, ["t3"])
    assert [e.blocks for e in again.errors] == [("t3",)]


def test_unknown_tenant_says_what_was_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown tenant name has no pseudo-location: it names the file looked for."""
    monkeypatch.chdir(write_repo(tmp_path, {}))
    with pytest.raises(ValidationFailed) as info:
        build_fleet(Fleet(load_project(Path("."))), ["nosuch"])
    (error,) = info.value.errors
    assert str(error) == "unknown tenant 'nosuch': there is no tenants/nosuch.yaml (or .yml)"

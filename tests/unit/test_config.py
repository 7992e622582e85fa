"""Config loading: every error names its file and line; env refs, defaults, API settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenantops.config import load_project, load_tenant, resolve_api
from tenantops.config.fleet import Fleet, build_fleet
from tenantops.core.model import RateLimit
from tenantops.errors import ConfigError, ValidationFailed


def errors_for(repo: Path, tenant: str) -> list[ConfigError]:
    result = build_fleet(Fleet(load_project(repo)), [tenant])
    return result.errors


def test_example_fleet_is_valid(repo: Path) -> None:
    """The shipped example repo validates without errors."""
    result = build_fleet(Fleet(load_project(repo)))
    assert result.errors == []
    assert len(result.desired) >= 5


def test_bad_yaml_names_file_and_line(repo: Path) -> None:
    """A YAML syntax error reports the file and the line of the problem."""
    (repo / "tenants/acme.yaml").write_text("name: acme\nworkspace: ws\n  template: x\nvars: {}\n")
    (err,) = errors_for(repo, "acme")
    assert err.path == Path("tenants/acme.yaml")
    assert err.line == 3
    assert "invalid YAML" in err.message


def test_unknown_key_is_located(repo: Path) -> None:
    """A misspelt key is rejected at its own line."""
    text = (repo / "tenants/acme.yaml").read_text().replace("  langCode:", "  langcode:")
    (repo / "tenants/acme.yaml").write_text(text)
    (err,) = errors_for(repo, "acme")
    assert "unknown key 'langcode'" in err.message
    line = text.splitlines().index("  langcode: en-US") + 1
    assert (err.path, err.line) == (Path("tenants/acme.yaml"), line)


def test_wrong_type_is_located(repo: Path) -> None:
    """A value of the wrong type is reported at its line with the key path."""
    path = repo / "tenants/globex.yaml"
    text = path.read_text().replace("maxRetries: 5", "maxRetries: lots")
    path.write_text(text)
    (err,) = errors_for(repo, "globex")
    assert err.line == text.splitlines().index("  maxRetries: lots") + 1
    assert "params.maxRetries" in err.message
    assert err.pointer == "/params/maxRetries"


def test_every_error_of_a_file_is_reported(repo: Path) -> None:
    """Several mistakes in one file are all reported, not only the first."""
    path = repo / "tenants/globex.yaml"
    text = (
        path.read_text()
        .replace("maxRetries: 5", "maxRetries: -1")
        .replace("langCode: de-DE", "langCode: German")
    )
    path.write_text(text + "colour: blue\n")
    messages = sorted(e.message for e in errors_for(repo, "globex"))
    assert len(messages) == 3
    assert any("unknown key 'colour'" in m for m in messages)
    assert any("langCode" in m for m in messages)
    assert any("maxRetries" in m for m in messages)


def test_missing_env_var_names_variable_file_and_line(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unset ${env:NAME} is an error naming the variable, the file and the line."""
    monkeypatch.delenv("WAYNE_CRM_TOKEN")
    (err,) = errors_for(repo, "wayne")
    assert "WAYNE_CRM_TOKEN" in err.message
    text = (repo / "tenants/wayne.yaml").read_text().splitlines()
    assert err.line == text.index("  crmToken: ${env:WAYNE_CRM_TOKEN}") + 1


def test_env_refs_expand_in_any_string(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """${env:NAME} works inside longer strings; $${ stays a literal ${."""
    monkeypatch.setenv("HOOK_HOST", "hooks.internal.example")
    path = repo / "tenants/stark.yaml"
    text = (
        path.read_text()
        .replace("https://stark.example/api/cognigy", "https://${env:HOOK_HOST}/stark")
        .replace("brand: Stark", "brand: Stark $${not-env}")
    )
    path.write_text(text)
    tenant = load_tenant(load_project(repo), path)
    assert tenant.params.webhook_url == "https://hooks.internal.example/stark"
    assert tenant.vars["brand"] == "Stark ${not-env}"


def test_name_must_match_file(repo: Path) -> None:
    """A tenant whose name differs from its file name is rejected at the name line."""
    (repo / "tenants/acme.yaml").rename(repo / "tenants/acme-corp.yaml")
    (err,) = errors_for(repo, "acme-corp")
    assert "must equal the file name 'acme-corp'" in err.message
    assert err.line == 1


def test_unknown_template(repo: Path) -> None:
    """Naming a template that does not exist lists the templates there are."""
    path = repo / "tenants/initech.yaml"
    path.write_text(path.read_text() + "template: voice-bot\n")
    (err,) = errors_for(repo, "initech")
    assert "unknown template 'voice-bot' (templates: support-bot)" in err.message
    assert err.line == len(path.read_text().splitlines())


def test_secret_must_be_an_env_reference(repo: Path) -> None:
    """A secret written in plain text is refused, and the value is not echoed."""
    path = repo / "tenants/acme.yaml"
    path.write_text(path.read_text().replace("${env:ACME_CRM_TOKEN}", "plain-text-token"))
    (err,) = errors_for(repo, "acme")
    assert "must be an environment reference" in err.message
    assert "plain-text-token" not in str(err)


def test_defaults_merge_under_tenants(repo: Path) -> None:
    """defaults fill what a tenant leaves out; the tenant's own values win."""
    project = load_project(repo)
    acme = load_tenant(project, repo / "tenants/acme.yaml")
    globex = load_tenant(project, repo / "tenants/globex.yaml")
    assert acme.template == "support-bot"
    assert acme.params.max_retries == 3
    assert globex.params.max_retries == 5
    assert acme.vars["tier"] == "standard"
    assert globex.vars["tier"] == "premium"


def test_error_from_defaults_points_at_tenantops_yaml(repo: Path) -> None:
    """A bad value inherited from defaults is reported where it is written."""
    path = repo / "tenantops.yaml"
    text = path.read_text().replace("    maxRetries: 3", "    maxRetries: many")
    path.write_text(text)
    (err,) = errors_for(repo, "acme")
    assert err.path == Path("tenantops.yaml")
    assert err.line == text.splitlines().index("    maxRetries: many") + 1


def test_roles_are_optional_and_exclusive_when_present(repo: Path) -> None:
    """No roles key: roles unmanaged; an empty list: managed with none."""
    project = load_project(repo)
    assert load_tenant(project, repo / "tenants/globex.yaml").roles is None
    assert load_tenant(project, repo / "tenants/umbrella.yaml").roles == ()
    assert [r.user_id for r in load_tenant(project, repo / "tenants/acme.yaml").roles or ()] == [
        "alice@acme.example",
        "bob@acme.example",
    ]


def test_unknown_tenant_argument(repo: Path) -> None:
    """Selecting a tenant that has no file is an error naming it."""
    with pytest.raises(ValidationFailed) as info:
        Fleet(load_project(repo)).tenant_paths(["nobody"])
    assert "unknown tenant 'nobody'" in str(info.value.errors[0])


def test_api_settings_fall_back_to_environment(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset api values come from COGNIGY_BASE_URL and OAUTH_*; the token URL is derived."""
    (repo / "tenantops.yaml").write_text("api:\n  rateLimit: 1000/5m\n")
    monkeypatch.setenv("COGNIGY_BASE_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("OAUTH_CLIENT_ID", "cid")
    monkeypatch.setenv("OAUTH_CLIENT_SECRET", "very-secret")
    api = resolve_api(load_project(repo))
    assert api.base_url == "http://127.0.0.1:9"
    assert api.token_url == "http://127.0.0.1:9/api/v4/auth/oauth/token"
    assert api.rate_limit == RateLimit(requests=1000, period=300)
    assert "very-secret" not in repr(api)


def test_api_settings_missing_everywhere(repo: Path) -> None:
    """With neither config nor environment, the error says what to set."""
    (repo / "tenantops.yaml").write_text("lockfile: x.lock\n")
    with pytest.raises(ValidationFailed) as info:
        resolve_api(load_project(repo))
    text = " ".join(str(e) for e in info.value.errors)
    assert "COGNIGY_BASE_URL" in text
    assert "OAUTH_CLIENT_SECRET" in text


def test_api_env_ref_missing_is_located(repo: Path) -> None:
    """An unset variable in api: is reported with tenantops.yaml's line, when the API is needed."""
    with pytest.raises(ValidationFailed) as info:
        resolve_api(load_project(repo))
    err = info.value.errors[0]
    assert err.path == Path("tenantops.yaml")
    assert "COGNIGY_BASE_URL" in err.message
    assert err.line == 4


@pytest.mark.parametrize(
    ("text", "requests", "period"),
    [("1000/5m", 1000, 300.0), ("10/s", 10, 1.0), ("50/500ms", 50, 0.5), ("2/1h", 2, 3600.0)],
)
def test_rate_limit_parses(text: str, requests: int, period: float) -> None:
    """Rate limits are N/PERIOD with ms, s, m or h."""
    assert RateLimit.parse(text) == RateLimit(requests=requests, period=period)


def test_rate_limit_rejects_garbage() -> None:
    """A rate limit that is not N/PERIOD says what it should look like."""
    with pytest.raises(ValueError, match="1000/5m"):
        RateLimit.parse("fast")


def test_missing_config_dir() -> None:
    """A config directory that does not exist is a clear error."""
    with pytest.raises(ConfigError, match="config directory not found"):
        load_project(Path("/nonexistent/tenantops"))

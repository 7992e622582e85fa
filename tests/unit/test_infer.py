"""core.infer: the tenant file read back from a live bot, the reverse of rendering."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tenantops.config import load_project
from tenantops.config.fleet import Fleet
from tenantops.core.infer import infer_tenant, suggest_env_name
from tenantops.core.model import RoleGrant
from tenantops.core.symbolic import SymbolicTemplate

ROOT = Path(__file__).resolve().parents[2]
SUPPORT_BOT = ROOT / "templates/support-bot"
DEFAULTS = {"template": "support-bot", "params": {"maxRetries": 3}, "vars": {"tier": "standard"}}
BASE: dict[str, Any] = {
    "botId": "bot",
    "intents": [
        {"name": "hello", "examples": ["hi"], "actions": []},
        {"name": "bye", "examples": ["bye"], "actions": []},
    ],
    "metadata": {},
}


def infer(source: str, live: dict[str, Any], **kwargs: Any) -> Any:
    return infer_tenant(
        name=kwargs.pop("name", "acme"),
        workspace="ws-acme",
        template="t",
        overrides=SymbolicTemplate.from_source(source),
        base=kwargs.pop("base", BASE),
        live=live,
        defaults=kwargs.pop("defaults", {"template": "t"}),
        **kwargs,
    )


def bot(**metadata: Any) -> dict[str, Any]:
    return {**BASE, "metadata": metadata}


@pytest.mark.parametrize("tenant", ["acme", "globex", "initech", "umbrella", "wayne", "stark"])
def test_example_tenants_round_trip(
    tenant: str, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each example tenant's rendered model infers a file that renders the same model."""
    fleet = Fleet(load_project(repo))
    desired = fleet.build(repo / f"tenants/{tenant}.yaml")
    assert desired.model is not None
    inferred = infer_tenant(
        name=tenant,
        workspace=f"ws-{tenant}",
        template="support-bot",
        overrides=SymbolicTemplate.from_source((SUPPORT_BOT / "overrides.yaml.j2").read_text()),
        base=json.loads((SUPPORT_BOT / "base.json").read_text()),
        live=desired.model,
        defaults=DEFAULTS,
    )
    assert inferred.unbound == ()
    assert [(s.key, s.env) for s in inferred.secrets] == [
        ("crmToken", f"{tenant.upper()}_CRM_TOKEN")
    ]
    path = repo / f"tenants/{tenant}.yaml"
    with path.open("w") as handle:
        YAML().dump(inferred.document, handle)
    monkeypatch.setenv(inferred.secrets[0].env, inferred.secrets[0].value)
    again = Fleet(load_project(repo)).build(path)
    assert again.model == desired.model


def test_params_come_from_their_metadata_keys() -> None:
    """tenantWebhook, locale, envPrefix and maxRetries become the typed params."""
    live = bot(tenantWebhook="https://h.example/x", locale="de-DE", envPrefix="ac", maxRetries=4)
    assert infer("", live).document["params"] == {
        "webhookUrl": "https://h.example/x",
        "langCode": "de-DE",
        "envPrefix": "ac",
        "maxRetries": 4,
    }


def test_a_metadata_value_that_is_no_valid_param_is_left_out() -> None:
    """A locale that is not a language tag stays a plan difference, not a broken file."""
    assert "params" not in infer("", bot(locale="not a tag!")).document


@pytest.mark.parametrize(
    ("source", "live", "expected"),
    [
        ("metadata: {brand: {{ vars.brand | tojson }}}", bot(brand="Acme"), {"brand": "Acme"}),
        ("metadata: {brand: {{ vars.brand }}}", bot(brand="Acme"), {"brand": "Acme"}),
        ("metadata: {n: {{ vars.a.b | tojson }}}", bot(n=[1, 2]), {"a": {"b": [1, 2]}}),
        ("metadata: {t: 'hi {{ vars.who }}!'}", bot(t="hi you!"), {"who": "you"}),
        ("metadata: {t: {{ vars.t | default('x') | tojson }}}", bot(t="x"), None),
    ],
)
def test_vars_used_as_values_take_the_live_values(
    source: str, live: dict[str, Any], expected: dict[str, Any] | None
) -> None:
    """A whole value, a nested path, a pattern; a value equal to the template's default is left out."""
    assert infer(source, live).document.get("vars") == expected


def test_a_pattern_never_reads_a_literal_member() -> None:
    """'hi {{ vars.brand }}' beside a literal 'hi there' does not make the brand 'there'."""
    source = "intents:\n  - name: hello\n    examples: [hi there, 'hi {{ vars.brand }}']\n"
    live = {**BASE, "intents": [{"name": "hello", "examples": ["hi there"], "actions": []}]}
    inferred = infer(source, live)
    assert "vars" not in inferred.document
    assert inferred.unbound == ("vars.brand",)


def test_looped_items_become_list_elements() -> None:
    """Items a loop renders are matched by key pattern; each becomes one element."""
    source = (
        "intents:\n{% for f in vars.faqs %}\n"
        "  - name: {{ ('faq_' ~ f.name) | tojson }}\n    examples: {{ f.examples | tojson }}\n"
        "{% endfor %}\n"
    )
    extra = [
        {"name": "faq_a", "examples": ["a?"], "actions": []},
        {"name": "faq_b", "examples": ["b?"], "actions": []},
        {"name": "other", "examples": [], "actions": []},
    ]
    live = {**BASE, "intents": [*BASE["intents"], *extra]}
    assert infer(source, live).document["vars"] == {
        "faqs": [{"name": "a", "examples": ["a?"]}, {"name": "b", "examples": ["b?"]}]
    }


def test_a_loop_without_matches_and_default_is_an_empty_list() -> None:
    """With no default, a looped list that matched nothing is written empty, so it renders."""
    source = "intents:\n{% for f in vars.faqs %}\n  - name: {{ f.name | tojson }}\n{% endfor %}\n"
    assert infer(source, BASE).document["vars"] == {"faqs": []}


def test_removed_base_items_fill_the_remove_list() -> None:
    """remove: {intents: <var>} takes the base items the live bot lacks."""
    source = "remove:\n  intents: {{ vars.off | default([]) | tojson }}\n"
    live = {**BASE, "intents": [BASE["intents"][0]]}
    assert infer(source, live).document["vars"] == {"off": ["bye"]}
    assert "vars" not in infer(source, BASE).document


def test_secrets_become_env_references_never_values() -> None:
    """A secret the template feeds is an ${env:} reference; its value is only in memory."""
    source = "metadata:\n  token: {{ secrets.crmToken | tojson }}\n"
    inferred = infer(source, bot(token="s3cr3t-value"), name="acme")
    assert inferred.document["secrets"] == {"crmToken": "${env:ACME_CRM_TOKEN}"}
    assert "s3cr3t-value" not in json.dumps(inferred.document)
    (secret,) = inferred.secrets
    assert (secret.env, secret.pointer, secret.value) == (
        "ACME_CRM_TOKEN",
        "/metadata/token",
        "s3cr3t-value",
    )
    assert "s3cr3t-value" not in repr(secret)


@pytest.mark.parametrize(
    ("tenant", "key", "expected"),
    [
        ("acme", "crmToken", "ACME_CRM_TOKEN"),
        ("wayne-retail", "apiKey", "WAYNE_RETAIL_API_KEY"),
        ("a.b", "x", "A_B_X"),
        ("3m", "token", "_3M_TOKEN"),
    ],
)
def test_suggested_env_names_follow_the_convention(tenant: str, key: str, expected: str) -> None:
    """TENANT_SECRET_KEY in upper snake case, always a valid variable name."""
    assert suggest_env_name(tenant, key) == expected


def test_values_equal_to_the_defaults_are_left_out() -> None:
    """tenantops.yaml's defaults supply them; the template is written only when not the default."""
    source = "metadata: {tier: {{ vars.tier | tojson }}}"
    live = bot(tier="standard", maxRetries=3)
    defaults = {"template": "other", "params": {"maxRetries": 3}, "vars": {"tier": "standard"}}
    document = infer(source, live, defaults=defaults).document
    assert document == {"name": "acme", "workspace": "ws-acme", "template": "t"}


def test_roles_come_from_the_live_grants() -> None:
    """With grants, roles list them by user, expiry in the config's format."""
    grants = [
        RoleGrant(userId="zed@x.example", roleId="viewer"),
        RoleGrant(
            userId="amy@x.example", roleId="admin", expiresAt=datetime(2027, 6, 30, tzinfo=UTC)
        ),
    ]
    assert infer("", BASE, grants=grants).document["roles"] == [
        {"userId": "amy@x.example", "roleId": "admin", "expiresAt": "2027-06-30T00:00:00Z"},
        {"userId": "zed@x.example", "roleId": "viewer"},
    ]
    assert "roles" not in infer("", BASE).document


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("{% if %}", "TemplateSyntaxError"),
        ("metadata: {n: {{ vars.n > 3 }}}", "TypeError"),
    ],
)
def test_a_template_that_cannot_be_read_infers_no_vars(source: str, problem: str) -> None:
    """A template the probes cannot render says why; params are still read."""
    inferred = infer(source, bot(brand="Acme", locale="en-US"))
    assert inferred.problem is not None
    assert inferred.problem.startswith(problem)
    assert inferred.document["params"] == {"langCode": "en-US"}
    assert "vars" not in inferred.document

"""Rendering: merge by key, params into metadata, template errors, determinism, sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import pytest

from tenantops.config import load_project
from tenantops.config.fleet import Fleet, build_fleet
from tenantops.core.model import Tenant, canonical_json
from tenantops.core.render import make_environment, render_tenant
from tenantops.errors import TemplateError, ValidationFailed

BASE: dict[str, Any] = {
    "botId": "bot-1",
    "version": "9.9.9",
    "intents": [
        {"name": "hello", "examples": ["hi", "hello"], "actions": ["greet"]},
        {"name": "bye", "examples": ["bye"], "actions": ["part"]},
        {"name": "help", "examples": ["help"], "actions": []},
    ],
    "entities": [{"name": "carrier", "values": ["ups"], "synonyms": {"ups": ["united"]}}],
    "dialogs": [{"id": "d1", "node": "start", "next": "d2"}, {"id": "d2", "node": "end"}],
    "metadata": {"exportedAt": "2024-01-01T00:00:00Z", "locale": "en-US", "keep": 1, "drop": 2},
}


def tenant(**params: Any) -> Tenant:
    return Tenant.model_validate(
        {
            "name": "t1",
            "workspace": "ws-1",
            "template": "tpl",
            "params": params,
            "vars": {"brand": "Acme"},
            "secrets": {"token": "s3cret-value"},
        }
    )


def render(
    source: str, *, t: Tenant | None = None, base: dict[str, Any] | None = None
) -> dict[str, Any]:
    env = make_environment(jinja2.DictLoader({"tpl/o.j2": source}))
    return render_tenant(
        env.get_template("tpl/o.j2"), t or tenant(), base or BASE, path=Path("o.j2")
    )


def names(items: list[dict[str, Any]], key: str = "name") -> list[str]:
    return [i[key] for i in items]


def test_override_replaces_item_of_same_key_and_adds_new() -> None:
    """An override item replaces the base item with its key, or is added."""
    out = render(
        "intents:\n"
        "  - {name: hello, examples: [hey], actions: [wave]}\n"
        "  - {name: new, examples: [x], actions: [y]}\n"
        "dialogs:\n  - {id: d3, node: extra}\n"
    )
    intents = {i["name"]: i for i in out["intents"]}
    assert intents["hello"] == {"name": "hello", "examples": ["hey"], "actions": ["wave"]}
    assert set(intents) == {"hello", "bye", "help", "new"}
    assert names(out["dialogs"], "id") == ["d1", "d2", "d3"]


def test_remove_drops_keys() -> None:
    """remove: drops intents, entities and dialogs by key."""
    out = render("remove:\n  intents: [bye]\n  entities: [carrier]\n  dialogs: [d2]\n")
    assert names(out["intents"]) == ["hello", "help"]
    assert out["entities"] == []
    assert names(out["dialogs"], "id") == ["d1"]


def test_remove_of_unknown_key_is_an_error() -> None:
    """Removing a key the base lacks is reported (a typo would silently do nothing)."""
    with pytest.raises(TemplateError, match="'byee', which the base model does not have"):
        render("remove:\n  intents: [byee]\n")


def test_set_and_remove_same_key_is_an_error() -> None:
    """Overriding and removing the same key at once is contradictory."""
    with pytest.raises(TemplateError, match="both set and remove intent 'bye'"):
        render("intents:\n  - {name: bye}\nremove:\n  intents: [bye]\n")


def test_metadata_merges_key_by_key_and_params_win() -> None:
    """metadata merges by key, null removes, and tenant params land under the seed's names."""
    out = render(
        "metadata:\n  brand: {{ vars.brand }}\n  drop: null\n  locale: xx-XX\n",
        t=tenant(webhookUrl="https://h.example/x", langCode="de-DE", envPrefix="p", maxRetries=4),
    )
    assert out["metadata"] == {
        "brand": "Acme",
        "keep": 1,
        "locale": "de-DE",
        "tenantWebhook": "https://h.example/x",
        "envPrefix": "p",
        "maxRetries": 4,
    }


def test_server_fields_are_dropped() -> None:
    """version and metadata.exportedAt belong to the server, never to a desired model."""
    out = render("{}")
    assert "version" not in out
    assert "exportedAt" not in out["metadata"]


def test_rendering_is_idempotent_and_order_blind() -> None:
    """Rendering twice gives the same bytes, whatever the order of the base's items."""
    source = "intents:\n  - {name: z_last, examples: [b, a], actions: [x]}\n"
    shuffled = dict(BASE, intents=list(reversed(BASE["intents"])))
    first = canonical_json(render(source))
    assert canonical_json(render(source)) == first
    assert canonical_json(render(source, base=shuffled)) == first
    assert json.loads(first)["intents"][-1]["examples"] == ["a", "b"]


def test_render_does_not_mutate_the_base() -> None:
    """The base model is shared by tenants and must come out untouched."""
    before = json.dumps(BASE, sort_keys=True)
    render("intents:\n  - {name: hello}\nremove:\n  dialogs: [d2]\nmetadata: {keep: 5}\n")
    assert json.dumps(BASE, sort_keys=True) == before


def test_undefined_variable_names_line() -> None:
    """An undefined variable is an error with the template line, not an empty string."""
    with pytest.raises(TemplateError) as info:
        render("metadata:\n  a: 1\n  b: {{ vars.nope }}\n")
    assert "undefined variable" in info.value.message
    assert "nope" in info.value.message
    assert info.value.line == 3


@pytest.mark.parametrize(
    ("expr", "named"),
    [
        ("{{ vars.nope }}", "'vars.nope'"),
        ("{{ vars.db.host }}", "'vars.db'"),
        ("{{ vars.hosts[3] }}", "'vars.hosts[3]'"),
        ("{{ vars.conn.port }}", "'vars.conn.port'"),
        ("{{ vars['my-key'] }}", """'vars["my-key"]'"""),
        ("{{ params.nope }}", "'params.nope'"),
        ("{{ secrets.missing }}", "'secrets.missing'"),
        ("{{ nowhere }}", "'nowhere'"),
    ],
)
def test_undefined_variable_names_its_full_path(expr: str, named: str) -> None:
    """The error names the variable as the template spells it, not Jinja's 'dict object'."""
    values = {"brand": "Acme", "hosts": ["a"], "conn": {"user": "u"}}
    with pytest.raises(TemplateError) as info:
        render(f"metadata:\n  x: {expr}\n", t=tenant().model_copy(update={"vars": values}))
    assert info.value.message == f"undefined variable {named}"
    assert "dict object" not in str(info.value)


def test_template_sees_plain_values() -> None:
    """Wrapping values for error messages changes nothing a template can observe."""
    values = {"brand": "Acme", "db": {"port": 5432}, "hosts": ["a", "b"]}
    model = render(
        "metadata:\n  j: {{ vars | tojson }}\n  n: {{ vars.hosts | length }}\n"
        "  d: {{ vars.db.port }}\n  z: {{ vars.zone | default('eu') }}\n",
        t=tenant().model_copy(update={"vars": values}),
    )
    assert model["metadata"]["j"] == values
    assert model["metadata"]["n"] == 2
    assert model["metadata"]["d"] == 5432
    assert model["metadata"]["z"] == "eu"


@pytest.mark.parametrize(
    "expr",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ vars.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
    ],
)
def test_sandbox_blocks_escape(expr: str) -> None:
    """Attribute tricks to reach Python internals are blocked by the sandbox."""
    with pytest.raises(TemplateError) as info:
        render(f'metadata:\n  x: "{expr}"\n')
    assert "unsafe" in info.value.message or "undefined" in info.value.message


def test_sandbox_is_immutable() -> None:
    """Templates cannot mutate the values they are given."""
    with pytest.raises(TemplateError, match="unsafe"):
        render("{{ vars.update({'brand': 'x'}) }}")


def test_syntax_error_names_line(repo: Path) -> None:
    """A Jinja syntax error is reported once with the template file and line."""
    path = repo / "templates/support-bot/overrides.yaml.j2"
    lines = path.read_text().splitlines()
    lines[5] = "  {% endfor %}"
    path.write_text("\n".join(lines) + "\n")
    result = build_fleet(Fleet(load_project(repo)))
    (err,) = result.errors
    assert err.path == Path("templates/support-bot/overrides.yaml.j2")
    assert err.line == 6
    assert len(result.failed) == len(list((repo / "tenants").glob("*.yaml")))


def test_rendered_overrides_must_have_the_right_shape() -> None:
    """A template that renders an unknown top-level key is told where."""
    with pytest.raises(TemplateError, match="/intentz"):
        render("intentz: []\n")


def test_rendered_overrides_must_be_yaml() -> None:
    """Invalid rendered YAML is reported against the template."""
    with pytest.raises(TemplateError, match="not valid YAML"):
        render("intents: [\n")


def test_secrets_are_available_to_templates_and_masked_on_output(repo: Path) -> None:
    """Templates see secret values; the redactor masks them wherever they landed."""
    fleet = Fleet(load_project(repo))
    desired = fleet.build(repo / "tenants/acme.yaml")
    assert desired.model is not None
    assert desired.model["metadata"]["crmAuthToken"] == "acme-crm-token-s3cr3t"
    shown = canonical_json(desired.redactor.redact(desired.model))
    assert "acme-crm-token-s3cr3t" not in shown
    assert '"crmAuthToken": "(sensitive)"' in shown


def test_schema_failures_list_every_pointer(repo: Path) -> None:
    """A model failing the schema lists each failure with its JSON pointer."""
    path = repo / "tenants/initech.yaml"
    text = path.read_text().replace("langCode: en-GB", "langCode: en")
    path.write_text(text.replace("support@initech.example", "not-an-email"))
    result = build_fleet(Fleet(load_project(repo)), ["initech"])
    pointers = sorted(e.pointer or "" for e in result.errors)
    assert pointers == ["/metadata/locale", "/metadata/supportEmail"]
    assert all(e.path == Path("templates/support-bot/schema.json") for e in result.errors)
    assert all(e.tenant == "initech" for e in result.errors)


def test_invalid_schema_file_is_reported(repo: Path) -> None:
    """A schema that is not valid draft 2020-12 is an error on the schema file."""
    (repo / "templates/support-bot/schema.json").write_text('{"type": "objekt"}')
    with pytest.raises(ValidationFailed) as info:
        Fleet(load_project(repo)).template("support-bot")
    assert "not a valid JSON Schema" in str(info.value.errors[0])


def test_base_from_api_is_checked_offline(repo: Path) -> None:
    """A base.botId template renders its overrides offline and defers the schema check."""
    (repo / "templates/support-bot/template.yaml").write_text(
        "base:\n  botId: support-bot\n  workspaceId: ws-source\n"
    )
    result = build_fleet(Fleet(load_project(repo)))
    assert result.errors == []
    assert result.deferred_schema == {"support-bot"}
    assert all(d.model is None for d in result.desired)


def test_template_base_needs_exactly_one_source(repo: Path) -> None:
    """base: with both file and botId is rejected at its line."""
    (repo / "templates/support-bot/template.yaml").write_text(
        "base:\n  file: base.json\n  botId: x\n"
    )
    with pytest.raises(ValidationFailed) as info:
        Fleet(load_project(repo)).template("support-bot")
    err = info.value.errors[0]
    assert "exactly one of 'file' or 'botId'" in err.message
    assert err.line == 1

"""Render a tenant's desired bot model: base model + rendered overrides + tenant params.

Pure: the Jinja loader is injected and nothing here reads files or talks to the API.
Owns the translation of jinja2 errors into :class:`~tenantops.errors.TemplateError`.

Rendering is deterministic and idempotent because it always starts from the template's
base model, never from a live export: rendering twice gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing
from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from tenantops.core.model import ITEM_KEYS, BotDoc, Overrides, Tenant, canonicalize
from tenantops.errors import TemplateError

__all__ = ["compile_template", "make_environment", "merge_overrides", "render_tenant"]

#: Where each tenant param lands in the model's metadata (the seed's names).
PARAM_METADATA: Mapping[str, str] = {
    "webhook_url": "tenantWebhook",
    "lang_code": "locale",
    "env_prefix": "envPrefix",
    "max_retries": "maxRetries",
}
#: Fields the server owns; a desired model never carries them.
SERVER_FIELDS = ("version",)
SERVER_METADATA = ("exportedAt",)

_SAFE = YAML(typ="safe")


def _tojson(value: Any) -> str:
    # Jinja's own tojson escapes <>&' for HTML; the output here is YAML, so keep text as is.
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


class _Scope(dict[str, Any]):
    """A mapping of the template context that knows its dotted path (``vars.db``).

    The sandbox refuses attributes that start with ``_``, so templates cannot see ``_path``.
    """

    __slots__ = ("_path",)

    def __init__(self, path: str, items: Mapping[str, Any]) -> None:
        super().__init__((k, _scoped(f"{path}.{k}", v)) for k, v in items.items())
        self._path = path


class _ScopeList(list[Any]):
    """A list of the template context that knows its path (``vars.hosts``)."""

    __slots__ = ("_path",)

    def __init__(self, path: str, items: list[Any]) -> None:
        super().__init__(_scoped(f"{path}[{i}]", v) for i, v in enumerate(items))
        self._path = path


def _scoped(path: str, value: Any) -> Any:
    if isinstance(value, Mapping):
        return _Scope(path, value)
    if isinstance(value, list):
        return _ScopeList(path, value)
    return value


class _PathUndefined(jinja2.StrictUndefined):
    """StrictUndefined whose error names the variable's full path: ``'vars.brand'``.

    Jinja's own message (``'dict object' has no attribute 'brand'``) names neither the
    variable nor its parent, which nobody can act on in a fleet of hundreds of tenants.
    """

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        name = self._undefined_name
        parent = getattr(self._undefined_obj, "_path", None)
        if self._undefined_obj is missing:
            return f"undefined variable '{name}'"
        if parent is None:
            return f"undefined variable: {super()._undefined_message}"
        if isinstance(name, str) and name.isidentifier():
            return f"undefined variable '{parent}.{name}'"
        return f"undefined variable '{parent}[{json.dumps(name)}]'"


def make_environment(loader: jinja2.BaseLoader) -> ImmutableSandboxedEnvironment:
    """A sandboxed Jinja environment where an undefined variable is an error."""
    env = ImmutableSandboxedEnvironment(
        loader=loader,
        undefined=_PathUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters["tojson"] = _tojson
    env.policies["json.dumps_function"] = _tojson
    return env


def compile_template(env: jinja2.Environment, name: str, *, path: Path) -> jinja2.Template:
    """Load and compile template ``name``; syntax errors name ``path`` and the line.

    Raises:
        TemplateError: the template does not compile.
    """
    try:
        return env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"template syntax error: {exc.message}", path=path, line=exc.lineno
        ) from exc
    except jinja2.TemplateNotFound as exc:
        raise TemplateError("template file not found", path=path) from exc


def _template_line(tb: TracebackType | None, filename: str | None) -> int | None:
    """The template line of the innermost frame Jinja rewrote to point at the template."""
    line = None
    while tb is not None:
        if filename and tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _context(tenant: Tenant) -> dict[str, Any]:
    scopes: dict[str, Mapping[str, Any]] = {
        "tenant": {"name": tenant.name, "workspace": tenant.workspace, "template": tenant.template},
        "params": tenant.params.model_dump(by_alias=True),
        "vars": tenant.vars,
        "secrets": {k: v.get_secret_value() for k, v in tenant.secrets.items()},
    }
    return {name: _Scope(name, values) for name, values in scopes.items()}


def render_overrides(template: jinja2.Template, tenant: Tenant, *, path: Path) -> Overrides:
    """Render the overrides template for ``tenant`` and parse the result.

    Raises:
        TemplateError: undefined variable, sandbox violation, bad YAML or bad shape.
    """
    try:
        text = template.render(_context(tenant))
    except SecurityError as exc:
        raise _template_error(
            f"unsafe operation blocked by the sandbox: {exc}", exc, template, path, tenant
        ) from exc
    except jinja2.UndefinedError as exc:
        message = str(exc.message or exc)
        if "unsafe" in message:
            message = f"unsafe operation blocked by the sandbox: {message}"
        elif not message.startswith("undefined variable"):
            message = f"undefined variable: {message}"
        raise _template_error(message, exc, template, path, tenant) from exc
    except jinja2.TemplateError as exc:
        raise _template_error(f"template error: {exc}", exc, template, path, tenant) from exc
    except Exception as exc:
        # Template code is user code: a TypeError in a filter is a template error too.
        message = f"template error: {type(exc).__name__}: {exc}"
        raise _template_error(message, exc, template, path, tenant) from exc
    return _parse_overrides(text, path=path, tenant=tenant.name)


def _template_error(
    message: str, exc: BaseException, template: jinja2.Template, path: Path, tenant: Tenant
) -> TemplateError:
    line = _template_line(exc.__traceback__, template.filename)
    return TemplateError(message, path=path, line=line, tenant=tenant.name)


def _parse_overrides(text: str, *, path: Path, tenant: str) -> Overrides:
    try:
        data = _SAFE.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1} of the rendered text)" if mark else ""
        raise TemplateError(
            f"rendered overrides are not valid YAML: {exc.problem}{where}", path=path, tenant=tenant
        ) from exc
    except YAMLError as exc:
        raise TemplateError(
            f"rendered overrides are not valid YAML: {exc}", path=path, tenant=tenant
        ) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TemplateError("rendered overrides must be a mapping", path=path, tenant=tenant)
    try:
        parsed = Overrides.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        pointer = "".join(f"/{p}" for p in first["loc"])
        kind = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise TemplateError(
            f"rendered overrides are invalid at {pointer or '/'}: {kind}"
            + (f" ({exc.error_count()} errors)" if exc.error_count() > 1 else ""),
            path=path,
            pointer=pointer,
            tenant=tenant,
        ) from exc
    # Keep the items exactly as the template wrote them (pydantic only checked the shape).
    return parsed.model_copy(update={k: data.get(k, []) for k in ITEM_KEYS})


def merge_overrides(base: BotDoc, overrides: Overrides, tenant: Tenant) -> BotDoc:
    """Merge overrides onto ``base`` by key, then write the tenant params into metadata.

    Items replace the base item of the same key or are added; ``remove`` drops keys;
    ``metadata`` merges key by key (a ``null`` value removes the key).

    Raises:
        TemplateError: ``remove`` names a key the base lacks, or one the overrides set.
    """
    out: BotDoc = {k: v for k, v in base.items() if k not in SERVER_FIELDS}
    for kind, key in ITEM_KEYS.items():
        items = {item[key]: item for item in base.get(kind, [])}
        added = getattr(overrides, kind)
        added_keys = {item[key] for item in added}
        for gone in getattr(overrides.remove, kind):
            if gone in added_keys:
                raise TemplateError(
                    f"overrides both set and remove {kind[:-1]} '{gone}'", tenant=tenant.name
                )
            if items.pop(gone, None) is None:
                raise TemplateError(
                    f"remove names {kind[:-1]} '{gone}', which the base model does not have",
                    tenant=tenant.name,
                )
        items.update((item[key], item) for item in added)
        out[kind] = list(items.values())
    metadata = {k: v for k, v in base.get("metadata", {}).items() if k not in SERVER_METADATA}
    for k, v in overrides.metadata.items():
        if v is None:
            metadata.pop(k, None)
        else:
            metadata[k] = v
    for field, meta_key in PARAM_METADATA.items():
        value = getattr(tenant.params, field)
        if value is not None:
            metadata[meta_key] = value
    out["metadata"] = metadata
    return out


def render_tenant(template: jinja2.Template, tenant: Tenant, base: BotDoc, *, path: Path) -> BotDoc:
    """The tenant's desired model in canonical order (see :func:`merge_overrides`).

    Raises:
        TemplateError: as :func:`render_overrides` and :func:`merge_overrides`.
    """
    overrides = render_overrides(template, tenant, path=path)
    try:
        merged = merge_overrides(base, overrides, tenant)
    except TemplateError as exc:
        exc.path = path
        raise
    return canonicalize(merged)

"""Build every selected tenant's desired model from the config repo, collecting all errors.

The shell around the pure renderer: it loads each template once per run through
:mod:`tenantops.config` (compiled Jinja, schema, base model, content hash) and renders
each tenant. It reads no file itself and never talks to the API:
a template whose base is exported (``base.botId``) renders only when the caller hands
in that base; otherwise the overrides are checked and the schema check waits for plan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from pydantic import ValidationError

from tenantops import config as cfg
from tenantops.core.model import BotDoc, BotModel, TemplateSpec, Tenant
from tenantops.core.redact import Redactor
from tenantops.core.render import (
    compile_template,
    make_environment,
    render_overrides,
    render_tenant,
)
from tenantops.core.schema import ModelSchema
from tenantops.errors import ConfigError, TemplateError, ValidationFailed

__all__ = ["DesiredTenant", "Fleet", "FleetResult", "LoadedTemplate", "build_fleet"]


@dataclass(frozen=True, slots=True)
class LoadedTemplate:
    """A template folder, read and compiled once per run."""

    name: str
    spec: TemplateSpec
    jinja: jinja2.Template
    overrides_path: Path
    schema: ModelSchema
    base: BotDoc | None
    sha256: str

    @property
    def base_export(self) -> tuple[str, str | None] | None:
        """``(bot, workspace)`` to export the base from; on cognigy-v2 the bot is the flow."""
        source = self.spec.base.export_source
        if source is None:
            return None
        bot, workspace = source
        return (bot or self.spec.flow), workspace

    @property
    def base_key(self) -> str:
        """The key of this template's exported base in ``bases`` (empty for a base file)."""
        source = self.base_export
        return f"{source[0]}@{source[1] or ''}" if source else ""


@dataclass(frozen=True, slots=True)
class DesiredTenant:
    """A tenant with its rendered desired model (``None`` while its base is not exported)."""

    tenant: Tenant
    path: Path
    template: LoadedTemplate
    model: BotDoc | None
    base_version: str | None
    config_sha256: str
    redactor: Redactor

    @property
    def name(self) -> str:
        return self.tenant.name


@dataclass(slots=True)
class FleetResult:
    """What a pass over the fleet produced: the tenants that rendered, and every error."""

    desired: list[DesiredTenant] = field(default_factory=list)
    errors: list[ConfigError] = field(default_factory=list)
    failed: dict[str, list[ConfigError]] = field(default_factory=dict)
    #: Templates whose base is exported from the API: schema checks wait for plan.
    deferred_schema: set[str] = field(default_factory=set)
    #: Broken templates: their errors (listed once in ``errors``) and the tenants they block.
    _blocked: dict[str, tuple[list[ConfigError], list[str]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def add_failure(self, tenant: str, exc: ValidationFailed | ConfigError) -> None:
        """Record every error of a tenant that failed on its own."""
        errors = cfg.flatten_errors([exc])
        self.failed[tenant] = errors
        self.errors.extend(errors)

    def add_blocked(self, tenant: str, template: str, errors: Sequence[ConfigError]) -> None:
        """Record a tenant whose template is broken; the template's errors appear once."""
        if template not in self._blocked:
            own = [error.blocking(()) for error in errors]
            self._blocked[template] = (own, [])
            self.errors.extend(own)
        own, tenants = self._blocked[template]
        tenants.append(tenant)
        for error in own:
            error.blocks = tuple(tenants)
        self.failed[tenant] = own


class Fleet:
    """Loads and renders tenants of one config repo; caches templates between tenants."""

    def __init__(self, project: cfg.Project) -> None:
        self.project = project
        self._env = make_environment(jinja2.FileSystemLoader(str(project.templates_dir)))
        self._templates: dict[str, LoadedTemplate | ValidationFailed] = {}
        self._project_sha = cfg.file_sha256(project.root / cfg.CONFIG_FILE)
        self._inline: dict[Path, str] = {}

    def add_inline(self, name: str, text: str) -> Path:
        """Make tenant ``name`` load from ``text`` instead of its file (``serve``'s requests).

        Returns the path the tenant is known by, as if it were ``tenants/<name>.yaml``;
        loading, hashing and rendering treat the text exactly like that file.
        """
        path = self.project.tenants_dir / f"{name}.yaml"
        self._inline[path] = text
        return path

    def inline_text(self, path: Path) -> str | None:
        """The text given by :meth:`add_inline` for ``path``, if any."""
        return self._inline.get(path)

    def tenant_paths(self, names: Iterable[str] = ()) -> list[Path]:
        """Tenant files for ``names`` (all tenants when empty).

        Raises:
            ValidationFailed: a name matches no tenant file.
        """
        paths = cfg.tenant_paths(self.project)
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return paths
        by_name = {p.stem: p for p in paths}
        unknown = [n for n in wanted if n not in by_name]
        if unknown:
            where = self.project.display(self.project.tenants_dir)
            raise ValidationFailed(
                [
                    ConfigError(f"unknown tenant '{n}': there is no {where / n}.yaml (or .yml)")
                    for n in unknown
                ]
            )
        return [by_name[n] for n in wanted]

    def template(self, name: str) -> LoadedTemplate:
        """The loaded template ``name`` (cached, including its failure).

        Raises:
            ValidationFailed: the template folder is invalid.
        """
        if name not in self._templates:
            try:
                self._templates[name] = self._load_template(name)
            except ValidationFailed as exc:
                self._templates[name] = exc
            except ConfigError as exc:
                self._templates[name] = ValidationFailed([exc])
        loaded = self._templates[name]
        if isinstance(loaded, ValidationFailed):
            raise loaded
        return loaded

    def _load_template(self, name: str) -> LoadedTemplate:
        spec, folder = cfg.load_template_spec(self.project, name)
        display = self.project.display
        overrides_path = folder / spec.overrides
        jinja = compile_template(
            self._env, f"{name}/{spec.overrides}", path=display(overrides_path)
        )
        schema_path = folder / spec.schema_file
        schema = ModelSchema(
            cfg.read_json(schema_path, display=display(schema_path)), path=display(schema_path)
        )
        base = None
        if spec.base.file is not None:
            base = _load_base(folder / spec.base.file, display=display(folder / spec.base.file))
        return LoadedTemplate(
            name=name,
            spec=spec,
            jinja=jinja,
            overrides_path=display(overrides_path),
            schema=schema,
            base=base,
            sha256=cfg.template_sha256(folder),
        )

    def load(self, path: Path) -> Tenant:
        """The tenant of file ``path`` (or of the text given by :meth:`add_inline`).

        Raises:
            ConfigError, ValidationFailed: the tenant file is invalid.
        """
        return cfg.load_tenant(self.project, path, text=self._inline.get(path))

    def build(self, path: Path, *, bases: Mapping[str, BotDoc] | None = None) -> DesiredTenant:
        """Load, render and schema-check one tenant.

        Args:
            path: the tenant file.
            bases: exported base models by bot id, for templates with ``base.botId``.

        Raises:
            ValidationFailed: with every error found for this tenant.
        """
        tenant = self.load(path)
        return self.render(tenant, path, self.template(tenant.template), bases=bases)

    def render(
        self,
        tenant: Tenant,
        path: Path,
        template: LoadedTemplate,
        *,
        bases: Mapping[str, BotDoc] | None = None,
    ) -> DesiredTenant:
        """Render and schema-check a loaded tenant (see :meth:`build`).

        Raises:
            TemplateError: the template fails on this tenant's values; it names the file.
            ValidationFailed: the rendered model breaks the template's schema.
        """
        base = template.base
        if base is None and bases is not None:
            base = bases.get(template.base_key)
        try:
            model = self._render_model(tenant, template, base)
        except TemplateError as exc:
            # The template is shared; which tenant's values broke it is what a user needs.
            exc.tenant_file = self.project.display(path)
            raise
        text = self._inline.get(path)
        config_sha = hashlib.sha256(
            f"{self._project_sha}\0{template.sha256}\0{_text_sha(text) if text is not None else cfg.file_sha256(path)}".encode()
        ).hexdigest()
        return DesiredTenant(
            tenant=tenant,
            path=path,
            template=template,
            model=model,
            base_version=str(base["version"]) if base and base.get("version") else None,
            config_sha256=config_sha,
            redactor=Redactor(tenant.secret_values()),
        )

    def _render_model(
        self, tenant: Tenant, template: LoadedTemplate, base: BotDoc | None
    ) -> BotDoc | None:
        if base is None:
            # Offline check of a template whose base lives in the API: overrides only.
            render_overrides(template.jinja, tenant, path=template.overrides_path)
            return None
        model = render_tenant(template.jinja, tenant, base, path=template.overrides_path)
        errors = template.schema.check(model, tenant=tenant.name)
        if errors:
            raise ValidationFailed(errors)
        if self.project.config.api.flavor == "cognigy-v2":
            # On Cognigy.AI v2.0 the managed flow is the bot: its name is what export reports.
            model["botId"] = template.spec.flow
        return model


def _text_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _load_base(path: Path, *, display: Path) -> BotDoc:
    data = cfg.read_json(path, display=display)
    try:
        BotModel.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(
            [
                ConfigError(
                    f"base model is invalid: {e['msg']}",
                    path=display,
                    pointer="".join(f"/{p}" for p in e["loc"]),
                )
                for e in exc.errors()
            ]
        ) from exc
    if not isinstance(data, dict):  # pragma: no cover - BotModel accepted it, so it is one
        raise ConfigError("base model must be a JSON object", path=display)
    return data


def build_fleet(
    fleet: Fleet, names: Iterable[str] = (), *, bases: Mapping[str, BotDoc] | None = None
) -> FleetResult:
    """Render every selected tenant; one tenant's errors never stop the others.

    Every tenant's every error is reported. An error in a template's own files (a syntax
    error, a missing file) is reported once, naming the tenants it blocks; an error that
    depends on a tenant's values is reported for each tenant, naming its file.

    Raises:
        ValidationFailed: a tenant name given does not exist.
    """
    result = FleetResult()
    for path in fleet.tenant_paths(names):
        try:
            tenant = fleet.load(path)
        except (ValidationFailed, ConfigError) as exc:
            result.add_failure(path.stem, exc)
            continue
        try:
            template = fleet.template(tenant.template)
        except ValidationFailed as exc:
            result.add_blocked(tenant.name, tenant.template, exc.errors)
            continue
        try:
            desired = fleet.render(tenant, path, template, bases=bases)
        except (ValidationFailed, ConfigError) as exc:
            result.add_failure(tenant.name, exc)
            continue
        if desired.model is None:
            result.deferred_schema.add(desired.template.name)
        result.desired.append(desired)
    return result

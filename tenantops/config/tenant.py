"""``tenants/*.yaml``: one tenant each, with ``defaults`` merged under it and env refs expanded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tenantops.config.project import Project
from tenantops.config.source import (
    Loc,
    Source,
    check_secret_refs,
    deep_merge,
    describe_pydantic_error,
    interpolate_env,
    read_yaml,
)
from tenantops.core.model import Tenant, is_project_id
from tenantops.errors import ConfigError, ValidationFailed

__all__ = ["load_tenant", "tenant_paths"]


def tenant_paths(project: Project) -> list[Path]:
    """Every tenant file, sorted by name."""
    if not project.tenants_dir.is_dir():
        return []
    return sorted(
        (*project.tenants_dir.glob("*.yaml"), *project.tenants_dir.glob("*.yml")),
        key=lambda p: p.name,
    )


def load_tenant(project: Project, path: Path, *, text: str | None = None) -> Tenant:
    """Load one tenant file, with ``defaults`` merged under it and env refs expanded.

    Args:
        project: the config repo.
        path: the tenant file (its stem is the tenant's name).
        text: the file's content when it is not on disk (a tenant sent to ``serve``).

    Raises:
        ConfigError: the file cannot be read or parsed.
        ValidationFailed: with every error found in the tenant (and defaults it uses).
    """
    source = read_yaml(path, display=project.display(path), text=text)
    stem = path.stem
    if not isinstance(source.data, dict):
        raise ValidationFailed([source.error("a tenant file must be a mapping", tenant=stem)])
    errors = check_secret_refs(source, source.data, ())
    data, missing = interpolate_env(source.data, project.env)
    errors += [
        source.error(f"environment variable {name} is not set", loc, tenant=stem)
        for loc, name in missing
    ]
    merged = deep_merge(_defaults(project), data)
    tenant: Tenant | None = None
    try:
        tenant = Tenant.model_validate(merged)
    except ValidationError as exc:
        errors += [_locate(project, source, err, tenant=stem) for err in exc.errors()]
    if tenant is not None:
        errors += _cross_checks(project, source, tenant)
    if errors:
        raise ValidationFailed(errors)
    assert tenant is not None
    return tenant


def _defaults(project: Project) -> dict[str, Any]:
    return dict(project.config.defaults)


def _locate(project: Project, source: Source, err: Any, *, tenant: str) -> ConfigError:
    """Place a pydantic error in the tenant file, or in ``defaults`` when it came from there."""
    loc = tuple(err["loc"])
    if _has_path(source.data, loc) or project.defaults_source is None:
        return source.error(describe_pydantic_error(err), loc, tenant=tenant)
    defaults = project.defaults_source
    if _has_path(project.config.defaults, loc):
        return defaults.error(describe_pydantic_error(err), ("defaults", *loc), tenant=tenant)
    return source.error(describe_pydantic_error(err), loc, tenant=tenant)


def _has_path(data: Any, loc: Loc) -> bool:
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return False
    return True


def _cross_checks(project: Project, source: Source, tenant: Tenant) -> list[ConfigError]:
    errors: list[ConfigError] = []
    stem = source.path.stem
    if tenant.name != stem:
        errors.append(
            source.error(
                f"name '{tenant.name}' must equal the file name '{stem}'", ("name",), tenant=stem
            )
        )
    if project.config.api.flavor == "cognigy-v2" and not is_project_id(tenant.workspace):
        errors.append(
            source.error(
                "workspace must be the 24-hex id of the tenant's Cognigy.AI project "
                f"(api.flavor is cognigy-v2), not {tenant.workspace!r}",
                ("workspace",),
                tenant=stem,
            )
        )
    if not (project.templates_dir / tenant.template / "template.yaml").is_file():
        known = ", ".join(project.template_names()) or "none"
        errors.append(
            source.error(
                f"unknown template '{tenant.template}' (templates: {known})",
                ("template",),
                tenant=stem,
            )
        )
    return errors

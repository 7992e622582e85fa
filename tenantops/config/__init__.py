"""Load the config repo: ``tenantops.yaml``, ``tenants/*.yaml`` and ``templates/*/``.

Owns every file read of the config repo and the translation of ruamel.yaml, json and
pydantic errors into :class:`~tenantops.errors.ConfigError` with file and line
(:mod:`.source`). It does not render templates or talk to the API.
"""

from __future__ import annotations

from tenantops.config.project import CONFIG_FILE, Project, ResolvedApi, load_project, resolve_api
from tenantops.config.source import (
    Loc,
    deep_merge,
    file_sha256,
    flatten_errors,
    interpolate_env,
    pydantic_errors,
    read_json,
)
from tenantops.config.template import load_template_spec, template_sha256
from tenantops.config.tenant import load_tenant, tenant_paths

__all__ = [
    "CONFIG_FILE",
    "Loc",
    "Project",
    "ResolvedApi",
    "deep_merge",
    "file_sha256",
    "flatten_errors",
    "interpolate_env",
    "load_project",
    "load_template_spec",
    "load_tenant",
    "pydantic_errors",
    "read_json",
    "resolve_api",
    "template_sha256",
    "tenant_paths",
]

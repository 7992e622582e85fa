"""``tenantops.yaml``: the config repo's root settings, and the API settings it resolves."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tenantops.config.source import (
    ENV_REF,
    Source,
    check_secret_refs,
    describe_pydantic_error,
    interpolate_env,
    pydantic_errors,
    read_yaml,
)
from tenantops.core.model import ApiConfig, ProjectConfig
from tenantops.errors import ConfigError, ValidationFailed

__all__ = ["CONFIG_FILE", "Project", "ResolvedApi", "load_project", "resolve_api"]


CONFIG_FILE = "tenantops.yaml"


@dataclass(frozen=True, slots=True)
class Project:
    """A loaded config repo root: ``tenantops.yaml`` and where everything else lives."""

    root: Path
    config: ProjectConfig
    defaults_source: Source | None = None
    raw_api: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def tenants_dir(self) -> Path:
        return self.root / "tenants"

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    def display(self, path: Path) -> Path:
        """``path`` as shown to the user: relative to the working directory when possible."""
        try:
            return path.resolve().relative_to(Path.cwd().resolve())
        except ValueError:
            return path

    def template_names(self) -> list[str]:
        if not self.templates_dir.is_dir():
            return []
        return sorted(p.parent.name for p in self.templates_dir.glob("*/template.yaml"))


def load_project(root: Path, env: Mapping[str, str] | None = None) -> Project:
    """Load ``root/tenantops.yaml`` (optional: a repo without one uses the defaults).

    ``api`` values are interpolated later, by :func:`resolve_api`, so that offline
    commands never need the API's credentials in the environment.

    Raises:
        ValidationFailed: with every error found in the file.
    """
    env = dict(os.environ) if env is None else dict(env)
    if not root.is_dir():
        raise ConfigError("config directory not found; pass -C DIR", path=root)
    probe = Project(root=root, config=ProjectConfig(), env=env)
    path = root / CONFIG_FILE
    if not path.exists():
        return probe
    source = read_yaml(path, display=probe.display(path))
    data = source.data if source.data is not None else {}
    if not isinstance(data, dict):
        raise ValidationFailed([source.error("tenantops.yaml must be a mapping")])
    raw_api = data.get("api") or {}
    errors = check_secret_refs(source, data.get("defaults", {}) or {}, ("defaults",))
    rest = {k: v for k, v in data.items() if k != "api"}
    rest, missing = interpolate_env(rest, env)
    errors += [
        source.error(f"environment variable {name} is not set", loc) for loc, name in missing
    ]
    try:
        # Validate the api section's shape now (typos, bad URLs), with env refs unexpanded.
        config = ProjectConfig.model_validate({**rest, "api": _placeholder_env(raw_api)})
    except ValidationError as exc:
        errors += pydantic_errors(exc, source, tenant=None)
        config = ProjectConfig()
    if errors:
        raise ValidationFailed(errors)
    api = raw_api if isinstance(raw_api, dict) else {}
    return Project(root=root, config=config, defaults_source=source, raw_api=api, env=env)


def _placeholder_env(raw: Any) -> Any:
    """Stand-in values for env refs, so shape checks pass before the env is consulted."""
    if isinstance(raw, str):
        return ENV_REF.sub("https://env.invalid" if raw.startswith("${env:") else "x", raw)
    if isinstance(raw, dict):
        return {k: _placeholder_env(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_placeholder_env(v) for v in raw]
    return raw


@dataclass(frozen=True, slots=True)
class ResolvedApi:
    """API settings after env interpolation and env-variable fallbacks."""

    base_url: str
    token_url: str
    client_id: str
    client_secret: str
    tenant_id: str | None
    scopes: tuple[str, ...]
    rate_limit: Any

    def __repr__(self) -> str:
        return (
            f"ResolvedApi(base_url={self.base_url!r}, client_id={self.client_id!r}, "
            "client_secret='**********')"
        )


def resolve_api(project: Project) -> ResolvedApi:
    """The API settings: ``api:`` values, else ``COGNIGY_BASE_URL``, ``OAUTH_*`` and friends.

    Raises:
        ValidationFailed: an env ref is unset, or a required value is missing everywhere.
    """
    env = project.env
    source = project.defaults_source
    raw, missing = interpolate_env(dict(project.raw_api), env, ("api",))
    errors = [
        source.error(f"environment variable {name} is not set", loc)
        if source
        else ConfigError(f"environment variable {name} is not set")
        for loc, name in missing
    ]
    if errors:
        raise ValidationFailed(errors)
    try:
        api = ApiConfig.model_validate(raw)
    except ValidationError as exc:
        if source is None:
            raise ValidationFailed([ConfigError(str(exc))]) from exc
        raise ValidationFailed(
            [source.error(describe_pydantic_error(e), ("api", *e["loc"])) for e in exc.errors()]
        ) from exc
    base_url = api.base_url or env.get("COGNIGY_BASE_URL", "").rstrip("/")
    secret = api.client_secret.get_secret_value() if api.client_secret else None
    values = {
        "base URL (api.baseUrl or COGNIGY_BASE_URL)": base_url,
        "client id (api.clientId or OAUTH_CLIENT_ID)": api.client_id or env.get("OAUTH_CLIENT_ID"),
        "client secret (api.clientSecret or OAUTH_CLIENT_SECRET)": secret
        or env.get("OAUTH_CLIENT_SECRET"),
    }
    absent = [name for name, value in values.items() if not value]
    if absent:
        raise ValidationFailed([ConfigError(f"no API {name} is set") for name in absent])
    return ResolvedApi(
        base_url=base_url,
        token_url=api.token_url
        or env.get("OAUTH_TOKEN_URL")
        or f"{base_url}/api/v4/auth/oauth/token",
        client_id=str(api.client_id or env["OAUTH_CLIENT_ID"]),
        client_secret=str(secret or env["OAUTH_CLIENT_SECRET"]),
        tenant_id=api.tenant_id or env.get("COGNIGY_TENANT_ID") or None,
        scopes=api.scopes,
        rate_limit=api.rate_limit,
    )

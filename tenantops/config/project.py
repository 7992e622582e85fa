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
    WHOLE_ENV_REF,
    Source,
    check_secret_refs,
    describe_pydantic_error,
    interpolate_env,
    pydantic_errors,
    read_yaml,
)
from tenantops.core.model import ApiConfig, Flavor, ProjectConfig, RateLimit
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
    errors += _plain_api_secrets(source, raw_api)
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


def _plain_api_secrets(source: Source, raw_api: Any) -> list[ConfigError]:
    """``api.clientSecret`` and ``api.apiKey`` must be ``${env:NAME}``, never the value."""
    if not isinstance(raw_api, dict):
        return []
    return [
        source.error(
            f"api.{key} must be an environment reference like ${{env:NAME}}, never the value itself",
            ("api", key),
        )
        for key in ("clientSecret", "apiKey")
        if key in raw_api
        and not (isinstance(raw_api[key], str) and WHOLE_ENV_REF.match(raw_api[key]))
    ]


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
    """API settings after env interpolation and env-variable fallbacks.

    ``client_id``/``client_secret`` are empty on cognigy-v2 when an API key is used.
    """

    base_url: str
    token_url: str
    client_id: str
    client_secret: str
    tenant_id: str | None
    scopes: tuple[str, ...]
    rate_limit: Any
    flavor: Flavor = "contract"
    api_key: str | None = None
    keep_snapshots: int = 3
    task_timeout: float = 600.0

    def __repr__(self) -> str:
        return (
            f"ResolvedApi(flavor={self.flavor!r}, base_url={self.base_url!r}, "
            f"client_id={self.client_id!r}, client_secret='**********', api_key='**********')"
        )


def resolve_api(project: Project) -> ResolvedApi:
    """The API settings: ``api:`` values, else ``COGNIGY_BASE_URL``, ``OAUTH_*`` and friends.

    On cognigy-v2 the key is ``api.apiKey`` or ``COGNIGY_API_KEY``; without one, OAuth2
    client credentials at ``<baseUrl>/auth/oauth2/token``; the quota defaults to 1000/5m.

    Raises:
        ValidationFailed: an env ref is unset, or a required value is missing everywhere.
    """
    api = _api_config(project)
    env = project.env
    base_url = api.base_url or env.get("COGNIGY_BASE_URL", "").rstrip("/")
    secret = api.client_secret.get_secret_value() if api.client_secret else None
    client_id = api.client_id or env.get("OAUTH_CLIENT_ID") or ""
    client_secret = secret or env.get("OAUTH_CLIENT_SECRET") or ""
    api_key = api.api_key.get_secret_value() if api.api_key else env.get("COGNIGY_API_KEY")
    values = {"base URL (api.baseUrl or COGNIGY_BASE_URL)": base_url}
    if api.flavor == "contract" or not api_key:
        values["client id (api.clientId or OAUTH_CLIENT_ID)"] = client_id
        values["client secret (api.clientSecret or OAUTH_CLIENT_SECRET)"] = client_secret
    absent = [name for name, value in values.items() if not value]
    if absent:
        also = " (or an API key: api.apiKey or COGNIGY_API_KEY)" if api.flavor != "contract" else ""
        raise ValidationFailed([ConfigError(f"no API {name} is set{also}") for name in absent])
    v2 = api.flavor == "cognigy-v2"
    default_token = f"{base_url}/auth/oauth2/token" if v2 else f"{base_url}/api/v4/auth/oauth/token"
    return ResolvedApi(
        base_url=base_url,
        token_url=api.token_url or env.get("OAUTH_TOKEN_URL") or default_token,
        client_id=client_id,
        client_secret=client_secret,
        tenant_id=api.tenant_id or env.get("COGNIGY_TENANT_ID") or None,
        scopes=api.scopes,
        rate_limit=api.rate_limit or (RateLimit.parse("1000/5m") if v2 else None),
        flavor=api.flavor,
        api_key=api_key if v2 else None,
        keep_snapshots=api.snapshots.keep,
        task_timeout=api.task_timeout,
    )


def _api_config(project: Project) -> ApiConfig:
    """``api:`` with its env refs expanded, validated; errors point into tenantops.yaml."""
    source = project.defaults_source
    raw, missing = interpolate_env(dict(project.raw_api), project.env, ("api",))
    errors = [
        source.error(f"environment variable {name} is not set", loc)
        if source
        else ConfigError(f"environment variable {name} is not set")
        for loc, name in missing
    ]
    if errors:
        raise ValidationFailed(errors)
    try:
        return ApiConfig.model_validate(raw)
    except ValidationError as exc:
        if source is None:
            raise ValidationFailed([ConfigError(str(exc))]) from exc
        raise ValidationFailed(
            [source.error(describe_pydantic_error(e), ("api", *e["loc"])) for e in exc.errors()]
        ) from exc

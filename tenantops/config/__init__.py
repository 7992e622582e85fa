"""Load the config repo: ``tenantops.yaml``, ``tenants/*.yaml`` and ``templates/*/``.

Owns every file read of the config repo and the translation of ruamel.yaml, json and
pydantic errors into :class:`~tenantops.errors.ConfigError` with file and line. It does
not render templates or talk to the API.

Files are parsed with the C safe loader (about 4x faster than round-trip); only when an
error must be reported is the file parsed again round-trip, to learn line numbers.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from tenantops.core.model import ApiConfig, ProjectConfig, TemplateSpec, Tenant
from tenantops.errors import ConfigError, ValidationFailed

__all__ = [
    "CONFIG_FILE",
    "Loc",
    "Project",
    "ResolvedApi",
    "deep_merge",
    "interpolate_env",
    "load_project",
    "load_template_spec",
    "load_tenant",
    "pydantic_errors",
    "read_json",
    "resolve_api",
    "tenant_paths",
]

CONFIG_FILE = "tenantops.yaml"
_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
_WHOLE_ENV_REF = re.compile(r"^\$\{env:[A-Za-z_][A-Za-z0-9_]*\}$")

#: A path into a parsed document: mapping keys and list indexes.
Loc = tuple[str | int, ...]


# --------------------------------------------------------------------------- positions


class _Positions:
    """Line numbers of a YAML file, parsed round-trip on first use only."""

    def __init__(self, path: Path, text: str) -> None:
        self._path = path
        self._text = text
        self._doc: Any = None
        self._parsed = False

    def line_of(self, loc: Loc) -> int | None:
        """1-based line of the deepest node of ``loc`` present in the file."""
        if not self._parsed:
            self._parsed = True
            try:
                self._doc = YAML().load(self._text)
            except YAMLError:
                self._doc = None
        node = self._doc
        line: int | None = 1 if node is not None else None
        for part in loc:
            if isinstance(node, CommentedMap) and part in node:
                line = node.lc.key(part)[0] + 1
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                line = node.lc.item(part)[0] + 1
            else:
                break
            node = node[part]
        return line


@dataclass(slots=True)
class _Source:
    """One YAML file: its text, parsed content and lazily computed positions."""

    path: Path
    text: str
    data: Any
    positions: _Positions

    def error(self, message: str, loc: Loc = (), *, tenant: str | None = None) -> ConfigError:
        return ConfigError(
            message,
            path=self.path,
            line=self.positions.line_of(loc),
            pointer=_pointer(loc),
            tenant=tenant,
        )


def _pointer(loc: Loc) -> str:
    return "".join(f"/{str(p).replace('~', '~0').replace('/', '~1')}" for p in loc)


_SAFE = YAML(typ="safe")


def _read_yaml(path: Path, *, display: Path, text: str | None = None) -> _Source:
    try:
        if text is None:
            text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError("file not found", path=display) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read file: {exc}", path=display) from exc
    try:
        data = _SAFE.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"invalid YAML: {problem}", path=display, line=line) from exc
    except YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", path=display) from exc
    return _Source(display, text, data, _Positions(display, text))


def read_json(path: Path, *, display: Path) -> Any:
    """Read a JSON file, translating decode errors into a ConfigError with the line."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError("file not found", path=display) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON: {exc.msg}", path=display, line=exc.lineno) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read file: {exc}", path=display) from exc


# --------------------------------------------------------------------------- env and merge


def interpolate_env(
    data: Any, env: Mapping[str, str], loc: Loc = ()
) -> tuple[Any, list[tuple[Loc, str]]]:
    """Replace ``${env:NAME}`` in every string of ``data``.

    Returns the new document and the (location, variable) of every missing variable,
    so that all of them can be reported at once. ``$${`` stands for a literal ``${``.
    """
    missing: list[tuple[Loc, str]] = []

    def walk(node: Any, here: Loc) -> Any:
        if isinstance(node, str):
            if "${" not in node:
                return node

            def sub(match: re.Match[str]) -> str:
                name = match.group(1)
                if name not in env:
                    missing.append((here, name))
                    return ""
                return env[name]

            parts = node.split("$${")
            return "${".join(_ENV_REF.sub(sub, part) for part in parts)
        if isinstance(node, dict):
            return {k: walk(v, (*here, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, (*here, i)) for i, v in enumerate(node)]
        return node

    return walk(data, loc), missing


def deep_merge(under: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``under``: mappings merge key by key, anything else replaces."""
    out = dict(under)
    for key, value in over.items():
        below = out.get(key)
        if isinstance(below, Mapping) and isinstance(value, Mapping):
            out[key] = deep_merge(below, value)
        else:
            out[key] = value
    return out


def pydantic_errors(
    exc: ValidationError, source: _Source, *, tenant: str | None
) -> list[ConfigError]:
    """One ConfigError per pydantic error, located in ``source``."""
    return [source.error(_describe(err), tuple(err["loc"]), tenant=tenant) for err in exc.errors()]


def _describe(err: Any) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"unknown key '{err['loc'][-1]}'" + (
            f" in {loc.rsplit('.', 1)[0]}" if "." in loc else ""
        )
    if kind == "missing":
        return f"missing required key '{loc}'"
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{loc}: {message}" if loc else message


# --------------------------------------------------------------------------- project


@dataclass(frozen=True, slots=True)
class Project:
    """A loaded config repo root: ``tenantops.yaml`` and where everything else lives."""

    root: Path
    config: ProjectConfig
    defaults_source: _Source | None = None
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
    source = _read_yaml(path, display=probe.display(path))
    data = source.data if source.data is not None else {}
    if not isinstance(data, dict):
        raise ValidationFailed([source.error("tenantops.yaml must be a mapping")])
    raw_api = data.get("api") or {}
    errors = _check_secret_refs(source, data.get("defaults", {}) or {}, ("defaults",))
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
        return _ENV_REF.sub("https://env.invalid" if raw.startswith("${env:") else "x", raw)
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
            [source.error(_describe(e), ("api", *e["loc"])) for e in exc.errors()]
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


# --------------------------------------------------------------------------- tenants


def tenant_paths(project: Project) -> list[Path]:
    """Every tenant file, sorted by name."""
    if not project.tenants_dir.is_dir():
        return []
    return sorted(
        (*project.tenants_dir.glob("*.yaml"), *project.tenants_dir.glob("*.yml")),
        key=lambda p: p.name,
    )


def _check_secret_refs(source: _Source, data: Mapping[str, Any], loc: Loc) -> list[ConfigError]:
    secrets = data.get("secrets")
    if not isinstance(secrets, dict):
        return []
    return [
        source.error(
            f"secret '{key}' must be an environment reference like ${{env:NAME}}, "
            "never the value itself",
            (*loc, "secrets", key),
        )
        for key, value in secrets.items()
        if not (isinstance(value, str) and _WHOLE_ENV_REF.match(value))
    ]


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
    source = _read_yaml(path, display=project.display(path), text=text)
    stem = path.stem
    if not isinstance(source.data, dict):
        raise ValidationFailed([source.error("a tenant file must be a mapping", tenant=stem)])
    errors = _check_secret_refs(source, source.data, ())
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


def _locate(project: Project, source: _Source, err: Any, *, tenant: str) -> ConfigError:
    """Place a pydantic error in the tenant file, or in ``defaults`` when it came from there."""
    loc = tuple(err["loc"])
    if _has_path(source.data, loc) or project.defaults_source is None:
        return source.error(_describe(err), loc, tenant=tenant)
    defaults = project.defaults_source
    if _has_path(project.config.defaults, loc):
        return defaults.error(_describe(err), ("defaults", *loc), tenant=tenant)
    return source.error(_describe(err), loc, tenant=tenant)


def _has_path(data: Any, loc: Loc) -> bool:
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return False
    return True


def _cross_checks(project: Project, source: _Source, tenant: Tenant) -> list[ConfigError]:
    errors: list[ConfigError] = []
    stem = source.path.stem
    if tenant.name != stem:
        errors.append(
            source.error(
                f"name '{tenant.name}' must equal the file name '{stem}'", ("name",), tenant=stem
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


# --------------------------------------------------------------------------- templates


def load_template_spec(project: Project, name: str) -> tuple[TemplateSpec, Path]:
    """Load ``templates/<name>/template.yaml``; returns the spec and the template folder.

    Raises:
        ConfigError / ValidationFailed: with file and line.
    """
    folder = project.templates_dir / name
    source = _read_yaml(folder / "template.yaml", display=project.display(folder / "template.yaml"))
    data = source.data if source.data is not None else {}
    if not isinstance(data, dict):
        raise ValidationFailed([source.error("template.yaml must be a mapping")])
    try:
        spec = TemplateSpec.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(pydantic_errors(exc, source, tenant=None)) from exc
    errors = [
        source.error(f"{key} file '{rel}' not found in {project.display(folder)}", (key,))
        for key, rel in _template_files(spec)
        if not (folder / rel).is_file()
    ]
    if errors:
        raise ValidationFailed(errors)
    return spec, folder


def _template_files(spec: TemplateSpec) -> Iterator[tuple[str, str]]:
    yield "overrides", spec.overrides
    yield "schema", spec.schema_file
    if spec.base.file is not None:
        yield "base", spec.base.file


def flatten_errors(errors: Sequence[ConfigError | ValidationFailed]) -> list[ConfigError]:
    """Flatten a mix of single errors and bundles into one list."""
    out: list[ConfigError] = []
    for err in errors:
        out.extend(err.errors if isinstance(err, ValidationFailed) else [err])
    return out

"""Reading config files: YAML and JSON with positions, ``${env:}`` references, errors.

The one place where ruamel.yaml, json and pydantic errors become
:class:`~tenantops.errors.ConfigError` with file and line. Files are parsed with the C safe
loader (about 4x faster than round-trip); only when an error must be reported is a file
parsed again round-trip, to learn line numbers.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from tenantops.errors import ConfigError, ValidationFailed

__all__ = [
    "ENV_REF",
    "WHOLE_ENV_REF",
    "Loc",
    "Source",
    "check_secret_refs",
    "deep_merge",
    "describe_pydantic_error",
    "file_sha256",
    "flatten_errors",
    "interpolate_env",
    "pydantic_errors",
    "read_json",
    "read_yaml",
]


ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


WHOLE_ENV_REF = re.compile(r"^\$\{env:[A-Za-z_][A-Za-z0-9_]*\}$")


#: A path into a parsed document: mapping keys and list indexes.
Loc = tuple[str | int, ...]


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
class Source:
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


def read_yaml(path: Path, *, display: Path, text: str | None = None) -> Source:
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
    return Source(display, text, data, _Positions(display, text))


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


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes; empty for a file that does not exist (yet)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return ""


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
            return "${".join(ENV_REF.sub(sub, part) for part in parts)
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
    exc: ValidationError, source: Source, *, tenant: str | None
) -> list[ConfigError]:
    """One ConfigError per pydantic error, located in ``source``."""
    return [
        source.error(describe_pydantic_error(err), tuple(err["loc"]), tenant=tenant)
        for err in exc.errors()
    ]


def describe_pydantic_error(err: Any) -> str:
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


def flatten_errors(errors: Sequence[ConfigError | ValidationFailed]) -> list[ConfigError]:
    """Flatten a mix of single errors and bundles into one list."""
    out: list[ConfigError] = []
    for err in errors:
        out.extend(err.errors if isinstance(err, ValidationFailed) else [err])
    return out


def check_secret_refs(source: Source, data: Mapping[str, Any], loc: Loc) -> list[ConfigError]:
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
        if not (isinstance(value, str) and WHOLE_ENV_REF.match(value))
    ]

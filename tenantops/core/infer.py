"""Infer a tenant file from a live bot: the reverse of rendering, for ``tenantops import``.

Pure: takes the overrides template's text, the base model and the live export, and
answers the tenant file's content; it reads no file and talks to no API.

How it works. Rendering writes ``params`` into metadata under fixed keys, so those are
read straight back. For ``vars`` and ``secrets`` the overrides template is rendered
*symbolically*: every ``vars.…`` and ``secrets.…`` value is a probe that prints as a
marker naming its path, so the rendered overrides are a skeleton of the model with
markers where tenant values go. The skeleton is then matched against the live model:

- a value that is one marker (``brand: {{ vars.brand | tojson }}``) takes the live
  value at that place, whatever its type;
- a string with markers in it (``hi {{ vars.brand }}``) is a pattern: each marker
  takes the text it matches (only where a whole value gave it nothing);
- an item whose key holds a loop variable's marker (``faq_{{ faq.name }}`` inside
  ``{% for faq in vars.faqs %}``) is matched against live items that neither the base
  nor a literal item of the template accounts for; each match is one list element;
- ``remove: {intents: <marker>}`` takes the base items the live bot lacks.

What cannot be inferred this way (a value only used in a condition, a filter that
transforms its input) stays out of the file; the plan printed after the import shows
what the template then cannot reproduce. Values equal to ``tenantops.yaml``'s
``defaults`` are left out, since the defaults supply them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from tenantops.core.diff import iso_expiry
from tenantops.core.model import ITEM_KEYS, BotDoc, RoleGrant, TenantParams
from tenantops.core.render import PARAM_METADATA
from tenantops.core.symbolic import MARK, STAR, Probe, SymbolicTemplate, Symbols, VarPath

__all__ = ["Inferred", "SecretRef", "infer_tenant", "suggest_env_name"]

#: A whole-value match beats a match found inside a pattern string.
_WHOLE, _PATTERN = 2, 1


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A secret the template reads, found live at ``pointer``; ``value`` stays in memory."""

    key: str
    env: str
    pointer: str
    value: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Inferred:
    """The tenant file inferred from a live bot.

    Attributes:
        document: the tenant file's content (secrets as ``${env:NAME}`` references).
        secrets: the secrets it references, with their live values (never written).
        unbound: template values the live bot gave no value for (``vars.x``).
        problem: why the template could not be read symbolically, if it could not.
    """

    document: dict[str, Any]
    secrets: tuple[SecretRef, ...] = ()
    unbound: tuple[str, ...] = ()
    problem: str | None = None


def suggest_env_name(tenant: str, key: str) -> str:
    """The environment variable a secret is read from: ``acme`` + ``crmToken`` -> ``ACME_CRM_TOKEN``."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", f"{tenant}_{key}")
    name = re.sub(r"[^A-Za-z0-9]+", "_", snake).strip("_").upper()
    return name if re.match(r"^[A-Z_]", name) else f"_{name}"


# --------------------------------------------------------------------------- matching


@dataclass(slots=True)
class _Bindings:
    """Values found for template paths, strongest first; loop elements per looped path."""

    found: dict[VarPath, tuple[int, Any]] = field(default_factory=dict)
    elements: dict[VarPath, list[dict[VarPath, Any]]] = field(default_factory=dict)

    def bind(self, path: VarPath, value: Any, strength: int) -> None:
        if path not in self.found or self.found[path][0] < strength:
            self.found[path] = (strength, value)


def _pattern(text: str, paths: Sequence[VarPath]) -> tuple[re.Pattern[str], list[VarPath]]:
    parts = MARK.split(text)
    regex = "".join(re.escape(part) if i % 2 == 0 else "(.*?)" for i, part in enumerate(parts))
    return re.compile(regex, re.DOTALL), [paths[int(i)] for i in parts[1::2]]


def _match_string(skel: str, live: Any, paths: Sequence[VarPath], out: _Bindings) -> bool:
    """Bind the markers of ``skel`` from ``live``; whether ``live`` fits the skeleton."""
    whole = MARK.fullmatch(skel)
    if whole:
        out.bind(paths[int(whole.group(1))], live, _WHOLE)
        return True
    if not MARK.search(skel):
        return bool(skel == live)
    if not isinstance(live, str):
        return False
    regex, names = _pattern(skel, paths)
    match = regex.fullmatch(live)
    if match is None:
        return False
    seen: dict[VarPath, str] = {}
    for name, value in zip(names, match.groups(), strict=True):
        if seen.setdefault(name, value) != value:
            return False
    for name, value in seen.items():
        out.bind(name, value, _PATTERN)
    return True


def _match(skel: Any, live: Any, paths: Sequence[VarPath], out: _Bindings) -> None:
    if isinstance(skel, str):
        _match_string(skel, live, paths, out)
    elif isinstance(skel, dict) and isinstance(live, dict):
        for key, value in skel.items():
            if key in live:
                _match(value, live[key], paths, out)
    elif isinstance(skel, list) and isinstance(live, list):
        # Set-like lists: a pattern takes the first live member it fits that is not
        # one of the template's literal members ("hi {{ vars.brand }}" beside "hi there").
        literal = {item for item in skel if isinstance(item, str) and not MARK.search(item)}
        spare = [value for value in live if value not in literal]
        for item in skel:
            if isinstance(item, str) and MARK.search(item) and not MARK.fullmatch(item):
                for value in spare:
                    if _match_string(item, value, paths, out):
                        break


def _match_items(
    kind: str,
    skel: dict[str, Any],
    base: BotDoc,
    live: BotDoc,
    paths: Sequence[VarPath],
    out: _Bindings,
) -> None:
    """Match the template's items of ``kind`` with the live ones, and its ``remove`` list."""
    key = ITEM_KEYS[kind]
    live_items = {i[key]: i for i in live.get(kind, []) if isinstance(i, dict)}
    base_keys = {i[key] for i in base.get(kind, []) if isinstance(i, dict)}
    items = [i for i in skel.get(kind) or [] if isinstance(i, dict) and isinstance(i.get(key), str)]
    literal = {i[key] for i in items if not MARK.search(i[key])}
    for item in items:
        if item[key] in literal and item[key] in live_items:
            _match(item, live_items[item[key]], paths, out)
    spare = [k for k in live_items if k not in base_keys and k not in literal]
    for item in items:
        if item[key] not in literal:
            spare = _match_looped(item, key, spare, live_items, paths, out)
    removed = (skel.get("remove") or {}).get(kind)
    if isinstance(removed, str) and MARK.fullmatch(removed):
        gone = sorted(base_keys - set(live_items) - literal)
        _match_string(removed, gone, paths, out)


def _match_looped(
    item: dict[str, Any],
    key: str,
    spare: list[str],
    live_items: Mapping[str, Any],
    paths: Sequence[VarPath],
    out: _Bindings,
) -> list[str]:
    """Match a templated item against spare live items; answers the ones still spare."""
    regex, _ = _pattern(item[key], paths)
    fits = [k for k in spare if regex.fullmatch(k)]
    looped = any(STAR in p for p in map(paths.__getitem__, map(int, MARK.findall(item[key]))))
    if not looped and len(fits) != 1:
        return spare  # one templated item, several candidates: no way to tell which
    for name in fits:
        found = _Bindings()
        _match(item, live_items[name], paths, found)
        element: dict[VarPath, list[tuple[VarPath, Any]]] = {}
        for path, (strength, value) in found.found.items():
            if STAR in path:
                at = path.index(STAR)
                element.setdefault(path[:at], []).append((path[at + 1 :], value))
            else:
                out.bind(path, value, strength)
        for prefix, values in element.items():
            out.elements.setdefault(prefix, []).append(dict(values))
    return [k for k in spare if k not in fits]


# --------------------------------------------------------------------------- assembling


def _nest(values: Mapping[VarPath, Any]) -> dict[str, Any]:
    """``{("a", "b"): 1}`` -> ``{"a": {"b": 1}}``; a shorter path wins over a deeper one."""
    out: dict[str, Any] = {}
    for path in sorted(values, key=len):
        node = out
        for part in path[:-1]:
            child = node.setdefault(str(part), {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node.setdefault(str(path[-1]), values[path])
    return out


def _values(bindings: _Bindings, symbols: Symbols) -> dict[VarPath, Any]:
    values = {p: v for p, (_, v) in bindings.found.items() if STAR not in p}
    for prefix, elements in bindings.elements.items():
        if STAR not in prefix:
            values.setdefault(prefix, [_nest(e) for e in elements])
    for path in symbols.looped - set(values):
        if STAR not in path and path not in symbols.defaulted:
            values[path] = []  # looped over without a default: an empty list renders
    # What the template's own default gives needs no value in the file.
    return {
        p: v for p, v in values.items() if p not in symbols.defaulted or symbols.defaulted[p] != v
    }


def _params(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The tenant params the live metadata holds, each only if it is a valid param."""
    out: dict[str, Any] = {}
    for field_name, key in PARAM_METADATA.items():
        if key not in metadata:
            continue
        try:
            params = TenantParams.model_validate({field_name: metadata[key]})
        except ValidationError:
            continue
        out[field_name] = getattr(params, field_name)
    return out


def _roles(grants: Sequence[RoleGrant]) -> list[dict[str, Any]]:
    roles = []
    for grant in sorted(grants, key=lambda g: g.user_id):
        role: dict[str, Any] = {"userId": grant.user_id, "roleId": grant.role_id}
        if grant.expires_at is not None:
            role["expiresAt"] = iso_expiry(grant.expires_at)
        roles.append(role)
    return roles


def _without_defaults(values: Mapping[str, Any], defaults: Any) -> dict[str, Any]:
    if not isinstance(defaults, Mapping):
        return dict(values)
    return {k: v for k, v in values.items() if k not in defaults or defaults[k] != v}


def _secret_refs(
    tenant: str, found: Mapping[VarPath, Any], skel: Any, paths: Sequence[VarPath]
) -> list[SecretRef]:
    refs = []
    for path, value in sorted(found.items(), key=lambda kv: str(kv[0])):
        if path[0] != "secrets" or len(path) != 2 or not isinstance(value, str):
            continue
        key = str(path[1])
        pointer = _pointer_of(skel, paths.index(path)) or "/metadata"
        refs.append(SecretRef(key, suggest_env_name(tenant, key), pointer, value))
    return refs


def _pointer_of(node: Any, index: int, where: str = "") -> str | None:
    """Where in the skeleton the marker ``index`` first stands, as a JSON pointer."""
    if isinstance(node, str):
        return where if f"\ue000{index}\ue001" in node else None
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, child in children:
        found = _pointer_of(child, index, f"{where}/{key}")
        if found is not None:
            return found
    return None


def infer_tenant(
    *,
    name: str,
    workspace: str,
    template: str,
    overrides: SymbolicTemplate,
    base: BotDoc,
    live: BotDoc,
    defaults: Mapping[str, Any],
    grants: Sequence[RoleGrant] | None = None,
) -> Inferred:
    """The tenant file that renders ``live`` as closely as the template allows.

    Args:
        name: the tenant's name.
        workspace: its workspace.
        template: the template it uses (written only when it differs from the default).
        overrides: the template's overrides, compiled by :meth:`SymbolicTemplate.from_source`.
        base: the template's base model.
        live: the live export.
        defaults: ``tenantops.yaml``'s ``defaults``; values equal to them are left out.
        grants: the live role assignments, when roles are to be managed.

    Returns:
        The tenant file's content, the secrets it references and what stayed unknown.
    """
    metadata = live.get("metadata") or {}
    params = _params(metadata)
    merged_params = {**TenantParams().model_dump(), **_default_params(defaults), **params}
    symbols = Symbols()
    context = {
        "tenant": {"name": name, "workspace": workspace, "template": template},
        "params": TenantParams.model_validate(merged_params).model_dump(by_alias=True),
        "vars": Probe(symbols, ("vars",)),
        "secrets": Probe(symbols, ("secrets",)),
    }
    problem = overrides.problem
    try:
        skel = overrides.skeleton(context)
    except Exception as exc:  # template code is user code: any failure is possible
        skel, problem = {}, f"{type(exc).__name__}: {exc}"
    bindings = _Bindings()
    _match(skel.get("metadata") or {}, metadata, symbols.paths, bindings)
    for kind in ITEM_KEYS:
        _match_items(kind, skel, base, live, symbols.paths, bindings)
    values = _values(bindings, symbols)
    refs = _secret_refs(name, values, skel, symbols.paths)
    variables = _nest({p[1:]: v for p, v in values.items() if p[0] == "vars" and len(p) > 1})
    document = _document(
        {"name": name, "workspace": workspace, "template": template},
        params,
        variables,
        refs,
        defaults,
        grants,
    )
    known = {p[:2] for p in values} | set(symbols.defaulted)
    seen = {p[:2] for p in symbols.paths if len(p) >= 2 and STAR not in p[:2]}
    unbound = sorted(".".join(map(str, p)) for p in seen - known)
    return Inferred(document, tuple(refs), tuple(unbound), problem)


def _document(
    identity: Mapping[str, str],
    params: Mapping[str, Any],
    variables: Mapping[str, Any],
    refs: Sequence[SecretRef],
    defaults: Mapping[str, Any],
    grants: Sequence[RoleGrant] | None,
) -> dict[str, Any]:
    """The tenant file: what ``defaults`` already says is left out."""
    document: dict[str, Any] = {"name": identity["name"], "workspace": identity["workspace"]}
    if defaults.get("template") != identity["template"]:
        document["template"] = identity["template"]
    camel = TenantParams.model_validate(params).model_dump(by_alias=True, exclude_none=True)
    sections = {
        "params": _without_defaults(camel, defaults.get("params")),
        "vars": _without_defaults(variables, defaults.get("vars")),
        "secrets": {r.key: f"${{env:{r.env}}}" for r in refs},
    }
    document.update({k: v for k, v in sections.items() if v})
    if grants is not None:
        document["roles"] = _roles(grants)
    return document


def _default_params(defaults: Mapping[str, Any]) -> dict[str, Any]:
    raw = defaults.get("params")
    if not isinstance(raw, Mapping):
        return {}
    try:
        return TenantParams.model_validate(raw).model_dump(exclude_none=True)
    except ValidationError:
        return {}

"""Symbolic rendering of an overrides template: the unknown values print as path markers.

Pure. Every ``vars.…`` and ``secrets.…`` value is a :class:`Probe`; rendering the
overrides with probes gives a skeleton of the model with a marker (``\\ue000N\\ue001``,
``N`` the path's index in :attr:`Symbols.paths`) wherever a tenant value goes. A loop
over a probe runs once, with the path component :data:`STAR` for "each element", and
``default(...)`` notes the fallback it would give. :mod:`tenantops.core.infer` matches
the skeleton against a live model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2.filters import do_default
from ruamel.yaml import YAML

from tenantops.core.render import make_environment

__all__ = ["MARK", "STAR", "Probe", "SymbolicTemplate", "Symbols", "VarPath"]

#: A path into the template's values: ("vars", "faqs", STAR, "name").
VarPath = tuple[str | int, ...]
#: The path component of "each element" of a list the template loops over.
STAR = "*"
#: A marker in rendered text; its group is the path's index.
MARK = re.compile("\ue000(\\d+)\ue001")
_SAFE = YAML(typ="safe")


class Symbols:
    """What a symbolic render saw: the marker of each path, defaulted and looped paths."""

    def __init__(self) -> None:
        self.paths: list[VarPath] = []
        self._index: dict[VarPath, int] = {}
        #: Paths passed through ``default(...)``, with the value it would give.
        self.defaulted: dict[VarPath, Any] = {}
        self.looped: set[VarPath] = set()

    def marker(self, path: VarPath) -> str:
        if path not in self._index:
            self._index[path] = len(self.paths)
            self.paths.append(path)
        return f"\ue000{self._index[path]}\ue001"


class Probe:
    """A template value whose content is unknown: prints as a marker naming its path.

    Any attribute or item is a deeper probe; iterating gives one probe for "each element".
    """

    __slots__ = ("_path", "_symbols")

    def __init__(self, symbols: Symbols, path: VarPath) -> None:
        self._symbols = symbols
        self._path = path

    def __getattr__(self, name: str) -> Probe:
        if name.startswith("_"):
            raise AttributeError(name)
        return Probe(self._symbols, (*self._path, name))

    def __getitem__(self, key: str | int) -> Probe:
        return Probe(self._symbols, (*self._path, key))

    def __iter__(self) -> Iterator[Probe]:
        self._symbols.looped.add(self._path)
        return iter([Probe(self._symbols, (*self._path, STAR))])

    def __len__(self) -> int:
        return 1

    def __bool__(self) -> bool:
        return True

    def __str__(self) -> str:
        return self._symbols.marker(self._path)

    def __add__(self, other: object) -> str:
        return f"{self}{other}"

    def __radd__(self, other: object) -> str:
        return f"{other}{self}"


def _plain(value: Any) -> Any:
    if isinstance(value, Probe):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _default(value: Any, *args: Any, **kwargs: Any) -> Any:
    """Jinja's ``default``, noting which probes passed through it and with what default."""
    if isinstance(value, Probe):
        fallback = args[0] if args else kwargs.get("default_value", "")
        value._symbols.defaulted[value._path] = fallback
        return value
    return do_default(value, *args, **kwargs)


def _tojson(value: Any) -> str:
    return json.dumps(_plain(value), ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True, slots=True)
class SymbolicTemplate:
    """An overrides template compiled for symbolic rendering: compile once, infer many.

    Attributes:
        template: the compiled template, or ``None`` when it does not compile.
        problem: why it does not compile.
    """

    template: jinja2.Template | None
    problem: str | None = None

    @classmethod
    def from_source(cls, source: str) -> SymbolicTemplate:
        """Compile the overrides template text ``source``."""
        env = make_environment(jinja2.DictLoader({}))
        env.filters["default"] = env.filters["d"] = _default
        env.filters["tojson"] = _tojson
        try:
            return cls(env.from_string(source))
        except jinja2.TemplateError as exc:
            return cls(None, f"{type(exc).__name__}: {exc}")

    def skeleton(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """The overrides rendered with ``context`` (probes for unknown values), parsed."""
        if self.template is None:
            return {}
        data = _SAFE.load(self.template.render(context))
        return data if isinstance(data, dict) else {}

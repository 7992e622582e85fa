"""The package's import graph: no cycles, and every layer imports only the layers below it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tenantops"

#: What each package may import from tenantops (besides itself and the shared modules).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "config": {"core"},
    "backends": {"core"},
    "pipeline": {"core", "config", "backends", "report"},
    "apply": {"core", "config", "backends", "pipeline", "report"},
    "relay": {"core", "config", "backends"},
    "report": {"core"},
    "servers": {"core", "config", "backends", "pipeline", "apply", "report", "relay"},
    "cli": {"core", "config", "backends", "pipeline", "apply", "report", "relay", "servers"},
}
#: Modules every layer may use: the error tree and small shared mechanisms.
SHARED = {"errors", "durable", "polling", "redis_errors", "_pb", "__init__", "__main__"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST, *, top_level_only: bool) -> Iterator[str]:
    """tenantops modules imported; with ``top_level_only``, not inside functions or TYPE_CHECKING."""
    for node in _top_level(tree) if top_level_only else _runtime_nodes(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tenantops"):
            # ``from pkg import submodule`` depends on the submodule, not on pkg's other names.
            submodules = [f"{node.module}.{a.name}" for a in node.names]
            yield from submodules
            if not all(_is_module(m) for m in submodules):
                yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("tenantops"))


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node that runs (function bodies too), skipping ``if TYPE_CHECKING:`` blocks."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        yield node
        yield from _runtime_nodes(node)


def _top_level(tree: ast.AST) -> Iterator[ast.AST]:
    for node in getattr(tree, "body", []):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        yield node
        if isinstance(node, ast.Try | ast.If):
            yield from _top_level(node)


def _graph(*, top_level_only: bool) -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "_pb" not in p.parts}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = _imports(ast.parse(path.read_text()), top_level_only=top_level_only)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle() -> None:
    """Module-level imports form no cycle (a cycle breaks imports in some orders)."""
    assert _cycle(_graph(top_level_only=True)) is None


def test_cycle_detector_finds_a_cycle() -> None:
    """The detector itself sees a three-module cycle."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_layers_below(layer: str) -> None:
    """Each package imports only what its layer may: flows read top-down, never back up."""
    graph = _graph(top_level_only=False)
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if _layer(module) == layer
        for target in targets
        if _layer(target) not in ALLOWED[layer] | SHARED | {layer}
    )
    assert wrong == []

"""Which tenants a run covers: named ones, those changed since a git ref, one shard.

Reads git (a subprocess) for ``--changed-since``; everything else is pure.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from tenantops import config as cfg
from tenantops.errors import ConfigError, TenantOpsError, ValidationFailed

__all__ = ["changed_since", "in_shard", "parse_shard"]


def parse_shard(text: str) -> tuple[int, int]:
    """``I/N`` (1-based, like CI_NODE_INDEX/CI_NODE_TOTAL) as ``(i, n)``.

    Raises:
        ValueError: not of the form I/N with 1 <= I <= N.
    """
    try:
        i, n = (int(part) for part in text.split("/"))
    except ValueError as exc:
        raise ValueError(f"--shard {text!r} is not I/N, e.g. 1/4") from exc
    if not 1 <= i <= n:
        raise ValueError(f"--shard {text!r}: I must be between 1 and N")
    return i, n


def in_shard(name: str, shard: tuple[int, int]) -> bool:
    """Whether tenant ``name`` belongs to shard ``(i, n)``: stable across runs and machines."""
    i, n = shard
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    return digest % n == i - 1


def _git(root: Path, *args: str) -> list[str]:
    try:
        out = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=60
        )
    except FileNotFoundError as exc:
        raise TenantOpsError("--changed-since needs git on PATH") from exc
    except subprocess.CalledProcessError as exc:
        raise TenantOpsError(f"git {' '.join(args)} failed: {exc.stderr.strip()}") from exc
    return [line for line in out.stdout.splitlines() if line]


def changed_since(project: cfg.Project, ref: str, paths: Sequence[Path]) -> list[Path]:
    """The tenant files among ``paths`` whose file, template or tenantops.yaml changed since ``ref``.

    Compares ``ref`` with the working tree (committed, staged and unstaged changes,
    and new untracked files), so it works on a pull-request checkout and locally.
    A tenant whose file cannot be loaded counts as changed: planning it reports why.
    """
    root = project.root.resolve()
    top = Path(_git(root, "rev-parse", "--show-toplevel")[0])
    changed = {
        (top / p).resolve()
        for p in _git(root, "diff", "--name-only", ref, "--", ".")
        + _git(root, "ls-files", "--others", "--exclude-standard", "--full-name", "--", ".")
    }
    if (root / cfg.CONFIG_FILE).resolve() in changed:
        return list(paths)
    templates = {
        p.relative_to(root / "templates").parts[0]
        for p in changed
        if p.is_relative_to(root / "templates") and len(p.relative_to(root / "templates").parts) > 1
    }
    return [p for p in paths if p.resolve() in changed or _template_of(project, p) in templates]


def _template_of(project: cfg.Project, path: Path) -> str | None:
    try:
        return cfg.load_tenant(project, path).template
    except (ConfigError, ValidationFailed):
        return None


def select(paths: Iterable[Path], shard: tuple[int, int] | None) -> list[Path]:
    """``paths`` restricted to ``shard`` (all of them without one)."""
    return [p for p in paths if shard is None or in_shard(p.stem, shard)]

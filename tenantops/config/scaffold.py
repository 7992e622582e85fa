"""The files of a new config repo, and writing them: what ``tenantops init`` does.

The files are package data under ``tenantops/scaffold_files/``, laid out as in the new
repo except that a path part ``dot-NAME`` becomes ``.NAME`` (setuptools' package-data
globs skip dotfiles, and ``.github/`` and ``.gitignore`` are dotfiles). The CI files
among them are copies of ``examples/ci/`` (:data:`CI_EXAMPLES`; a test keeps them
equal). This module never overwrites a file unless told to, and knows nothing of click.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath

from tenantops.errors import TenantOpsError

__all__ = [
    "CI_EXAMPLES",
    "ScaffoldFile",
    "existing_files",
    "scaffold_files",
    "write_scaffold",
]

#: Each CI file a new repo gets -> the file under ``examples/ci/`` it is a copy of.
CI_EXAMPLES: Mapping[str, str] = {
    ".github/workflows/tenantops-plan.yml": "github/plan.yml",
    ".github/workflows/tenantops-apply.yml": "github/apply.yml",
    ".github/workflows/tenantops-drift.yml": "github/drift.yml",
    ".gitlab-ci.yml": "gitlab/.gitlab-ci.yml",
    ".pre-commit-config.yaml": "pre-commit/.pre-commit-config.yaml",
}

_DATA_DIR = "scaffold_files"
_DOT = "dot-"


@dataclass(frozen=True, slots=True)
class ScaffoldFile:
    """One file of a new config repo: its path in the repo and its bytes."""

    path: PurePosixPath
    content: bytes


def _walk(node: Traversable, prefix: PurePosixPath) -> Iterator[ScaffoldFile]:
    for child in node.iterdir():
        name = "." + child.name.removeprefix(_DOT) if child.name.startswith(_DOT) else child.name
        if child.is_dir():
            yield from _walk(child, prefix / name)
        elif child.is_file():
            yield ScaffoldFile(prefix / name, child.read_bytes())


def scaffold_files() -> list[ScaffoldFile]:
    """Every file of a new config repo, sorted by path.

    Returns:
        ``tenantops.yaml``, ``templates/default/*``, ``tenants/example.yaml``,
        ``.gitignore`` and the CI files of :data:`CI_EXAMPLES`.
    """
    return sorted(_walk(files("tenantops") / _DATA_DIR, PurePosixPath()), key=lambda f: f.path)


def existing_files(
    root: Path, scaffold: Sequence[ScaffoldFile] | None = None
) -> list[PurePosixPath]:
    """The scaffold paths that already exist under ``root`` (what ``init`` would overwrite)."""
    return [f.path for f in scaffold or scaffold_files() if (root / f.path).exists()]


def write_scaffold(root: Path, *, force: bool = False) -> list[PurePosixPath]:
    """Write a new config repo into ``root`` (created if missing).

    Args:
        root: the folder of the new config repo.
        force: overwrite files that exist; without it, nothing is written if any does.

    Returns:
        The paths written, relative to ``root``, sorted.

    Raises:
        TenantOpsError: a file exists and ``force`` is false (nothing was written), or a
            file could not be written.
    """
    scaffold = scaffold_files()
    existing = existing_files(root, scaffold)
    if existing and not force:
        names = ", ".join(str(p) for p in existing[:3])
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        raise TenantOpsError(
            f"{root} already has {names}{more}: nothing written; pass --force to overwrite"
        )
    for file in scaffold:
        target = root / file.path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(file.content)
        except OSError as exc:
            raise TenantOpsError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return [f.path for f in scaffold]

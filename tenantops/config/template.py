"""``templates/<name>/``: a template's spec, and the content hash of its folder."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from tenantops.config.project import Project
from tenantops.config.source import (
    pydantic_errors,
    read_yaml,
)
from tenantops.core.model import TemplateSpec
from tenantops.errors import ValidationFailed

__all__ = ["load_template_spec", "template_sha256"]


def load_template_spec(project: Project, name: str) -> tuple[TemplateSpec, Path]:
    """Load ``templates/<name>/template.yaml``; returns the spec and the template folder.

    Raises:
        ConfigError / ValidationFailed: with file and line.
    """
    folder = project.templates_dir / name
    source = read_yaml(folder / "template.yaml", display=project.display(folder / "template.yaml"))
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


def template_sha256(folder: Path) -> str:
    """SHA-256 over every file of a template folder, names included: its content version."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()

"""A template's JSON Schema (draft 2020-12): compile it once, check rendered models.

Pure. Owns the translation of jsonschema errors into
:class:`~tenantops.errors.SchemaError`, each with the JSON pointer of the failing value.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError as _JsonSchemaSchemaError

from tenantops.errors import SchemaError

__all__ = ["ModelSchema"]


def _pointer(parts: Any) -> str:
    return "".join(f"/{str(p).replace('~', '~0').replace('/', '~1')}" for p in parts) or "/"


class ModelSchema:
    """A compiled JSON Schema that rendered bot models must pass."""

    def __init__(self, schema: Mapping[str, Any], *, path: Path) -> None:
        """Compile ``schema``.

        Raises:
            SchemaError: the schema itself is not valid draft 2020-12.
        """
        try:
            Draft202012Validator.check_schema(schema)
        except _JsonSchemaSchemaError as exc:
            raise SchemaError(
                f"not a valid JSON Schema (draft 2020-12): {exc.message}",
                path=path,
                pointer=_pointer(exc.absolute_path),
            ) from exc
        self.path = path
        self._validator = Draft202012Validator(schema)

    def check(self, model: Mapping[str, Any], *, tenant: str | None = None) -> list[SchemaError]:
        """Every way ``model`` breaks the schema, ordered by pointer; empty when it passes."""
        errors = sorted(
            self._validator.iter_errors(model), key=lambda e: list(map(str, e.absolute_path))
        )
        return [
            SchemaError(
                f"rendered model fails the schema at {_pointer(e.absolute_path)}: {e.message}",
                path=self.path,
                pointer=_pointer(e.absolute_path),
                tenant=tenant,
            )
            for e in errors
        ]

"""Batch ``PATCH`` of a collection: ``{operations: [{op, id?, value?}]}`` -> ``{created, updated, deleted}``.

:func:`plan_batch` checks every operation before any is applied (a value that does not
validate, a missing ``id`` or an unknown one answers 400/404 and changes nothing);
routes then apply the plan in order and :func:`record` each result. Operations other
than ``create`` and ``delete`` (``update``, ``addKeyphrase``, ``removeKeyphrase``)
report the id they changed under ``updated``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from tenantops.servers.sim.cognigy_v2._problems import Problem, invalid

__all__ = ["Operation", "Planned", "empty_result", "plan_batch", "record"]


class Operation(Protocol):
    """One operation of a batch body."""

    @property
    def op(self) -> str: ...

    @property
    def id(self) -> str | None: ...

    @property
    def value(self) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class Planned:
    """A checked operation: its kind, target id (``None`` for a create) and parsed value."""

    op: str
    id: str | None
    value: BaseModel | None


def _bad_value(exc: ValidationError, index: int) -> Problem:
    first = exc.errors()[0]
    where = "/".join(str(part) for part in first["loc"])
    missing = first["type"] == "missing"
    return invalid(f"operations/{index}/value/{where}: {first['msg']}", missing=missing)


def plan_batch(
    operations: Sequence[Operation],
    models: Mapping[str, type[BaseModel] | None],
    check_id: Callable[[str], object],
    *,
    prepare: Callable[[str, dict[str, Any]], dict[str, Any]] = lambda op, value: value,
) -> list[Planned]:
    """Check every operation of a batch.

    Args:
        operations: the body's operations.
        models: the value model of each operation kind (``None``: no value).
        check_id: raises the route's 400/404 for an id that is not in the collection.
        prepare: adjusts a raw value before validation (to drop what Cognigy ignores).

    Returns:
        The operations, parsed, in order.

    Raises:
        Problem: 400 for an invalid value or a missing id, or what ``check_id`` raises.
    """
    planned = []
    for index, operation in enumerate(operations):
        model = models[operation.op]
        value = None
        if model is not None:
            try:
                value = model.model_validate(prepare(operation.op, dict(operation.value or {})))
            except ValidationError as exc:
                raise _bad_value(exc, index) from exc
        if operation.op != "create":
            if operation.id is None:
                raise invalid(f"operations/{index}/id is required for {operation.op}", missing=True)
            check_id(operation.id)
        planned.append(Planned(operation.op, operation.id, value))
    return planned


def empty_result() -> dict[str, list[str]]:
    """``{"created": [], "updated": [], "deleted": []}``."""
    return {"created": [], "updated": [], "deleted": []}


def record(result: dict[str, list[str]], op: str, doc_id: str) -> None:
    """Note one applied operation's id under its result key."""
    key = {"create": "created", "delete": "deleted"}.get(op, "updated")
    if doc_id not in result[key]:
        result[key].append(doc_id)

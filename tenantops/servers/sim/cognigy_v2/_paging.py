"""List answers: the ``{items, total, nextCursor, previousCursor}`` envelope and its paging.

Every ``GET`` of a collection takes ``limit`` (1..100, default 25), ``skip``, ``next``
and ``previous`` (cursors: the 24-hex ``_id`` of the last / first item of a page),
``sort`` (``field:asc|desc``) and ``filter`` (a case-insensitive substring of the
collection's name field). ``total`` counts every item the filter keeps. A cursor whose
item was deleted meanwhile still works when the order is by ``_id`` or ``createdAt``
(ids sort in creation order); under another order it answers 400 (code 1005).

This module owns paging only; routes decide what the collection holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query

from tenantops.servers.sim.cognigy_v2._problems import invalid
from tenantops.servers.sim.cognigy_v2._store import Doc, public

__all__ = ["Page", "PageDep", "envelope"]

_CURSOR = r"^[0-9a-f]{24}$"
_ID_ORDERED = frozenset({"_id", "createdAt"})


@dataclass(frozen=True, slots=True)
class Page:
    """One list request's paging parameters."""

    limit: int = 25
    skip: int = 0
    next: str | None = None
    previous: str | None = None
    sort: str | None = None
    filter: str | None = None


def _page(
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    skip: Annotated[int, Query(ge=0)] = 0,
    next: Annotated[str | None, Query(pattern=_CURSOR)] = None,
    previous: Annotated[str | None, Query(pattern=_CURSOR)] = None,
    sort: Annotated[str | None, Query(min_length=1)] = None,
    filter: Annotated[str | None, Query()] = None,
) -> Page:
    return Page(limit, skip, next, previous, sort, filter)


#: A route parameter that receives the request's :class:`Page`.
PageDep = Annotated[Page, Depends(_page)]


def _sort_key(field: str) -> Callable[[Doc], tuple[Any, ...]]:
    def key(doc: Doc) -> tuple[Any, ...]:
        value = doc.get(field)
        if isinstance(value, bool | int | float):
            rank: tuple[int, Any] = (0, value)
        elif value is None:
            rank = (2, "")
        else:
            rank = (1, str(value).lower())
        return (rank, str(doc["_id"]))

    return key


def _parse_sort(sort: str | None, default: str) -> tuple[str, bool]:
    field, _, direction = (sort or default).partition(":")
    direction = direction or "asc"
    if not field or direction not in ("asc", "desc"):
        raise invalid(f"sort {sort!r} is not <field>:asc or <field>:desc")
    return field, direction == "desc"


def _locate(rows: Sequence[Doc], cursor: str, field: str, descending: bool) -> tuple[int, bool]:
    """Where the cursor's item is, and whether it is still there.

    A deleted item's place is found by id, which only works for orders that follow ids.
    """
    for index, doc in enumerate(rows):
        if doc["_id"] == cursor:
            return index, True
    if field not in _ID_ORDERED:
        raise invalid(f"cursor {cursor!r} no longer points into this list; start again")
    for index, doc in enumerate(rows):
        if (doc["_id"] < cursor) if descending else (doc["_id"] > cursor):
            return index, False
    return len(rows), False


def envelope(
    docs: Sequence[Doc],
    page: Page,
    *,
    filter_fields: Sequence[str] = ("name",),
    default_sort: str = "_id:asc",
    render: Callable[[Doc], Doc] = public,
) -> dict[str, Any]:
    """One page of ``docs`` in Cognigy's list envelope.

    Args:
        docs: the whole collection.
        page: the request's paging parameters.
        filter_fields: fields ``filter`` is matched against.
        default_sort: the order without ``sort``.
        render: turns a stored document into its answer.

    Returns:
        ``{"items", "total", "nextCursor", "previousCursor"}``; cursors are ``None``
        at either end.

    Raises:
        Problem: 400 for a malformed ``sort`` or a stale cursor.
    """
    rows = list(docs)
    if page.filter:
        needle = page.filter.lower()
        rows = [d for d in rows if any(needle in str(d.get(f, "")).lower() for f in filter_fields)]
    field, descending = _parse_sort(page.sort, default_sort)
    rows.sort(key=_sort_key(field), reverse=descending)
    if page.previous is not None:
        end, _ = _locate(rows, page.previous, field, descending)
        start = max(0, end - page.limit)
    else:
        start = 0
        if page.next is not None:
            index, found = _locate(rows, page.next, field, descending)
            start = index + 1 if found else index
        start += page.skip
        end = start + page.limit
    items = rows[start:end]
    has_more = end < len(rows)
    return {
        "items": [render(d) for d in items],
        "total": len(rows),
        "nextCursor": items[-1]["_id"] if items and has_more else None,
        "previousCursor": items[0]["_id"] if items and start > 0 else None,
    }

"""Keyset pagination over SQLAlchemy selects."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from api.pagination_cursor import MAX_KEY, decode_key_cursor  # noqa: F401  (MAX_KEY: re-exported)
from api.schemas.base import encode_cursor


@dataclass
class Page:
    items: Sequence[Any]  # ORM entities, or row mappings where a page is read as Core rows
    next_cursor: str | None
    count: int | None = None


def keyset_page(
    session: Session,
    stmt: Select[Any],
    *,
    key: InstrumentedAttribute[int],
    limit: int,
    cursor: str | None,
    descending: bool = False,
    count_total: bool = False,
) -> Page:
    """One page of ORM entities from `stmt`, ordered by the unique integer column `key`, after `cursor`.

    With `count_total`, the total of `stmt` (ignoring the cursor) rides along in the same query as a
    scalar subquery, so a page costs one round trip; only an empty page needs a second query for it.
    """
    total_stmt = select(func.count()).select_from(stmt.order_by(None).subquery()) if count_total else None
    if cursor:
        (last,) = decode_key_cursor(cursor)
        stmt = stmt.where(key < last if descending else key > last)
    if total_stmt is not None:
        stmt = stmt.add_columns(total_stmt.scalar_subquery().label("total"))
    rows = session.execute(stmt.order_by(key.desc() if descending else key.asc()).limit(limit + 1)).all()
    count = None
    if total_stmt is not None:
        count = rows[0].total if rows else session.scalar(total_stmt)
    items = [row[0] for row in rows]
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        next_cursor = encode_cursor([getattr(items[-1], key.key)])
    return Page(items=items, next_cursor=next_cursor, count=count)

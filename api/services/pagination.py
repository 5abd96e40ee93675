"""Keyset pagination over SQLAlchemy selects."""

from dataclasses import dataclass

from sqlalchemy import func, select

from api.schemas.base import decode_cursor, encode_cursor


@dataclass
class Page:
    items: list
    next_cursor: str | None
    count: int | None = None


def keyset_page(session, stmt, *, key, limit, cursor, descending=False, with_count=False):
    """One page of `stmt` ordered by the unique column `key`, continuing after `cursor`."""
    count = None
    if with_count:
        count = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    if cursor:
        (last,) = decode_cursor(cursor, size=1)
        if not isinstance(last, int):
            from marshmallow import ValidationError

            raise ValidationError({"cursor": ["Invalid cursor."]})
        stmt = stmt.where(key < last if descending else key > last)
    stmt = stmt.order_by(key.desc() if descending else key.asc()).limit(limit + 1)
    rows = list(session.scalars(stmt))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([getattr(rows[-1], key.key)])
    return Page(items=rows, next_cursor=next_cursor, count=count)

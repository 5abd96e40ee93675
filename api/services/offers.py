"""Job offers: owner-only writes, anyone authenticated reads."""

from typing import Any

from sqlalchemy import Integer, bindparam, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from api.errors import Forbidden, NotFound, ValidationFailed
from api.models.base import contains_pattern, utcnow
from api.models.offers import Offer
from api.models.users import User
from api.pagination_cursor import decode_key_cursor
from api.schemas.base import encode_cursor
from api.services.pagination import Page, keyset_page
from api.services.users import get_user

# The hot list as Core statements built once: rows, not ORM objects (nothing is changed through them), and one
# statement object per shape, so SQLAlchemy computes its cache key once per process instead of on every request.
_offers = Offer.__table__
_user_total = select(func.count()).where(_offers.c.user_id == bindparam("user_id")).scalar_subquery()
_USER_PAGE = (
    select(*_offers.c, _user_total.label("total"))
    .where(_offers.c.user_id == bindparam("user_id"))
    .order_by(_offers.c.id)
    .limit(bindparam("limit", type_=Integer))
)
_USER_PAGE_AFTER = _USER_PAGE.where(_offers.c.id > bindparam("after", type_=Integer))
_USER_TOTAL = select(func.count()).where(_offers.c.user_id == bindparam("user_id"))


def _ensure_owner(*, actor: User, user_id: int) -> None:
    if actor.id != user_id:
        raise Forbidden("Only the owner may change these offers.")


def list_user_offers(*, session: Session, user_id: int, limit: int, cursor: str | None) -> Page:
    """A user's offers, oldest first, with the total count (in the same round trip); items are row mappings."""
    params: dict[str, Any] = {"user_id": user_id, "limit": limit + 1}
    if cursor:
        (params["after"],) = decode_key_cursor(cursor)
    connection = session.connection()
    rows = connection.execute(_USER_PAGE_AFTER if cursor else _USER_PAGE, params).mappings().all()
    if not rows:
        # Offers imply their owner exists (foreign key); only an empty page must tell "no offers" from "no user".
        get_user(session=session, user_id=user_id)
        return Page(items=[], next_cursor=None, count=connection.execute(_USER_TOTAL, params).scalar_one())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1]["id"]])
    return Page(items=rows, next_cursor=next_cursor, count=rows[0]["total"])


def get_offer(*, session: Session, user_id: int, offer_id: int) -> Offer:
    """One offer under a user, or 404."""
    get_user(session=session, user_id=user_id)
    offer = session.scalar(select(Offer).where(Offer.id == offer_id, Offer.user_id == user_id))
    if offer is None:
        raise NotFound(f"Offer {offer_id} not found.")
    return offer


def create_offer(*, session: Session, actor: User, user_id: int, data: dict[str, Any]) -> Offer:
    """Create an offer under the caller's own user id."""
    get_user(session=session, user_id=user_id)
    _ensure_owner(actor=actor, user_id=user_id)
    offer = Offer(user_id=user_id, **data)
    session.add(offer)
    session.commit()
    return offer


def update_offer(*, session: Session, actor: User, user_id: int, offer_id: int, data: dict[str, Any]) -> Offer:
    """Partially update an offer; only the owner may."""
    offer = get_offer(session=session, user_id=user_id, offer_id=offer_id)
    _ensure_owner(actor=actor, user_id=user_id)
    if not data:
        raise ValidationFailed(
            "Send at least one field to change.", errors={"_schema": ["Send at least one of: title, description, skills_list."]}
        )
    for name, value in data.items():
        setattr(offer, name, value)
    offer.modification_date = max(utcnow(), offer.modification_date)
    session.commit()
    return offer


def delete_offer(*, session: Session, actor: User, user_id: int, offer_id: int) -> int:
    """Delete an offer; only the owner may."""
    offer = get_offer(session=session, user_id=user_id, offer_id=offer_id)
    _ensure_owner(actor=actor, user_id=user_id)
    session.delete(offer)
    session.commit()
    return offer_id


def search_offers(*, session: Session, skill: str | None = None, q: str | None = None, limit: int, cursor: str | None) -> Page:
    """Offers of every user, filtered by skill (case-insensitive) and text, oldest first."""
    stmt = select(Offer)
    if skill:
        skill_value = func.unnest(Offer.skills_list).table_valued("value").render_derived()
        stmt = stmt.where(
            exists(select(literal(1)).select_from(skill_value).where(func.lower(skill_value.c.value) == skill.lower()))
        )
    if q:
        pattern = contains_pattern(q)
        stmt = stmt.where(or_(Offer.title.ilike(pattern, escape="\\"), Offer.description.ilike(pattern, escape="\\")))
    return keyset_page(session, stmt, key=Offer.id, limit=limit, cursor=cursor, count_total=True)

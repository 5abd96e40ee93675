"""Job offers: owner-only writes, anyone authenticated reads."""

from sqlalchemy import exists, func, literal, or_, select

from api.errors import Forbidden, NotFound, ValidationFailed
from api.models.base import contains_pattern, utcnow
from api.models.offers import Offer
from api.services.pagination import keyset_page
from api.services.users import get_user


def _ensure_owner(*, actor, user_id):
    if actor.id != user_id:
        raise Forbidden("Only the owner may change these offers.")


def list_user_offers(*, session, user_id, limit, cursor):
    """A user's offers, oldest first, with the total count."""
    stmt = select(Offer).where(Offer.user_id == user_id)
    page = keyset_page(session, stmt, key=Offer.id, limit=limit, cursor=cursor, count_total=True)
    if not page.items:
        # Offers imply their owner exists (foreign key); only an empty page must tell "no offers" from "no user".
        get_user(session=session, user_id=user_id)
    return page


def get_offer(*, session, user_id, offer_id):
    """One offer under a user, or 404."""
    get_user(session=session, user_id=user_id)
    offer = session.scalar(select(Offer).where(Offer.id == offer_id, Offer.user_id == user_id))
    if offer is None:
        raise NotFound(f"Offer {offer_id} not found.")
    return offer


def create_offer(*, session, actor, user_id, data):
    """Create an offer under the caller's own user id."""
    get_user(session=session, user_id=user_id)
    _ensure_owner(actor=actor, user_id=user_id)
    offer = Offer(user_id=user_id, **data)
    session.add(offer)
    session.commit()
    return offer


def update_offer(*, session, actor, user_id, offer_id, data):
    """Partially update an offer; only the owner may."""
    offer = get_offer(session=session, user_id=user_id, offer_id=offer_id)
    _ensure_owner(actor=actor, user_id=user_id)
    if not data:
        raise ValidationFailed("Send at least one field to change.",
                               errors={"_schema": ["Send at least one of: title, description, skills_list."]})
    for name, value in data.items():
        setattr(offer, name, value)
    offer.modification_date = max(utcnow(), offer.modification_date)
    session.commit()
    return offer


def delete_offer(*, session, actor, user_id, offer_id):
    """Delete an offer; only the owner may."""
    offer = get_offer(session=session, user_id=user_id, offer_id=offer_id)
    _ensure_owner(actor=actor, user_id=user_id)
    session.delete(offer)
    session.commit()
    return offer_id



def search_offers(*, session, skill=None, q=None, limit, cursor):
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

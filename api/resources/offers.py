"""Namespace `offers`: job offers under their owner, and a search across all users."""

from flask_restx import Resource

from api.auth import current_user
from api.extensions import db
from api.resources.helpers import ApiNamespace
from api.schemas.base import message_schema
from api.schemas.offers import offer_list_schema, offer_schema, offer_search_query_schema, update_offer_schema
from api.services import offers as offers_service

ns = ApiNamespace(
    "offers",
    description="Job offers (any authenticated user reads; only the owner writes)",
    path="/",
    path_params={"user_id": "the owner's user id", "offer_id": "the offer's id"},
)


@ns.route("/users/<int:user_id>/offers/")
class OfferList(Resource):
    @ns.paginated(offer_schema, "offers", "The user's offers, oldest first", envelope=offer_list_schema)
    @ns.errors(404)
    def get(self, user_id, query):
        """List a user's offers."""
        return offers_service.list_user_offers(session=db.session, user_id=user_id, **query)

    @ns.body(offer_schema)
    @ns.returns(offer_schema, 201, "Offer created")
    @ns.errors(403, 404)
    def post(self, user_id, data):
        """Create an offer under your own user id."""
        return offers_service.create_offer(session=db.session, actor=current_user(), user_id=user_id, data=data)


@ns.route("/users/<int:user_id>/offers/<int:offer_id>")
class Offer(Resource):
    @ns.returns(offer_schema, 200, "The offer")
    @ns.errors(404)
    def get(self, user_id, offer_id):
        """Get one offer."""
        return offers_service.get_offer(session=db.session, user_id=user_id, offer_id=offer_id)

    @ns.body(update_offer_schema)
    @ns.returns(offer_schema, 200, "Offer updated")
    @ns.errors(403, 404)
    def put(self, user_id, offer_id, data):
        """Update some fields of your offer."""
        return offers_service.update_offer(
            session=db.session, actor=current_user(), user_id=user_id, offer_id=offer_id, data=data
        )

    @ns.returns(message_schema, 200, "Offer deleted")
    @ns.errors(403, 404)
    def delete(self, user_id, offer_id):
        """Delete your offer."""
        offers_service.delete_offer(session=db.session, actor=current_user(), user_id=user_id, offer_id=offer_id)
        return {"message": f"offer deleted {offer_id}"}


@ns.route("/offers")
class OfferSearch(Resource):
    @ns.paginated(
        offer_schema,
        "offers",
        "Matching offers of every user, oldest first",
        query=offer_search_query_schema,
        envelope=offer_list_schema,
    )
    def get(self, query):
        """Search offers across all users by skill and text."""
        return offers_service.search_offers(session=db.session, **query)

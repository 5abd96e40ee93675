"""Namespace `offers`: job offers under their owner, and a search across all users."""

from flask_restx import Namespace, Resource

from api.auth import auth_required, current_user
from api.extensions import db
from api.resources.helpers import error_responses, load_json, load_query, query_params, schema_model
from api.schemas.base import MessageSchema
from api.schemas.fastdump import fast_dump
from api.schemas.offers import (
    OfferListSchema,
    OfferSchema,
    offer_list_schema,
    offer_schema,
    offer_search_query_schema,
    page_query_schema,
    update_offer_schema,
)
from api.services import offers as offers_service

ns = Namespace("offers", description="Job offers (any authenticated user reads; only the owner writes)", path="/")

offer_model = schema_model(ns, "Offer", OfferSchema, direction="output")
offer_create_model = schema_model(ns, "OfferCreate", OfferSchema, direction="input")
offer_update_model = schema_model(ns, "OfferUpdate", update_offer_schema, min_properties=1, direction="input")
offer_list_model = schema_model(ns, "OfferList", OfferListSchema, direction="output")
message_model = schema_model(ns, "Message", MessageSchema, direction="output")


def _page_body(page):
    return fast_dump(offer_list_schema, {"offers": page.items, "count": page.count, "next_cursor": page.next_cursor})


@ns.route("/users/<int:user_id>/offers/")
@ns.doc(security="jwt", params={"user_id": "the owner's user id"})
class OfferList(Resource):
    method_decorators = [auth_required]

    @ns.doc(params=query_params(page_query_schema))
    @ns.response(200, "The user's offers, oldest first", offer_list_model)
    @error_responses(ns, 400, 401, 404)
    def get(self, user_id):
        """List a user's offers."""
        query = load_query(page_query_schema)
        page = offers_service.list_user_offers(session=db.session, user_id=user_id, **query)
        return _page_body(page)

    @ns.expect(offer_create_model)
    @ns.response(201, "Offer created", offer_model)
    @error_responses(ns, 400, 401, 403, 404, 413, 415)
    def post(self, user_id):
        """Create an offer under your own user id."""
        data = load_json(offer_schema)
        offer = offers_service.create_offer(session=db.session, actor=current_user(), user_id=user_id, data=data)
        return fast_dump(offer_schema, offer), 201


@ns.route("/users/<int:user_id>/offers/<int:offer_id>")
@ns.doc(security="jwt", params={"user_id": "the owner's user id", "offer_id": "the offer's id"})
class Offer(Resource):
    method_decorators = [auth_required]

    @ns.response(200, "The offer", offer_model)
    @error_responses(ns, 401, 404)
    def get(self, user_id, offer_id):
        """Get one offer."""
        return fast_dump(offer_schema, offers_service.get_offer(session=db.session, user_id=user_id, offer_id=offer_id))

    @ns.expect(offer_update_model)
    @ns.response(200, "Offer updated", offer_model)
    @error_responses(ns, 400, 401, 403, 404, 413, 415)
    def put(self, user_id, offer_id):
        """Update some fields of your offer."""
        data = load_json(update_offer_schema)
        offer = offers_service.update_offer(
            session=db.session, actor=current_user(), user_id=user_id, offer_id=offer_id, data=data
        )
        return fast_dump(offer_schema, offer)

    @ns.response(200, "Offer deleted", message_model)
    @error_responses(ns, 401, 403, 404)
    def delete(self, user_id, offer_id):
        """Delete your offer."""
        offers_service.delete_offer(session=db.session, actor=current_user(), user_id=user_id, offer_id=offer_id)
        return {"message": f"offer deleted {offer_id}"}


@ns.route("/offers")
@ns.doc(security="jwt")
class OfferSearch(Resource):
    method_decorators = [auth_required]

    @ns.doc(params=query_params(offer_search_query_schema))
    @ns.response(200, "Matching offers of every user, oldest first", offer_list_model)
    @error_responses(ns, 400, 401)
    def get(self):
        """Search offers across all users by skill and text."""
        query = load_query(offer_search_query_schema)
        return _page_body(offers_service.search_offers(session=db.session, **query))

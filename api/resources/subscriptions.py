"""Namespace `subscriptions`: outbound events POSTed, signed, to your own URLs, and their delivery log."""

from flask_restx import Namespace, Resource

from api.auth import auth_required, current_user
from api.extensions import db
from api.resources.helpers import error_responses, load_json, load_query, query_params, schema_model
from api.schemas.base import MessageSchema
from api.schemas.subscriptions import (
    DeliveryDetailSchema,
    DeliveryListSchema,
    DeliverySchema,
    SubscriptionListSchema,
    SubscriptionSchema,
    delivery_detail_schema,
    delivery_list_schema,
    delivery_schema,
    subscription_list_schema,
    subscription_schema,
    update_subscription_schema,
)
from api.schemas.trackers import page_query_schema
from api.services import subscriptions as subscriptions_service

DESCRIPTION = """Outbound events: the gateway POSTs each event you subscribe to as JSON
`{"id", "type", "created_at", "data"}` to your URL, with the headers `X-Gateway-Event` (the type),
`X-Gateway-Delivery` (a UUID, the same on every retry: deduplicate on it), `X-Gateway-Timestamp` (unix seconds)
and `X-Gateway-Signature: sha256=<hex>`. Verify: compute HMAC-SHA256 keyed with your secret over the bytes
`<X-Gateway-Timestamp>.` followed by the raw request body, compare it in constant time with the hex after `sha256=`,
and reject timestamps more than 5 minutes from your clock (replays). Any 2xx is success; anything else (redirects
included, they are not followed) or no answer within the timeout is retried after 30 s, 2 min, 10 min, 30 min,
1 h, 3 h, 6 h and 12 h, then the delivery is failed. See docs/WEBHOOKS-OUTBOUND.md."""

ns = Namespace("subscriptions", description=DESCRIPTION)

# The secret is write-only: it is in the request models and never in the response ones.
subscription_model = schema_model(ns, "Subscription", SubscriptionSchema, direction="output")
subscription_create_model = schema_model(ns, "SubscriptionCreate", SubscriptionSchema, direction="input")
subscription_update_model = schema_model(ns, "SubscriptionUpdate", update_subscription_schema, min_properties=1,
                                         direction="input")
subscription_list_model = schema_model(ns, "SubscriptionList", SubscriptionListSchema, direction="output")
delivery_model = schema_model(ns, "OutboundDelivery", DeliverySchema, direction="output")
delivery_detail_model = schema_model(ns, "OutboundDeliveryDetail", DeliveryDetailSchema, direction="output")
delivery_list_model = schema_model(ns, "OutboundDeliveryList", DeliveryListSchema, direction="output")
message_model = schema_model(ns, "SubscriptionMessage", MessageSchema, direction="output")


@ns.route("/")
@ns.doc(security="jwt")
class SubscriptionList(Resource):
    method_decorators = [auth_required]

    @ns.doc(params=query_params(page_query_schema))
    @ns.response(200, "Your subscriptions, oldest first", subscription_list_model)
    @error_responses(ns, 400, 401)
    def get(self):
        """List your event subscriptions."""
        page = subscriptions_service.list_subscriptions(session=db.session, owner=current_user(),
                                                        **load_query(page_query_schema))
        return subscription_list_schema.dump({"subscriptions": [subscriptions_service.to_dict(s) for s in page.items],
                                              "next_cursor": page.next_cursor})

    @ns.expect(subscription_create_model)
    @ns.response(201, "Subscription created", subscription_model)
    @error_responses(ns, 400, 401, 413, 415)
    def post(self):
        """Subscribe a URL to events (the URL must pass the outbound URL policy)."""
        subscription = subscriptions_service.create_subscription(session=db.session, owner=current_user(),
                                                                 data=load_json(subscription_schema))
        return subscription_schema.dump(subscriptions_service.to_dict(subscription)), 201


@ns.route("/<int:subscription_id>")
@ns.doc(security="jwt", params={"subscription_id": "the subscription's id"})
class Subscription(Resource):
    method_decorators = [auth_required]

    @ns.response(200, "The subscription", subscription_model)
    @error_responses(ns, 401, 404)
    def get(self, subscription_id):
        """Get one of your subscriptions."""
        subscription = subscriptions_service.get_subscription(session=db.session, owner=current_user(),
                                                              subscription_id=subscription_id)
        return subscription_schema.dump(subscriptions_service.to_dict(subscription))

    @ns.expect(subscription_update_model)
    @ns.response(200, "Subscription updated", subscription_model)
    @error_responses(ns, 400, 401, 404, 413, 415)
    def patch(self, subscription_id):
        """Change a subscription's URL, events, secret or enabled flag."""
        subscription = subscriptions_service.update_subscription(session=db.session, owner=current_user(),
                                                                 subscription_id=subscription_id,
                                                                 data=load_json(update_subscription_schema))
        return subscription_schema.dump(subscriptions_service.to_dict(subscription))

    @ns.response(200, "Subscription deleted", message_model)
    @error_responses(ns, 401, 404)
    def delete(self, subscription_id):
        """Delete a subscription and its delivery log."""
        subscriptions_service.delete_subscription(session=db.session, owner=current_user(), subscription_id=subscription_id)
        return {"message": f"subscription deleted {subscription_id}"}


@ns.route("/<int:subscription_id>/deliveries")
@ns.doc(security="jwt", params={"subscription_id": "the subscription's id"})
class DeliveryList(Resource):
    method_decorators = [auth_required]

    @ns.doc(params=query_params(page_query_schema))
    @ns.response(200, "The subscription's deliveries, newest first", delivery_list_model)
    @error_responses(ns, 400, 401, 404)
    def get(self, subscription_id):
        """List a subscription's deliveries."""
        page = subscriptions_service.list_deliveries(session=db.session, owner=current_user(),
                                                     subscription_id=subscription_id, **load_query(page_query_schema))
        return delivery_list_schema.dump({"deliveries": [subscriptions_service.delivery_to_dict(d) for d in page.items],
                                          "next_cursor": page.next_cursor})


@ns.route("/<int:subscription_id>/deliveries/<string:delivery_id>")
@ns.doc(security="jwt", params={"subscription_id": "the subscription's id", "delivery_id": "the delivery's UUID"})
class Delivery(Resource):
    method_decorators = [auth_required]

    @ns.response(200, "The delivery with its payload and every attempt", delivery_detail_model)
    @error_responses(ns, 401, 404)
    def get(self, subscription_id, delivery_id):
        """Get one delivery and its attempts."""
        delivery = subscriptions_service.get_delivery(session=db.session, owner=current_user(),
                                                      subscription_id=subscription_id, delivery_id=delivery_id)
        attempts = subscriptions_service.list_attempts(session=db.session, delivery=delivery)
        return delivery_detail_schema.dump(subscriptions_service.delivery_to_dict(delivery, attempts=attempts))


@ns.route("/<int:subscription_id>/deliveries/<string:delivery_id>/redeliver")
@ns.doc(security="jwt", params={"subscription_id": "the subscription's id", "delivery_id": "the delivery's UUID"})
class DeliveryRedeliver(Resource):
    method_decorators = [auth_required]

    @ns.response(202, "A new attempt is scheduled now (same delivery id)", delivery_model)
    @error_responses(ns, 401, 404, 409)
    def post(self, subscription_id, delivery_id):
        """Send a delivery again, whatever its status."""
        delivery = subscriptions_service.redeliver(session=db.session, owner=current_user(),
                                                   subscription_id=subscription_id, delivery_id=delivery_id)
        return delivery_schema.dump(subscriptions_service.delivery_to_dict(delivery)), 202

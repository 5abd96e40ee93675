"""Namespace `subscriptions`: outbound events POSTed, signed, to your own URLs, and their delivery log."""

from flask_restx import Resource

from api.resources.helpers import ApiNamespace, for_caller
from api.schemas.subscriptions import delivery_detail_schema, delivery_schema, subscription_schema
from api.services import subscriptions as subscriptions_service

DESCRIPTION = """Outbound events: the gateway POSTs each event you subscribe to as JSON
`{"id", "type", "created_at", "data"}` to your URL, with the headers `X-Gateway-Event` (the type),
`X-Gateway-Delivery` (a UUID, the same on every retry: deduplicate on it), `X-Gateway-Timestamp` (unix seconds)
and `X-Gateway-Signature: sha256=<hex>`. Verify: compute HMAC-SHA256 keyed with your secret over the bytes
`<X-Gateway-Timestamp>.` followed by the raw request body, compare it in constant time with the hex after `sha256=`,
and reject timestamps more than 5 minutes from your clock (replays). Any 2xx is success; anything else (redirects
included, they are not followed) or no answer within the timeout is retried after 30 s, 2 min, 10 min, 30 min,
1 h, 3 h, 6 h and 12 h, then the delivery is failed. See docs/WEBHOOKS-OUTBOUND.md."""

# The secret is write-only: it is in the request models and never in the response ones.
ns = ApiNamespace(
    "subscriptions",
    description=DESCRIPTION,
    path_params={"subscription_id": "the subscription's id", "delivery_id": "the delivery's UUID"},
)


SubscriptionList, Subscription = ns.owned(
    subscription_schema,
    subscriptions_service,
    noun="subscription",
    docs=(
        "List your event subscriptions.",
        "Subscribe a URL to events (the URL must pass the outbound URL policy).",
        "Change a subscription's URL, events, secret or enabled flag.",
        "Delete a subscription and its delivery log.",
    ),
)


@ns.route("/<int:subscription_id>/deliveries")
class DeliveryList(Resource):
    @ns.paginated(delivery_schema, "deliveries", "The subscription's deliveries, newest first")
    @ns.errors(404)
    def get(self, subscription_id, query):
        """List a subscription's deliveries."""
        return for_caller(subscriptions_service.list_deliveries, subscription_id=subscription_id, **query)


@ns.route("/<int:subscription_id>/deliveries/<string:delivery_id>")
class Delivery(Resource):
    @ns.returns(delivery_detail_schema, 200, "The delivery with its payload and every attempt")
    @ns.errors(404)
    def get(self, subscription_id, delivery_id):
        """Get one delivery and its attempts."""
        return for_caller(
            subscriptions_service.get_delivery_with_attempts, subscription_id=subscription_id, delivery_id=delivery_id
        )


@ns.route("/<int:subscription_id>/deliveries/<string:delivery_id>/redeliver")
class DeliveryRedeliver(Resource):
    @ns.returns(delivery_schema, 202, "A new attempt is scheduled now (same delivery id)")
    @ns.errors(404, 409)
    def post(self, subscription_id, delivery_id):
        """Send a delivery again, whatever its status."""
        return for_caller(subscriptions_service.redeliver, subscription_id=subscription_id, delivery_id=delivery_id)

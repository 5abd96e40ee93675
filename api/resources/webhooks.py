"""Namespace `webhooks`: where trackers deliver their events (verified per provider, no JWT)."""

from flask import request
from flask_restx import Resource
from marshmallow import Schema, fields

from api.extensions import db
from api.resources.helpers import ApiNamespace
from api.services import webhooks as webhooks_service

ns = ApiNamespace(
    "webhooks",
    public=True,
    path_params={"tracker_id": "the tracker the webhook was registered for"},
    description="Inbound tracker webhooks, verified by each provider's signature or token. "
    "Answered 202 once stored; processed by a worker.",
)


class DeliveryAcceptedSchema(Schema):
    status = fields.String(metadata={"enum": ["accepted", "duplicate"]})
    delivery_id = fields.Integer()


# Only a path that is no tracker id at all is a 404; an unknown id answers like any other refused delivery.
NOT_AN_ID = "The path segment is not a tracker id (not a whole number)"


@ns.route("/<int:tracker_id>")
class WebhookReceiver(Resource):
    @ns.returns(
        DeliveryAcceptedSchema(),
        202,
        "Stored; it will be processed once (a repeated delivery id or a replayed body: status duplicate)",
    )
    @ns.errors(
        400, 401, 404, 413, descriptions={401: "Signature or secret token does not verify, or no such endpoint", 404: NOT_AN_ID}
    )
    def post(self, tracker_id):
        """Receive a provider's webhook delivery (401 alike for a bad signature, an unknown id or no registration)."""
        return webhooks_service.receive(
            session=db.session, tracker_id=tracker_id, headers=request.headers, body=request.get_data(cache=False)
        )

    @ns.response(
        200,
        "Always, for every id: some trackers check the callback before the hook exists, and the answer "
        "must not tell which tracker ids exist",
    )
    @ns.response(404, NOT_AN_ID)
    def head(self, tracker_id):
        """Answer a tracker's callback check."""
        return None, 200

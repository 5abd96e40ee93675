"""Outbound event subscription and delivery schemas."""

from marshmallow import ValidationError, fields, validate, validates

from api.schemas.base import URL_PATTERN, BaseSchema, IsSet, StrictBoolean, Text, not_blank
from api.trackers.base import EVENT_TYPES

SUBSCRIBABLE_EVENTS = (*EVENT_TYPES, "automation.notify")
ALL_EVENTS = "*"
DELIVERY_STATUSES = ("pending", "succeeded", "failed")


class SubscriptionSchema(BaseSchema):
    id = fields.Integer(dump_only=True)
    url = Text(
        required=True,
        validate=[validate.Length(min=1, max=1000), not_blank],
        metadata={
            "description": "where events are POSTed; https only unless the host is in TRACKER_ALLOWED_HOSTS, "
            "and the host must resolve to public addresses (the outbound URL policy)",
            "pattern": URL_PATTERN,
            "example": "https://hooks.example.com/ticket-gateway",
        },
    )
    events = fields.List(
        Text(validate=validate.OneOf((*SUBSCRIBABLE_EVENTS, ALL_EVENTS))),
        required=True,
        validate=validate.Length(min=1, max=len(SUBSCRIBABLE_EVENTS)),
        metadata={
            "description": f'event types to receive, each at most once, or ["*"] alone for all: {", ".join(SUBSCRIBABLE_EVENTS)}',
            "uniqueItems": True,
            "example": ["issue.created", "comment.created"],
        },
    )
    secret = Text(
        required=True,
        load_only=True,
        validate=validate.Length(min=16, max=256),
        metadata={"description": "write-only; keys the X-Gateway-Signature HMAC"},
    )
    enabled = StrictBoolean(load_default=True)
    has_secret = IsSet(attribute="secret_encrypted", dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)

    @validates("events")
    def _known_events(self, value, **kwargs):
        if ALL_EVENTS in value and len(value) > 1:
            raise ValidationError('"*" already means every event; send it alone.')
        unknown = sorted({name for name in value if name != ALL_EVENTS and name not in SUBSCRIBABLE_EVENTS})
        if unknown:
            raise ValidationError(
                f'Unknown event types: {", ".join(unknown)}. Choose from {", ".join(SUBSCRIBABLE_EVENTS)}, or "*".'
            )
        if len(set(value)) != len(value):
            raise ValidationError("Lists an event type more than once.")


class DeliveryAttemptSchema(BaseSchema):
    id = fields.Integer()
    attempted_at = fields.DateTime()
    status_code = fields.Integer(allow_none=True, metadata={"description": "the receiver's HTTP status, if it answered"})
    error = fields.String(allow_none=True, metadata={"description": "why the attempt failed, if it did"})
    duration_ms = fields.Integer(allow_none=True)


class OutboundDeliverySchema(BaseSchema):
    id = fields.String(metadata={"description": "UUID, sent as X-Gateway-Delivery (the same on every attempt)"})
    subscription_id = fields.Integer()
    event_id = fields.Integer(allow_none=True)
    event_type = fields.String()
    status = fields.String(metadata={"enum": list(DELIVERY_STATUSES)})
    attempts = fields.Integer()
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class OutboundDeliveryDetailSchema(OutboundDeliverySchema):
    payload = fields.Dict(metadata={"description": "the event as sent in the body's `data`"})
    attempt_log = fields.List(fields.Nested(DeliveryAttemptSchema), metadata={"description": "every attempt, oldest first"})


subscription_schema = SubscriptionSchema()
delivery_schema = OutboundDeliverySchema()
delivery_detail_schema = OutboundDeliveryDetailSchema()

"""The normalized event: as listed by the API and sent to subscribers."""

from marshmallow import fields

from api.schemas.base import BaseSchema


class EventSchema(BaseSchema):
    id = fields.Integer()
    type = fields.String()
    tracker_id = fields.Integer()
    issue_id = fields.String(allow_none=True)
    # Stored as JSON when the event happened: the unified Issue and Comment shapes, timestamps as ISO strings.
    issue = fields.Dict(allow_none=True, metadata={"description": "the unified issue (see Issue) at the time of the event"})
    comment = fields.Dict(allow_none=True, metadata={"description": "the unified comment (see Comment), for comment events"})
    changes = fields.Dict()
    chain_depth = fields.Integer(metadata={"description": "0 for outside changes; +1 per automation step"})
    source = fields.String(allow_none=True, metadata={"description": "who saw the change: webhook, poll or gateway"})
    occurred_at = fields.DateTime()


event_schema = EventSchema()

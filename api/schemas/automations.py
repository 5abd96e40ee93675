"""Automation rule and run schemas."""

from marshmallow import ValidationError, fields, validate, validates_schema

from api.schemas.base import BaseSchema, StrictBoolean, Text, not_blank
from api.trackers.base import EVENT_TYPES

ACTION_PARAMS = {
    "create_issue_from_template": ({"template_id"}, {"tracker_id", "variables"}),
    "add_comment": ({"body"}, set()),
    "add_labels": ({"labels"}, set()),
    "set_status": ({"status"}, set()),
    "notify": (set(), {"message"}),
}


class ConditionsSchema(BaseSchema):
    labels_include = fields.List(
        Text(validate=validate.Length(min=1, max=100)),
        load_default=list,
        metadata={"description": "the issue has all of these labels"},
    )
    labels_exclude = fields.List(
        Text(validate=validate.Length(min=1, max=100)),
        load_default=list,
        metadata={"description": "the issue has none of these labels"},
    )
    title_regex = Text(allow_none=True, load_default=None, validate=validate.Length(max=500))
    body_regex = Text(allow_none=True, load_default=None, validate=validate.Length(max=500))
    author = Text(
        allow_none=True,
        load_default=None,
        validate=validate.Length(max=100),
        metadata={"description": "username of the issue's (or, for comment events, the comment's) author"},
    )


class ActionSchema(BaseSchema):
    type = fields.String(required=True, validate=validate.OneOf(sorted(ACTION_PARAMS)))
    template_id = fields.Integer(metadata={"description": "create_issue_from_template"})
    tracker_id = fields.Integer(
        allow_none=True, metadata={"description": "create_issue_from_template: where; defaults to the template's tracker"}
    )
    variables = fields.Dict(
        keys=Text(validate=validate.Length(max=64)),
        values=Text(validate=validate.Length(max=5000)),
        validate=validate.Length(max=50),
        metadata={
            "description": "template variables (at most 50); values may use {{ issue.title }}, "
            "{{ issue.url }}, {{ comment.body }}, {{ event.type }}"
        },
    )
    body = Text(validate=[validate.Length(min=1, max=10_000), not_blank], metadata={"description": "add_comment"})
    labels = fields.List(
        Text(validate=validate.Length(min=1, max=100)),
        validate=validate.Length(min=1, max=20),
        metadata={"description": "add_labels"},
    )
    status = fields.String(validate=validate.OneOf(("open", "closed")), metadata={"description": "set_status"})
    message = Text(validate=validate.Length(max=2000), metadata={"description": "notify"})

    @validates_schema
    def _params_fit_the_type(self, data, **kwargs):
        if data.get("type") not in ACTION_PARAMS:
            return
        required, optional = ACTION_PARAMS[data["type"]]
        given = set(data) - {"type"}
        errors = {name: [f"Required for {data['type']}."] for name in required - given}
        errors.update({name: [f"Not used by {data['type']}."] for name in given - required - optional})
        if errors:
            raise ValidationError(errors)


class AutomationSchema(BaseSchema):
    id = fields.Integer(dump_only=True)
    name = Text(
        required=True,
        validate=[validate.Length(min=1, max=100), not_blank],
        metadata={"example": "Mirror new bugs to the backlog"},
    )
    enabled = StrictBoolean(load_default=True)
    tracker_id = fields.Integer(
        allow_none=True, load_default=None, metadata={"description": "trigger on this tracker; null for any of yours"}
    )
    event_types = fields.List(
        fields.String(validate=validate.OneOf(EVENT_TYPES)),
        required=True,
        validate=validate.Length(min=1, max=len(EVENT_TYPES)),
        metadata={"example": ["issue.created"]},
    )
    conditions = fields.Nested(ConditionsSchema, load_default=dict)
    actions = fields.List(fields.Nested(ActionSchema), required=True, validate=validate.Length(min=1, max=10))
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class AutomationRunSchema(BaseSchema):
    id = fields.Integer()
    event_id = fields.Integer()
    event_type = fields.String()
    issue_id = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": ["pending", "retrying", "succeeded", "failed", "skipped"]})
    attempts = fields.Integer()
    results = fields.List(fields.Dict())
    error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


automation_schema = AutomationSchema()

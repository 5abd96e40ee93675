"""Sync, link and pairing schemas."""

from marshmallow import fields, validate

from api.schemas.base import BaseSchema, StrictBoolean, Text, not_blank

DIRECTIONS = ("both", "left_to_right", "right_to_left")
FIELD_DIRECTIONS = (*DIRECTIONS, "none")
_ID = validate.Range(min=1, max=2**31 - 1)


def _direction(what):
    return fields.String(
        load_default="both",
        dump_default="both",
        validate=validate.OneOf(FIELD_DIRECTIONS),
        metadata={"description": f"which way {what} flows (within the sync's direction); none: not synced"},
    )


class SyncFilterSchema(BaseSchema):
    labels_include = fields.List(
        Text(validate=validate.Length(min=1, max=100)),
        load_default=list,
        dump_default=list,
        validate=validate.Length(max=20),
        metadata={"description": "the issue has all of these"},
    )
    status = fields.String(allow_none=True, load_default=None, dump_default=None, validate=validate.OneOf(("open", "closed")))
    q = Text(
        allow_none=True,
        load_default=None,
        dump_default=None,
        validate=validate.Length(max=200),
        metadata={"description": "text in the title or description"},
    )


class SyncFieldsSchema(BaseSchema):
    title = _direction("the title")
    description = _direction("the description")
    status = _direction("the status (by category where both sides have one, else open/closed)")
    labels = _direction("the labels (by name)")
    assignees = _direction("the assignees (by username; others are noted on the link)")
    priority = _direction("the priority (where both sides have one)")
    comments = _direction("new comments (mirrored once, in order, with attribution)")


class SyncSchema(BaseSchema):
    id = fields.Integer(dump_only=True)
    name = Text(
        required=True,
        validate=[validate.Length(min=1, max=100), not_blank],
        metadata={"example": "Public tracker <-> internal backlog"},
    )
    left_tracker_id = fields.Integer(required=True, strict=True, validate=_ID, metadata={"description": "one of your trackers"})
    right_tracker_id = fields.Integer(
        required=True, strict=True, validate=_ID, metadata={"description": "another of your trackers"}
    )
    direction = fields.String(
        load_default="both",
        validate=validate.OneOf(DIRECTIONS),
        metadata={"description": "which side's new issues are mirrored, and the widest way fields flow"},
    )
    filter = fields.Nested(SyncFilterSchema, load_default=dict, metadata={"description": "which new issues are mirrored"})
    sync_fields = fields.Nested(
        SyncFieldsSchema,
        load_default=dict,
        data_key="fields",
        attribute="fields",
        metadata={"description": "per field, which way it flows"},
    )
    conflict_policy = fields.String(
        load_default="latest",
        validate=validate.OneOf(("latest", "left", "right")),
        metadata={"description": "who wins when both sides changed a field since the last sync"},
    )
    on_delete = fields.String(
        load_default="close",
        validate=validate.OneOf(("close", "delete", "unlink")),
        metadata={"description": "what happens to the pair of a deleted issue"},
    )
    backfill = StrictBoolean(load_default=False, metadata={"description": "mirror the existing matching issues once"})
    enabled = StrictBoolean(load_default=True)
    backfill_status = fields.String(dump_only=True, metadata={"enum": ["off", "running", "done"]})
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class SyncConflictSchema(BaseSchema):
    field = fields.String()
    side = fields.String(metadata={"description": "the side whose value was overwritten"})
    value = fields.Raw(allow_none=True, metadata={"description": "the overwritten value"})
    kept = fields.String(metadata={"description": "the side whose value won"})
    kept_value = fields.Raw(allow_none=True)
    at = fields.String()
    initial = fields.Boolean(metadata={"description": "settled when two existing issues were paired"})


class SyncLinkInputSchema(BaseSchema):
    left_issue_id = Text(
        required=True,
        validate=[validate.Length(min=1, max=100), not_blank],
        metadata={"description": "an issue of the left tracker"},
    )
    right_issue_id = Text(
        required=True,
        validate=[validate.Length(min=1, max=100), not_blank],
        metadata={"description": "an issue of the right tracker"},
    )


class SyncLinkSchema(BaseSchema):
    id = fields.Integer(dump_only=True)
    sync_id = fields.Integer(dump_only=True)
    left_issue_id = fields.String(allow_none=True, metadata={"description": "null until the mirror exists"})
    right_issue_id = fields.String(allow_none=True, metadata={"description": "null until the mirror exists"})
    left_url = fields.String(dump_only=True, allow_none=True)
    right_url = fields.String(dump_only=True, allow_none=True)
    state = fields.String(dump_only=True, metadata={"enum": ["ok", "pending", "error", "conflict"]})
    error = fields.String(dump_only=True, allow_none=True)
    last_synced_at = fields.DateTime(dump_only=True, allow_none=True)
    conflicts = fields.List(fields.Nested(SyncConflictSchema), dump_only=True)
    notes = fields.Dict(dump_only=True, metadata={"description": "what could not be carried over (e.g. assignees)"})
    created_at = fields.DateTime(dump_only=True)


class SyncResyncSchema(BaseSchema):
    queued = fields.Integer(required=True, metadata={"description": "links queued for reconciling"})


sync_schema = SyncSchema()
sync_link_schema = SyncLinkSchema()
sync_link_input_schema = SyncLinkInputSchema()
sync_resync_schema = SyncResyncSchema()

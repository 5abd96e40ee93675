"""Tracker connection and unified issue/comment/label/member schemas."""

from marshmallow import ValidationError, fields, pre_load, validate, validates_schema

from api.schemas.base import (
    NOT_BLANK_PATTERN,
    URL_PATTERN,
    BaseSchema,
    IsSet,
    PageQuerySchema,
    Text,
    UtcDateTime,
    not_blank,
    partial_of,
)
from api.trackers.base import PRIORITIES, STATUS_CATEGORIES, Capability
from api.trackers.registry import PROVIDERS, all_providers, provider_class

STATUSES = ("open", "closed")
EVENTS_MODES = ("auto", "webhook", "poll")
PASSTHROUGH_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_CATEGORY_HELP = "todo | in_progress | done (done <=> status closed); in_progress where the tracker's capabilities list it"
_PRIORITY_HELP = "urgent | high | normal | low, or null; where the tracker's capabilities list `priority`"


def _per_provider(attribute):
    """'slug: help; slug: help' for Swagger, from each registered provider's own help text."""
    return "; ".join(f"{cls.slug}: {getattr(cls, attribute)}" for cls in all_providers() if getattr(cls, attribute))


def _credential_properties():
    keys = sorted({key for cls in all_providers() for key in cls.credential_keys()})
    return {name: {"type": "string", "maxLength": 1000, "pattern": NOT_BLANK_PATTERN} for name in keys}


def _option_properties():
    return {name: prop for cls in all_providers() for name, prop in cls.option_schema().items()}


PROVIDER_TITLES = ", ".join(cls.title() for cls in all_providers())

# The example Swagger shows: the first provider whose example needs credentials (the common case).
_EXAMPLE = next((cls.example for cls in all_providers() if cls.example and cls.example.get("credentials")), {})


class TrackerSchema(BaseSchema):
    id = fields.Integer(dump_only=True)
    name = Text(required=True, validate=[validate.Length(min=1, max=100), not_blank], metadata={"example": "Website repo"})
    provider = fields.String(
        required=True,
        validate=validate.OneOf(sorted(PROVIDERS)),
        metadata={
            "description": "; ".join(f"{cls.slug}: {cls.title()}" for cls in all_providers()),
            "example": _EXAMPLE.get("provider"),
        },
    )
    # Swagger 2.0 has no oneOf: the pattern is the union of the providers' forms, the description says whose is whose.
    target = Text(
        required=True,
        validate=validate.Length(min=1, max=255),
        metadata={
            "description": "depends on the provider. " + _per_provider("target_help"),
            "pattern": r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$",
            "example": _EXAMPLE.get("target"),
        },
    )
    base_url = Text(
        allow_none=True,
        validate=validate.Length(max=500),
        metadata={
            "description": "API root of a self-hosted or enterprise instance "
            "or a stand-in; https only unless the host is in TRACKER_ALLOWED_HOSTS, and the host must "
            "resolve to public addresses (the outbound URL policy); empty or null for the provider's own",
            "pattern": f"^$|{URL_PATTERN}",
        },
    )
    credentials = fields.Dict(
        keys=fields.String(),
        values=Text(validate=validate.Length(max=1000)),
        load_only=True,
        metadata={
            "description": "write-only; depends on the provider. " + _per_provider("credentials_help"),
            "properties": _credential_properties(),
            "additionalProperties": False,
        },
    )
    options = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        load_default=dict,
        metadata={
            "description": "depends on the provider (others take none). " + _per_provider("options_help"),
            "properties": _option_properties(),
            "additionalProperties": False,
        },
    )
    has_credentials = IsSet(attribute="credentials_encrypted", dump_only=True)
    events_mode = fields.String(
        validate=validate.OneOf(EVENTS_MODES),
        metadata={"description": "where events come from: webhook, poll, or auto (default: poll while no webhook is registered)"},
    )
    poll_interval_seconds = fields.Integer(
        allow_none=True,
        validate=validate.Range(min=15, max=86400),
        metadata={"description": "seconds between polls (at least 15); null: the gateway's default (POLL_INTERVAL_SECONDS)"},
    )
    effective_events_mode = fields.String(
        dump_only=True,
        metadata={"enum": ["webhook", "poll", "gateway"], "description": "gateway: a tracker that records its own events"},
    )
    last_polled_at = fields.DateTime(dump_only=True, allow_none=True, metadata={"description": "the last complete poll"})
    last_poll_error = fields.String(
        dump_only=True, allow_none=True, metadata={"description": "why the last poll failed; null after a good one"}
    )
    capabilities = fields.List(
        fields.String(validate=validate.OneOf([c.value for c in Capability])),
        dump_only=True,
        metadata={"description": "what this tracker can do; anything else answers 400 not_supported"},
    )
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)

    @validates_schema
    def _provider_rules(self, data, partial=False, **kwargs):
        slug = data.get("provider") or self.context_provider
        if slug not in PROVIDERS:
            return
        cls = provider_class(slug)
        errors = {}
        if "target" in data:
            message = cls.validate_target(data["target"])
            if message:
                errors["target"] = [message]
        if "credentials" in data:
            errors.update(cls.validate_credentials(data["credentials"]))
        elif not partial:
            errors.update(cls.validate_credentials({}))
        if data.get("options"):
            errors.update(cls.validate_options(data["options"]))
        if errors:
            raise ValidationError(errors)

    context_provider = None


class TrackerUpdateSchema(TrackerSchema):
    """PATCH: any field but the provider; provider rules apply against the stored provider."""

    def __init__(self, *, provider=None, **kwargs):
        super().__init__(partial=tuple(TrackerSchema._declared_fields), exclude=("provider",), **kwargs)
        self.context_provider = provider

    @pre_load
    def _provider_is_fixed(self, data, **kwargs):
        if isinstance(data, dict) and "provider" in data:
            raise ValidationError({"provider": ["The provider of a tracker cannot change; create a new tracker."]})
        return data


class PersonSchema(BaseSchema):
    id = fields.String()
    username = fields.String()
    name = fields.String(allow_none=True)


class IssueSchema(BaseSchema):
    id = fields.String(dump_only=True, metadata={"description": "the tracker's own key of the issue (number, iid, card id, ...)"})
    tracker_id = fields.Integer(dump_only=True)
    title = fields.String()
    description = fields.String()
    status = fields.String(metadata={"enum": list(STATUSES)})
    remote_status = fields.String(metadata={"description": "the provider's own state or list name"})
    labels = fields.List(fields.String())
    assignees = fields.List(fields.Nested(PersonSchema))
    author = fields.Nested(PersonSchema, allow_none=True)
    url = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    due_date = fields.Date(allow_none=True)
    comments_count = fields.Integer()
    status_category = fields.String(metadata={"enum": list(STATUS_CATEGORIES), "description": _CATEGORY_HELP})
    priority = fields.String(allow_none=True, metadata={"enum": [*PRIORITIES, None], "description": _PRIORITY_HELP})
    remote_priority = fields.String(allow_none=True, metadata={"description": "the provider's own priority or label"})
    issue_type = fields.String(allow_none=True)
    parent_id = fields.String(allow_none=True, metadata={"description": "the parent issue's id on the same tracker"})
    remote_data = fields.Dict(metadata={"description": "the provider's raw object; only with include_remote_data=true"})
    indexed_at = fields.DateTime(
        dump_only=True,
        allow_none=True,
        metadata={"description": "with source=index: when the local index last stored this issue"},
    )


class IssueCreateSchema(BaseSchema):
    title = Text(required=True, validate=[validate.Length(min=1, max=255), not_blank])
    description = Text(load_default="", validate=validate.Length(max=65536))
    labels = fields.List(
        Text(validate=[validate.Length(min=1, max=100), not_blank]), load_default=list, validate=validate.Length(max=50)
    )
    assignees = fields.List(
        Text(validate=validate.Length(min=1, max=100)),
        load_default=list,
        validate=validate.Length(max=20),
        metadata={"description": "usernames of the tracker's members (GET /trackers/{id}/members)"},
    )
    due_date = fields.Date(allow_none=True, load_default=None)
    priority = fields.String(
        allow_none=True, load_default=None, validate=validate.OneOf(PRIORITIES), metadata={"description": _PRIORITY_HELP}
    )
    issue_type = Text(allow_none=True, load_default=None, validate=[validate.Length(min=1, max=50), not_blank])
    parent_id = Text(
        allow_none=True,
        load_default=None,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "an issue of the same tracker"},
    )


class IssueUpdateSchema(BaseSchema):
    title = Text(validate=[validate.Length(min=1, max=255), not_blank])
    description = Text(validate=validate.Length(max=65536))
    status = fields.String(validate=validate.OneOf(STATUSES))
    labels = fields.List(Text(validate=[validate.Length(min=1, max=100), not_blank]), validate=validate.Length(max=50))
    assignees = fields.List(
        Text(validate=validate.Length(min=1, max=100)),
        validate=validate.Length(max=20),
        metadata={"description": "usernames of the tracker's members (GET /trackers/{id}/members)"},
    )
    due_date = fields.Date(allow_none=True)
    status_category = fields.String(validate=validate.OneOf(STATUS_CATEGORIES), metadata={"description": _CATEGORY_HELP})
    priority = fields.String(allow_none=True, validate=validate.OneOf(PRIORITIES), metadata={"description": _PRIORITY_HELP})
    parent_id = Text(
        allow_none=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "an issue of the same tracker; null detaches"},
    )


class IssueQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    status_category = fields.String(validate=validate.OneOf(STATUS_CATEGORIES), metadata={"description": _CATEGORY_HELP})
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    parent_id = Text(validate=validate.Length(min=1, max=100), metadata={"description": "children of this issue only"})
    labels = Text(validate=validate.Length(max=500), metadata={"description": "comma-separated; issues having all of them"})
    assignee = Text(validate=validate.Length(min=1, max=100), metadata={"description": "username"})
    q = Text(validate=validate.Length(min=1, max=200), metadata={"description": "text in the title or description"})
    updated_since = UtcDateTime(metadata={"description": "ISO 8601 with offset, e.g. 2024-01-01T00:00:00Z"})
    include_remote_data = fields.Boolean(load_default=False)
    source = fields.String(
        load_default="live",
        validate=validate.OneOf(("live", "index")),
        metadata={
            "description": "live (default): ask the trackers; index: answer from the local index (fast; X-Index-Age says how "
            "old; q is full-text search; trackers that keep their issues in the gateway are not indexed and "
            "answer live on their own list)"
        },
    )


class TrackerFailureSchema(BaseSchema):
    tracker_id = fields.Integer()
    name = fields.String()
    provider = fields.String()
    code = fields.Integer()
    error = fields.String()
    message = fields.String()


class CommentSchema(BaseSchema):
    id = fields.String(dump_only=True)
    body = Text(required=True, validate=[validate.Length(min=1, max=65536), not_blank])
    author = fields.Nested(PersonSchema, dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True, allow_none=True)


class CommentUpdateSchema(BaseSchema):
    body = Text(required=True, validate=[validate.Length(min=1, max=65536), not_blank])


class AttachmentSchema(BaseSchema):
    id = fields.String()
    filename = fields.String()
    content_type = fields.String(allow_none=True)
    size = fields.Integer(allow_none=True)
    author = fields.Nested(PersonSchema, allow_none=True)
    created_at = fields.DateTime(allow_none=True)
    url = fields.String(allow_none=True, metadata={"description": "where the gateway streams the bytes from"})


class PassthroughRequestSchema(BaseSchema):
    method = fields.String(required=True, validate=validate.OneOf(PASSTHROUGH_METHODS))
    path = Text(
        required=True,
        validate=[validate.Length(min=1, max=1000), not_blank],
        metadata={
            "description": "relative to the provider's API root, e.g. repos/o/r/milestones; no scheme, "
            "host, '..', '//', backslash or percent-encoded '.', '/' or '\\'",
            "example": "user",
        },
    )
    query = fields.Dict(
        keys=Text(validate=validate.Length(min=1, max=100)),
        values=Text(validate=validate.Length(max=1000)),
        load_default=dict,
        validate=validate.Length(max=50),
    )
    json = fields.Raw(allow_none=True, load_default=None, metadata={"description": "a JSON body for POST/PUT/PATCH"})


class PassthroughResponseSchema(BaseSchema):
    status = fields.Integer()
    headers = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "the provider's headers less cookies, auth and hop-by-hop ones"},
    )
    body = fields.Raw(allow_none=True, metadata={"description": "parsed JSON, else text (null when empty)"})


class LabelSchema(BaseSchema):
    name = fields.String()
    color = fields.String(allow_none=True)


class TrackerVerificationSchema(BaseSchema):
    ok = fields.Boolean()
    target = fields.Dict()


class WebhookRegistrationSchema(BaseSchema):
    hook_id = fields.String()
    callback_url = fields.String()


class TrackerResyncSchema(BaseSchema):
    emit_events = fields.Boolean(
        load_default=False,
        metadata={"description": "record an event for every difference found (issue.created for issues not yet indexed)"},
    )


class TrackerResyncResultSchema(BaseSchema):
    message = fields.String()
    emit_events = fields.Boolean()


tracker_schema = TrackerSchema()
tracker_update_schema = TrackerUpdateSchema()  # the model; each PATCH loads with its tracker's provider
issue_schema = IssueSchema()
issue_create_schema = IssueCreateSchema()
issue_update_schema = partial_of(IssueUpdateSchema)
issue_query_schema = IssueQuerySchema()
issue_get_query_schema = IssueQuerySchema(only=("include_remote_data",))
comment_schema = CommentSchema()
comment_update_schema = CommentUpdateSchema()
no_query_schema = BaseSchema()  # an operation that takes no query parameters: any is a 400 naming it
attachment_schema = AttachmentSchema()
passthrough_request_schema = PassthroughRequestSchema()
passthrough_response_schema = PassthroughResponseSchema()
label_schema = LabelSchema()
person_schema = PersonSchema()
tracker_verification_schema = TrackerVerificationSchema()
webhook_registration_schema = WebhookRegistrationSchema()
tracker_resync_schema = TrackerResyncSchema()
tracker_resync_result_schema = TrackerResyncResultSchema()
tracker_failure_schema = TrackerFailureSchema()

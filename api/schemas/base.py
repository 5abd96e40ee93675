"""Base schema, field types and pagination pieces shared by every namespace."""

import base64
import binascii
import json
from datetime import UTC

from marshmallow import RAISE, Schema, ValidationError, fields, validate

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class BaseSchema(Schema):
    """Unknown fields are rejected so a typo is a 400, not a silently ignored value."""

    class Meta:
        unknown = RAISE


class Text(fields.String):
    """A string PostgreSQL can store: NUL characters are refused up front instead of failing the insert."""

    default_error_messages = {"nul": "Must not contain NUL characters."}

    def _deserialize(self, value, attr, data, **kwargs):
        result = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in result:
            raise self.make_error("nul")
        return result


class UtcDateTime(fields.AwareDateTime):
    """An ISO 8601 date-time with its offset, loaded as the UTC instant it names: Python reads offsets up to +-23:59,
    PostgreSQL only to +-15:59, and providers are sent UTC; one UTC cannot hold (0001-01-01T00:00+01:00) is refused."""

    default_error_messages = {"range": "Out of range once converted to UTC."}

    def __init__(self, **kwargs):
        super().__init__(default_timezone=None, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        aware = super()._deserialize(value, attr, data, **kwargs)
        try:
            return aware.astimezone(UTC)
        except OverflowError:
            raise self.make_error("range") from None


class StrictBoolean(fields.Boolean):
    """JSON true or false only; marshmallow's Boolean would also take 0, 1, "yes" and "off"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class IsSet(fields.Boolean):
    """Whether the attribute (a stored secret or credentials) is set; the value itself never leaves."""

    def _serialize(self, value, attr, obj, **kwargs):
        return bool(value)


def partial_of(schema_class, **kwargs):
    """The update variant of a schema: its own fields optional, nested objects still complete.

    `partial=True` would reach into nested schemas (a template variable without a name); a tuple of the
    top-level field names does not.
    """
    return schema_class(partial=tuple(schema_class._declared_fields), **kwargs)


# Spec-only constraints (what a client can know from the Swagger model; the checks themselves live elsewhere).
# What Text refuses, as ECMA-262 patterns (Swagger 2.0 has one pattern per property): NUL, and for not_blank
# fields a value str.strip() would empty (\s plus the separators Python also strips).
NO_NUL_PATTERN = r"^[^\x00]*$"
NOT_BLANK_PATTERN = r"^[^\x00]*[^\s\x00\x1c-\x1f\x85][^\x00]*$"
URL_PATTERN = r"^https?://[^\s\x00]+$"
ID_RANGE = {"minimum": 1, "maximum": 2**31 - 1}


def not_blank(value):
    if not value.strip():
        raise ValidationError("Must not be blank.")


class ErrorSchema(Schema):
    code = fields.Integer(required=True, metadata={"description": "HTTP status code"})
    error = fields.String(required=True, metadata={"description": "machine-readable error slug"})
    message = fields.String(required=True, metadata={"description": "human-readable explanation"})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={"description": "per-field messages, for validation errors only"},
    )


class MessageSchema(Schema):
    message = fields.String(required=True)


message_schema = MessageSchema()


class PageQuerySchema(BaseSchema):
    """`limit` and an opaque `cursor` taken from a previous page's `next_cursor`; unknown parameters are a 400."""

    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"page size, 1-{MAX_LIMIT} (default {DEFAULT_LIMIT})"},
    )
    cursor = Text(
        load_default=None,
        validate=validate.Length(max=512),
        metadata={"description": "opaque cursor from the previous page's next_cursor"},
    )


page_query_schema = PageQuerySchema()


def list_of(item_schema, key, *, paginated=True, name=None, **extra):
    """The list answer `{key: [items], next_cursor}` (+ `extra` fields), generated from the item schema.

    Its model is named `<Item>List` (or `name`); without `paginated` there is no next_cursor.
    """
    declared = {key: fields.List(fields.Nested(item_schema), required=True), **extra}
    if paginated:
        declared["next_cursor"] = fields.String(
            allow_none=True, metadata={"description": "cursor of the next page; null at the end"}
        )
    name = name or type(item_schema).__name__.removesuffix("Schema") + "List"
    return BaseSchema.from_dict(declared, name=f"{name}Schema")()


def encode_cursor(values):
    """Pack keyset values into an opaque URL-safe cursor."""
    raw = json.dumps(list(values), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor, *, types):
    """Unpack a cursor made by encode_cursor whose values have `types`; a forged one is a 400 on `cursor`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        values = None
    if (
        not isinstance(values, list)
        or len(values) != len(types)
        or any(isinstance(v, bool) or not isinstance(v, t) for v, t in zip(values, types, strict=True))
    ):
        raise ValidationError({"cursor": ["Invalid cursor."]})
    return values

"""A dump path compiled from a marshmallow schema: the same output as schema.dump, a fraction of its cost.

`fast_dump(schema, obj)` walks a plan built once per schema instance from its own dump_fields: each field's
output key, source attribute and serializer. Field types whose serialization is known exactly (String and its
subclasses, Integer, ISO DateTime, List, Nested, Raw) are serialized inline; every other field, and any value of
an unexpected type, goes through the field's own `_serialize` (or the whole `field.serialize`), and a schema
with dump hooks or a custom get_attribute is dumped by marshmallow itself. test/test_perf_fastdump.py checks the
output equals schema.dump for every schema in api.schemas.
"""

import datetime as dt

from marshmallow import Schema, fields, missing
from marshmallow.decorators import POST_DUMP, PRE_DUMP
from marshmallow.fields import Field, Nested, Number
from marshmallow.utils import _get_value_for_key, ensure_text_type

_ISO_FORMATS = (None, "iso", "iso8601")


def _identity(value, obj):
    return value


def _string(field, generic):
    def string(value, obj):
        if value.__class__ is str:
            return value
        return None if value is None else ensure_text_type(value)

    return string


def _integer(field, generic):
    def integer(value, obj):
        return value if value.__class__ is int else generic(value, obj)

    return integer


def _iso_datetime(field, generic):
    def iso_datetime(value, obj):
        if value.__class__ is dt.datetime:
            return value.isoformat()
        return generic(value, obj)

    return iso_datetime


def _list_of(field, generic):
    inner = _converter(field.inner, generic.attr_name)

    def list_of(value, obj):
        if value is None:
            return None
        return [inner(each, obj) for each in value]

    return list_of


def _nested(field, generic):
    nested_schema = field.schema
    one = _compile(nested_schema)
    many = bool(nested_schema.many or field.many)

    def nested(value, obj):
        if value is None:
            return None
        if one is None:
            return nested_schema.dump(value, many=many)
        if many:
            return [one(each) for each in value]
        return one(value)

    return nested


def _is_int(field, kind):
    return (
        kind._serialize is Number._serialize
        and kind._format_num is Number._format_num
        and getattr(field, "num_type", None) is int
        and not field.as_string
    )


def _is_iso_datetime(field, kind):
    return (
        isinstance(field, fields.DateTime)
        and kind._serialize is fields.DateTime._serialize
        and field.SERIALIZATION_FUNCS.get("iso") is dt.datetime.isoformat
        and field.format in _ISO_FORMATS
    )


# (whether a field's serialization is known exactly, the builder of its inline converter), first match wins.
_INLINE = (
    (lambda field, kind: kind._serialize is fields.String._serialize, _string),
    (_is_int, _integer),
    (_is_iso_datetime, _iso_datetime),
    (lambda field, kind: kind._serialize is fields.List._serialize, _list_of),
    (lambda field, kind: kind._serialize is Nested._serialize, _nested),
    (lambda field, kind: kind._serialize is Field._serialize, lambda field, generic: _identity),
)


def _converter(field, attr_name):
    """A function (value, obj) -> serialized value equal to field._serialize(value, attr_name, obj)."""
    serialize = field._serialize

    def generic(value, obj):
        return serialize(value, attr_name, obj)

    generic.attr_name = attr_name

    kind = type(field)
    for applies, build in _INLINE:
        if applies(field, kind):
            return build(field, generic)
    return generic


def _plain_field(field):
    """Whether serialize() is Field.serialize with get_value and no dump default: the plan may inline it."""
    kind = type(field)
    return (
        kind.serialize is Field.serialize
        and kind.get_value is Field.get_value
        and field._CHECK_ATTRIBUTE
        and field.dump_default is missing
        and "." not in (field.attribute or "")
    )


def _compile(schema):
    """The one-object dump function of a schema instance (cached on it); None when marshmallow must dump it itself."""
    if "_fast_dump_one" in schema.__dict__:
        return schema.__dict__["_fast_dump_one"]
    if (
        schema._hooks[PRE_DUMP]
        or schema._hooks[POST_DUMP]
        or type(schema).get_attribute is not Schema.get_attribute
        or schema.dict_class is not dict
    ):
        compiled = None
    else:
        plan = []
        for attr_name, field in schema.dump_fields.items():
            key = field.data_key if field.data_key is not None else attr_name
            if _plain_field(field):
                plan.append((key, field.attribute or attr_name, _converter(field, attr_name), None))
            else:
                plan.append((key, attr_name, None, field))
        get_attribute = schema.get_attribute

        def compiled(obj):
            ret = {}
            mapping = hasattr(obj, "__getitem__")
            for key, source, convert, field in plan:
                if convert is None:
                    value = field.serialize(source, obj, accessor=get_attribute)
                    if value is not missing:
                        ret[key] = value
                    continue
                value = _get_value_for_key(obj, source, missing) if mapping else getattr(obj, source, missing)
                if value is not missing:
                    ret[key] = convert(value, obj)
            return ret

    schema.__dict__["_fast_dump_one"] = compiled
    return compiled


def fast_dump(schema, obj, *, many=None):
    """schema.dump(obj, many=many), computed by the plan compiled from the schema's fields."""
    one = _compile(schema)
    if one is None:
        return schema.dump(obj, many=many)
    many = schema.many if many is None else bool(many)
    if many and obj is not None:
        return [one(each) for each in obj]
    return one(obj)

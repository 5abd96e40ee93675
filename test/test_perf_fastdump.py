"""The compiled dump path (api/schemas/fastdump.py) gives schema.dump's output for every schema in api.schemas."""

import datetime as dt
import decimal
import enum
import importlib
import inspect
import json
import pkgutil
import random
import uuid
from types import SimpleNamespace

import pytest
from marshmallow import Schema, fields

import api.schemas
from api.schemas.fastdump import fast_dump


def _schema_instances():
    """Every Schema class defined in api.schemas (instantiated plainly) and every module-level Schema instance."""
    found = {}
    for module_info in pkgutil.iter_modules(api.schemas.__path__):
        module = importlib.import_module(f"api.schemas.{module_info.name}")
        for name, value in vars(module).items():
            if isinstance(value, Schema):
                found[f"{module_info.name}.{name}"] = value
            elif inspect.isclass(value) and issubclass(value, Schema) and value.__module__ == module.__name__:
                try:
                    found[f"{module_info.name}.{name}()"] = value()
                except TypeError:  # built per request with arguments (input schemas); its instances are listed above
                    continue
    return found


SCHEMAS = _schema_instances()


class Colour(enum.Enum):
    RED = "red"


def _datetime(field, rng):
    aware = dt.datetime(2026, 1, 2, 3, 4, 5, rng.randint(0, 999999), tzinfo=dt.UTC)
    if isinstance(field, fields.AwareDateTime):
        return aware
    return rng.choice([aware, aware.replace(tzinfo=None), aware.replace(microsecond=0)])


# Leaf field kinds and a random value of each, first match wins (Boolean before Integer, DateTime before Date).
_LEAVES = [
    (fields.Boolean, lambda field, rng: rng.choice([True, False, 1, 0])),
    (fields.Integer, lambda field, rng: rng.choice([0, 1, 7, 2**40, -3, True, 3.0, decimal.Decimal(5)])),
    ((fields.Float, fields.Decimal), lambda field, rng: rng.choice([0.5, 2, decimal.Decimal("1.25")])),
    (fields.DateTime, _datetime),
    (fields.Date, lambda field, rng: dt.date(2026, 1, rng.randint(1, 28))),
    (fields.UUID, lambda field, rng: uuid.UUID(int=rng.getrandbits(128))),
    (fields.Enum, lambda field, rng: next(iter(field.enum))),
    (fields.Mapping, lambda field, rng: {"key": rng.choice(["value", 1, None, [1, "two"]])}),
    (fields.String, lambda field, rng: rng.choice(["", "plain", "ünïcödé ✓", "line\nbreak", 42, b"bytes"])),
]


def _sample(field, rng, depth):
    """A value of the kind this field is given by the services (or None), chosen at random."""
    if field.allow_none is not False and rng.random() < 0.1:
        return None
    if isinstance(field, fields.Nested):
        if depth > 3:
            return None
        if field.many or field.schema.many:
            return [_object(field.schema, rng, depth + 1) for _ in range(rng.randint(0, 3))]
        return _object(field.schema, rng, depth + 1)
    if isinstance(field, fields.List):
        return [_sample(field.inner, rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if isinstance(field, fields.Tuple):
        return tuple(_sample(inner, rng, depth + 1) for inner in field.tuple_fields)
    for kind, sample in _LEAVES:
        if isinstance(field, kind):
            return sample(field, rng)
    return rng.choice([{"nested": [1, "x"]}, "raw", 3, None])


def _object(schema, rng, depth=0):
    """A dict or an attribute object with a value for most of the schema's dump fields (some left out)."""
    values = {}
    for attr_name, field in schema.dump_fields.items():
        if rng.random() < 0.1:
            continue
        values[field.attribute or attr_name] = _sample(field, rng, depth)
    return values if rng.random() < 0.5 else SimpleNamespace(**values)


def _canonical(data):
    # json text tells True from 1 and 1.0 from 1, which == would not.
    return json.dumps(data, sort_keys=True, default=repr)


def test_every_schema_in_api_schemas_is_covered():
    assert len(SCHEMAS) >= 30
    assert "offers.offer_list_schema" in SCHEMAS


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_fast_dump_equals_schema_dump_for(name):
    schema = SCHEMAS[name]
    rng = random.Random(name)
    for _ in range(60):
        obj = _object(schema, rng)
        assert _canonical(fast_dump(schema, obj)) == _canonical(schema.dump(obj)), obj
    many = [_object(schema, rng) for _ in range(3)]
    assert _canonical(fast_dump(schema, many, many=True)) == _canonical(schema.dump(many, many=True))


def test_fast_dump_of_an_orm_offer_equals_the_schema_dump(app):
    from api.models.offers import Offer
    from api.schemas.offers import offer_list_schema, offer_schema

    offer = Offer(
        id=3,
        user_id=1,
        title="Backend",
        description="",
        skills_list=["python", "ünï"],
        creation_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        modification_date=dt.datetime(2026, 1, 2),
    )
    assert fast_dump(offer_schema, offer) == offer_schema.dump(offer)
    page = {"offers": [offer, offer], "count": 2, "next_cursor": None}
    assert fast_dump(offer_list_schema, page) == offer_list_schema.dump(page)


def test_fast_dump_uses_marshmallow_for_a_schema_with_dump_hooks():
    from marshmallow import post_dump

    class Hooked(Schema):
        name = fields.String()

        @post_dump
        def shout(self, data, **kwargs):
            return {key: value.upper() for key, value in data.items()}

    assert fast_dump(Hooked(), {"name": "quiet"}) == {"name": "QUIET"}


def test_an_enum_field_is_dumped_as_marshmallow_does():
    class WithEnum(Schema):
        colour = fields.Enum(Colour)
        tags = fields.List(fields.Enum(Colour, by_value=True))

    obj = {"colour": Colour.RED, "tags": [Colour.RED]}
    assert fast_dump(WithEnum(), obj) == WithEnum().dump(obj)

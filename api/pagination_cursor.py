"""Keyset cursor values checked against what a key column can hold (shared by services and the built-in provider)."""

from marshmallow import ValidationError

from api.schemas.base import decode_cursor

MAX_KEY = 2**63 - 1  # the largest BIGINT; every key we paginate on is a positive integer column


def decode_key_cursor(cursor, *, types=(int,)):
    """decode_cursor whose integer values must be keys a column can hold: anything else is a forged cursor."""
    values = decode_cursor(cursor, types=types)
    if any(isinstance(value, int) and not 0 <= value <= MAX_KEY for value in values):
        raise ValidationError({"cursor": ["Invalid cursor."]})
    return values

"""Column helpers shared by the models."""

from datetime import UTC, datetime

from api.extensions import db


def utcnow():
    return datetime.now(UTC)


class TimestampMixin:
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)


def contains_pattern(text):
    """An ILIKE pattern matching `text` anywhere, its % and _ taken literally (use with escape="\\")."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

"""Outbound event subscriptions, their deliveries and each delivery attempt."""

from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from api.extensions import db
from api.models.base import TimestampMixin, utcnow


class Subscription(TimestampMixin, db.Model):
    __tablename__ = "subscriptions"

    id = db.Column(db.Integer, primary_key=True)
    owner_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    url = db.Column(db.String(1000), nullable=False)
    events = db.Column(ARRAY(db.String(40)), nullable=False)  # event types, or ["*"]
    secret_encrypted = db.Column(db.Text, nullable=False)
    enabled = db.Column(db.Boolean, nullable=False, default=True)


class OutboundDelivery(db.Model):
    __tablename__ = "outbound_deliveries"

    id = db.Column(db.String(36), primary_key=True)  # a UUID, sent as X-Gateway-Delivery
    subscription_id = db.Column(db.Integer, db.ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False)
    event_id = db.Column(db.BigInteger, db.ForeignKey("events.id", ondelete="SET NULL"))
    event_type = db.Column(db.String(40), nullable=False)
    payload = db.Column(JSONB, nullable=False)
    status = db.Column(db.String(20), nullable=False, default="pending")  # pending, succeeded, failed
    attempts = db.Column(db.Integer, nullable=False, default=0)
    next_attempt_at = db.Column(db.DateTime(timezone=True))
    last_status_code = db.Column(db.Integer)
    last_error = db.Column(db.Text)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    delivered_at = db.Column(db.DateTime(timezone=True))

    __table_args__ = (db.Index("ix_outbound_deliveries_subscription_id_created_at", "subscription_id", "created_at"),)


class DeliveryAttempt(db.Model):
    __tablename__ = "delivery_attempts"

    id = db.Column(db.BigInteger, primary_key=True)
    delivery_id = db.Column(db.String(36), db.ForeignKey("outbound_deliveries.id", ondelete="CASCADE"), nullable=False,
                            index=True)
    attempted_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    status_code = db.Column(db.Integer)
    error = db.Column(db.Text)
    duration_ms = db.Column(db.Integer)

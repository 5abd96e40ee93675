"""Inbound webhook deliveries, the normalized events they produce, and the gateway's own changes."""

from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from api.extensions import db
from api.models.base import utcnow


class WebhookDelivery(db.Model):
    """A verified delivery as received; processed once by a worker."""

    __tablename__ = "webhook_deliveries"

    id = db.Column(db.BigInteger, primary_key=True)
    tracker_id = db.Column(db.Integer, db.ForeignKey("trackers.id", ondelete="CASCADE"), nullable=False)
    # The provider's delivery id (GitHub X-GitHub-Delivery, GitLab event UUID, Trello action id).
    delivery_key = db.Column(db.String(200), nullable=False)
    event_name = db.Column(db.String(100), nullable=False)
    payload = db.Column(JSONB, nullable=False)
    status = db.Column(db.String(20), nullable=False, default="pending")  # pending, processed, ignored, failed
    error = db.Column(db.Text)
    received_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    processed_at = db.Column(db.DateTime(timezone=True))

    __table_args__ = (db.UniqueConstraint("tracker_id", "delivery_key", name="uq_webhook_deliveries_tracker_id_delivery_key"),)


class WebhookBodyHash(db.Model):
    """The SHA-256 of a verified delivery body per tracker: the same body under a new delivery id is a replay."""

    __tablename__ = "webhook_body_hashes"

    tracker_id = db.Column(db.Integer, db.ForeignKey("trackers.id", ondelete="CASCADE"), primary_key=True)
    body_sha256 = db.Column(db.String(64), primary_key=True)
    delivery_id = db.Column(db.BigInteger, db.ForeignKey("webhook_deliveries.id", ondelete="SET NULL"))
    received_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)


class Event(db.Model):
    """A normalized event: issue.created, comment.created, ... with the unified issue/comment."""

    __tablename__ = "events"

    id = db.Column(db.BigInteger, primary_key=True)
    tracker_id = db.Column(db.Integer, db.ForeignKey("trackers.id", ondelete="CASCADE"), nullable=False)
    owner_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    delivery_id = db.Column(db.BigInteger, db.ForeignKey("webhook_deliveries.id", ondelete="SET NULL"))
    type = db.Column(db.String(40), nullable=False)
    issue_id = db.Column(db.String(100))
    issue = db.Column(JSONB)
    comment = db.Column(JSONB)
    changes = db.Column(JSONB, nullable=False, default=dict)
    # How many automation steps led here: 0 for outside changes, parent + 1 for the gateway's own.
    chain_depth = db.Column(db.Integer, nullable=False, default=0)
    caused_by_rule_id = db.Column(db.Integer)
    source = db.Column(db.String(10))  # "webhook", "poll" or "gateway" (null before sources were recorded)
    occurred_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)

    __table_args__ = (db.Index("ix_events_tracker_id_id", "tracker_id", "id"),
                      db.Index("ix_events_delivery_id", "delivery_id"))


class GatewayChange(db.Model):
    """A change an automation made on a tracker, so the webhook echo of it is recognised as ours."""

    __tablename__ = "gateway_changes"

    id = db.Column(db.BigInteger, primary_key=True)
    tracker_id = db.Column(db.Integer, db.ForeignKey("trackers.id", ondelete="CASCADE"), nullable=False)
    issue_id = db.Column(db.String(100), nullable=False)
    kinds = db.Column(ARRAY(db.String(40)), nullable=False)
    rule_id = db.Column(db.Integer)
    chain_depth = db.Column(db.Integer, nullable=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)

    __table_args__ = (db.Index("ix_gateway_changes_lookup", "tracker_id", "issue_id", "created_at"),)

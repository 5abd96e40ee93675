"""Inbound webhook deliveries, their body hashes, and the gateway's own changes."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Model, utcnow


class WebhookDelivery(Model):
    """A verified delivery as received; processed once by a worker."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tracker_id: Mapped[int] = mapped_column(ForeignKey("trackers.id", ondelete="CASCADE"))
    # The provider's delivery id (GitHub X-GitHub-Delivery, GitLab event UUID, Trello action id).
    delivery_key: Mapped[str] = mapped_column(String(200))
    event_name: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, processed, ignored, failed
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("tracker_id", "delivery_key", name="uq_webhook_deliveries_tracker_id_delivery_key"),)


class WebhookBodyHash(Model):
    """The SHA-256 of a verified delivery body per tracker: the same body under a new delivery id is a replay."""

    __tablename__ = "webhook_body_hashes"

    tracker_id: Mapped[int] = mapped_column(ForeignKey("trackers.id", ondelete="CASCADE"), primary_key=True)
    body_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    delivery_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("webhook_deliveries.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GatewayChange(Model):
    """A change an automation made on a tracker, so the webhook echo of it is recognised as ours."""

    __tablename__ = "gateway_changes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tracker_id: Mapped[int] = mapped_column(ForeignKey("trackers.id", ondelete="CASCADE"))
    issue_id: Mapped[str] = mapped_column(String(100))
    kinds: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    rule_id: Mapped[int | None]
    chain_depth: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_gateway_changes_lookup", "tracker_id", "issue_id", "created_at"),)

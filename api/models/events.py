"""Normalized events: what changed on a tracker, recorded once whether a webhook, a poll or the gateway saw it."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Model, utcnow


class Event(Model):
    """A normalized event: issue.created, comment.created, ... with the unified issue/comment."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tracker_id: Mapped[int] = mapped_column(ForeignKey("trackers.id", ondelete="CASCADE"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    delivery_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("webhook_deliveries.id", ondelete="SET NULL"))
    type: Mapped[str] = mapped_column(String(40))
    issue_id: Mapped[str | None] = mapped_column(String(100))
    issue: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    comment: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # How many automation steps led here: 0 for outside changes, parent + 1 for the gateway's own.
    chain_depth: Mapped[int] = mapped_column(default=0)
    caused_by_rule_id: Mapped[int | None]
    source: Mapped[str | None] = mapped_column(String(10))  # "webhook", "poll" or "gateway" (null before sources were recorded)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_events_tracker_id_id", "tracker_id", "id"), Index("ix_events_delivery_id", "delivery_id"))

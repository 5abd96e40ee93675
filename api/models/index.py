"""The local issue index (newest known state of every polled or webhooked issue) and the event change hashes."""

from datetime import datetime
from typing import Any

from sqlalchemy import Computed, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Model, utcnow


class IndexedIssue(Model):
    """One issue of a remote tracker as last seen by a poll, a webhook or the gateway's own write."""

    __tablename__ = "issue_index"

    tracker_id: Mapped[int] = mapped_column(ForeignKey("trackers.id", ondelete="CASCADE"), primary_key=True)
    issue_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    title: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10))
    remote_status: Mapped[str] = mapped_column(String(255), default="")
    labels: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    # Usernames, for the assignee filter; the Person objects are in `data`.
    assignees: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    comments_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The unified issue as JSON (what the API answers), and the SHA-256 of its compared fields.
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    content_hash: Mapped[str] = mapped_column(String(64))
    # comment id -> SHA-256 of its body, once the comments of the issue have been read; null before.
    comments: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    indexed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    search: Mapped[str | None] = mapped_column(
        TSVECTOR, Computed("to_tsvector('english', coalesce(title, '') || ' ' || coalesce(description, ''))", persisted=True)
    )

    __table_args__ = (
        Index("ix_issue_index_tracker_updated", "tracker_id", "updated_at", "issue_id"),
        Index("ix_issue_index_search", "search", postgresql_using="gin"),
        Index("ix_issue_index_labels", "labels", postgresql_using="gin"),
    )


class EventChangeHash(Model):
    """One change of one issue already recorded as an event: the webhook and the poll that both see it record it once."""

    __tablename__ = "event_change_hashes"

    tracker_id: Mapped[int] = mapped_column(ForeignKey("trackers.id", ondelete="CASCADE"), primary_key=True)
    issue_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    change_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)

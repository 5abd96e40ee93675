"""Tracker connections and the built-in tracker's issues, comments, attachments and labels."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Model, TimestampMixin, utcnow


class Tracker(TimestampMixin, Model):
    """A user's connection to one tracker target (a repo, a project, a board, or a built-in tracker)."""

    __tablename__ = "trackers"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    provider: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(255))
    base_url: Mapped[str | None] = mapped_column(String(500))
    # Fernet token of the JSON credentials; never returned by the API.
    credentials_encrypted: Mapped[str | None] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # The gateway's webhook on the provider: its id there and the secret that signs its deliveries.
    webhook_id: Mapped[str | None] = mapped_column(String(100))
    webhook_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    # Next issue number of a built-in tracker, taken atomically with UPDATE ... RETURNING.
    issue_counter: Mapped[int] = mapped_column(default=0)
    # Events without webhooks: "webhook", "poll" or "auto" (poll while no webhook is registered), and the poll state.
    events_mode: Mapped[str] = mapped_column(String(10), default="auto", server_default="auto")
    poll_interval_seconds: Mapped[int | None]  # null: the configured default
    # The newest updated_at seen; null until the baseline poll.
    poll_cursor: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_poll_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_polled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_poll_error: Mapped[str | None] = mapped_column(Text)
    poll_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    last_reconciled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("owner_id", "name", name="uq_trackers_owner_id_name"),)


class BuiltinIssue(Model):
    __tablename__ = "builtin_issues"

    id: Mapped[int] = mapped_column(primary_key=True)
    tracker_id: Mapped[int] = mapped_column(ForeignKey("trackers.id", ondelete="CASCADE"))
    number: Mapped[int]
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="open")
    labels: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)
    assignees: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    author: Mapped[str | None] = mapped_column(String(32))
    due_date: Mapped[date | None] = mapped_column(Date)
    comments_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status_category: Mapped[str] = mapped_column(String(12), default="todo", server_default="todo")
    priority: Mapped[str | None] = mapped_column(String(10))
    issue_type: Mapped[str | None] = mapped_column(String(50))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("builtin_issues.id", ondelete="SET NULL"), index=True)

    __table_args__ = (
        UniqueConstraint("tracker_id", "number", name="uq_builtin_issues_tracker_id_number"),
        Index("ix_builtin_issues_tracker_updated", "tracker_id", "updated_at", "id"),
    )


class BuiltinComment(Model):
    __tablename__ = "builtin_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("builtin_issues.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BuiltinAttachment(Model):
    """A file attached to a built-in issue; its bytes are in BuiltinAttachmentChunk rows, read and written one at a time."""

    __tablename__ = "builtin_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("builtin_issues.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    author: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BuiltinAttachmentChunk(Model):
    __tablename__ = "builtin_attachment_chunks"

    attachment_id: Mapped[int] = mapped_column(ForeignKey("builtin_attachments.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class BuiltinLabel(Model):
    __tablename__ = "builtin_labels"

    id: Mapped[int] = mapped_column(primary_key=True)
    tracker_id: Mapped[int] = mapped_column(ForeignKey("trackers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    color: Mapped[str | None] = mapped_column(String(7))

    __table_args__ = (UniqueConstraint("tracker_id", "name", name="uq_builtin_labels_tracker_id_name"),)

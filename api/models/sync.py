"""Two-way syncs between two trackers, the issue pairs they keep (links) and the comments mirrored per pair."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Model, TimestampMixin, utcnow

# The sides a direction lets changes flow from (a sync's, or one field's).
FLOWS = {"both": {"left", "right"}, "left_to_right": {"left"}, "right_to_left": {"right"}, "none": set()}


class Sync(TimestampMixin, Model):
    """A user's standing order to keep the matching issues of two of their trackers in step."""

    __tablename__ = "syncs"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    left_tracker_id: Mapped[int] = mapped_column(ForeignKey("trackers.id", ondelete="CASCADE"), index=True)
    right_tracker_id: Mapped[int] = mapped_column(ForeignKey("trackers.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(20), default="both")
    filter: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    conflict_policy: Mapped[str] = mapped_column(String(10), default="latest")
    on_delete: Mapped[str] = mapped_column(String(10), default="close")
    backfill: Mapped[bool] = mapped_column(default=False)
    enabled: Mapped[bool] = mapped_column(default=True)
    # Backfill progress per side: {"left": <provider cursor> | "done", ...}; a restarted backfill resumes from here.
    backfill_state: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)

    @property
    def backfill_status(self) -> str:
        """off (no backfill), running, or done (every side new issues flow from has been mirrored once)."""
        if not self.backfill:
            return "off"
        state = self.backfill_state or {}
        return "done" if state and all(state.get(side) == "done" for side in FLOWS[self.direction]) else "running"


class SyncLink(TimestampMixin, Model):
    """One pair of issues kept in step, with the last synced value hash per field per side."""

    __tablename__ = "sync_links"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sync_id: Mapped[int] = mapped_column(ForeignKey("syncs.id", ondelete="CASCADE"))
    left_issue_id: Mapped[str | None] = mapped_column(String(100))
    right_issue_id: Mapped[str | None] = mapped_column(String(100))
    left_url: Mapped[str | None] = mapped_column(String(1000))
    right_url: Mapped[str | None] = mapped_column(String(1000))
    # The side the pair started from (its mirror is created on the other), or "pair" for two existing issues.
    origin: Mapped[str] = mapped_column(String(5))
    # Written into the mirror's backlink before the remote create, so a retried create finds the first one.
    op_key: Mapped[str] = mapped_column(String(32), unique=True)
    state: Mapped[str] = mapped_column(String(10), default="pending")  # ok, pending, error, conflict
    error: Mapped[str | None] = mapped_column(Text)
    hashes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)  # {"left": {field: hash}, "right": {...}}
    conflicts: Mapped[list[Any]] = mapped_column(JSONB, default=list)  # overwritten values: field, side, value, at
    notes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)  # what could not be carried over (assignees, labels)
    last_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("sync_id", "left_issue_id", name="uq_sync_links_sync_id_left_issue_id"),
        UniqueConstraint("sync_id", "right_issue_id", name="uq_sync_links_sync_id_right_issue_id"),
        Index("ix_sync_links_state", "state"),
    )


class SyncComment(Model):
    """A comment mirrored once: its source and, when the create went through, its mirror."""

    __tablename__ = "sync_comments"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    link_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("sync_links.id", ondelete="CASCADE"))
    source_side: Mapped[str] = mapped_column(String(5))
    source_comment_id: Mapped[str] = mapped_column(String(100))
    mirror_comment_id: Mapped[str | None] = mapped_column(String(100))
    op_key: Mapped[str] = mapped_column(String(32))
    # The source's text when last mirrored: an edit there is carried over.
    body_hash: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        UniqueConstraint(
            "link_id", "source_side", "source_comment_id", name="uq_sync_comments_link_id_source_side_source_comment_id"
        ),
    )

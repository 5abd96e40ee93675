"""Two-way syncs between two trackers, the issue pairs they keep (links) and the comments mirrored per pair."""

from sqlalchemy.dialects.postgresql import JSONB

from api.extensions import db
from api.models.base import TimestampMixin, utcnow


class Sync(TimestampMixin, db.Model):
    """A user's standing order to keep the matching issues of two of their trackers in step."""

    __tablename__ = "syncs"

    id = db.Column(db.Integer, primary_key=True)
    owner_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    name = db.Column(db.String(100), nullable=False)
    left_tracker_id = db.Column(db.Integer, db.ForeignKey("trackers.id", ondelete="CASCADE"), nullable=False, index=True)
    right_tracker_id = db.Column(db.Integer, db.ForeignKey("trackers.id", ondelete="CASCADE"), nullable=False, index=True)
    direction = db.Column(db.String(20), nullable=False, default="both")
    filter = db.Column(JSONB, nullable=False, default=dict)
    fields = db.Column(JSONB, nullable=False, default=dict)
    conflict_policy = db.Column(db.String(10), nullable=False, default="latest")
    on_delete = db.Column(db.String(10), nullable=False, default="close")
    backfill = db.Column(db.Boolean, nullable=False, default=False)
    enabled = db.Column(db.Boolean, nullable=False, default=True)
    # Backfill progress per side: {"left": <provider cursor> | "done", ...}; a restarted backfill resumes from here.
    backfill_state = db.Column(JSONB, nullable=False, default=dict)


class SyncLink(TimestampMixin, db.Model):
    """One pair of issues kept in step, with the last synced value hash per field per side."""

    __tablename__ = "sync_links"

    id = db.Column(db.BigInteger, primary_key=True)
    sync_id = db.Column(db.Integer, db.ForeignKey("syncs.id", ondelete="CASCADE"), nullable=False)
    left_issue_id = db.Column(db.String(100))
    right_issue_id = db.Column(db.String(100))
    left_url = db.Column(db.String(1000))
    right_url = db.Column(db.String(1000))
    # The side the pair started from (its mirror is created on the other), or "pair" for two existing issues.
    origin = db.Column(db.String(5), nullable=False)
    # Written into the mirror's backlink before the remote create, so a retried create finds the first one.
    op_key = db.Column(db.String(32), nullable=False, unique=True)
    state = db.Column(db.String(10), nullable=False, default="pending")  # ok, pending, error, conflict
    error = db.Column(db.Text)
    hashes = db.Column(JSONB, nullable=False, default=dict)  # {"left": {field: hash}, "right": {...}}
    conflicts = db.Column(JSONB, nullable=False, default=list)  # overwritten values: field, side, value, at
    notes = db.Column(JSONB, nullable=False, default=dict)  # what could not be carried over (assignees, labels)
    last_synced_at = db.Column(db.DateTime(timezone=True))

    __table_args__ = (
        db.UniqueConstraint("sync_id", "left_issue_id", name="uq_sync_links_sync_id_left_issue_id"),
        db.UniqueConstraint("sync_id", "right_issue_id", name="uq_sync_links_sync_id_right_issue_id"),
        db.Index("ix_sync_links_state", "state"),
    )


class SyncComment(db.Model):
    """A comment mirrored once: its source and, when the create went through, its mirror."""

    __tablename__ = "sync_comments"

    id = db.Column(db.BigInteger, primary_key=True)
    link_id = db.Column(db.BigInteger, db.ForeignKey("sync_links.id", ondelete="CASCADE"), nullable=False)
    source_side = db.Column(db.String(5), nullable=False)
    source_comment_id = db.Column(db.String(100), nullable=False)
    mirror_comment_id = db.Column(db.String(100))
    op_key = db.Column(db.String(32), nullable=False)
    body_hash = db.Column(db.String(32))  # the source's text when last mirrored: an edit there is carried over
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)

    __table_args__ = (db.UniqueConstraint("link_id", "source_side", "source_comment_id",
                                          name="uq_sync_comments_link_id_source_side_source_comment_id"),)

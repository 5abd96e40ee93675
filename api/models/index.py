"""The local issue index (newest known state of every polled or webhooked issue) and the event change hashes."""

from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR

from api.extensions import db
from api.models.base import utcnow


class IndexedIssue(db.Model):
    """One issue of a remote tracker as last seen by a poll, a webhook or the gateway's own write."""

    __tablename__ = "issue_index"

    tracker_id = db.Column(db.Integer, db.ForeignKey("trackers.id", ondelete="CASCADE"), primary_key=True)
    issue_id = db.Column(db.String(100), primary_key=True)
    title = db.Column(db.Text, nullable=False, default="")
    description = db.Column(db.Text, nullable=False, default="")
    status = db.Column(db.String(10), nullable=False)
    remote_status = db.Column(db.String(255), nullable=False, default="")
    labels = db.Column(ARRAY(db.Text), nullable=False, default=list)
    # Usernames, for the assignee filter; the Person objects are in `data`.
    assignees = db.Column(ARRAY(db.Text), nullable=False, default=list)
    comments_count = db.Column(db.Integer, nullable=False, default=0)
    created_at = db.Column(db.DateTime(timezone=True))
    updated_at = db.Column(db.DateTime(timezone=True), nullable=False)
    # The unified issue as JSON (what the API answers), and the SHA-256 of its compared fields.
    data = db.Column(JSONB, nullable=False)
    content_hash = db.Column(db.String(64), nullable=False)
    # comment id -> SHA-256 of its body, once the comments of the issue have been read; null before.
    comments = db.Column(JSONB)
    indexed_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    search = db.Column(TSVECTOR, db.Computed("to_tsvector('english', coalesce(title, '') || ' ' || coalesce(description, ''))",
                                             persisted=True))

    __table_args__ = (
        db.Index("ix_issue_index_tracker_updated", "tracker_id", "updated_at", "issue_id"),
        db.Index("ix_issue_index_search", "search", postgresql_using="gin"),
        db.Index("ix_issue_index_labels", "labels", postgresql_using="gin"),
    )


class EventChangeHash(db.Model):
    """One change of one issue already recorded as an event: the webhook and the poll that both see it record it once."""

    __tablename__ = "event_change_hashes"

    tracker_id = db.Column(db.Integer, db.ForeignKey("trackers.id", ondelete="CASCADE"), primary_key=True)
    issue_id = db.Column(db.String(100), primary_key=True)
    change_hash = db.Column(db.String(64), primary_key=True)
    source = db.Column(db.String(10), nullable=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow, index=True)

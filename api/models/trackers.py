"""Tracker connections, the built-in tracker's issues, and idempotency records."""

from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from api.extensions import db
from api.models.base import TimestampMixin, utcnow


class Tracker(TimestampMixin, db.Model):
    """A user's connection to one tracker target (a repo, a project, a board, or a built-in tracker)."""

    __tablename__ = "trackers"

    id = db.Column(db.Integer, primary_key=True)
    owner_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    name = db.Column(db.String(100), nullable=False)
    provider = db.Column(db.String(20), nullable=False)
    target = db.Column(db.String(255), nullable=False)
    base_url = db.Column(db.String(500))
    # Fernet token of the JSON credentials; never returned by the API.
    credentials_encrypted = db.Column(db.Text)
    options = db.Column(JSONB, nullable=False, default=dict)
    # The gateway's webhook on the provider: its id there and the secret that signs its deliveries.
    webhook_id = db.Column(db.String(100))
    webhook_secret_encrypted = db.Column(db.Text)
    # Next issue number of a built-in tracker, taken atomically with UPDATE ... RETURNING.
    issue_counter = db.Column(db.Integer, nullable=False, default=0)
    # Events without webhooks: "webhook", "poll" or "auto" (poll while no webhook is registered), and the poll state.
    events_mode = db.Column(db.String(10), nullable=False, default="auto", server_default="auto")
    poll_interval_seconds = db.Column(db.Integer)  # null: the configured default
    poll_cursor = db.Column(db.DateTime(timezone=True))  # newest updated_at seen; null until the baseline poll
    next_poll_at = db.Column(db.DateTime(timezone=True))
    last_polled_at = db.Column(db.DateTime(timezone=True))
    last_poll_error = db.Column(db.Text)
    poll_failures = db.Column(db.Integer, nullable=False, default=0, server_default="0")
    last_reconciled_at = db.Column(db.DateTime(timezone=True))

    __table_args__ = (db.UniqueConstraint("owner_id", "name", name="uq_trackers_owner_id_name"),)


class BuiltinIssue(db.Model):
    __tablename__ = "builtin_issues"

    id = db.Column(db.Integer, primary_key=True)
    tracker_id = db.Column(db.Integer, db.ForeignKey("trackers.id", ondelete="CASCADE"), nullable=False)
    number = db.Column(db.Integer, nullable=False)
    title = db.Column(db.String(255), nullable=False)
    description = db.Column(db.Text, nullable=False, default="")
    status = db.Column(db.String(10), nullable=False, default="open")
    labels = db.Column(ARRAY(db.String(100)), nullable=False, default=list)
    assignees = db.Column(ARRAY(db.String(32)), nullable=False, default=list)
    author = db.Column(db.String(32))
    due_date = db.Column(db.Date)
    comments_count = db.Column(db.Integer, nullable=False, default=0)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    closed_at = db.Column(db.DateTime(timezone=True))
    status_category = db.Column(db.String(12), nullable=False, default="todo", server_default="todo")
    priority = db.Column(db.String(10))
    issue_type = db.Column(db.String(50))
    parent_id = db.Column(db.Integer, db.ForeignKey("builtin_issues.id", ondelete="SET NULL"), index=True)

    __table_args__ = (
        db.UniqueConstraint("tracker_id", "number", name="uq_builtin_issues_tracker_id_number"),
        db.Index("ix_builtin_issues_tracker_updated", "tracker_id", "updated_at", "id"),
    )


class BuiltinComment(db.Model):
    __tablename__ = "builtin_comments"

    id = db.Column(db.Integer, primary_key=True)
    issue_id = db.Column(db.Integer, db.ForeignKey("builtin_issues.id", ondelete="CASCADE"), nullable=False, index=True)
    body = db.Column(db.Text, nullable=False)
    author = db.Column(db.String(32))
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)


class BuiltinAttachment(db.Model):
    """A file attached to a built-in issue; its bytes are in BuiltinAttachmentChunk rows, read and written one at a time."""

    __tablename__ = "builtin_attachments"

    id = db.Column(db.Integer, primary_key=True)
    issue_id = db.Column(db.Integer, db.ForeignKey("builtin_issues.id", ondelete="CASCADE"), nullable=False, index=True)
    filename = db.Column(db.String(255), nullable=False)
    content_type = db.Column(db.String(100), nullable=False)
    size = db.Column(db.BigInteger, nullable=False, default=0)
    author = db.Column(db.String(32))
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)


class BuiltinAttachmentChunk(db.Model):
    __tablename__ = "builtin_attachment_chunks"

    attachment_id = db.Column(db.Integer, db.ForeignKey("builtin_attachments.id", ondelete="CASCADE"), primary_key=True)
    seq = db.Column(db.Integer, primary_key=True)
    data = db.Column(db.LargeBinary, nullable=False)


class BuiltinLabel(db.Model):
    __tablename__ = "builtin_labels"

    id = db.Column(db.Integer, primary_key=True)
    tracker_id = db.Column(db.Integer, db.ForeignKey("trackers.id", ondelete="CASCADE"), nullable=False)
    name = db.Column(db.String(100), nullable=False)
    color = db.Column(db.String(7))

    __table_args__ = (db.UniqueConstraint("tracker_id", "name", name="uq_builtin_labels_tracker_id_name"),)


class IdempotencyRecord(db.Model):
    """The first response to a POST sent with an Idempotency-Key, replayed to retries."""

    __tablename__ = "idempotency_records"

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    key = db.Column(db.String(255), nullable=False)
    scope = db.Column(db.String(300), nullable=False)
    request_hash = db.Column(db.String(64), nullable=False)
    status_code = db.Column(db.Integer)
    response = db.Column(JSONB)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow, index=True)

    __table_args__ = (db.UniqueConstraint("user_id", "key", name="uq_idempotency_records_user_id_key"),)

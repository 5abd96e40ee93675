"""Automation rules and their runs."""

from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from api.extensions import db
from api.models.base import TimestampMixin, utcnow


class Automation(TimestampMixin, db.Model):
    __tablename__ = "automations"

    id = db.Column(db.Integer, primary_key=True)
    owner_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    name = db.Column(db.String(100), nullable=False)
    enabled = db.Column(db.Boolean, nullable=False, default=True)
    # None: any of the owner's trackers.
    tracker_id = db.Column(db.Integer, db.ForeignKey("trackers.id", ondelete="CASCADE"))
    event_types = db.Column(ARRAY(db.String(40)), nullable=False)
    conditions = db.Column(JSONB, nullable=False, default=dict)
    actions = db.Column(JSONB, nullable=False)


class AutomationRun(db.Model):
    """One rule applied to one event; its actions' results are recorded as they complete."""

    __tablename__ = "automation_runs"

    id = db.Column(db.BigInteger, primary_key=True)
    automation_id = db.Column(db.Integer, db.ForeignKey("automations.id", ondelete="CASCADE"), nullable=False)
    event_id = db.Column(db.BigInteger, db.ForeignKey("events.id", ondelete="CASCADE"), nullable=False)
    status = db.Column(db.String(20), nullable=False, default="pending")  # pending, succeeded, failed, skipped
    attempts = db.Column(db.Integer, nullable=False, default=0)
    results = db.Column(JSONB, nullable=False, default=list)
    error = db.Column(db.Text)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    finished_at = db.Column(db.DateTime(timezone=True))

    __table_args__ = (
        db.UniqueConstraint("automation_id", "event_id", name="uq_automation_runs_automation_id_event_id"),
        db.Index("ix_automation_runs_automation_id_id", "automation_id", "id"),
    )

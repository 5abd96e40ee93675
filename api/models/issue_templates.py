"""Issue templates and the issues they created."""

from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from api.extensions import db
from api.models.base import TimestampMixin, utcnow


class IssueTemplate(TimestampMixin, db.Model):
    __tablename__ = "issue_templates"

    id = db.Column(db.Integer, primary_key=True)
    owner_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    name = db.Column(db.String(100), nullable=False)
    description = db.Column(db.String(500), nullable=False, default="")
    title = db.Column(db.Text, nullable=False)
    body = db.Column(db.Text, nullable=False, default="")
    labels = db.Column(ARRAY(db.String(100)), nullable=False, default=list)
    assignees = db.Column(ARRAY(db.String(100)), nullable=False, default=list)
    tracker_id = db.Column(db.Integer, db.ForeignKey("trackers.id", ondelete="SET NULL"))
    # [{name, description, required, default, pattern}]
    variables = db.Column(JSONB, nullable=False, default=list)

    __table_args__ = (db.UniqueConstraint("owner_id", "name", name="uq_issue_templates_owner_id_name"),)


class TemplateIssue(db.Model):
    """An issue a template created: which tracker, which issue, where."""

    __tablename__ = "template_issues"

    id = db.Column(db.Integer, primary_key=True)
    template_id = db.Column(db.Integer, db.ForeignKey("issue_templates.id", ondelete="CASCADE"), nullable=False, index=True)
    tracker_id = db.Column(db.Integer, db.ForeignKey("trackers.id", ondelete="CASCADE"), nullable=False)
    issue_id = db.Column(db.String(100), nullable=False)
    url = db.Column(db.String(1000))
    title = db.Column(db.Text, nullable=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)

"""Issue templates and the issues they created."""

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Model, TimestampMixin, utcnow


class IssueTemplate(TimestampMixin, Model):
    __tablename__ = "issue_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)
    assignees: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)
    tracker_id: Mapped[int | None] = mapped_column(ForeignKey("trackers.id", ondelete="SET NULL"))
    # [{name, description, required, default, pattern}]
    variables: Mapped[list[Any]] = mapped_column(JSONB, default=list)

    __table_args__ = (UniqueConstraint("owner_id", "name", name="uq_issue_templates_owner_id_name"),)


class TemplateIssue(Model):
    """An issue a template created: which tracker, which issue, where."""

    __tablename__ = "template_issues"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("issue_templates.id", ondelete="CASCADE"), index=True)
    tracker_id: Mapped[int] = mapped_column(ForeignKey("trackers.id", ondelete="CASCADE"))
    issue_id: Mapped[str] = mapped_column(String(100))
    url: Mapped[str | None] = mapped_column(String(1000))
    title: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

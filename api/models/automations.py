"""Automation rules and their runs."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Model, TimestampMixin, utcnow


class Automation(TimestampMixin, Model):
    __tablename__ = "automations"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(default=True)
    # None: any of the owner's trackers.
    tracker_id: Mapped[int | None] = mapped_column(ForeignKey("trackers.id", ondelete="CASCADE"))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)


class AutomationRun(Model):
    """One rule applied to one event; its actions' results are recorded as they complete."""

    __tablename__ = "automation_runs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, succeeded, failed, skipped
    attempts: Mapped[int] = mapped_column(default=0)
    results: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("automation_id", "event_id", name="uq_automation_runs_automation_id_event_id"),
        Index("ix_automation_runs_automation_id_id", "automation_id", "id"),
    )

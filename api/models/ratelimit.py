"""Rate-limit counters (see api/ratelimit.py)."""

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Model


class RateLimitCounter(Model):
    __tablename__ = "rate_limit_counters"
    # UNLOGGED: counters are cheap to lose, and skipping the WAL keeps every login cheap.
    __table_args__ = {"prefixes": ["UNLOGGED"]}

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int]
    expires_at: Mapped[float] = mapped_column(Float)

"""Rate-limit counters (see api/ratelimit.py)."""

from api.extensions import db


class RateLimitCounter(db.Model):
    __tablename__ = "rate_limit_counters"
    # UNLOGGED: counters are cheap to lose, and skipping the WAL keeps every login cheap.
    __table_args__ = {"prefixes": ["UNLOGGED"]}

    key = db.Column(db.String(255), primary_key=True)
    count = db.Column(db.Integer, nullable=False)
    expires_at = db.Column(db.Float, nullable=False)

"""Users who own offers, tracker connections, templates and automations."""

from datetime import datetime

from sqlalchemy import DateTime, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Model, utcnow


class User(Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        # Usernames are unique regardless of case: "Alice" and "alice" are the same person.
        Index("uq_users_username_lower", func.lower(username), unique=True),
    )

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username}>"

"""Users who own offers, tracker connections, templates and automations."""

from sqlalchemy import func

from api.extensions import db
from api.models.base import utcnow


class User(db.Model):
    __tablename__ = "users"

    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(32), nullable=False)
    password_hash = db.Column(db.String(255), nullable=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)

    __table_args__ = (
        # Usernames are unique regardless of case: "Alice" and "alice" are the same person.
        db.Index("uq_users_username_lower", func.lower(username), unique=True),
    )

    def __repr__(self):
        return f"<User {self.id} {self.username}>"

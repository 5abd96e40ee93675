"""Job offers published by users."""

from sqlalchemy.dialects.postgresql import ARRAY

from api.extensions import db
from api.models.base import utcnow


class Offer(db.Model):
    __tablename__ = "offers"

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    title = db.Column(db.String(120), nullable=False)
    description = db.Column(db.Text, nullable=False, default="")
    skills_list = db.Column(ARRAY(db.String(50)), nullable=False, default=list)
    creation_date = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    modification_date = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)

    user = db.relationship("User", lazy="raise")

    def __repr__(self):
        return f"<Offer {self.id} {self.title!r}>"

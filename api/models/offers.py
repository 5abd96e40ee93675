"""Job offers published by users."""

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import DateTime, ForeignKey, String, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from api.models.base import Model, utcnow

if TYPE_CHECKING:
    from api.models.users import User


class Offer(Model):
    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    skills_list: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    creation_date: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    modification_date: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped["User"] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return f"<Offer {self.id} {self.title!r}>"

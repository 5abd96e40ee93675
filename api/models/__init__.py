"""SQLAlchemy models; importing this package registers every table on the metadata."""

from api.models.offers import Offer
from api.models.users import User

__all__ = ["Offer", "User"]

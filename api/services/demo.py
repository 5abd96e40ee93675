"""Demo data for a fresh installation."""

from sqlalchemy.orm import Session

from api.models.offers import Offer
from api.models.users import User
from api.services import users as users_service

DEMO_OFFERS = [
    ("Backend Engineer", "Build a RESTful API", ["python", "flask", "DevOps"]),
    ("Frontend Developer", "Build the single-page app on top of the gateway", ["typescript", "react"]),
    ("Site Reliability Engineer", "Run the platform on Kubernetes", ["kubernetes", "helm", "postgresql"]),
]


def load_demo_data(*, session: Session, username: str, password: str) -> tuple[User, bool]:
    """Create the demo user and offers unless the user exists; returns (user, created)."""
    user = users_service.get_by_username(session=session, username=username)
    if user is not None:
        return user, False
    user = users_service.register(session=session, username=username, password=password)
    for title, description, skills in DEMO_OFFERS:
        session.add(Offer(user_id=user.id, title=title, description=description, skills_list=skills))
    session.commit()
    return user, True

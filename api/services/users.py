"""Registration, login and user lookup."""

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.auth import encode_token, hash_password, password_needs_rehash, verify_password
from api.errors import Conflict, NotFound, Unauthorized
from api.models.users import User
from api.services.issue_templates import create_starter_templates


def get_by_username(*, session: Session, username: str) -> User | None:
    """Find a user by username, ignoring case."""
    return session.scalar(select(User).where(func.lower(User.username) == username.lower()))


def register(*, session: Session, username: str, password: str) -> User:
    """Create a user with an argon2id password hash; a taken username is a 409."""
    if get_by_username(session=session, username=username) is not None:
        raise Conflict("This username is already taken.", errors={"username": ["Already taken."]})
    user = User(username=username, password_hash=hash_password(password))
    session.add(user)
    try:
        session.flush()
        create_starter_templates(session=session, owner=user)
        session.commit()
    except IntegrityError:
        # Lost a race with a concurrent registration of the same name.
        session.rollback()
        raise Conflict("This username is already taken.", errors={"username": ["Already taken."]}) from None
    return user


def login(*, session: Session, username: str, password: str) -> dict[str, Any]:
    """Check credentials and issue a token; unknown user and wrong password fail alike."""
    user = get_by_username(session=session, username=username)
    verified = verify_password(user.password_hash if user else None, password)  # costs the same for an unknown user
    if user is None or not verified:
        raise Unauthorized("Invalid username or password.", error="invalid_credentials")
    if password_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.commit()
    expires_at = datetime.now(UTC) + timedelta(seconds=current_app.config["JWT_EXPIRES_SECONDS"])
    return {"id": user.id, "token": encode_token(user.id), "expires_at": expires_at}


def get_user(*, session: Session, user_id: int) -> User:
    """Load a user or raise 404."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} not found.")
    return user

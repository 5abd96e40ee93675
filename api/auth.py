"""Password hashing, JWT encoding/decoding and the @auth_required decorator."""

import contextlib
import functools
import math
import threading
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, g, request
from sqlalchemy import bindparam, select
from sqlalchemy.exc import DBAPIError

from api.errors import ServiceUnavailable, Unauthorized
from api.extensions import db

_hashers = {}
_dummy_hashes = {}
_slots_lock = threading.Lock()
# Verified against when the username is unknown, so a miss costs the same time as a wrong password.
_DUMMY_PASSWORD = "not-a-real-password"  # noqa: S105


def _hasher():
    profile_name = current_app.config.get("PASSWORD_HASH_PROFILE", "RFC_9106_LOW_MEMORY")
    if profile_name not in _hashers:
        _hashers[profile_name] = PasswordHasher.from_parameters(getattr(profiles, profile_name))
    return _hashers[profile_name]


@contextlib.contextmanager
def _hash_slot():
    """Hold one of the process's PASSWORD_HASH_CONCURRENCY hashing slots (each hash takes memory_cost of RAM)."""
    app = current_app._get_current_object()
    with _slots_lock:
        slots = app.extensions.get("password_hash_slots")
        if slots is None:
            slots = app.extensions["password_hash_slots"] = threading.BoundedSemaphore(
                max(1, app.config["PASSWORD_HASH_CONCURRENCY"])
            )
    wait = app.config["PASSWORD_HASH_WAIT_SECONDS"]
    if not slots.acquire(timeout=max(0.0, wait)):
        raise ServiceUnavailable(
            "Too many passwords are being checked right now; retry shortly.",
            error="busy",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    try:
        yield
    finally:
        slots.release()


def hash_password(password):
    """Hash a password with argon2id."""
    with _hash_slot():
        return _hasher().hash(password)


def verify_password(password_hash, password):
    """Check a password against its argon2 hash; a missing hash still costs one verification."""
    hasher = _hasher()
    with _hash_slot():
        if password_hash is None:
            dummy = _dummy_hashes.get(id(hasher))
            if dummy is None:
                dummy = _dummy_hashes[id(hasher)] = hasher.hash(_DUMMY_PASSWORD)
            with contextlib.suppress(VerificationError):
                hasher.verify(dummy, password)
            return False
        try:
            return hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


def password_needs_rehash(password_hash):
    """True when the hash was made with weaker parameters than the current ones."""
    return _hasher().check_needs_rehash(password_hash)


def encode_token(user_id):
    """Issue an HS256 JWT for a user: sub, iat, exp."""
    now = datetime.now(UTC)
    payload = {
        "sub": str(user_id),
        "iat": now,
        "exp": now + timedelta(seconds=current_app.config["JWT_EXPIRES_SECONDS"]),
    }
    return jwt.encode(payload, current_app.config["SECRET_KEY"], algorithm=current_app.config["JWT_ALGORITHM"])


# Tokens this process has verified: token -> (user id, exp, the algorithm and keys that verified it). A client sends
# the same token on every request; its signature need not be checked again while the keys are the same, only its
# expiry (and that its user still exists: load_user, on every request).
_verified = {}
_VERIFIED_MAX = 4096


def decode_token(token):
    """Verify a JWT and return its user id; every failure is a 401 with a reason that leaks nothing."""
    config = current_app.config
    keys = (config["JWT_ALGORITHM"], config["SECRET_KEY"], *config.get("JWT_PREVIOUS_KEYS", []))
    cached = _verified.get(token)
    if cached is not None:
        user_id, expires, verified_with = cached
        if verified_with == keys and datetime.now(UTC).timestamp() < expires:
            return user_id
        _verified.pop(token, None)
    user_id, expires = _decode_token(token, keys)
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[token] = (user_id, expires, keys)
    return user_id


def _decode_token(token, keys):
    algorithm, keys = keys[0], keys[1:]
    options = {"require": ["exp", "iat", "sub"]}
    for index, key in enumerate(keys):
        try:
            payload = jwt.decode(token, key, algorithms=[algorithm], options=options)
            break
        except jwt.InvalidSignatureError:
            if index == len(keys) - 1:
                raise Unauthorized("The token is invalid.", error="invalid_token") from None
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired; log in again.", error="token_expired") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("The token is invalid.", error="invalid_token") from None
    try:
        return int(payload["sub"]), float(payload["exp"])
    except (TypeError, ValueError):
        raise Unauthorized("The token is invalid.", error="invalid_token") from None


def token_from_request():
    """Read the token from `Authorization: JWT <token>` or `Authorization: Bearer <token>`."""
    header = request.headers.get("Authorization", "")
    if not header:
        raise Unauthorized("Missing Authorization header; send 'Authorization: Bearer <token>'.")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() not in ("jwt", "bearer") or not token.strip():
        raise Unauthorized("Unsupported Authorization scheme; send 'Authorization: Bearer <token>'.")
    return token.strip()


def current_user():
    """The authenticated user of this request (set by @auth_required)."""
    return g.current_user


_user_by_id = None


def _user_statement():
    """The caller's row by id: one statement object, so its SQL cache key is computed once per process."""
    global _user_by_id
    if _user_by_id is None:
        from api.models.users import User

        _user_by_id = select(User).where(User.id == bindparam("user_id"))
    return _user_by_id


def load_user(user_id):
    """The user with this id, or None: read on every request, so a deleted user's token stops working at once.

    The pool does not ping connections before use (one round trip per request saved); a connection that died
    with a database restart is found here, on the request's first statement, and the query is sent once more on
    a fresh one (the failure invalidates the whole pool). A database still down is a 503 (api/errors.py).
    """
    session = db.session
    try:
        return session.execute(_user_statement(), {"user_id": user_id}).scalar()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        session.rollback()
        return session.execute(_user_statement(), {"user_id": user_id}).scalar()


def auth_required(func):
    """Require a valid token whose user still exists; sets g.current_user."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        user = load_user(decode_token(token_from_request()))
        if user is None:
            raise Unauthorized("The token's user no longer exists.", error="invalid_token")
        g.current_user = user
        return func(*args, **kwargs)

    return wrapper

"""Rate limiting (Flask-Limiter) with a PostgreSQL counter store shared by every uwsgi process.

`limits` ships no PostgreSQL storage; this one keeps fixed-window counters in an UNLOGGED table (losing
them in a database crash only resets the windows) and updates a counter with one atomic upsert, so the
default installation needs nothing beyond its database. RATELIMIT_STORAGE_URI may name another
storage `limits` supports, e.g. redis://.
"""

import time

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.storage import Storage
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

_INCR = text("""
    INSERT INTO rate_limit_counters (key, count, expires_at) VALUES (:key, :amount, :now + :expiry)
    ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN rate_limit_counters.expires_at <= :now THEN :amount
                     ELSE rate_limit_counters.count + :amount END,
        expires_at = CASE WHEN rate_limit_counters.expires_at <= :now THEN :now + :expiry
                          ELSE rate_limit_counters.expires_at END
    RETURNING count
""")


class PostgresStorage(Storage):
    """Fixed-window counters in the application database (scheme `gateway+postgres://`)."""

    STORAGE_SCHEME = ["gateway+postgres"]

    def __init__(self, uri=None, wrap_exceptions=False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self):
        return SQLAlchemyError

    @staticmethod
    def _engine():
        from api.extensions import db

        return db.engine

    def incr(self, key, expiry, amount=1):
        with self._engine().begin() as connection:
            return connection.execute(_INCR, {"key": key, "amount": amount, "expiry": expiry, "now": time.time()}).scalar_one()

    def get(self, key):
        with self._engine().connect() as connection:
            count = connection.execute(
                text("SELECT count FROM rate_limit_counters WHERE key = :key AND expires_at > :now"),
                {"key": key, "now": time.time()},
            ).scalar()
        return count or 0

    def get_expiry(self, key):
        with self._engine().connect() as connection:
            expires = connection.execute(
                text("SELECT expires_at FROM rate_limit_counters WHERE key = :key"), {"key": key}
            ).scalar()
        return expires or time.time()

    def check(self):
        try:
            with self._engine().connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def reset(self):
        with self._engine().begin() as connection:
            return connection.execute(text("DELETE FROM rate_limit_counters")).rowcount

    def clear(self, key):
        with self._engine().begin() as connection:
            connection.execute(text("DELETE FROM rate_limit_counters WHERE key = :key"), {"key": key})


limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


def configured(name):
    """A limit string read from config at request time, so tests and operators can change it."""
    from flask import current_app

    return lambda: current_app.config[name]


def init_limiter(app):
    """limiter.init_app, with its per-request middleware check run only when a limit needs it.

    The limits here are per view (login, register): their decorator checks them itself. The middleware hook only
    serves default, application, meta and blueprint limits; with none configured it would resolve an empty list
    of limits on every request, so it runs only once one of those exists.
    """
    limiter.init_app(app)
    hooks = app.before_request_funcs.setdefault(None, [])
    check = limiter._check_request_limit
    if check not in hooks:
        return
    manager = limiter.limit_manager

    def check_where_limits_apply():
        if manager._default_limits or manager._application_limits or manager._blueprint_limits or limiter._meta_limits:
            check()

    hooks[hooks.index(check)] = check_where_limits_apply

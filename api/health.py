"""Liveness and readiness probes, outside the API and its auth."""

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from api.extensions import db

health = Blueprint("health", __name__)
_heads = {}


def _expected_heads():
    directory = current_app.extensions["migrate"].directory
    if directory not in _heads:
        config = current_app.extensions["migrate"].migrate.get_config(directory)
        _heads[directory] = set(ScriptDirectory.from_config(config).get_heads())
    return _heads[directory]


@health.get("/healthz")
def healthz():
    """The process is alive (no database check, so a database outage does not restart pods)."""
    return jsonify(status="ok")


@health.get("/readyz")
def readyz():
    """Ready to serve: the database answers and its schema is at the latest migration."""
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(connection).get_current_heads())
    except Exception as exc:  # any failure to reach the database means "not ready"
        return jsonify(status="unavailable", database="unreachable", error=type(exc).__name__), 503
    expected = _expected_heads()
    if current != expected:
        return jsonify(status="unavailable", database="ok", migrations="pending",
                       current=sorted(current), expected=sorted(expected)), 503
    return jsonify(status="ok", database="ok", migrations="current")


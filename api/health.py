"""Liveness and readiness probes, outside the API and its auth."""

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from api.extensions import db

health = Blueprint("health", __name__)
_scripts = {}


def _script_directory():
    directory = current_app.extensions["migrate"].directory
    if directory not in _scripts:
        config = current_app.extensions["migrate"].migrate.get_config(directory)
        _scripts[directory] = ScriptDirectory.from_config(config)
    return _scripts[directory]


def migration_state(current):
    """'current', 'ahead' (migrated by a newer release) or 'pending' (this code needs migrations)."""
    script = _script_directory()
    if current == set(script.get_heads()):
        return "current"
    for revision in current:
        try:
            script.get_revision(revision)
        except Exception:  # alembic raises several kinds for a revision it does not know
            return "ahead"
    return "pending"


@health.get("/healthz")
def healthz():
    """The process is alive (no database check, so a database outage does not restart pods)."""
    return jsonify(status="ok")


@health.get("/readyz")
def readyz():
    """Ready to serve: the database answers and its schema is at this code's migration or newer."""
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(connection).get_current_heads())
    except Exception as exc:  # any failure to reach the database means "not ready"
        return jsonify(status="unavailable", database="unreachable", error=type(exc).__name__), 503
    # During a rolling upgrade the new release migrates first; old pods must stay ready on the newer schema.
    state = migration_state(current)
    if state == "pending":
        return jsonify(
            status="unavailable",
            database="ok",
            migrations="pending",
            current=sorted(current),
            expected=sorted(_script_directory().get_heads()),
        ), 503
    return jsonify(status="ok", database="ok", migrations=state)

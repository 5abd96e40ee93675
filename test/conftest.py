"""Test kit: a throwaway real PostgreSQL, the app, a client, an auth helper, and per-test isolation."""

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from api import create_app
from api.extensions import db as _db
from api.trackers.providers.github import etag_cache
from api.trackers.resilience import reset_for_tests
from config import BASE_DIR, TestingConfig

pytest_plugins = ["test.fakes.conftest_plugin", "test.ci_guard", "test.spec_validation"]

DEFAULT_PASSWORD = "correct horse battery"

# What every PATCH answers to a body that changes nothing.
EMPTY_UPDATE_REFUSED = {
    "code": 400,
    "error": "validation_failed",
    "message": "Send at least one field to change.",
    "errors": {"_schema": ["No fields to change."]},
}


def read_unlocked(engine, table, column, row_id):
    """`column` of row `row_id` read FOR UPDATE NOWAIT on a connection of its own: raises while anyone holds the row."""
    with engine.connect() as other:
        other.execute(sa.text("SET lock_timeout = '5s'"))
        statement = sa.text(f"SELECT {column} FROM {table} WHERE id = :id FOR UPDATE NOWAIT")  # noqa: S608 (test constants)
        return other.execute(statement, {"id": row_id}).scalar()


def _create_database(server_url, name):
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _drop_database(server_url, name):
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session")
def pg_server_url():
    """URL of a PostgreSQL server for this run: TEST_DATABASE_URL's server, or an embedded throwaway one."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    import pgserver

    # A short path keeps the unix socket name under the OS limit.
    pgdata = tempfile.mkdtemp(prefix="tg-pg-")
    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    try:
        yield server.get_uri("postgres")
    finally:
        server.cleanup()
        shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(pg_server_url):
    """A fresh database, dropped at the end of the run, migrated to head by the `make_app` fixture."""
    name = f"tg_test_{uuid.uuid4().hex[:12]}"
    url = _create_database(pg_server_url, name)
    yield url
    _drop_database(pg_server_url, name)


@pytest.fixture
def empty_database_url(pg_server_url):
    """A fresh database with no migrations applied, dropped after the test."""
    name = f"tg_empty_{uuid.uuid4().hex[:12]}"
    url = _create_database(pg_server_url, name)
    yield url
    _drop_database(pg_server_url, name)


@pytest.fixture(scope="session")
def make_app(database_url):
    """Build another app on the test database (migrated to head first) with some settings overridden."""

    def factory(**overrides):
        overrides.setdefault("SQLALCHEMY_DATABASE_URI", database_url)
        return create_app(TestingConfig, **overrides)

    # Here rather than in `app`, so a test that builds its own app finds the tables when it runs alone.
    with factory().app_context():
        upgrade(directory=str(BASE_DIR / "migrations"))
    return factory


@pytest.fixture(scope="session")
def app(make_app):
    return make_app()


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """Per-process tracker state (breaker, in-flight counts, pooled sessions, ETag cache) starts empty: ids repeat."""
    reset_for_tests()
    etag_cache.clear()


@pytest.fixture(autouse=True)
def _isolate(request):
    """Every test starts from empty tables (only when it uses the database)."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        _db.session.remove()
        tables = [t.name for t in _db.metadata.sorted_tables]
        tables += ["procrastinate_jobs", "procrastinate_events", "procrastinate_periodic_defers", "procrastinate_workers"]
        if tables:
            with _db.engine.begin() as connection:
                connection.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    with app.app_context():
        yield _db
        _db.session.remove()


@dataclass
class AuthUser:
    id: int
    username: str
    password: str
    token: str

    @property
    def headers(self):
        return {"Authorization": f"JWT {self.token}"}


class AuthHelper:
    """Registers and logs in users through the API."""

    def __init__(self, client):
        self.client = client
        self._count = 0

    def register(self, username=None, password=DEFAULT_PASSWORD):
        self._count += 1
        username = username or f"user{self._count}_{uuid.uuid4().hex[:6]}"
        response = self.client.post("/api/v1/users/register", json={"username": username, "password": password})
        assert response.status_code == 201, response.get_json()
        login = self.client.post("/api/v1/users/login", json={"username": username, "password": password})
        assert login.status_code == 200, login.get_json()
        return AuthUser(id=login.get_json()["id"], username=username, password=password, token=login.get_json()["token"])

    def headers(self, user=None):
        return (user or self.register()).headers


@pytest.fixture
def auth(client):
    return AuthHelper(client)


def registration(db, tracker_id):
    """The webhook registration the gateway stored for a tracker (secret included)."""
    from api import crypto
    from api.models.trackers import Tracker
    from api.trackers.base import WebhookRegistration

    return WebhookRegistration(**crypto.decrypt_json(db.session.get(Tracker, tracker_id).webhook_secret_encrypted))


@pytest.fixture
def github(client, auth, github_fake, db):
    """A GitHub tracker on the fake with the gateway's webhook registered."""
    user = auth.register()
    github_fake.add_token("gh-token", login="octocat")
    github_fake.add_repo("Codertocat/Hello-World")
    github_fake.add_member("Codertocat/Hello-World", "octocat", permission="admin")  # hooks need admin
    github_fake.add_issue("Codertocat/Hello-World", "Spelling error in the README file")
    from test.test_trackers import make_tracker

    tracker = make_tracker(
        client,
        user,
        name="gh",
        provider="github",
        target="Codertocat/Hello-World",
        base_url=github_fake.base_url,
        credentials={"token": "gh-token"},
    )
    response = client.post(f"/api/v1/trackers/{tracker['id']}/webhook", headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return {"user": user, "tracker": tracker, "secret": registration(db, tracker["id"]).secret, "fake": github_fake}

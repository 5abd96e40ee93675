"""The PostgreSQL rate-limit counter store used directly against the real database, and the limiter around it."""

import time

import pytest
import sqlalchemy as sa

from api.ratelimit import PostgresStorage, limiter

UNREACHABLE = "postgresql+psycopg://gateway@127.0.0.1:1/nowhere"  # connection refused at once


@pytest.fixture
def storage(app, db):
    store = PostgresStorage()
    store.reset()
    return store


def expire(db, key):
    with db.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE rate_limit_counters SET expires_at = :past WHERE key = :key"), {"past": time.time() - 1, "key": key}
        )


def test_incr_counts_up_within_a_window_by_the_amount_given(storage):
    assert storage.incr("k", 60) == 1
    assert storage.incr("k", 60) == 2
    assert storage.incr("k", 60, amount=3) == 5
    assert storage.get("k") == 5
    assert storage.incr("other", 60) == 1 and storage.get("k") == 5


def test_an_unknown_key_counts_zero_and_expires_now(storage):
    before = time.time()
    assert storage.get("never-hit") == 0
    assert before <= storage.get_expiry("never-hit") <= time.time() + 5


def test_the_window_ends_expiry_seconds_after_the_first_hit(storage):
    before = time.time()
    storage.incr("k", 60)
    storage.incr("k", 60)
    assert before + 60 <= storage.get_expiry("k") <= time.time() + 60


def test_a_passed_window_counts_zero_and_starts_over_at_the_amount(db, storage):
    storage.incr("k", 60, amount=4)
    expire(db, "k")
    assert storage.get("k") == 0
    before = time.time()
    assert storage.incr("k", 60, amount=2) == 2
    assert storage.get("k") == 2 and storage.get_expiry("k") >= before + 60


def test_clear_forgets_one_key_and_reset_every_key(storage):
    for key in ("a", "b", "c"):
        storage.incr(key, 60)
    storage.clear("a")
    assert (storage.get("a"), storage.get("b"), storage.get("c")) == (0, 1, 1)
    assert storage.reset() == 2
    assert (storage.get("b"), storage.get("c")) == (0, 0)


def test_check_is_true_while_the_database_answers_and_false_when_it_does_not(storage, make_app):
    assert storage.check() is True
    with make_app(SQLALCHEMY_DATABASE_URI=UNREACHABLE).app_context():
        assert PostgresStorage().check() is False


def test_the_storage_raises_the_database_error_itself_not_a_wrapped_one(make_app):
    with make_app(SQLALCHEMY_DATABASE_URI=UNREACHABLE).app_context(), pytest.raises(sa.exc.OperationalError):
        PostgresStorage().incr("k", 60)


def test_a_login_while_the_counter_database_is_down_is_503_database_unavailable(make_app):
    client = make_app(SQLALCHEMY_DATABASE_URI=UNREACHABLE, RATELIMIT_ENABLED=True).test_client()
    response = client.post("/api/v1/users/login", json={"username": "someone", "password": "some password"})
    assert response.status_code == 503 and response.get_json()["error"] == "database_unavailable"
    assert response.headers["Retry-After"] == "5"


def test_the_remaining_header_counts_down_with_each_login(app, make_app, auth):
    user = auth.register()
    client = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="5 per minute").test_client()
    with client.application.app_context():
        limiter.reset()
    body = {"username": user.username, "password": user.password}
    responses = [client.post("/api/v1/users/login", json=body) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert [r.headers["X-RateLimit-Limit"] for r in responses] == ["5", "5", "5"]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["4", "3", "2"]


@pytest.fixture
def application_limited(app, make_app):
    limited = make_app(RATELIMIT_ENABLED=True, RATELIMIT_APPLICATION="2 per minute")
    with limited.app_context():
        limiter.reset()
    yield limited.test_client()
    limiter.limit_manager.set_application_limits([])  # the limiter is process-wide: no app after this one sees it
    with limited.app_context():
        limiter.reset()


def test_an_application_wide_limit_applies_to_every_endpoint(application_limited):
    statuses = [application_limited.get("/api/v1/").status_code for _ in range(2)]
    statuses.append(application_limited.get("/api/v1/swagger.json").status_code)
    assert statuses == [200, 200, 429]


def test_check_notices_a_pooled_connection_the_database_dropped_then_recovers(make_app):
    from sqlalchemy.pool import NullPool

    from api.extensions import db

    with make_app().app_context():  # its own engine: one pooled connection, nobody else's
        storage = PostgresStorage()
        assert storage.check() is True
        with db.engine.connect() as connection:
            pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        killer = sa.create_engine(db.engine.url, poolclass=NullPool)
        with killer.connect() as connection:
            assert connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
        killer.dispose()
        assert storage.check() is False
        assert storage.check() is True

"""Round trips per authenticated request are counted, and a dropped connection is survived without the pool ping."""

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from api.extensions import db


class Recorder:
    """Statements, pool pings and rollbacks that had a transaction to undo, as PostgreSQL receives them."""

    def __init__(self, engine):
        self.engine = engine
        self.statements, self.pings, self.rollbacks = [], 0, 0
        self._ping = engine.dialect.do_ping

    def _statement(self, conn, cursor, statement, *args):
        self.statements.append(" ".join(statement.split()))

    def _rollback(self, conn):
        raw = conn.connection.dbapi_connection
        if raw is not None and raw.info.transaction_status != 0:  # psycopg2 sends nothing outside a transaction
            self.rollbacks += 1

    def _counting_ping(self, dbapi_connection):
        self.pings += 1
        return self._ping(dbapi_connection)

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "rollback", self._rollback)
        self.engine.dialect.do_ping = self._counting_ping
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "rollback", self._rollback)
        self.engine.dialect.do_ping = self._ping


@pytest.fixture
def engine(app):
    # No app context is kept pushed: each request must get (and tear down) its own session.
    with app.app_context():
        return db.engine


@pytest.fixture
def owner(client, auth):
    user = auth.register()
    for n in range(3):
        assert (
            client.post(f"/api/v1/users/{user.id}/offers/", json={"title": f"Offer {n}"}, headers=user.headers).status_code == 201
        )
    return user


def test_an_authenticated_offers_list_costs_two_statements_and_one_rollback(client, engine, owner):
    client.get(f"/api/v1/users/{owner.id}/offers/", headers=owner.headers)  # warm the pool
    with Recorder(engine) as seen:
        response = client.get(f"/api/v1/users/{owner.id}/offers/", headers=owner.headers)
    assert response.status_code == 200
    assert response.get_json()["count"] == 3
    # The caller's row (a deleted user's token stops working at once), then the page with its count.
    assert len(seen.statements) == 2, seen.statements
    assert seen.statements[0].startswith("SELECT users.id")
    assert "count(*)" in seen.statements[1] and "FROM offers" in seen.statements[1]
    assert seen.pings == 0
    assert seen.rollbacks == 1


def test_an_authenticated_request_without_its_own_queries_costs_one_statement(client, engine, owner):
    client.get("/api/v1/users/me", headers=owner.headers)
    with Recorder(engine) as seen:
        assert client.get("/api/v1/users/me", headers=owner.headers).status_code == 200
    assert len(seen.statements) == 1, seen.statements
    assert seen.pings == 0
    assert seen.rollbacks <= 1


def test_a_deleted_users_token_stops_working_on_the_next_request(client, engine, owner):
    assert client.get(f"/api/v1/users/{owner.id}/offers/", headers=owner.headers).status_code == 200
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": owner.id})
    response = client.get(f"/api/v1/users/{owner.id}/offers/", headers=owner.headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"


def _kill_pooled_connections(engine):
    """Terminate every other backend of this database, as a database restart would."""
    with engine.connect() as connection:
        connection.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        connection.commit()


def test_a_connection_dropped_under_the_pool_is_replaced_on_an_authenticated_request(client, engine, owner):
    # Several checked-in connections, so the next request surely gets one that died.
    connections = [engine.connect() for _ in range(3)]
    for connection in connections:
        connection.close()
    client.get("/api/v1/users/me", headers=owner.headers)
    _kill_pooled_connections(engine)
    response = client.get(f"/api/v1/users/{owner.id}/offers/", headers=owner.headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["count"] == 3


def test_a_connection_dropped_under_the_pool_is_a_503_then_recovered_on_other_requests(client, engine, owner):
    client.get("/api/v1/users/me", headers=owner.headers)
    _kill_pooled_connections(engine)
    first = client.post("/api/v1/users/login", json={"username": owner.username, "password": owner.password})
    assert first.status_code in (200, 503)
    if first.status_code == 503:
        assert first.get_json()["error"] == "database_unavailable"
    again = client.post("/api/v1/users/login", json={"username": owner.username, "password": owner.password})
    assert again.status_code == 200

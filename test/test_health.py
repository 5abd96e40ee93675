from api import create_app
from config import TestingConfig


def test_healthz_needs_no_database_or_token(make_app):
    app = make_app(SQLALCHEMY_DATABASE_URI="postgresql://nobody@127.0.0.1:9/none")
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_is_200_when_database_is_migrated(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["migrations"] == "current"


def test_readyz_is_503_when_migrations_are_pending(empty_database_url):
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=empty_database_url)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["migrations"] == "pending"


def test_readyz_is_503_when_database_is_unreachable(make_app):
    app = make_app(
        SQLALCHEMY_DATABASE_URI="postgresql://nobody@127.0.0.1:9/none",
        SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 1}},
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"


def test_readyz_stays_ready_when_a_newer_release_has_migrated_ahead(empty_database_url):
    from flask_migrate import upgrade
    from sqlalchemy import text

    from api.extensions import db
    from config import BASE_DIR

    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=empty_database_url)
    with app.app_context():
        upgrade(directory=str(BASE_DIR / "migrations"))
        with db.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed9999'"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 200 and response.get_json()["migrations"] == "ahead"
    with app.app_context():
        db.engine.dispose()

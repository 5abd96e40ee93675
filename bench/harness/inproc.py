"""The app in the bench's own process: production or testing settings on a migrated database, and its first users."""

import os

from bench.harness import PASSWORD
from bench.harness.server import app_env


def migrated(app):
    from flask_migrate import upgrade

    from config import BASE_DIR

    with app.app_context():
        upgrade(directory=str(BASE_DIR / "migrations"))
    return app


def production_app(database_url, **settings):
    """The app under production settings with throwaway secrets (as `app_env()` gives uwsgi)."""
    os.environ.update(app_env(database_url, **settings))
    from api import create_app

    return migrated(create_app("production"))


def testing_app(database_url, **config):
    from api import create_app
    from config import TestingConfig

    return migrated(create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=database_url, **config))


def offer_owner(session):
    """Inside an app context: a user `bench` with 20 offers; returns (user_id, JWT)."""
    from api.auth import encode_token
    from api.models.offers import Offer
    from api.services.users import register

    user = register(session=session, username="bench", password="bench-password")
    for n in range(20):
        session.add(
            Offer(user_id=user.id, title=f"Offer {n}", description="d" * 200, skills_list=["python", "flask", "postgresql"])
        )
    session.commit()
    return user.id, encode_token(user.id)


def login_headers(client, username):
    """Register `username` and log in through the test client; its Authorization header."""
    client.post("/api/v1/users/register", json={"username": username, "password": PASSWORD})
    token = client.post("/api/v1/users/login", json={"username": username, "password": PASSWORD}).get_json()["token"]
    return {"Authorization": f"JWT {token}"}

"""Each authentication failure says which one it is; tokens carry what they claim; password checks return booleans."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher, profiles

from api.auth import password_needs_rehash, verify_password
from api.models.users import User
from test.conftest import TestingConfig
from test.test_login_limits import LOGIN, _post_in_thread, held_hasher  # noqa: F401 - held_hasher is a fixture

ME = "/api/v1/users/me"
INVALID = ("invalid_token", "The token is invalid.")


def _token(sub, *, key=TestingConfig.SECRET_KEY, exp_delta=3600):
    now = datetime.now(UTC)
    return jwt.encode({"sub": sub, "iat": now, "exp": now + timedelta(seconds=exp_delta)}, key, algorithm="HS256")


def _failure(response):
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    body = response.get_json()
    return body["error"], body["message"]


def _me(client, authorization):
    return client.get(ME, headers={"Authorization": authorization})


def test_no_authorization_header_says_it_is_missing(client):
    assert _failure(client.get(ME)) == ("unauthorized", "Missing Authorization header; send 'Authorization: Bearer <token>'.")


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer    ", "JWT"])
def test_another_scheme_or_no_token_after_the_scheme_says_the_scheme_is_unsupported(client, header):
    assert _failure(_me(client, header)) == (
        "unauthorized",
        "Unsupported Authorization scheme; send 'Authorization: Bearer <token>'.",
    )


def test_spaces_around_the_token_are_ignored(client, auth):
    user = auth.register()
    assert _me(client, f"  Bearer   {user.token}  ").status_code == 200


@pytest.mark.parametrize(
    "token",
    ["not-a-jwt", _token("1", key="w" * 48), _token("abc"), _token("1.5")],
    ids=["malformed", "wrong key", "sub not a number", "sub not an integer"],
)
def test_an_invalid_token_is_invalid_token(client, auth, token):
    auth.register()
    assert _failure(_me(client, f"Bearer {token}")) == INVALID


def test_an_expired_token_says_to_log_in_again(client, auth):
    user = auth.register()
    assert _failure(_me(client, f"Bearer {_token(str(user.id), exp_delta=-10)}")) == (
        "token_expired",
        "The token has expired; log in again.",
    )


def test_the_token_of_a_deleted_user_says_the_user_no_longer_exists(client, auth, db):
    user = auth.register()
    db.session.delete(db.session.get(User, user.id))
    db.session.commit()
    assert _failure(_me(client, f"Bearer {user.token}")) == ("invalid_token", "The token's user no longer exists.")


def test_tokens_signed_with_any_previous_key_work_and_one_signed_with_none_is_invalid(make_app, auth):
    user = auth.register()
    rotated = make_app(SECRET_KEY="n" * 48, JWT_PREVIOUS_KEYS=["o" * 48, TestingConfig.SECRET_KEY])
    client = rotated.test_client()
    assert _me(client, f"Bearer {_token(str(user.id), key='o' * 48)}").status_code == 200
    assert _me(client, f"Bearer {user.token}").status_code == 200
    assert _failure(_me(client, f"Bearer {_token(str(user.id), key='x' * 48)}")) == INVALID
    assert _failure(_me(client, f"Bearer {_token(str(user.id), key='o' * 48, exp_delta=-10)}"))[0] == "token_expired"


def test_a_login_token_names_the_user_and_lives_jwt_expires_seconds(make_app, auth):
    user = auth.register()
    login = (
        make_app(JWT_EXPIRES_SECONDS=600).test_client().post(LOGIN, json={"username": user.username, "password": user.password})
    )
    claims = jwt.decode(login.get_json()["token"], TestingConfig.SECRET_KEY, algorithms=["HS256"])
    assert claims["sub"] == str(user.id) and claims["exp"] - claims["iat"] == 600
    assert abs(claims["iat"] - datetime.now(UTC).timestamp()) < 300


def test_verify_password_returns_booleans_for_every_outcome(app):
    with app.app_context():
        good = PasswordHasher.from_parameters(profiles.CHEAPEST).hash("right password")
        assert verify_password(good, "right password") is True
        assert verify_password(good, "wrong password") is False
        assert verify_password("not-an-argon2-hash", "right password") is False
        assert verify_password(None, "right password") is False
        assert verify_password(None, "not-a-real-password") is False  # the dummy hash never admits anyone


def test_a_hash_made_with_weaker_parameters_needs_a_rehash(make_app):
    cheap = PasswordHasher.from_parameters(profiles.CHEAPEST).hash("some password")
    with make_app(PASSWORD_HASH_PROFILE="RFC_9106_LOW_MEMORY").app_context():
        assert password_needs_rehash(cheap) is True
    with make_app(PASSWORD_HASH_PROFILE="CHEAPEST").app_context():
        assert password_needs_rehash(cheap) is False


def test_a_hashing_concurrency_below_one_still_allows_exactly_one_hash(auth, make_app, held_hasher):  # noqa: F811
    user = auth.register()
    app = make_app(PASSWORD_HASH_CONCURRENCY=0, PASSWORD_HASH_WAIT_SECONDS=0.2)
    credentials = {"username": user.username, "password": user.password}
    held_hasher.armed.set()
    results = []
    holder = _post_in_thread(app, LOGIN, credentials, results)
    try:
        assert held_hasher.wait_inside(1), "the first login never reached the hasher"
        busy = app.test_client().post(LOGIN, json=credentials)
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        assert busy.get_json()["message"] == "Too many passwords are being checked right now; retry shortly."
    finally:
        held_hasher.armed.clear()
        held_hasher.release.set()
        holder.join(30)
    assert results == [200]


def test_the_retry_after_of_a_busy_login_rounds_the_wait_up_to_whole_seconds(auth, make_app, held_hasher):  # noqa: F811
    user = auth.register()
    app = make_app(PASSWORD_HASH_CONCURRENCY=1, PASSWORD_HASH_WAIT_SECONDS=1.2)
    credentials = {"username": user.username, "password": user.password}
    held_hasher.armed.set()
    results = []
    holder = _post_in_thread(app, LOGIN, credentials, results)
    try:
        assert held_hasher.wait_inside(1), "the first login never reached the hasher"
        busy = app.test_client().post(LOGIN, json=credentials)
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "2"
    finally:
        held_hasher.armed.clear()
        held_hasher.release.set()
        holder.join(30)


def test_the_process_remembers_verified_tokens_up_to_verified_max_then_starts_afresh(app, monkeypatch):
    from api import auth as auth_module

    monkeypatch.setattr(auth_module, "_verified", {})
    monkeypatch.setattr(auth_module, "_VERIFIED_MAX", 5)
    with app.app_context():
        for user_id in range(1, 13):
            assert auth_module.decode_token(_token(str(user_id))) == user_id
            assert len(auth_module._verified) == (user_id - 1) % 5 + 1  # filled up to the bound, then started afresh


def test_a_user_lookup_error_that_keeps_the_connection_is_503_and_not_retried(make_app, auth):
    from sqlalchemy import event
    from sqlalchemy.pool import NullPool

    from api.extensions import db

    user = auth.register()
    app = make_app(SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"options": "-c lock_timeout=300"}})
    with app.app_context():
        engine = db.engine
    lookups = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().startswith("SELECT users.id"):
            lookups.append(statement)

    locker = sa.create_engine(engine.url, poolclass=NullPool)
    event.listen(engine, "before_cursor_execute", count)
    try:
        with locker.begin() as connection:  # the users table stays locked until this block ends
            connection.execute(sa.text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
            # An operation that documents 503 (the spec plugin checks every response); the lookup comes first.
            response = app.test_client().get("/api/v1/trackers/999999/labels", headers=user.headers)
    finally:
        event.remove(engine, "before_cursor_execute", count)
        locker.dispose()
    assert response.status_code == 503 and response.get_json()["error"] == "database_unavailable"
    assert len(lookups) == 1  # a lock timeout is not a dropped connection: no second attempt
    assert app.test_client().get("/api/v1/trackers/999999/labels", headers=user.headers).status_code == 404

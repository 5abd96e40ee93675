"""A token verified once is not re-verified on every request, yet expiry, key changes and deleted users still apply."""

import time
from datetime import UTC, datetime, timedelta

import jwt

from config import TestingConfig

ME = "/api/v1/users/me"


def _token(user_id, *, seconds, key=TestingConfig.SECRET_KEY):
    now = datetime.now(UTC)
    return jwt.encode({"sub": str(user_id), "iat": now, "exp": now + timedelta(seconds=seconds)}, key, algorithm="HS256")


def test_a_token_already_verified_is_refused_once_it_expires(client, auth):
    user = auth.register()
    headers = {"Authorization": f"Bearer {_token(user.id, seconds=1)}"}
    assert client.get(ME, headers=headers).status_code == 200  # verified, remembered
    time.sleep(1.2)
    response = client.get(ME, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "token_expired"


def test_a_token_verified_under_old_keys_is_verified_again_under_new_ones(make_app, auth):
    user = auth.register()
    old_and_new = make_app(SECRET_KEY="n" * 48, JWT_PREVIOUS_KEYS=[TestingConfig.SECRET_KEY])
    assert old_and_new.test_client().get(ME, headers=user.headers).status_code == 200
    new_only = make_app(SECRET_KEY="n" * 48)
    response = new_only.test_client().get(ME, headers=user.headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"


def test_a_remembered_token_of_a_deleted_user_stops_working_at_once(client, auth):
    user = auth.register()
    assert client.get(ME, headers=user.headers).status_code == 200
    from api.extensions import db
    from api.models.users import User

    with client.application.app_context():
        found = db.session.get(User, user.id)
        if found is not None:
            db.session.delete(found)
            db.session.commit()
    response = client.get(ME, headers=user.headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"

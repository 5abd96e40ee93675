import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from api.models.users import User
from test.conftest import TestingConfig

ME = "/api/v1/users/me"


def _b64(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _token(sub, *, key=TestingConfig.SECRET_KEY, exp_delta=3600, **extra):
    now = datetime.now(UTC)
    payload = {"sub": str(sub), "iat": now, "exp": now + timedelta(seconds=exp_delta), **extra}
    return jwt.encode(payload, key, algorithm="HS256")


def _assert_401(response):
    assert response.status_code == 401
    body = response.get_json()
    assert body["code"] == 401 and body["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("scheme", ["JWT", "Bearer", "bearer"])
def test_jwt_and_bearer_schemes_are_accepted(client, auth, scheme):
    user = auth.register()
    assert client.get(ME, headers={"Authorization": f"{scheme} {user.token}"}).status_code == 200


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer not-a-jwt", "JWT a.b.c"])
def test_missing_or_malformed_token_is_401(client, header):
    headers = {} if header is None else {"Authorization": header}
    _assert_401(client.get(ME, headers=headers))


@pytest.mark.parametrize("scheme", ["Basic", "Token", "Digest", "JWTX", "Bearer:", "OAuth"])
def test_a_valid_token_under_another_scheme_is_401(client, auth, scheme):
    user = auth.register()
    response = client.get(ME, headers={"Authorization": f"{scheme} {user.token}"})
    _assert_401(response)
    assert "scheme" in response.get_json()["message"]


def test_a_valid_token_without_a_scheme_is_401(client, auth):
    _assert_401(client.get(ME, headers={"Authorization": auth.register().token}))


def test_production_refuses_to_start_without_encryption_keys(database_url):
    from api import create_app
    from config import ProductionConfig

    settings = {"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "p" * 48}
    with pytest.raises(RuntimeError, match="ENCRYPTION_KEYS must be set in production"):
        create_app(ProductionConfig, ENCRYPTION_KEYS=[], **settings)
    started = create_app(ProductionConfig, ENCRYPTION_KEYS=TestingConfig.ENCRYPTION_KEYS, **settings)
    assert started.config["ENV_NAME"] == "production"


def test_alg_none_token_is_rejected(client, auth):
    user = auth.register()
    forged = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'sub': str(user.id), 'iat': 0, 'exp': 9999999999})}."
    _assert_401(client.get(ME, headers={"Authorization": f"Bearer {forged}"}))


def test_token_signed_with_another_key_is_rejected(client, auth):
    user = auth.register()
    _assert_401(client.get(ME, headers={"Authorization": f"Bearer {_token(user.id, key='x' * 48)}"}))


def test_expired_token_is_rejected_with_token_expired(client, auth):
    user = auth.register()
    response = client.get(ME, headers={"Authorization": f"Bearer {_token(user.id, exp_delta=-5)}"})
    _assert_401(response)
    assert response.get_json()["error"] == "token_expired"


def test_tampered_payload_is_rejected(client, auth):
    victim = auth.register()
    attacker = auth.register()
    header, _, signature = attacker.token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(attacker.token.split(".")[1] + "=="))
    payload["sub"] = str(victim.id)
    _assert_401(client.get(ME, headers={"Authorization": f"Bearer {header}.{_b64(payload)}.{signature}"}))


# Signed with the app's own key on purpose (only the algorithm is wrong), which PyJWT finds short for HS512.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_hs512_token_is_rejected_because_the_algorithm_is_pinned(client, auth):
    user = auth.register()
    now = datetime.now(UTC)
    token = jwt.encode(
        {"sub": str(user.id), "iat": now, "exp": now + timedelta(hours=1)}, TestingConfig.SECRET_KEY, algorithm="HS512"
    )
    _assert_401(client.get(ME, headers={"Authorization": f"Bearer {token}"}))


@pytest.mark.parametrize("missing", ["exp", "sub", "iat"])
def test_token_without_required_claim_is_rejected(client, auth, missing):
    user = auth.register()
    now = datetime.now(UTC)
    payload = {"sub": str(user.id), "iat": now, "exp": now + timedelta(hours=1)}
    del payload[missing]
    token = jwt.encode(payload, TestingConfig.SECRET_KEY, algorithm="HS256")
    _assert_401(client.get(ME, headers={"Authorization": f"Bearer {token}"}))


def test_token_of_a_deleted_user_is_rejected(client, auth, db):
    user = auth.register()
    db.session.delete(db.session.get(User, user.id))
    db.session.commit()
    _assert_401(client.get(ME, headers=user.headers))


def test_token_expires_after_jwt_expires_seconds(make_app, auth, client):
    user = auth.register()
    short_app = make_app(JWT_EXPIRES_SECONDS=-1)
    login = short_app.test_client().post("/api/v1/users/login", json={"username": user.username, "password": user.password})
    _assert_401(client.get(ME, headers={"Authorization": f"Bearer {login.get_json()['token']}"}))


def test_token_signed_with_a_previous_key_still_works_during_rotation(make_app, auth):
    user = auth.register()
    rotated = make_app(SECRET_KEY="n" * 48, JWT_PREVIOUS_KEYS=[TestingConfig.SECRET_KEY])
    assert rotated.test_client().get(ME, headers=user.headers).status_code == 200
    not_rotated = make_app(SECRET_KEY="n" * 48)
    _assert_401(not_rotated.test_client().get(ME, headers=user.headers))

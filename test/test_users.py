import importlib
import pkgutil

import marshmallow
import pytest
from marshmallow import ValidationError, validate
from sqlalchemy import select

import api.schemas
from api.models.users import User


def register(client, **body):
    return client.post("/api/v1/users/register", json=body)


def test_register_returns_201_with_id_and_username_only(client):
    response = register(client, username="user", password="password")
    assert response.status_code == 201
    body = response.get_json()
    assert body["username"] == "user" and isinstance(body["id"], int)
    assert "password" not in body and "password_hash" not in body


def test_duplicate_username_is_409_regardless_of_case(client):
    assert register(client, username="Alice", password="password1").status_code == 201
    response = register(client, username="alice", password="password2")
    assert response.status_code == 409
    assert response.get_json()["errors"] == {"username": ["Already taken."]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "password1"}, "username"),
        ({"username": "bob"}, "password"),
        ({"username": "ab", "password": "password1"}, "username"),
        ({"username": "a" * 33, "password": "password1"}, "username"),
        ({"username": "bad name!", "password": "password1"}, "username"),
        ({"username": "bob", "password": "short"}, "password"),
        ({"username": "bob", "password": "p" * 129}, "password"),
        ({"username": 12345, "password": "password1"}, "username"),
        ({"username": "bob", "password": "password1", "admin": True}, "admin"),
    ],
)
def test_invalid_registration_is_400_naming_the_field(client, body, field):
    response = register(client, **body)
    assert response.status_code == 400
    payload = response.get_json()
    assert payload["code"] == 400 and payload["error"] == "validation_failed"
    assert field in payload["errors"]


def test_username_accepts_letters_digits_underscore_dot_dash(client):
    assert register(client, username="a.b_c-9", password="password1").status_code == 201


def test_password_is_stored_as_argon2id_hash(client, db):
    register(client, username="hashme", password="password-secret")
    user = db.session.scalar(select(User).where(User.username == "hashme"))
    assert user.password_hash.startswith("$argon2id$")
    assert "password-secret" not in user.password_hash


def test_production_hash_parameters_are_rfc9106_low_memory(make_app):
    from api.auth import hash_password

    app = make_app(PASSWORD_HASH_PROFILE="RFC_9106_LOW_MEMORY")
    with app.app_context():
        assert hash_password("password1").startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_login_returns_token_and_id(client, auth):
    user = auth.register(password="password1")
    response = client.post("/api/v1/users/login", json={"username": user.username, "password": "password1"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == user.id and body["token"].count(".") == 2 and body["expires_at"]


def test_login_is_case_insensitive_on_username(client):
    register(client, username="MixedCase", password="password1")
    response = client.post("/api/v1/users/login", json={"username": "mixedcase", "password": "password1"})
    assert response.status_code == 200


def test_wrong_password_and_unknown_user_get_the_same_401(client, auth):
    user = auth.register()
    wrong = client.post("/api/v1/users/login", json={"username": user.username, "password": "nope-nope"})
    unknown = client.post("/api/v1/users/login", json={"username": "ghost", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()


def test_login_with_missing_fields_is_400(client):
    response = client.post("/api/v1/users/login", json={"username": "x"})
    assert response.status_code == 400
    assert "password" in response.get_json()["errors"]


def test_me_returns_the_caller(client, auth):
    user = auth.register()
    response = client.get("/api/v1/users/me", headers=user.headers)
    assert response.status_code == 200
    assert response.get_json()["id"] == user.id and response.get_json()["username"] == user.username


def test_outdated_password_hash_is_upgraded_on_login(client, db, make_app):
    from api.auth import hash_password

    register(client, username="legacy", password="password1")
    weak_app = make_app(PASSWORD_HASH_PROFILE="CHEAPEST")
    strong_app = make_app(PASSWORD_HASH_PROFILE="RFC_9106_LOW_MEMORY")
    with weak_app.app_context():
        weak_hash = hash_password("password1")
    user = db.session.scalar(select(User).where(User.username == "legacy"))
    user.password_hash = weak_hash
    db.session.commit()
    response = strong_app.test_client().post("/api/v1/users/login", json={"username": "legacy", "password": "password1"})
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash.startswith("$argon2id$v=19$m=65536")


def _pattern_validated_fields():
    """Every (schema, field) whose input a validate.Regexp checks, across all of api/schemas."""
    found = set()
    for module_info in pkgutil.iter_modules(api.schemas.__path__):
        module = importlib.import_module(f"api.schemas.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, marshmallow.Schema) and value.__module__ == module.__name__:
                for name, field in value._declared_fields.items():
                    if any(isinstance(check, validate.Regexp) for check in field.validators):
                        found.add((value, name))
    return found


# A valid value for each pattern-validated field: a new pattern must be added here (the coverage test says so).
VALID_BY_FIELD = {"username": "alice", "name": "summary"}


def test_every_pattern_validated_field_has_a_trailing_newline_case():
    fields = _pattern_validated_fields()
    assert fields, "no validate.Regexp found in api/schemas"
    assert {name for _, name in fields} <= set(VALID_BY_FIELD)


@pytest.mark.parametrize(
    ("schema", "field"),
    sorted(_pattern_validated_fields(), key=lambda item: (item[0].__name__, item[1])),
    ids=lambda item: getattr(item, "__name__", item),
)
@pytest.mark.parametrize("suffix", ["\n", "\n\n", "\r\n", " "])
def test_pattern_validated_fields_refuse_a_trailing_newline(schema, field, suffix):
    valid = VALID_BY_FIELD[field]
    checks = schema._declared_fields[field].validators
    regexps = [check for check in checks if isinstance(check, validate.Regexp)]
    for check in regexps:
        assert check(valid) == valid
        with pytest.raises(ValidationError):
            check(valid + suffix)


@pytest.mark.parametrize("username", ["alice\n", "alice\r\n", "\nalice"])
def test_look_alike_username_with_a_newline_is_400(client, username):
    response = register(client, username=username, password="password1")
    assert response.status_code == 400 and "username" in response.get_json()["errors"]
    assert register(client, username="alice", password="password1").status_code == 201


def test_template_variable_name_with_a_trailing_newline_is_400(client, auth):
    user = auth.register()
    body = {"name": "t", "title": "{{ summary }}", "variables": [{"name": "summary\n"}]}
    response = client.post("/api/v1/templates/", json=body, headers=user.headers)
    assert response.status_code == 400, response.get_json()
    assert "variables" in response.get_json()["errors"]

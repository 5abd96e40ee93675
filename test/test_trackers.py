import pytest
from sqlalchemy import text

TRACKERS = "/api/v1/trackers/"


def make_tracker(client, user, **overrides):
    body = {"name": "Mine", "provider": "builtin", "target": "default", **overrides}
    response = client.post(TRACKERS, json=body, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _tracker_holding(client, user, token, provider="github", target="octo/site"):
    """A remote tracker, never contacted, whose credentials are the one `token`."""
    return make_tracker(
        client, user, name="Repo", provider=provider, target=target, base_url="http://127.0.0.1:9", credentials={"token": token}
    )


def test_create_and_read_a_tracker_without_exposing_credentials(client, auth):
    user = auth.register()
    created = _tracker_holding(client, user, "ghp_supersecret")
    assert created["has_credentials"] is True and "credentials" not in created
    for response in (client.get(f"{TRACKERS}{created['id']}", headers=user.headers), client.get(TRACKERS, headers=user.headers)):
        assert "ghp_supersecret" not in response.get_data(as_text=True)
        assert "credentials" not in response.get_data(as_text=True).replace("has_credentials", "")


def test_credentials_are_encrypted_at_rest(client, auth, db):
    user = auth.register()
    created = _tracker_holding(client, user, "glpat-plaintext-token", provider="gitlab", target="group/project")
    raw = db.session.execute(
        text("SELECT credentials_encrypted::text, trackers::text FROM trackers WHERE id = :id"), {"id": created["id"]}
    ).one()
    assert "glpat-plaintext-token" not in raw[0] and "glpat-plaintext-token" not in raw[1]
    assert raw[0].startswith("gAAAA")  # a Fernet token


def test_credentials_survive_key_rotation(client, auth, db, make_app):
    from cryptography.fernet import Fernet

    from api import crypto
    from api.models.trackers import Tracker
    from config import TestingConfig

    user = auth.register()
    created = _tracker_holding(client, user, "ghp_rotate")
    new_key = Fernet.generate_key().decode()
    rotated = make_app(ENCRYPTION_KEYS=[new_key, *TestingConfig.ENCRYPTION_KEYS])
    with rotated.app_context():
        stored = db.session.get(Tracker, created["id"]).credentials_encrypted
        assert crypto.decrypt_json(stored) == {"token": "ghp_rotate"}
        assert crypto.decrypt_json(crypto.rotate(stored)) == {"token": "ghp_rotate"}
    only_new = make_app(ENCRYPTION_KEYS=[new_key])
    with only_new.app_context(), pytest.raises(RuntimeError):
        crypto.decrypt_json(stored)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "bugzilla", "target": "x"}, "provider"),
        ({"provider": "github", "target": "no-slash", "credentials": {"token": "t"}}, "target"),
        ({"provider": "github", "target": "o/r"}, "credentials.token"),
        ({"provider": "gitlab", "target": "bad path!", "credentials": {"token": "t"}}, "target"),
        ({"provider": "trello", "target": "board1", "credentials": {"token": "t"}}, "credentials.api_key"),
        ({"provider": "builtin", "target": "default", "credentials": {"token": "t"}}, "credentials.token"),
        ({"provider": "builtin", "target": "default", "options": {"bogus": 1}}, "options.bogus"),
        ({"provider": "builtin", "target": "default", "secret": "x"}, "secret"),
        ({"provider": "builtin"}, "target"),
    ],
)
def test_invalid_tracker_is_400_with_field_messages(client, auth, body, field):
    user = auth.register()
    response = client.post(TRACKERS, json={"name": "T", **body}, headers=user.headers)
    assert response.status_code == 400, response.get_json()
    assert field in response.get_json()["errors"]


@pytest.mark.parametrize(
    ("base_url", "reason"),
    [
        ("http://github.example.com", "resolve"),
        ("https://10.0.0.5", "private"),
        ("https://169.254.169.254/latest", "private"),
        ("https://[::1]:8443", "private"),
        ("https://192.168.1.1", "private"),
        ("ftp://127.0.0.1", "http"),
        ("https://user:pw@8.8.8.8", "credentials"),
    ],
)
def test_base_url_policy_refuses_internal_or_plain_http_targets(client, auth, base_url, reason):
    user = auth.register()
    response = client.post(
        TRACKERS,
        json={"name": "T", "provider": "github", "target": "o/r", "base_url": base_url, "credentials": {"token": "t"}},
        headers=user.headers,
    )
    assert response.status_code == 400
    assert reason in response.get_json()["errors"]["base_url"][0].lower()


def test_allowed_hosts_may_use_http_and_private_addresses(client, auth, make_app):
    user = auth.register()
    assert (
        make_tracker(client, user, provider="github", target="o/r", base_url="http://127.0.0.1:9", credentials={"token": "t"})[
            "base_url"
        ]
        == "http://127.0.0.1:9"
    )
    strict = make_app(TRACKER_ALLOWED_HOSTS=["10.1.0.0/16"])
    response = strict.test_client().post(
        TRACKERS,
        json={
            "name": "B",
            "provider": "github",
            "target": "o/r",
            "base_url": "http://127.0.0.1:9",
            "credentials": {"token": "t"},
        },
        headers=user.headers,
    )
    assert response.status_code == 400
    response = strict.test_client().post(
        TRACKERS,
        json={"name": "C", "provider": "github", "target": "o/r", "base_url": "http://10.1.2.3", "credentials": {"token": "t"}},
        headers=user.headers,
    )
    assert response.status_code == 201


def test_duplicate_tracker_name_is_409(client, auth):
    user = auth.register()
    make_tracker(client, user, name="Same")
    assert (
        client.post(TRACKERS, json={"name": "Same", "provider": "builtin", "target": "x"}, headers=user.headers).status_code
        == 409
    )


def test_patch_changes_fields_but_never_the_provider(client, auth):
    user = auth.register()
    tracker = make_tracker(client, user)
    url = f"{TRACKERS}{tracker['id']}"
    response = client.patch(url, json={"name": "Renamed", "options": {}}, headers=user.headers)
    assert response.status_code == 200 and response.get_json()["name"] == "Renamed"
    response = client.patch(url, json={"provider": "github"}, headers=user.headers)
    assert response.status_code == 400 and "provider" in response.get_json()["errors"]
    response = client.patch(url, json={"target": "bad target!"}, headers=user.headers)
    assert response.status_code == 400 and "target" in response.get_json()["errors"]


def test_list_trackers_is_owner_scoped_and_paginated(client, auth):
    user, other = auth.register(), auth.register()
    for n in range(3):
        make_tracker(client, user, name=f"T{n}")
    make_tracker(client, other, name="Theirs")
    first = client.get(TRACKERS, query_string={"limit": 2}, headers=user.headers).get_json()
    second = client.get(TRACKERS, query_string={"limit": 2, "cursor": first["next_cursor"]}, headers=user.headers).get_json()
    names = [t["name"] for t in first["trackers"] + second["trackers"]]
    assert names == ["T0", "T1", "T2"] and second["next_cursor"] is None


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("patch", "", {"name": "x"}),
        ("delete", "", None),
        ("post", "/verify", None),
        ("get", "/issues", None),
        ("post", "/issues", {"title": "x"}),
        ("get", "/issues/1", None),
        ("patch", "/issues/1", {"title": "x"}),
        ("get", "/issues/1/comments", None),
        ("post", "/issues/1/comments", {"body": "x"}),
        ("get", "/labels", None),
        ("get", "/members", None),
    ],
)
def test_another_users_tracker_is_404_for_every_route(client, auth, db, method, suffix, body):
    owner, intruder = auth.register(), auth.register()
    tracker = make_tracker(client, owner)
    client.post(f"{TRACKERS}{tracker['id']}/issues", json={"title": "Owner's"}, headers=owner.headers)
    kwargs = {"headers": intruder.headers, **({"json": body} if body is not None else {})}
    response = getattr(client, method)(f"{TRACKERS}{tracker['id']}{suffix}", **kwargs)
    assert response.status_code == 404
    assert "Owner's" not in response.get_data(as_text=True)
    assert client.get(f"{TRACKERS}{tracker['id']}/issues/1", headers=owner.headers).get_json()["title"] == "Owner's"


def test_verify_builtin_tracker(client, auth):
    user = auth.register()
    tracker = make_tracker(client, user)
    response = client.post(f"{TRACKERS}{tracker['id']}/verify", headers=user.headers)
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "target": {"provider": "builtin", "target": "default", "issues": 0}}

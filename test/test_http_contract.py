"""The HTTP edge: deeply nested JSON, one URL convention with JSON everywhere, Retry-After only where it means wait."""

import re

import pytest

from api.http import MAX_JSON_DEPTH
from test.test_trackers import make_tracker

DEEP_ARRAY = "[" * 1000 + "]" * 1000
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000
JUST_TOO_DEEP = '{"title": ' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "}"


def _post_json_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.methods & {"POST", "PUT", "PATCH"} and "webhooks" not in rule.rule:
            yield rule


@pytest.mark.parametrize("document", [DEEP_ARRAY, DEEP_OBJECT, JUST_TOO_DEEP], ids=["array", "object", "limit+1"])
@pytest.mark.parametrize("path", ["/api/v1/users/login", "/api/v1/users/register"])
def test_deeply_nested_json_is_400_malformed_json_without_auth(client, path, document):
    response = client.post(path, data=document, content_type="application/json")
    body = response.get_json()
    assert response.status_code == 400 and body["error"] == "malformed_json", body
    assert str(MAX_JSON_DEPTH) in body["message"]


def test_deeply_nested_json_is_400_on_every_json_endpoint(app, client, auth, caplog):
    user = auth.register()
    tracker = make_tracker(client, user)
    ids = {
        "user_id": user.id,
        "tracker_id": tracker["id"],
        "issue_id": "1",
        "offer_id": 1,
        "template_id": 1,
        "automation_id": 1,
        "subscription_id": 1,
        "delivery_id": "x",
    }
    checked = 0
    for rule in _post_json_routes(app):
        # Ids the test has not created stand in as 1: such a route may answer 404 first, never a 5xx.
        url = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: str(ids.get(m.group(1), 1)), rule.rule)
        for method in sorted(rule.methods & {"POST", "PUT", "PATCH"}):
            response = client.open(url, method=method, data=DEEP_OBJECT, content_type="application/json", headers=user.headers)
            # A route may refuse earlier (404 for an id it does not know), but never with a 5xx.
            assert response.status_code < 500, (method, url, response.get_json())
            if (response.get_json() or {}).get("error") == "malformed_json":
                checked += 1
    assert checked >= 8
    assert not [record for record in caplog.records if record.levelname in ("ERROR", "CRITICAL")]


def test_json_at_the_nesting_limit_is_parsed(client, auth):
    user = auth.register()
    nested = '{"title": "x", "extra": ' + "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1) + "}"
    response = client.post("/api/v1/trackers/", data=nested, content_type="application/json", headers=user.headers)
    # Parsed, then refused by the schema for what it says (unknown field), not for how deep it is.
    assert response.status_code == 400 and response.get_json()["error"] == "validation_failed"


# ---- one URL convention --------------------------------------------------------------------------


def _toggled(path):
    return path[:-1] if path.endswith("/") else path + "/"


@pytest.fixture
def owner_ids(client, auth):
    user = auth.register()
    tracker = make_tracker(client, user)
    issue = client.post(f"/api/v1/trackers/{tracker['id']}/issues", json={"title": "t"}, headers=user.headers).get_json()
    return user, {"user_id": user.id, "tracker_id": tracker["id"], "issue_id": issue["id"]}


def test_every_collection_answers_with_and_without_the_trailing_slash(app, client, owner_ids):
    user, ids = owner_ids
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or "GET" not in rule.methods or "docs" in rule.rule:
            continue
        if set(re.findall(r"<(?:[^:>]+:)?([^>]+)>", rule.rule)) - set(ids):
            continue
        url = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: str(ids[m.group(1)]), rule.rule)
        canonical = client.get(url, headers=user.headers)
        other = client.get(_toggled(url), headers=user.headers)
        assert canonical.status_code == 200, url
        assert other.status_code == 200 and other.is_json, (_toggled(url), other.status_code, other.headers.get("Location"))
        assert other.get_json() == canonical.get_json() or "created_at" in canonical.get_data(as_text=True)
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("path", ["/api/v1/trackers", "/api/v1/templates", "/api/v1/automations", "/api/v1/subscriptions"])
def test_post_to_a_collection_without_the_slash_creates_instead_of_redirecting(client, auth, path):
    user = auth.register()
    response = client.post(path, json={}, headers=user.headers)
    # The empty body reaches the schema (400 naming the missing fields): no 308 asking the client to post again.
    assert response.status_code == 400 and response.is_json and response.get_json()["error"] == "validation_failed"


@pytest.mark.parametrize("path", ["/api/v1", "/api/v1/"])
def test_the_api_root_answers_json_pointing_at_the_docs_and_the_spec(client, path):
    response = client.get(path)
    assert response.status_code == 200 and response.is_json
    body = response.get_json()
    assert body["docs"] == "/api/v1/docs" and body["spec"] == "/api/v1/swagger.json"
    assert client.get(body["spec"]).status_code == 200


@pytest.mark.parametrize("path", ["/api/v1//trackers/", "/api/v1/nope/", "/api/v1/trackers/1/nope"])
def test_unknown_or_odd_urls_answer_json_never_a_redirect(client, auth, path):
    response = client.get(path, headers=auth.register().headers)
    assert response.status_code == 404 and response.is_json and "Location" not in response.headers


# ---- Retry-After -------------------------------------------------------------------------------


@pytest.fixture
def limited_client(app, make_app):  # `app` migrates the database the counters live in
    limited = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="2 per minute", RATELIMIT_REGISTER="3 per minute")
    from api.ratelimit import limiter

    with limited.app_context():
        limiter.reset()
    return limited.test_client()


def test_retry_after_only_on_429_not_on_a_successful_register_or_login(limited_client):
    credentials = {"username": "ratelimited_user", "password": "correct horse battery"}
    registered = limited_client.post("/api/v1/users/register", json=credentials)
    assert registered.status_code == 201 and "Retry-After" not in registered.headers
    assert registered.headers["X-RateLimit-Limit"]  # the limiter is on: its informational headers stay
    logged_in = limited_client.post("/api/v1/users/login", json=credentials)
    assert logged_in.status_code == 200 and "Retry-After" not in logged_in.headers
    wrong = limited_client.post("/api/v1/users/login", json={**credentials, "password": "wrong password!"})
    assert wrong.status_code == 401 and "Retry-After" not in wrong.headers
    limited = limited_client.post("/api/v1/users/login", json=credentials)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0


# ---- spec wording ------------------------------------------------------------------------------


def test_login_and_webhook_401_descriptions_do_not_speak_of_a_token(client):
    paths = client.get("/api/v1/swagger.json").get_json()["paths"]
    login = paths["/users/login"]["post"]["responses"]["401"]["description"]
    webhook = paths["/webhooks/{tracker_id}"]["post"]["responses"]["401"]["description"]
    assert "token" not in login.lower() and "password" in login.lower()
    assert "signature" in webhook.lower() and "expired" not in webhook.lower()
    assert "token" in paths["/users/me"]["get"]["responses"]["401"]["description"].lower()

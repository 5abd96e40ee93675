"""Every generic error status an operation documents is reachable, generated from the spec: 401 without a token,
404 for an unknown id, 400 for malformed JSON or an invalid query, 415 for a body that is not JSON, 413 for a body
over the limit. (Operation-specific statuses — 403, 409, 422, 429, 502-504 — have dedicated tests.)"""

import re

import pytest

from test.test_fuzz import _spec_app

SPEC = _spec_app.test_client().get("/api/v1/swagger.json").get_json()
OPERATIONS = [(method.upper(), path, operation) for path, operations in SPEC["paths"].items()
              for method, operation in operations.items() if method != "parameters"]
UNKNOWN = {"int": "987654", "string": "987654"}
VALID_BODIES = {
    "/users/{user_id}/offers/": {"title": "x"}, "/users/{user_id}/offers/{offer_id}": {"title": "x"},
    "/trackers/{tracker_id}": {"name": "x"}, "/trackers/{tracker_id}/issues": {"title": "x"},
    "/trackers/{tracker_id}/issues/{issue_id}": {"title": "x"},
    "/trackers/{tracker_id}/issues/{issue_id}/comments": {"body": "x"},
    "/templates/{template_id}": {"name": "x"}, "/templates/{template_id}/render": {"variables": {}},
    "/templates/{template_id}/issues": {"variables": {}}, "/automations/{automation_id}": {"enabled": False},
    "/subscriptions/{subscription_id}": {"enabled": False},
}


def _url(path, operation, spec_path):
    def value(match):
        name = match.group(1)
        params = operation.get("parameters", []) + SPEC["paths"][spec_path].get("parameters", [])
        kind = next((p.get("type") for p in params if p.get("name") == name), "string")
        return UNKNOWN["int" if kind == "integer" else "string"]

    return "/api/v1" + re.sub(r"{([^}]+)}", value, path)


def _cases(status):
    return [pytest.param(method, path, operation, id=f"{method} {path}") for method, path, operation in OPERATIONS
            if str(status) in operation["responses"]]


@pytest.fixture
def token(auth):
    return {"Authorization": f"Bearer {auth.register().token}"}


# Webhook deliveries authenticate by signature, not token: their 401s are tested in test_webhooks.
@pytest.mark.parametrize(("method", "path", "operation"), [c for c in _cases(401) if not c.values[1].startswith("/webhooks/")])
def test_documented_401_without_a_token(client, method, path, operation):
    body = {} if method in ("POST", "PUT", "PATCH") else None
    if "security" not in operation:  # login: the 401 is for wrong credentials
        body = {"username": "nobody", "password": "wrong-password"}
    response = client.open(_url(path, operation, path), method=method, json=body)
    assert response.status_code == 401, response.get_json()


@pytest.mark.parametrize(("method", "path", "operation"), [c for c in _cases(404) if "{" in c.values[1]])
def test_documented_404_for_an_unknown_id(client, token, method, path, operation):
    response = client.open(_url(path, operation, path), method=method, headers=token, json=VALID_BODIES.get(path))
    assert response.status_code == 404, response.get_json()


@pytest.mark.parametrize(("method", "path", "operation"), _cases(415))
def test_documented_415_for_a_body_that_is_not_json(client, token, method, path, operation, db):
    response = client.open(_url(path, operation, path), method=method, headers=token, data="a=1",
                           content_type="application/x-www-form-urlencoded")
    # An unknown id may be found first; what matters is that a non-JSON body never gets past the door.
    assert response.status_code in (415, 404), response.get_json()
    if "{" not in path:
        assert response.status_code == 415


@pytest.mark.parametrize(("method", "path", "operation"), _cases(413))
def test_documented_413_for_a_body_over_the_limit(client, token, method, path, operation):
    big = '{"x": "' + "a" * (1024 * 1024 + 10) + '"}'
    response = client.open(_url(path, operation, path), method=method, headers=token, data=big, content_type="application/json")
    assert response.status_code in (413, 404), response.get_json()
    if "{" not in path:
        assert response.status_code == 413


@pytest.mark.parametrize(("method", "path", "operation"), _cases(400))
def test_documented_400_for_malformed_input(client, token, method, path, operation):
    if method in ("POST", "PUT", "PATCH") and "parameters" in operation and any(
            p.get("in") == "body" for p in operation["parameters"]):
        response = client.open(_url(path, operation, path), method=method, headers=token, data="{not json",
                               content_type="application/json")
    else:
        response = client.open(_url(path, operation, path), method=method, headers=token,
                               query_string={"limit": "not-a-number", "cursor": "!!"})
    assert response.status_code in (400, 404), response.get_json()
    if "{" not in path:
        assert response.status_code == 400

"""Every generic error status an operation documents is reachable, generated from the spec: 401 without a token,
404 for an unknown id, 400 for malformed JSON or an invalid query, 415 for a body that is not JSON, 413 for a body
over the limit. The 400/413/415 cases run against objects the user owns, so a 404 cannot stand in for them, and the
error slug names the check that answered. (Operation-specific statuses — 403, 409, 422, 429, 502-504 — have
dedicated tests.)"""

import hashlib
import hmac
import io
import re

import pytest

from test.test_fuzz import _spec_app
from test.test_trackers import make_tracker

SPEC = _spec_app.test_client().get("/api/v1/swagger.json").get_json()
OPERATIONS = [
    (method.upper(), path, operation)
    for path, operations in SPEC["paths"].items()
    for method, operation in operations.items()
    if method != "parameters"
]
UNKNOWN = {"int": "987654", "string": "987654"}
VALID_BODIES = {
    "/users/{user_id}/offers/": {"title": "x"},
    "/users/{user_id}/offers/{offer_id}": {"title": "x"},
    "/trackers/{tracker_id}": {"name": "x"},
    "/trackers/{tracker_id}/issues": {"title": "x"},
    "/trackers/{tracker_id}/issues/{issue_id}": {"title": "x"},
    "/trackers/{tracker_id}/issues/{issue_id}/comments": {"body": "x"},
    "/templates/{template_id}": {"name": "x"},
    "/templates/{template_id}/render": {"variables": {}},
    "/templates/{template_id}/issues": {"variables": {}},
    "/automations/{automation_id}": {"enabled": False},
    "/subscriptions/{subscription_id}": {"enabled": False},
    "/syncs/{sync_id}": {"enabled": False},
    "/syncs/{sync_id}/links": {"left_issue_id": "1", "right_issue_id": "1"},
}
OVER_THE_LIMIT = '{"x": "' + "a" * (1024 * 1024 + 10) + '"}'


def _url(path, operation, spec_path, ids=None):
    def value(match):
        name = match.group(1)
        if ids is not None:
            return str(ids[name])
        params = operation.get("parameters", []) + SPEC["paths"][spec_path].get("parameters", [])
        kind = next((p.get("type") for p in params if p.get("name") == name), "string")
        return UNKNOWN["int" if kind == "integer" else "string"]

    return "/api/v1" + re.sub(r"{([^}]+)}", value, path)


def _cases(status):
    return [
        pytest.param(method, path, operation, id=f"{method} {path}")
        for method, path, operation in OPERATIONS
        if str(status) in operation["responses"]
    ]


def _created(response):
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _comment_and_attachment(client, headers, tracker_id):
    """A comment and an attachment on the tracker's first issue (the built-in tracker has both)."""
    issue = f"/api/v1/trackers/{tracker_id}/issues/1"
    comment = client.post(f"{issue}/comments", json={"body": "x"}, headers=headers)
    attachment = client.post(
        f"{issue}/attachments",
        headers=headers,
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(b"text"), "a.txt", "text/plain")},
    )
    return {"comment_id": _created(comment), "attachment_id": _created(attachment)}


def _sync_and_link(client, user, tracker_id):
    """A sync from the tracker to a second one, and a link pairing their first issues."""
    other = make_tracker(client, user, name="other")["id"]
    client.post(f"/api/v1/trackers/{other}/issues", json={"title": "x"}, headers=user.headers)
    sync = _created(
        client.post(
            "/api/v1/syncs/", json={"name": "s", "left_tracker_id": tracker_id, "right_tracker_id": other}, headers=user.headers
        )
    )
    link = _created(
        client.post(f"/api/v1/syncs/{sync}/links", json={"left_issue_id": "1", "right_issue_id": "1"}, headers=user.headers)
    )
    return {"sync_id": sync, "link_id": link}


@pytest.fixture
def owned(client, auth):
    """A user owning one of everything an id in a path names, so each route reaches its handler (never a 404)."""
    user = auth.register()
    headers = user.headers
    tracker_id = make_tracker(client, user)["id"]
    return user, {
        "user_id": user.id,
        "offer_id": _created(client.post(f"/api/v1/users/{user.id}/offers/", json={"title": "x"}, headers=headers)),
        "tracker_id": tracker_id,
        "issue_id": _created(client.post(f"/api/v1/trackers/{tracker_id}/issues", json={"title": "x"}, headers=headers)),
        **_comment_and_attachment(client, headers, tracker_id),
        "template_id": _created(client.post("/api/v1/templates/", json={"name": "t", "title": "x"}, headers=headers)),
        "automation_id": _created(
            client.post(
                "/api/v1/automations/",
                headers=headers,
                json={"name": "a", "event_types": ["issue.created"], "actions": [{"type": "add_comment", "body": "x"}]},
            )
        ),
        "subscription_id": _created(
            client.post(
                "/api/v1/subscriptions/",
                headers=headers,
                json={"url": "https://127.0.0.1/hook", "events": ["*"], "secret": "s3cret-value-for-hmac-0123456789"},
            )
        ),
        **_sync_and_link(client, user, tracker_id),
    }


def _send(request, method, path, operation, data, content_type, query=None):
    """Send `data` to the operation on real objects: the owner's token, or a valid signature for webhook deliveries."""
    client = request.getfixturevalue("client")
    if path.startswith("/webhooks/"):
        github = request.getfixturevalue("github")
        body = data.encode()
        headers = {
            "X-GitHub-Event": "issues",
            "X-GitHub-Delivery": "d-1",
            "X-Hub-Signature-256": "sha256=" + hmac.new(github["secret"].encode(), body, hashlib.sha256).hexdigest(),
        }
        url = _url(path, operation, path, {"tracker_id": github["tracker"]["id"]})
    else:
        user, ids = request.getfixturevalue("owned")
        headers = user.headers
        url = _url(path, operation, path, ids)
    return client.open(url, method=method, headers=headers, data=data, content_type=content_type, query_string=query)


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
    expected = (401, "unauthorized" if "security" in operation else "invalid_credentials")
    assert (response.status_code, response.get_json()["error"]) == expected, response.get_json()


@pytest.mark.parametrize(("method", "path", "operation"), [c for c in _cases(404) if "{" in c.values[1]])
def test_documented_404_for_an_unknown_id(client, token, method, path, operation):
    # Webhook endpoints answer an unknown id like a bad signature (ids must not be probed): their 404 is for a path
    # segment that is no id at all.
    url = "/api/v1/webhooks/not-an-id" if path.startswith("/webhooks/") else _url(path, operation, path)
    response = client.open(url, method=method, headers=token, json=VALID_BODIES.get(path))
    if method == "HEAD":
        assert response.status_code == 404 and not response.data
        return
    assert (response.status_code, response.get_json()["error"]) == (404, "not_found"), response.get_json()


@pytest.mark.parametrize(("method", "path", "operation"), _cases(415))
def test_documented_415_for_a_body_that_is_not_json(request, method, path, operation):
    response = _send(request, method, path, operation, "a=1", "application/x-www-form-urlencoded")
    assert (response.status_code, response.get_json()["error"]) == (415, "unsupported_media_type"), response.get_json()


@pytest.mark.parametrize(("method", "path", "operation"), _cases(413))
def test_documented_413_for_a_body_over_the_limit(request, method, path, operation):
    response = _send(request, method, path, operation, OVER_THE_LIMIT, "application/json")
    assert (response.status_code, response.get_json()["error"]) == (413, "payload_too_large"), response.get_json()


def _takes_a_body(path, method, operation):
    return path.startswith("/webhooks/") or (
        method in ("POST", "PUT", "PATCH") and any(p.get("in") == "body" for p in operation.get("parameters", []))
    )


def _verify_a_tracker_whose_address_the_url_policy_now_refuses(request, user, ids):
    client = request.getfixturevalue("client")
    tracker = make_tracker(
        client, user, name="gh", provider="github", target="o/r", base_url="http://127.0.0.1:9", credentials={"token": "t"}
    )
    request.getfixturevalue("monkeypatch").setitem(client.application.config, "TRACKER_ALLOWED_HOSTS", [])
    response = client.post(f"/api/v1/trackers/{tracker['id']}/verify", headers=user.headers)
    assert "base_url" in response.get_json().get("errors", {}), response.get_json()
    return response, (400, "validation_failed")


def _register_a_webhook_on_a_provider_without_webhooks(request, user, ids):
    response = request.getfixturevalue("client").post(f"/api/v1/trackers/{ids['tracker_id']}/webhook", headers=user.headers)
    return response, (400, "not_supported")


# Operations whose 400 no malformed input produces: each is reached through the check that owns it.
OWN_400 = {
    ("POST", "/trackers/{tracker_id}/verify"): _verify_a_tracker_whose_address_the_url_policy_now_refuses,
    ("POST", "/trackers/{tracker_id}/webhook"): _register_a_webhook_on_a_provider_without_webhooks,
}


@pytest.mark.parametrize(("method", "path", "operation"), _cases(400))
def test_documented_400_for_malformed_input(request, method, path, operation):
    if (method, path) in OWN_400:
        response, expected = OWN_400[method, path](request, *request.getfixturevalue("owned"))
    elif _takes_a_body(path, method, operation):
        response = _send(request, method, path, operation, "{not json", "application/json")
        expected = (400, "malformed_json")
    else:
        response = _send(request, method, path, operation, None, None, query={"limit": "not-a-number", "cursor": "!!"})
        expected = (400, "validation_failed")
        assert {"limit", "cursor"} >= set(response.get_json().get("errors", {})) != set(), response.get_json()
    assert (response.status_code, response.get_json()["error"]) == expected, response.get_json()


def test_every_operation_with_its_own_400_is_still_documented():
    assert set(OWN_400) <= {(c.values[0], c.values[1]) for c in _cases(400)}

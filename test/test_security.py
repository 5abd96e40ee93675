"""Security headers, CORS, login/register rate limits, and an ownership matrix generated from the URL map."""

import io
import re

import pytest

from test.test_trackers import TRACKERS, make_tracker

MARKER = "owner-only-marker-7c1e"


def test_security_headers_on_data_error_and_docs_responses(client, auth):
    user = auth.register()
    for response in (
        client.get("/api/v1/users/me", headers=user.headers),
        client.get("/api/v1/nope"),
        client.get("/api/v1/docs"),
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
    data = client.get("/api/v1/users/me", headers=user.headers)
    assert "default-src 'none'" in data.headers["Content-Security-Policy"]
    assert "Content-Security-Policy" not in client.get("/api/v1/docs").headers


def test_auth_responses_are_not_stored(client, auth):
    user = auth.register()
    login = client.post("/api/v1/users/login", json={"username": user.username, "password": user.password})
    assert login.headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/users/me", headers=user.headers).headers["Cache-Control"] == "no-store"


def test_cors_is_closed_by_default_and_open_only_to_configured_origins(client, make_app):
    preflight = {
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type",
    }
    assert "Access-Control-Allow-Origin" not in client.options("/api/v1/users/login", headers=preflight).headers
    open_app = make_app(CORS_ORIGINS=["https://app.example.com"]).test_client()
    allowed = open_app.options("/api/v1/users/login", headers=preflight)
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "authorization" in allowed.headers["Access-Control-Allow-Headers"].lower()
    other = open_app.options("/api/v1/users/login", headers={**preflight, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_login_is_rate_limited_per_client_across_processes_with_json_429(make_app, auth):
    user = auth.register()
    # Two app instances stand for two uwsgi processes: the counters live in PostgreSQL, so they add up.
    first, second = (make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3 per minute").test_client() for _ in range(2))
    body = {"username": user.username, "password": "wrong-password"}
    statuses = [c.post("/api/v1/users/login", json=body).status_code for c in (first, second, first)]
    assert statuses == [401, 401, 401]
    limited = second.post("/api/v1/users/login", json=body)
    assert limited.status_code == 429
    assert limited.get_json()["code"] == 429 and limited.get_json()["error"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    other_client = first.post("/api/v1/users/login", json=body, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other_client.status_code == 401


def test_register_is_rate_limited(make_app):
    client = make_app(RATELIMIT_ENABLED=True, RATELIMIT_REGISTER="2 per minute").test_client()
    codes = [
        client.post("/api/v1/users/register", json={"username": f"rl{n}", "password": "password1"}).status_code for n in range(3)
    ]
    assert codes == [201, 201, 429]


@pytest.fixture
def estate(client, auth):
    """One of everything, owned by `owner`, with MARKER in its visible text."""
    owner = auth.register()
    ids = {"user_id": owner.id}
    offer = client.post(f"/api/v1/users/{owner.id}/offers/", json={"title": MARKER}, headers=owner.headers).get_json()
    ids["offer_id"] = offer["id"]
    tracker = make_tracker(client, owner, name=MARKER)
    ids["tracker_id"] = tracker["id"]
    issue = client.post(f"{TRACKERS}{tracker['id']}/issues", json={"title": MARKER}, headers=owner.headers).get_json()
    ids["issue_id"] = issue["id"]
    issue_url = f"{TRACKERS}{tracker['id']}/issues/{issue['id']}"
    comment = client.post(f"{issue_url}/comments", json={"body": MARKER}, headers=owner.headers).get_json()
    ids["comment_id"] = comment["id"]
    attachment = client.post(
        f"{issue_url}/attachments",
        headers=owner.headers,
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(MARKER.encode()), f"{MARKER}.txt", "text/plain")},
    )
    assert attachment.status_code == 201, attachment.get_json()
    ids["attachment_id"] = attachment.get_json()["id"]
    other = make_tracker(client, owner, name=MARKER + "-right")
    client.post(f"{TRACKERS}{other['id']}/issues", json={"title": MARKER}, headers=owner.headers)
    sync = client.post(
        "/api/v1/syncs/",
        json={"name": MARKER, "left_tracker_id": tracker["id"], "right_tracker_id": other["id"]},
        headers=owner.headers,
    )
    assert sync.status_code == 201, sync.get_json()
    ids["sync_id"] = sync.get_json()["id"]
    link = client.post(
        f"/api/v1/syncs/{ids['sync_id']}/links", json={"left_issue_id": issue["id"], "right_issue_id": "1"}, headers=owner.headers
    )
    assert link.status_code == 201, link.get_json()
    ids["link_id"] = link.get_json()["id"]
    template = client.post(
        "/api/v1/templates/", json={"name": MARKER, "title": MARKER, "tracker_id": tracker["id"]}, headers=owner.headers
    ).get_json()
    ids["template_id"] = template["id"]
    rule = client.post(
        "/api/v1/automations/",
        json={"name": MARKER, "event_types": ["issue.created"], "actions": [{"type": "notify", "message": MARKER}]},
        headers=owner.headers,
    ).get_json()
    ids["automation_id"] = rule["id"]
    subscription = client.post(
        "/api/v1/subscriptions/",
        json={"url": "http://127.0.0.1:9/hook", "events": ["*"], "secret": MARKER + "-secret-value"},
        headers=owner.headers,
    )
    assert subscription.status_code == 201, subscription.get_json()
    ids["subscription_id"] = subscription.get_json()["id"]
    ids["delivery_id"] = "00000000-0000-0000-0000-000000000000"
    return owner, ids


BODIES = {
    "/api/v1/users/<int:user_id>/offers/": {"title": "intruder"},
    "/api/v1/users/<int:user_id>/offers/<int:offer_id>": {"title": "intruder"},
    "/api/v1/trackers/<int:tracker_id>": {"name": "intruder"},
    "/api/v1/trackers/<int:tracker_id>/issues": {"title": "intruder"},
    "/api/v1/trackers/<int:tracker_id>/issues/<string:issue_id>": {"title": "intruder"},
    "/api/v1/trackers/<int:tracker_id>/issues/<string:issue_id>/comments": {"body": "intruder"},
    "/api/v1/templates/<int:template_id>": {"name": "intruder"},
    "/api/v1/templates/<int:template_id>/render": {"variables": {}},
    "/api/v1/templates/<int:template_id>/issues": {"variables": {}},
    "/api/v1/automations/<int:automation_id>": {"enabled": False},
    "/api/v1/subscriptions/<int:subscription_id>": {"enabled": False},
    "/api/v1/trackers/<int:tracker_id>/issues/<string:issue_id>/comments/<string:comment_id>": {"body": "intruder"},
    "/api/v1/trackers/<int:tracker_id>/passthrough": {"method": "GET", "path": "user"},
    "/api/v1/syncs/<int:sync_id>": {"enabled": False},
    "/api/v1/syncs/<int:sync_id>/links": {"left_issue_id": "1", "right_issue_id": "1"},
}
PUBLIC_BY_DESIGN = {
    # Any authenticated user may read any user's offers (the original API's contract).
    ("GET", "/api/v1/users/<int:user_id>/offers/"),
    ("GET", "/api/v1/users/<int:user_id>/offers/<int:offer_id>"),
    # Providers call this without a token; it answers by signature (401) or 404, never with data.
    ("POST", "/api/v1/webhooks/<int:tracker_id>"),
    ("HEAD", "/api/v1/webhooks/<int:tracker_id>"),
}


def _id_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and "<" in rule.rule:
            for method in sorted(rule.methods - {"OPTIONS", "HEAD"} | ({"HEAD"} if "webhooks" in rule.rule else set())):
                yield method, rule.rule


def test_every_route_that_takes_an_id_refuses_another_user_for_every_verb(app, client, auth, estate):
    owner, ids = estate
    intruder = auth.register()
    checked = 0
    for method, rule in _id_routes(app):
        if (method, rule) in PUBLIC_BY_DESIGN and method != "GET":
            continue
        url = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: str(ids[m.group(1)]), rule)
        kwargs = {"headers": intruder.headers}
        if method in ("POST", "PUT", "PATCH"):
            kwargs["json"] = BODIES.get(rule, {})
        response = client.open(url, method=method, **kwargs)
        text = response.get_data(as_text=True)
        if (method, rule) in PUBLIC_BY_DESIGN:
            assert response.status_code == 200, (method, url)
            continue
        assert response.status_code in (403, 404), (method, url, response.status_code, text[:200])
        assert MARKER not in text, (method, url)
        checked += 1
    assert checked >= 25
    # Nothing the intruder sent changed the owner's objects.
    assert client.get(f"{TRACKERS}{ids['tracker_id']}", headers=owner.headers).get_json()["name"] == MARKER
    assert client.get(f"/api/v1/templates/{ids['template_id']}", headers=owner.headers).get_json()["name"] == MARKER
    assert client.get(f"/api/v1/automations/{ids['automation_id']}", headers=owner.headers).get_json()["enabled"] is True
    assert client.get(f"/api/v1/syncs/{ids['sync_id']}", headers=owner.headers).get_json()["enabled"] is True
    links = client.get(f"/api/v1/syncs/{ids['sync_id']}/links", headers=owner.headers).get_json()
    assert [link["id"] for link in links["links"]] == [ids["link_id"]]
    issue_url = f"{TRACKERS}{ids['tracker_id']}/issues/{ids['issue_id']}"
    comments = client.get(f"{issue_url}/comments", headers=owner.headers).get_json()["comments"]
    assert [(c["id"], c["body"]) for c in comments] == [(ids["comment_id"], MARKER)]
    attachments = client.get(f"{issue_url}/attachments", headers=owner.headers).get_json()["attachments"]
    assert [a["id"] for a in attachments] == [ids["attachment_id"]]

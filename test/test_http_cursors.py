"""Every paginated list refuses a forged or malformed cursor with 400 `validation_failed` naming `cursor`."""

import re

import pytest

from api import create_app
from api.schemas.base import encode_cursor
from config import TestingConfig
from test.test_trackers import TRACKERS, make_tracker

MARKER = "cursor-estate"

BAD_CURSORS = [
    "zzz",  # not base64 of JSON
    "!!!",  # not even base64
    "a" * 600,  # longer than any cursor we hand out
    encode_cursor(["x"]),  # wrong type
    encode_cursor([1.5]),
    encode_cursor([True]),
    encode_cursor([[1, 2]]),
    encode_cursor([{"1": 5}]),  # right type for /issues, wrong inside
    encode_cursor([{"1": [None, -1]}]),
    encode_cursor([{"x": [None, 0]}]),
    encode_cursor([{"1": [encode_cursor(["x"]), 0]}]),  # /issues shape, the tracker's own cursor forged
    encode_cursor(["2020-13-45", 1]),  # built-in issues shape, impossible time
    encode_cursor([10**30]),  # out of any integer column's range
    encode_cursor(["2020-01-01T00:00:00+00:00", 10**30]),
]


def _list_operations():
    """Every GET of the live spec that takes a `cursor` (built without a database: only the spec is read)."""
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI="postgresql://unused@127.0.0.1:9/unused")
    spec = app.test_client().get("/api/v1/swagger.json").get_json()
    found = []
    for path, operations in spec["paths"].items():
        get = operations.get("get")
        if get and any(p["name"] == "cursor" for p in get.get("parameters", []) + operations.get("parameters", [])):
            found.append(spec["basePath"].rstrip("/") + path)
    return sorted(found)


LIST_OPERATIONS = _list_operations()


def test_the_spec_has_the_lists_this_suite_expects():
    # A guard on the guard: an empty or shrunken parametrization would make the test below pass vacuously.
    assert len(LIST_OPERATIONS) >= 13 and "/api/v1/issues" in LIST_OPERATIONS


@pytest.fixture
def estate(client, auth):
    """One object of every kind a list path names, owned by `owner`, with an issue that has a comment."""
    owner = auth.register()
    ids = {"user_id": owner.id}
    tracker = make_tracker(client, owner, name=MARKER)
    ids["tracker_id"] = tracker["id"]
    issue = client.post(f"{TRACKERS}{tracker['id']}/issues", json={"title": MARKER}, headers=owner.headers).get_json()
    ids["issue_id"] = issue["id"]
    client.post(f"{TRACKERS}{tracker['id']}/issues/{issue['id']}/comments", json={"body": MARKER}, headers=owner.headers)
    template = client.post(
        "/api/v1/templates/", json={"name": MARKER, "title": MARKER, "tracker_id": tracker["id"]}, headers=owner.headers
    )
    assert template.status_code == 201, template.get_json()
    ids["template_id"] = template.get_json()["id"]
    rule = client.post(
        "/api/v1/automations/",
        json={"name": MARKER, "event_types": ["issue.created"], "actions": [{"type": "notify", "message": MARKER}]},
        headers=owner.headers,
    )
    assert rule.status_code == 201, rule.get_json()
    ids["automation_id"] = rule.get_json()["id"]
    subscription = client.post(
        "/api/v1/subscriptions/",
        json={"url": "http://127.0.0.1:9/hook", "events": ["*"], "secret": MARKER + "-secret-value"},
        headers=owner.headers,
    )
    assert subscription.status_code == 201, subscription.get_json()
    ids["subscription_id"] = subscription.get_json()["id"]
    other = make_tracker(client, owner, name=MARKER + "-other")
    sync = client.post(
        "/api/v1/syncs/",
        json={"name": MARKER, "left_tracker_id": tracker["id"], "right_tracker_id": other["id"]},
        headers=owner.headers,
    )
    assert sync.status_code == 201, sync.get_json()
    ids["sync_id"] = sync.get_json()["id"]
    return owner, ids


@pytest.mark.parametrize("path", LIST_OPERATIONS)
def test_every_list_refuses_a_bad_cursor_with_400_naming_cursor(client, estate, path, caplog):
    owner, ids = estate
    url = re.sub(r"{([^}]+)}", lambda m: str(ids[m.group(1)]), path)
    assert client.get(url, headers=owner.headers).status_code == 200, url
    for cursor in BAD_CURSORS:
        response = client.get(url, query_string={"cursor": cursor}, headers=owner.headers)
        body = response.get_json()
        assert response.status_code == 400, (url, cursor, response.status_code, body)
        assert body["error"] == "validation_failed" and body["errors"]["cursor"], (url, cursor, body)
    # A client's mistake is not a server incident: nothing logged as an error.
    assert not [record for record in caplog.records if record.levelname in ("ERROR", "CRITICAL")]

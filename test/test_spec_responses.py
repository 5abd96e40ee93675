"""A validating Swagger 2.0 client (bravado-core) accepts the responses of models with write-only fields, and the
suite's spec check (test/spec_validation.py) catches what such a client would refuse."""

import pytest

from test.spec_validation import ResponseChecker
from test.test_trackers import make_tracker

SECRET = "a-long-enough-webhook-secret"


@pytest.fixture
def spec(client):
    return client.get("/api/v1/swagger.json").get_json()


@pytest.fixture
def checker(spec):
    return ResponseChecker(spec)


def check(checker, response, method, path):
    return checker.check(
        method=method,
        path=path,
        status=response.status_code,
        content_type=response.mimetype,
        text=response.get_data(as_text=True),
        headers=dict(response.headers),
    )


def test_write_only_fields_are_in_request_models_only(spec):
    definitions = spec["definitions"]
    for output, inputs, secret in (
        ("Subscription", ("SubscriptionCreate", "SubscriptionUpdate"), "secret"),
        ("Tracker", ("TrackerCreate", "TrackerUpdate"), "credentials"),
    ):
        assert secret not in definitions[output]["properties"] and secret not in definitions[output].get("required", [])
        assert all(secret in definitions[name]["properties"] for name in inputs)
    assert "secret" in definitions["SubscriptionCreate"]["required"]
    assert "password" not in definitions["User"]["properties"] and "password" in definitions["Register"]["required"]
    for name in ("SubscriptionCreate", "TrackerCreate", "CommentCreate", "IssueTemplateCreate", "OfferCreate"):
        assert not any(prop.get("readOnly") for prop in definitions[name]["properties"].values()), name


def test_every_subscription_response_validates_with_a_swagger_client(client, auth, checker):
    user = auth.register()
    created = client.post(
        "/api/v1/subscriptions/", headers=user.headers, json={"url": "http://127.0.0.1:9/hook", "events": ["*"], "secret": SECRET}
    )
    assert created.status_code == 201
    item = "/subscriptions/{subscription_id}"
    url = f"/api/v1/subscriptions/{created.get_json()['id']}"
    responses = [
        (created, "POST", "/subscriptions/"),
        (client.get(url, headers=user.headers), "GET", item),
        (client.patch(url, json={"secret": SECRET + "2", "enabled": False}, headers=user.headers), "PATCH", item),
        (client.get("/api/v1/subscriptions/", headers=user.headers), "GET", "/subscriptions/"),
    ]
    assert [check(checker, response, method, path) for response, method, path in responses] == [None] * 4


def test_every_tracker_response_validates_with_a_swagger_client(client, auth, checker):
    user = auth.register()
    tracker = make_tracker(
        client, user, provider="github", target="octo/site", base_url="http://127.0.0.1:9", credentials={"token": "ghp_secret"}
    )
    url = f"/api/v1/trackers/{tracker['id']}"
    item = "/trackers/{tracker_id}"
    responses = [
        (client.get(url, headers=user.headers), "GET", item),
        (client.patch(url, json={"credentials": {"token": "ghp_other"}}, headers=user.headers), "PATCH", item),
        (client.get("/api/v1/trackers/", headers=user.headers), "GET", "/trackers/"),
    ]
    assert [check(checker, response, method, path) for response, method, path in responses] == [None] * 3


def test_a_response_missing_a_required_field_is_a_mismatch(checker):
    problem = checker.check(
        method="GET",
        path="/subscriptions/{subscription_id}",
        status=200,
        content_type="application/json",
        text='{"id": 1, "events": ["*"]}',
    )
    assert "'url' is a required property" in problem


def test_a_write_only_field_in_a_response_is_a_mismatch(checker):
    body = '{"id": 1, "url": "https://example.com/", "events": ["*"], "secret": "x"}'
    problem = checker.check(
        method="GET", path="/subscriptions/{subscription_id}", status=200, content_type="application/json", text=body
    )
    assert "secret" in problem


def test_an_undocumented_status_is_a_mismatch(checker):
    body = '{"code": 500, "error": "internal_error", "message": "Internal error."}'
    problem = checker.check(method="POST", path="/users/login", status=500, content_type="application/json", text=body)
    assert problem == "status 500 is not documented for this operation"


def test_an_error_outside_any_operation_must_have_the_error_shape(checker):
    assert (
        checker.check(
            method="GET",
            path=None,
            status=404,
            content_type="application/json",
            text='{"code": 404, "error": "not_found", "message": "Not found."}',
        )
        is None
    )
    assert checker.check(method="GET", path=None, status=404, content_type="application/json", text='{"detail": "x"}')

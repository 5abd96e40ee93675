"""What the subscription endpoints show of a subscription: every public field with its value, never the secret."""

from datetime import datetime

from api.schemas.base import encode_cursor
from api.services import subscriptions as subscriptions_service
from test.receiver import Receiver

SUBSCRIPTIONS = "/api/v1/subscriptions/"


def test_a_subscription_is_shown_with_its_url_events_state_and_times(client, auth):
    user = auth.register()
    body = {"url": " https://127.0.0.1/hooks/ ", "events": ["issue.created"], "secret": "0123456789abcdef-secret"}
    created = client.post(SUBSCRIPTIONS, json=body, headers=user.headers)
    assert created.status_code == 201, created.get_json()
    shown = created.get_json()
    assert set(shown) == {"id", "url", "events", "enabled", "has_secret", "created_at", "updated_at"}
    assert shown["url"] == "https://127.0.0.1/hooks/"  # trimmed, trailing slash kept
    assert shown["events"] == ["issue.created"] and shown["enabled"] is True and shown["has_secret"] is True
    assert datetime.fromisoformat(shown["created_at"]).utcoffset() is not None
    assert datetime.fromisoformat(shown["updated_at"]) >= datetime.fromisoformat(shown["created_at"])
    fetched = client.get(f"{SUBSCRIPTIONS}{shown['id']}", headers=user.headers).get_json()
    assert fetched == shown
    patched = client.patch(f"{SUBSCRIPTIONS}{shown['id']}", json={"url": "https://127.0.0.1:8443/in", "enabled": False},
                           headers=user.headers).get_json()
    assert (patched["url"], patched["enabled"], patched["events"]) == ("https://127.0.0.1:8443/in", False, ["issue.created"])
    listed = client.get(SUBSCRIPTIONS, headers=user.headers).get_json()
    assert [item["url"] for item in listed["subscriptions"]] == ["https://127.0.0.1:8443/in"]


def test_a_patch_changes_only_the_fields_sent_and_an_empty_one_says_what_is_missing(client, auth):
    user = auth.register()
    body = {"url": "https://127.0.0.1/hook", "events": ["*"], "secret": "0123456789abcdef-secret"}
    subscription = client.post(SUBSCRIPTIONS, json=body, headers=user.headers).get_json()
    url = f"{SUBSCRIPTIONS}{subscription['id']}"
    patched = client.patch(url, json={"events": ["comment.created", "issue.closed"]}, headers=user.headers).get_json()
    assert patched["events"] == ["comment.created", "issue.closed"]
    assert (patched["url"], patched["enabled"]) == ("https://127.0.0.1/hook", True)
    empty = client.patch(url, json={}, headers=user.headers)
    assert empty.status_code == 400
    assert empty.get_json() == {"code": 400, "error": "validation_failed", "message": "Send at least one field to change.",
                                "errors": {"_schema": ["No fields to change."]}}


def test_a_delivery_is_listed_with_its_state_and_detailed_with_its_payload_and_attempts(client, auth, db):
    user = auth.register()
    receiver = Receiver().start()
    try:
        subscription = client.post(SUBSCRIPTIONS, json={"url": receiver.url, "events": ["*"],
                                                        "secret": "0123456789abcdef-secret"}, headers=user.headers).get_json()
        assert subscriptions_service.notify(session=db.session, owner_id=user.id, event_type="automation.notify",
                                            payload={"message": "hello"}) == 1
        db.session.commit()
        url = f"{SUBSCRIPTIONS}{subscription['id']}/deliveries"
        [pending] = client.get(url, headers=user.headers).get_json()["deliveries"]
        receiver.fail_next(1, status=503)
        assert subscriptions_service.send_delivery(session=db.session, delivery_id=pending["id"]) == "pending"
    finally:
        receiver.stop()
    [listed] = client.get(url, headers=user.headers).get_json()["deliveries"]
    assert set(listed) == {"id", "subscription_id", "event_id", "event_type", "status", "attempts", "last_status_code",
                           "last_error", "next_attempt_at", "delivered_at", "created_at"}
    assert (listed["id"], listed["subscription_id"], listed["event_id"], listed["event_type"]) == \
        (pending["id"], subscription["id"], None, "automation.notify")
    assert (listed["status"], listed["attempts"], listed["last_status_code"], listed["last_error"]) == \
        ("pending", 1, 503, "Answered 503.")
    assert datetime.fromisoformat(listed["next_attempt_at"]) > datetime.fromisoformat(listed["created_at"])
    assert listed["delivered_at"] is None
    detail = client.get(f"{url}/{listed['id']}", headers=user.headers).get_json()
    assert {key: detail[key] for key in listed} == listed
    assert detail["payload"] == {"message": "hello"}
    [attempt] = detail["attempt_log"]
    assert set(attempt) == {"id", "attempted_at", "status_code", "error", "duration_ms"}
    assert (attempt["status_code"], attempt["error"]) == (503, "Answered 503.") and attempt["duration_ms"] >= 0
    assert isinstance(attempt["id"], int) and datetime.fromisoformat(attempt["attempted_at"]).utcoffset() is not None


def test_a_delivery_cursor_whose_time_does_not_parse_is_400_on_cursor(client, auth):
    user = auth.register()
    subscription = client.post(SUBSCRIPTIONS, json={"url": "https://127.0.0.1/hook", "events": ["*"],
                                                    "secret": "0123456789abcdef-secret"}, headers=user.headers).get_json()
    forged = encode_cursor(["yesterday", "d-1"])
    response = client.get(f"{SUBSCRIPTIONS}{subscription['id']}/deliveries?cursor={forged}", headers=user.headers)
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"cursor": ["Invalid cursor."]}

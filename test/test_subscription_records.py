"""What the subscription endpoints show of a subscription: every public field with its value, never the secret."""

from datetime import datetime

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

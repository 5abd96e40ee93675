"""What the subscription endpoints show of a subscription: every public field with its value, never the secret."""

from datetime import datetime

from sqlalchemy import text

from api.models.subscriptions import OutboundDelivery
from api.models.users import User
from api.schemas.base import encode_cursor
from api.services import subscriptions as subscriptions_service
from test.conftest import EMPTY_UPDATE_REFUSED
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
    patched = client.patch(
        f"{SUBSCRIPTIONS}{shown['id']}", json={"url": "https://127.0.0.1:8443/in", "enabled": False}, headers=user.headers
    ).get_json()
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
    assert empty.get_json() == EMPTY_UPDATE_REFUSED


def test_a_delivery_is_listed_with_its_state_and_detailed_with_its_payload_and_attempts(client, auth, db):
    user = auth.register()
    receiver = Receiver().start()
    try:
        subscription = client.post(
            SUBSCRIPTIONS, json={"url": receiver.url, "events": ["*"], "secret": "0123456789abcdef-secret"}, headers=user.headers
        ).get_json()
        assert (
            subscriptions_service.notify(
                session=db.session, owner_id=user.id, event_type="automation.notify", payload={"message": "hello"}
            )
            == 1
        )
        db.session.commit()
        url = f"{SUBSCRIPTIONS}{subscription['id']}/deliveries"
        [pending] = client.get(url, headers=user.headers).get_json()["deliveries"]
        receiver.fail_next(1, status=503)
        assert subscriptions_service.send_delivery(session=db.session, delivery_id=pending["id"]) == "pending"
    finally:
        receiver.stop()
    [listed] = client.get(url, headers=user.headers).get_json()["deliveries"]
    assert set(listed) == {
        "id",
        "subscription_id",
        "event_id",
        "event_type",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    }
    assert (listed["id"], listed["subscription_id"], listed["event_id"], listed["event_type"]) == (
        pending["id"],
        subscription["id"],
        None,
        "automation.notify",
    )
    assert (listed["status"], listed["attempts"], listed["last_status_code"], listed["last_error"]) == (
        "pending",
        1,
        503,
        "Answered 503.",
    )
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
    subscription = client.post(
        SUBSCRIPTIONS,
        json={"url": "https://127.0.0.1/hook", "events": ["*"], "secret": "0123456789abcdef-secret"},
        headers=user.headers,
    ).get_json()
    forged = encode_cursor(["yesterday", "d-1"])
    response = client.get(f"{SUBSCRIPTIONS}{subscription['id']}/deliveries?cursor={forged}", headers=user.headers)
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"cursor": ["Invalid cursor."]}


def _subscription_with_deliveries(client, db, user, count, **fields):
    subscription = client.post(
        SUBSCRIPTIONS,
        json={"url": "https://127.0.0.1/hook", "events": ["*"], "secret": "0123456789abcdef-secret", **fields},
        headers=user.headers,
    ).get_json()
    for number in range(count):
        subscriptions_service.notify(session=db.session, owner_id=user.id, event_type="automation.notify", payload={"n": number})
        db.session.commit()
    return subscription


def test_deliveries_page_one_at_a_time_to_the_end(client, auth, db):
    user = auth.register()
    subscription = _subscription_with_deliveries(client, db, user, 3)
    url, cursor, seen = f"{SUBSCRIPTIONS}{subscription['id']}/deliveries?limit=1", None, []
    for _ in range(4):
        page = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=user.headers).get_json()
        seen += [
            client.get(f"{SUBSCRIPTIONS}{subscription['id']}/deliveries/{d['id']}", headers=user.headers).get_json()["payload"][
                "n"
            ]
            for d in page["deliveries"]
        ]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [2, 1, 0]


def test_redelivering_needs_an_enabled_subscription_and_one_of_its_own_deliveries(client, auth, db):
    user = auth.register()
    one = _subscription_with_deliveries(client, db, user, 1)
    other = _subscription_with_deliveries(client, db, user, 0)
    [delivery] = client.get(f"{SUBSCRIPTIONS}{one['id']}/deliveries", headers=user.headers).get_json()["deliveries"]
    wrong = client.post(f"{SUBSCRIPTIONS}{other['id']}/deliveries/{delivery['id']}/redeliver", headers=user.headers)
    assert wrong.status_code == 404 and wrong.get_json()["message"] == f"Delivery {delivery['id']} not found."
    client.patch(f"{SUBSCRIPTIONS}{one['id']}", json={"enabled": False}, headers=user.headers)
    disabled = client.post(f"{SUBSCRIPTIONS}{one['id']}/deliveries/{delivery['id']}/redeliver", headers=user.headers)
    assert disabled.status_code == 409
    assert disabled.get_json()["message"] == "The subscription is disabled; enable it before redelivering."


def test_redelivering_claims_the_attempt_after_the_latest_one_recorded(client, auth, db):
    user = auth.register()
    subscription = _subscription_with_deliveries(client, db, user, 1)
    delivery = db.session.scalars(db.select(OutboundDelivery)).one()  # this session now holds attempts = 0
    with db.engine.begin() as worker:  # meanwhile a worker recorded three attempts
        worker.execute(
            text("UPDATE outbound_deliveries SET attempts = 3, status = 'failed', next_attempt_at = NULL WHERE id = :id"),
            {"id": delivery.id},
        )
    owner = db.session.get(User, user.id)
    redelivered = subscriptions_service.redeliver(
        session=db.session, owner=owner, subscription_id=subscription["id"], delivery_id=delivery.id
    )
    assert redelivered.status == "pending" and redelivered.next_attempt_at is not None
    attempts = (
        db.session.execute(
            text("SELECT args->>'attempt' FROM procrastinate_jobs WHERE args->>'delivery_id' = :id ORDER BY id"),
            {"id": delivery.id},
        )
        .scalars()
        .all()
    )
    assert attempts == ["1", "4"]

import hashlib
import hmac
import json
import logging
import time
import uuid
from datetime import datetime

import pytest
from sqlalchemy import text

from api import crypto, jobs
from api.models.events import Event
from api.services import subscriptions as subscriptions_service
from api.services.events import event_to_dict
from test.receiver import Receiver
from test.test_trackers import make_tracker

SUBSCRIPTIONS = "/api/v1/subscriptions/"
SECRET = "s3cret-value-for-hmac-0123456789"


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def worker_app(make_app):
    """Retries without waiting, so a worker run with wait=False goes through the whole schedule."""
    return make_app(OUTBOUND_RETRY_SCHEDULE=[0, 0, 0], OUTBOUND_TIMEOUT_SECONDS=1.0)


def run_jobs(app):
    """Process queued jobs with `app`'s settings until none is due."""
    jobs.run_worker(app, concurrency=1, wait=False)


def make_subscription(client, user, **overrides):
    body = {"url": "https://127.0.0.1/hook", "events": ["*"], "secret": SECRET, **overrides}
    response = client.post(SUBSCRIPTIONS, json=body, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def emit(db, user, tracker, event_type="issue.created"):
    """Store an event as the webhook pipeline does and fan it out; returns (event payload, deliveries created)."""
    event = Event(
        tracker_id=tracker["id"],
        owner_id=user.id,
        type=event_type,
        issue_id="7",
        issue={"id": "7", "title": "Login fails", "tracker_id": tracker["id"]},
    )
    db.session.add(event)
    db.session.flush()
    count = subscriptions_service.fan_out(session=db.session, event=event)
    payload = event_to_dict(event)
    db.session.commit()
    return payload, count


def assert_documented_event(data, tracker, event_type="issue.created"):
    """The event as docs/WEBHOOKS-OUTBOUND.md and the events API document it, field by field (not rebuilt by our code)."""
    assert set(data) == {
        "id",
        "type",
        "tracker_id",
        "issue_id",
        "issue",
        "comment",
        "changes",
        "chain_depth",
        "source",
        "occurred_at",
    }
    assert isinstance(data["id"], int) and data["id"] > 0
    assert data["type"] == event_type and data["tracker_id"] == tracker["id"] and data["issue_id"] == "7"
    assert data["issue"] == {"id": "7", "title": "Login fails", "tracker_id": tracker["id"]}
    assert data["comment"] is None and data["changes"] == {} and data["chain_depth"] == 0
    assert datetime.fromisoformat(data["occurred_at"]).utcoffset() is not None


def deliveries(client, user, subscription):
    response = client.get(f"{SUBSCRIPTIONS}{subscription['id']}/deliveries", headers=user.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["deliveries"]


def delivery_detail(client, user, subscription, delivery_id):
    response = client.get(f"{SUBSCRIPTIONS}{subscription['id']}/deliveries/{delivery_id}", headers=user.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def verify(secret, headers, body, *, now=None, tolerance=300):
    """The receiver-side recipe documented in the namespace description and docs/WEBHOOKS-OUTBOUND.md."""
    timestamp = headers["X-Gateway-Timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    received = headers["X-Gateway-Signature"].removeprefix("sha256=")
    fresh = abs((now if now is not None else time.time()) - int(timestamp)) <= tolerance
    return hmac.compare_digest(expected, received) and fresh


@pytest.fixture
def setup(client, auth, receiver):
    """A user with a builtin tracker and a subscription to everything at the receiver."""
    user = auth.register()
    tracker = make_tracker(client, user)
    subscription = make_subscription(client, user, url=receiver.url)
    return user, tracker, subscription


# ---- CRUD and validation -----------------------------------------------------------------------


def test_crud_never_returns_the_secret(client, auth):
    user = auth.register()
    created = make_subscription(client, user, events=["issue.created", "automation.notify"])
    assert created["has_secret"] is True and created["enabled"] is True and "secret" not in created
    assert created["events"] == ["issue.created", "automation.notify"]
    url = f"{SUBSCRIPTIONS}{created['id']}"
    new_secret = "another-secret-0123456789"
    responses = [
        client.get(url, headers=user.headers),
        client.get(SUBSCRIPTIONS, headers=user.headers),
        client.patch(url, json={"enabled": False, "secret": new_secret}, headers=user.headers),
    ]
    for response in responses:
        assert response.status_code == 200, response.get_json()
        body = response.get_data(as_text=True)
        assert SECRET not in body and new_secret not in body
        assert '"secret"' not in body
    assert responses[2].get_json()["enabled"] is False and responses[2].get_json()["events"] == created["events"]
    assert client.get(SUBSCRIPTIONS, headers=user.headers).get_json()["subscriptions"][0]["enabled"] is False
    assert client.delete(url, headers=user.headers).status_code == 200
    assert client.get(url, headers=user.headers).status_code == 404


def test_secret_is_encrypted_at_rest(client, auth, db):
    user = auth.register()
    created = make_subscription(client, user)
    row = db.session.execute(
        text("SELECT secret_encrypted, subscriptions::text FROM subscriptions WHERE id = :id"), {"id": created["id"]}
    ).one()
    assert SECRET not in row[1] and row[0].startswith("gAAAA")
    assert crypto.decrypt_json(row[0]) == SECRET


def test_list_is_paginated_oldest_first(client, auth):
    user = auth.register()
    ids = [make_subscription(client, user)["id"] for _ in range(3)]
    first = client.get(f"{SUBSCRIPTIONS}?limit=2", headers=user.headers).get_json()
    assert [s["id"] for s in first["subscriptions"]] == ids[:2] and first["next_cursor"]
    rest = client.get(f"{SUBSCRIPTIONS}?limit=2&cursor={first['next_cursor']}", headers=user.headers).get_json()
    assert [s["id"] for s in rest["subscriptions"]] == ids[2:] and rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"events": ["issue.exploded"]}, "events"),
        ({"events": ["*", "issue.created"]}, "events"),
        ({"events": ["issue.created", "issue.created"]}, "events"),
        ({"events": []}, "events"),
        ({"secret": None}, "secret"),
        ({"secret": "too-short"}, "secret"),
        ({"secret": "x" * 257}, "secret"),
        ({"url": ""}, "url"),
        ({"url": "ftp://127.0.0.1/hook"}, "url"),
        ({"has_secret": False}, "has_secret"),
    ],
)
def test_invalid_subscription_is_400_with_field_messages(client, auth, overrides, field):
    user = auth.register()
    body = {"url": "https://127.0.0.1/hook", "events": ["*"], "secret": SECRET, **overrides}
    body = {key: value for key, value in body.items() if value is not None}
    response = client.post(SUBSCRIPTIONS, json=body, headers=user.headers)
    assert response.status_code == 400, response.get_json()
    assert field in response.get_json()["errors"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://93.184.216.34/hook", "https"),
        ("https://10.0.0.1/hook", "private"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://[::1]/hook", "loopback"),
        ("https://user:pass@127.0.0.1/hook", "credentials"),
    ],
)
def test_url_policy_refusals_are_400_on_url(client, auth, url, reason):
    user = auth.register()
    response = client.post(SUBSCRIPTIONS, json={"url": url, "events": ["*"], "secret": SECRET}, headers=user.headers)
    assert response.status_code == 400, response.get_json()
    assert reason in " ".join(response.get_json()["errors"]["url"])
    subscription = make_subscription(client, user)
    response = client.patch(f"{SUBSCRIPTIONS}{subscription['id']}", json={"url": url}, headers=user.headers)
    assert response.status_code == 400 and "url" in response.get_json()["errors"]


def test_empty_patch_is_400(client, auth):
    user = auth.register()
    subscription = make_subscription(client, user)
    response = client.patch(f"{SUBSCRIPTIONS}{subscription['id']}", json={}, headers=user.headers)
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("patch", "", {"enabled": False}),
        ("delete", "", None),
        ("get", "/deliveries", None),
        ("get", "/deliveries/{delivery}", None),
        ("post", "/deliveries/{delivery}/redeliver", None),
    ],
)
def test_other_users_cannot_see_or_touch_a_subscription(client, auth, db, setup, method, suffix, body):
    owner, tracker, subscription = setup
    intruder = auth.register()
    emit(db, owner, tracker)
    delivery_id = deliveries(client, owner, subscription)[0]["id"]
    kwargs = {"headers": intruder.headers, **({"json": body} if body is not None else {})}
    response = getattr(client, method)(f"{SUBSCRIPTIONS}{subscription['id']}{suffix.format(delivery=delivery_id)}", **kwargs)
    assert response.status_code == 404
    assert client.get(f"{SUBSCRIPTIONS}{subscription['id']}", headers=owner.headers).get_json()["enabled"] is True
    assert deliveries(client, owner, subscription)[0]["status"] == "pending"


def test_delivery_of_another_subscription_is_not_found(client, db, setup):
    user, tracker, subscription = setup
    other = make_subscription(client, user)
    emit(db, user, tracker)
    delivery_id = deliveries(client, user, subscription)[0]["id"]
    assert client.get(f"{SUBSCRIPTIONS}{other['id']}/deliveries/{delivery_id}", headers=user.headers).status_code == 404
    assert client.get(f"{SUBSCRIPTIONS}{subscription['id']}/deliveries/nope", headers=user.headers).status_code == 404


# ---- fan-out -----------------------------------------------------------------------------------


def test_fan_out_matches_by_type_and_star_but_skips_disabled_and_other_owners(client, auth, db):
    user, stranger = auth.register(), auth.register()
    tracker = make_tracker(client, user)
    wants_created = make_subscription(client, user, events=["issue.created"])
    wants_all = make_subscription(client, user, events=["*"])
    wants_comments = make_subscription(client, user, events=["comment.created"])
    disabled = make_subscription(client, user, events=["*"], enabled=False)
    theirs = make_subscription(client, stranger, events=["*"])
    payload, count = emit(db, user, tracker, "issue.created")
    assert count == 2
    for subscription, expected in ((wants_created, 1), (wants_all, 1), (wants_comments, 0), (disabled, 0)):
        assert len(deliveries(client, user, subscription)) == expected
    assert deliveries(client, stranger, theirs) == []
    detail = delivery_detail(client, user, wants_all, deliveries(client, user, wants_all)[0]["id"])
    assert_documented_event(detail["payload"], tracker)
    assert detail["event_id"] == payload["id"] and detail["event_type"] == "issue.created"
    assert detail["status"] == "pending" and detail["attempts"] == 0 and detail["attempt_log"] == []
    jobs_queued = db.session.execute(text("SELECT task_name, queue_name, args FROM procrastinate_jobs")).all()
    assert sorted(job.args["delivery_id"] for job in jobs_queued) == sorted(
        d["id"] for s in (wants_created, wants_all) for d in deliveries(client, user, s)
    )
    assert {(job.task_name, job.queue_name) for job in jobs_queued} == {("gateway:send_outbound", "outbound")}


def test_fan_out_does_not_commit(client, auth, db):
    user = auth.register()
    tracker = make_tracker(client, user)
    subscription = make_subscription(client, user)
    event = Event(tracker_id=tracker["id"], owner_id=user.id, type="issue.closed", issue={})
    db.session.add(event)
    db.session.flush()
    assert subscriptions_service.fan_out(session=db.session, event=event) == 1
    db.session.rollback()
    assert deliveries(client, user, subscription) == []
    assert db.session.execute(text("SELECT count(*) FROM procrastinate_jobs")).scalar() == 0


def test_notify_reaches_automation_notify_and_star_subscribers(client, auth, db):
    user = auth.register()
    notify_only = make_subscription(client, user, events=["automation.notify"])
    everything = make_subscription(client, user, events=["*"])
    issues_only = make_subscription(client, user, events=["issue.created"])
    count = subscriptions_service.notify(
        session=db.session,
        owner_id=user.id,
        event_type="automation.notify",
        payload={"rule": "Escalate", "message": "look at #7"},
    )
    db.session.commit()
    assert count == 2
    assert [len(deliveries(client, user, s)) for s in (notify_only, everything, issues_only)] == [1, 1, 0]
    delivery = deliveries(client, user, notify_only)[0]
    assert delivery["event_type"] == "automation.notify" and delivery["event_id"] is None
    assert delivery_detail(client, user, notify_only, delivery["id"])["payload"] == {"rule": "Escalate", "message": "look at #7"}


# ---- sending -----------------------------------------------------------------------------------


def test_delivery_is_signed_and_verifies_with_the_documented_recipe(client, db, setup, receiver, worker_app):
    user, tracker, subscription = setup
    payload, _ = emit(db, user, tracker)
    run_jobs(worker_app)
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    delivery = deliveries(client, user, subscription)[0]
    assert request.method == "POST" and request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "TicketGateway/1.0"
    assert request.headers["X-Gateway-Event"] == "issue.created"
    assert request.headers["X-Gateway-Delivery"] == delivery["id"] and uuid.UUID(delivery["id"])
    assert abs(int(request.headers["X-Gateway-Timestamp"]) - time.time()) < 60
    body = json.loads(request.body)
    assert set(body) == {"id", "type", "created_at", "data"}
    assert body["id"] == delivery["id"] and body["type"] == "issue.created"
    assert_documented_event(body["data"], tracker)
    assert body["data"]["id"] == payload["id"]
    assert body["created_at"].endswith("+00:00")
    assert verify(SECRET, request.headers, request.body)
    assert not verify("the-wrong-secret-0123456789", request.headers, request.body)
    assert not verify(SECRET, request.headers, request.body.replace(b"Login", b"Logout"))
    assert not verify(SECRET, request.headers, request.body, now=int(request.headers["X-Gateway-Timestamp"]) + 600)
    delivery = deliveries(client, user, subscription)[0]
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 1 and delivery["last_status_code"] == 200
    assert delivery["delivered_at"] and delivery["next_attempt_at"] is None and delivery["last_error"] is None


def test_failing_receiver_is_retried_with_the_same_delivery_id_until_it_succeeds(client, db, setup, receiver, worker_app):
    user, tracker, subscription = setup
    receiver.fail_next(2, status=503)
    emit(db, user, tracker)
    run_jobs(worker_app)
    delivery = deliveries(client, user, subscription)[0]
    assert [r.headers["X-Gateway-Delivery"] for r in receiver.requests] == [delivery["id"]] * 3
    assert len({r.body for r in receiver.requests}) == 1
    assert all(verify(SECRET, r.headers, r.body) for r in receiver.requests)
    detail = delivery_detail(client, user, subscription, delivery["id"])
    assert detail["status"] == "succeeded" and detail["attempts"] == 3 and detail["last_status_code"] == 200
    assert [(a["status_code"], a["error"]) for a in detail["attempt_log"]] == [
        (503, "Answered 503."),
        (503, "Answered 503."),
        (200, None),
    ]
    assert all(a["duration_ms"] >= 0 and a["attempted_at"] for a in detail["attempt_log"])


def test_exhausted_schedule_marks_the_delivery_failed(client, db, setup, receiver, worker_app):
    user, tracker, subscription = setup
    receiver.fail_next(10)
    emit(db, user, tracker)
    run_jobs(worker_app)
    assert len(receiver.requests) == 4  # the first attempt + one per schedule entry
    delivery = deliveries(client, user, subscription)[0]
    assert delivery["status"] == "failed" and delivery["attempts"] == 4
    assert delivery["last_status_code"] == 500 and delivery["last_error"] == "Answered 500."
    assert delivery["next_attempt_at"] is None and delivery["delivered_at"] is None


def test_failed_attempt_schedules_the_next_one_per_the_default_schedule(client, db, setup, receiver):
    user, tracker, subscription = setup
    receiver.fail_next(1)
    emit(db, user, tracker)
    delivery_id = deliveries(client, user, subscription)[0]["id"]
    before = time.time()
    assert subscriptions_service.send_delivery(session=db.session, delivery_id=delivery_id, attempt=1) == "pending"
    delivery = deliveries(client, user, subscription)[0]
    wait = datetime.fromisoformat(delivery["next_attempt_at"]).timestamp() - before
    assert subscriptions_service.RETRY_SCHEDULE[0] - 1 <= wait <= subscriptions_service.RETRY_SCHEDULE[0] + 5
    job = db.session.execute(text("SELECT args, scheduled_at FROM procrastinate_jobs WHERE args->>'attempt' = '2'")).one()
    assert job.args == {"delivery_id": delivery_id, "attempt": 2}
    assert abs(job.scheduled_at.timestamp() - datetime.fromisoformat(delivery["next_attempt_at"]).timestamp()) < 1
    assert sum(subscriptions_service.RETRY_SCHEDULE) / 3600 == pytest.approx(22.7, abs=0.1)


def test_redirects_are_not_followed(client, db, setup, receiver, worker_app):
    user, tracker, subscription = setup
    receiver.fail_next(1, status=302)
    emit(db, user, tracker)
    run_jobs(worker_app)
    assert [r.path for r in receiver.requests] == ["/hook", "/hook"]
    detail = delivery_detail(client, user, subscription, deliveries(client, user, subscription)[0]["id"])
    assert detail["attempt_log"][0]["status_code"] == 302 and "not followed" in detail["attempt_log"][0]["error"]
    assert detail["status"] == "succeeded"


def test_a_hanging_receiver_times_out(client, db, setup, receiver, make_app):
    user, tracker, subscription = setup
    receiver.hang(5)
    emit(db, user, tracker)
    run_jobs(make_app(OUTBOUND_RETRY_SCHEDULE=[], OUTBOUND_TIMEOUT_SECONDS=0.3))
    delivery = deliveries(client, user, subscription)[0]
    assert delivery["status"] == "failed" and delivery["last_status_code"] is None
    assert delivery["last_error"] == "Timed out after 0.3 s."


def test_url_policy_is_checked_again_before_each_send(client, db, setup, receiver, make_app):
    user, tracker, subscription = setup
    emit(db, user, tracker)
    run_jobs(make_app(OUTBOUND_RETRY_SCHEDULE=[0], TRACKER_ALLOWED_HOSTS=[]))
    assert receiver.requests == []
    detail = delivery_detail(client, user, subscription, deliveries(client, user, subscription)[0]["id"])
    assert detail["status"] == "failed" and detail["attempts"] == 2
    assert all(a["error"] == "Refused by the outbound URL policy: Must use https." for a in detail["attempt_log"])


def test_unreachable_receiver_is_a_failed_attempt_without_the_url_in_the_error(client, auth, db, make_app):
    user = auth.register()
    tracker = make_tracker(client, user)
    subscription = make_subscription(client, user, url="http://127.0.0.1:9/hook?token=abc")
    emit(db, user, tracker)
    run_jobs(make_app(OUTBOUND_RETRY_SCHEDULE=[]))
    delivery = deliveries(client, user, subscription)[0]
    assert delivery["status"] == "failed" and delivery["last_error"].startswith("Could not connect")
    assert "token" not in delivery["last_error"]


def test_attempts_are_logged_once_each_without_secret_or_signature(client, db, setup, receiver, worker_app, caplog):
    user, tracker, _ = setup
    receiver.fail_next(1)
    emit(db, user, tracker)
    with caplog.at_level(logging.INFO):
        run_jobs(worker_app)
    signatures = [r.headers["X-Gateway-Signature"] for r in receiver.requests]
    lines = [r for r in caplog.records if r.name == "api.services.subscriptions"]
    assert [(r.attempt, r.status_code, r.delivery_status) for r in lines] == [(1, 500, "pending"), (2, 200, "succeeded")]
    for record in caplog.records:
        logged = record.getMessage() + json.dumps(record.__dict__, default=str)
        assert SECRET not in logged
        assert not any(signature.removeprefix("sha256=") in logged for signature in signatures)


# ---- redelivery and idempotency ----------------------------------------------------------------


def test_redeliver_a_failed_delivery_sends_it_again_with_the_same_id(client, db, setup, receiver, worker_app):
    user, tracker, subscription = setup
    receiver.fail_next(4)
    emit(db, user, tracker)
    run_jobs(worker_app)
    delivery = deliveries(client, user, subscription)[0]
    assert delivery["status"] == "failed"
    response = client.post(f"{SUBSCRIPTIONS}{subscription['id']}/deliveries/{delivery['id']}/redeliver", headers=user.headers)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["status"] == "pending" and response.get_json()["id"] == delivery["id"]
    run_jobs(worker_app)
    assert [r.headers["X-Gateway-Delivery"] for r in receiver.requests] == [delivery["id"]] * 5
    delivery = deliveries(client, user, subscription)[0]
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 5


def test_redeliver_a_succeeded_delivery_sends_it_once_more(client, db, setup, receiver, worker_app):
    user, tracker, subscription = setup
    emit(db, user, tracker)
    run_jobs(worker_app)
    delivery_id = deliveries(client, user, subscription)[0]["id"]
    url = f"{SUBSCRIPTIONS}{subscription['id']}/deliveries/{delivery_id}/redeliver"
    assert client.post(url, headers=user.headers).status_code == 202
    assert client.post(url, headers=user.headers).status_code == 202  # a double click still means one more attempt
    run_jobs(worker_app)
    assert [r.headers["X-Gateway-Delivery"] for r in receiver.requests] == [delivery_id] * 2
    assert delivery_detail(client, user, subscription, delivery_id)["attempts"] == 2


def test_redeliver_on_a_disabled_subscription_is_409(client, db, setup):
    user, tracker, subscription = setup
    emit(db, user, tracker)
    delivery_id = deliveries(client, user, subscription)[0]["id"]
    client.patch(f"{SUBSCRIPTIONS}{subscription['id']}", json={"enabled": False}, headers=user.headers)
    response = client.post(f"{SUBSCRIPTIONS}{subscription['id']}/deliveries/{delivery_id}/redeliver", headers=user.headers)
    assert response.status_code == 409 and response.get_json()["error"] == "subscription_disabled"


def test_disabled_subscription_gets_nothing_even_for_pending_deliveries(client, db, setup, receiver, worker_app):
    user, tracker, subscription = setup
    emit(db, user, tracker)
    client.patch(f"{SUBSCRIPTIONS}{subscription['id']}", json={"enabled": False}, headers=user.headers)
    assert emit(db, user, tracker)[1] == 0
    run_jobs(worker_app)
    assert receiver.requests == []
    (delivery,) = deliveries(client, user, subscription)
    assert delivery["status"] == "failed" and delivery["last_error"] == "The subscription is disabled."


def test_duplicate_jobs_for_one_attempt_send_and_count_it_once(client, db, setup, receiver, worker_app):
    user, tracker, subscription = setup
    receiver.fail_next(1)
    emit(db, user, tracker)
    delivery_id = deliveries(client, user, subscription)[0]["id"]
    # What a crashed worker's job looks like once it is retried: the same attempt, enqueued again.
    jobs.enqueue(db.session, subscriptions_service.SEND_TASK, queue=jobs.QUEUE_OUTBOUND, delivery_id=delivery_id, attempt=1)
    db.session.commit()
    run_jobs(worker_app)
    assert len(receiver.requests) == 2
    detail = delivery_detail(client, user, subscription, delivery_id)
    assert detail["status"] == "succeeded" and detail["attempts"] == 2
    assert [a["status_code"] for a in detail["attempt_log"]] == [500, 200]


def test_a_succeeded_delivery_is_not_sent_again_by_a_late_job(client, db, setup, receiver, worker_app):
    user, tracker, subscription = setup
    emit(db, user, tracker)
    run_jobs(worker_app)
    delivery_id = deliveries(client, user, subscription)[0]["id"]
    assert subscriptions_service.send_delivery(session=db.session, delivery_id=delivery_id, attempt=1) is None
    assert subscriptions_service.send_delivery(session=db.session, delivery_id=delivery_id) is None
    assert subscriptions_service.send_delivery(session=db.session, delivery_id=str(uuid.uuid4()), attempt=1) is None
    assert len(receiver.requests) == 1


def test_deliveries_are_listed_newest_first_with_a_cursor(client, db, setup):
    user, tracker, subscription = setup
    for event_type in ("issue.created", "issue.updated", "issue.closed"):
        emit(db, user, tracker, event_type)
    url = f"{SUBSCRIPTIONS}{subscription['id']}/deliveries"
    first = client.get(f"{url}?limit=2", headers=user.headers).get_json()
    assert [d["event_type"] for d in first["deliveries"]] == ["issue.closed", "issue.updated"]
    rest = client.get(f"{url}?limit=2&cursor={first['next_cursor']}", headers=user.headers).get_json()
    assert [d["event_type"] for d in rest["deliveries"]] == ["issue.created"] and rest["next_cursor"] is None
    assert client.get(f"{url}?cursor=forged", headers=user.headers).status_code == 400


def test_subscriptions_are_in_the_swagger_spec(client):
    spec = client.get("/api/v1/swagger.json").get_json()
    assert "/subscriptions/{subscription_id}/deliveries/{delivery_id}/redeliver" in spec["paths"]
    (tag,) = [tag for tag in spec["tags"] if tag["name"] == "subscriptions"]
    assert "X-Gateway-Signature" in tag["description"] and "X-Gateway-Timestamp" in tag["description"]


# ---- receiver rate limits, secret rotation, configuration ---------------------------------------


def _wait_after_one_failed_attempt(client, db, user, tracker, subscription):
    emit(db, user, tracker)
    delivery_id = deliveries(client, user, subscription)[0]["id"]
    before = time.time()
    assert subscriptions_service.send_delivery(session=db.session, delivery_id=delivery_id, attempt=1) == "pending"
    delivery = deliveries(client, user, subscription)[0]
    job = db.session.execute(text("SELECT scheduled_at FROM procrastinate_jobs WHERE args->>'attempt' = '2'")).one()
    wait = datetime.fromisoformat(delivery["next_attempt_at"]).timestamp() - before
    assert abs(job.scheduled_at.timestamp() - (before + wait)) < 2  # the retry job runs when the delivery says
    return delivery, wait


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        ("600", 600),  # honoured
        ("999999", max(subscriptions_service.RETRY_SCHEDULE)),  # but never beyond the schedule's longest wait
        ("1", min(subscriptions_service.RETRY_SCHEDULE)),  # nor sooner than its shortest
    ],
)
@pytest.mark.parametrize("status", [429, 503])
def test_a_receiver_retry_after_is_honoured_within_the_schedule(client, auth, db, status, retry_after, expected):
    from test.outbound_recorder import Recorder

    with Recorder("127.0.0.1", status=status, headers={"Retry-After": retry_after}, body="slow down") as hook:
        user = auth.register()
        tracker = make_tracker(client, user)
        subscription = make_subscription(client, user, url=f"{hook.url}/hook")
        delivery, wait = _wait_after_one_failed_attempt(client, db, user, tracker, subscription)
    assert delivery["status"] == "pending" and delivery["last_status_code"] == status
    assert delivery["last_error"] == f"Answered {status}."
    assert expected - 2 <= wait <= expected + 5


def test_a_retry_after_date_is_honoured(client, auth, db):
    from email.utils import formatdate

    from test.outbound_recorder import Recorder

    with Recorder("127.0.0.1", status=429, headers={"Retry-After": formatdate(time.time() + 900, usegmt=True)}) as hook:
        user = auth.register()
        tracker = make_tracker(client, user)
        subscription = make_subscription(client, user, url=f"{hook.url}/hook")
        _, wait = _wait_after_one_failed_attempt(client, db, user, tracker, subscription)
    assert 890 <= wait <= 905


def test_a_rate_limited_receiver_is_retried_until_it_accepts(client, db, setup, receiver, worker_app):
    user, tracker, subscription = setup
    receiver.fail_next(2, status=429)
    emit(db, user, tracker)
    run_jobs(worker_app)
    detail = delivery_detail(client, user, subscription, deliveries(client, user, subscription)[0]["id"])
    assert [(a["status_code"], a["error"]) for a in detail["attempt_log"]] == [
        (429, "Answered 429."),
        (429, "Answered 429."),
        (200, None),
    ]
    assert detail["status"] == "succeeded"


def test_a_receiver_4xx_is_an_error_on_the_delivery(client, db, setup, receiver, worker_app):
    user, tracker, subscription = setup
    receiver.fail_next(10, status=404)
    emit(db, user, tracker)
    run_jobs(worker_app)
    delivery = deliveries(client, user, subscription)[0]
    assert delivery["status"] == "failed" and delivery["last_status_code"] == 404
    assert delivery["last_error"] == "Answered 404."


def test_a_patched_secret_signs_the_next_delivery_and_pending_retries(client, db, setup, receiver, worker_app):
    user, tracker, subscription = setup
    new_secret = "rotated-secret-value-0123456789"
    emit(db, user, tracker)
    run_jobs(worker_app)
    assert verify(SECRET, receiver.requests[0].headers, receiver.requests[0].body)
    first_id = deliveries(client, user, subscription)[0]["id"]
    patched = client.patch(f"{SUBSCRIPTIONS}{subscription['id']}", json={"secret": new_secret}, headers=user.headers)
    assert patched.status_code == 200
    emit(db, user, tracker)
    client.post(f"{SUBSCRIPTIONS}{subscription['id']}/deliveries/{first_id}/redeliver", headers=user.headers)
    run_jobs(worker_app)
    later = receiver.requests[1:]
    assert len(later) == 2
    for request in later:
        assert verify(new_secret, request.headers, request.body)
        assert not verify(SECRET, request.headers, request.body)


def _config_in_a_fresh_process(**env):
    import os
    import subprocess
    import sys

    from config import BASE_DIR

    environment = {key: value for key, value in os.environ.items() if key != "OUTBOUND_RETRY_SCHEDULE"}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import config; print(config.Config.OUTBOUND_RETRY_SCHEDULE)"],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_outbound_retry_schedule_is_read_from_the_environment():
    assert _config_in_a_fresh_process(OUTBOUND_RETRY_SCHEDULE="5, 60,3600").stdout.strip() == "[5, 60, 3600]"
    assert _config_in_a_fresh_process().stdout.strip() == "None"  # unset: the documented default schedule
    refused = _config_in_a_fresh_process(OUTBOUND_RETRY_SCHEDULE="soon")
    assert refused.returncode != 0 and "OUTBOUND_RETRY_SCHEDULE" in refused.stderr

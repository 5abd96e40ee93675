"""Inbound webhook rules the end-to-end tests do not pin: each answer's wording, the delivery metrics, what registering
stores and returns, what is kept when re-registering fails, stored keys and names bounded, how processing follows up
on the index, and how a gateway change is recognised in its echo (window, wildcard, one kind at a time)."""

import hashlib
import json
import logging
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text

from api.models.base import utcnow
from api.models.events import Event
from api.models.trackers import Tracker
from api.models.webhooks import GatewayChange, WebhookBodyHash, WebhookDelivery
from api.services.webhooks import _echo_of, callback_url, process_delivery, prune_seen_bodies
from api.trackers.base import WebhookEvent
from test.conftest import read_unlocked, registration
from test.test_trackers import TRACKERS, make_tracker
from test.test_webhooks import deliver_github, example, trello_with_webhook

REPO = "Codertocat/Hello-World"
REFUSED = "The delivery's signature or token does not verify."


def _deliveries(provider, result):
    return REGISTRY.get_sample_value("webhook_deliveries_total", {"provider": provider, "result": result}) or 0.0


def _jobs(db, task):
    return db.session.execute(
        text("SELECT queue_name, args FROM procrastinate_jobs WHERE task_name = :task ORDER BY id"), {"task": task}
    ).all()


def _stored(db, delivery_id):
    db.session.expire_all()
    return db.session.get(WebhookDelivery, delivery_id)


# ---- answers and metrics ------------------------------------------------------------------------------------------


def test_a_refused_delivery_says_the_signature_does_not_verify_and_counts_as_rejected(client, github):
    unknown_before, github_before = _deliveries("unknown", "rejected"), _deliveries("github", "rejected")
    for url, secret in (("/api/v1/webhooks/987654", github["secret"]), (None, "not-the-secret")):
        response = (
            client.post(url, data=b"{}") if url else deliver_github(client, github, "issues", {"action": "opened"}, secret=secret)
        )
        assert response.status_code == 401
        assert response.get_json() == {"code": 401, "error": "invalid_signature", "message": REFUSED}
    assert _deliveries("unknown", "rejected") == unknown_before + 1
    assert _deliveries("github", "rejected") == github_before + 1


def test_a_tracker_without_a_registration_counts_its_refusal_under_its_provider(client, auth):
    user = auth.register()
    tracker = make_tracker(
        client, user, name="gh", provider="github", target="o/r", base_url="http://127.0.0.1:9", credentials={"token": "t"}
    )
    before = _deliveries("github", "rejected")
    assert client.post(f"/api/v1/webhooks/{tracker['id']}", data=b"{}").status_code == 401
    assert _deliveries("github", "rejected") == before + 1


def test_accepted_and_duplicate_deliveries_are_counted_by_outcome(client, github):
    accepted, duplicate = _deliveries("github", "accepted"), _deliveries("github", "duplicate")
    first = deliver_github(client, github, "issues", example("github", "issues.opened.json"), delivery="m-1")
    assert first.get_json()["status"] == "accepted"
    assert _deliveries("github", "accepted") == accepted + 1 and _deliveries("github", "duplicate") == duplicate
    same_id = deliver_github(client, github, "issues", example("github", "issues.opened.json"), delivery="m-1")
    assert same_id.get_json() == {"status": "duplicate", "delivery_id": first.get_json()["delivery_id"]}
    assert _deliveries("github", "duplicate") == duplicate + 1
    replayed = deliver_github(client, github, "issues", example("github", "issues.opened.json"), delivery="m-2")
    assert replayed.get_json() == {"status": "duplicate", "delivery_id": first.get_json()["delivery_id"]}
    assert _deliveries("github", "duplicate") == duplicate + 2
    assert _deliveries("github", "accepted") == accepted + 1


def test_a_signed_body_that_is_not_json_or_not_an_object_is_400_saying_which(client, db, github):
    not_json = deliver_github(client, github, "issues", None, body=b"{not json")
    assert not_json.status_code == 400
    assert not_json.get_json() == {"code": 400, "error": "malformed_json", "message": "The delivery is not JSON."}
    array = deliver_github(client, github, "issues", None, body=b"[1, 2]")
    assert array.status_code == 400
    assert array.get_json() == {"code": 400, "error": "malformed_json", "message": "The delivery is not a JSON object."}
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


# ---- stored keys and names ----------------------------------------------------------------------------------------


def test_a_long_delivery_id_and_event_name_are_stored_cut_to_their_columns(client, db, github):
    long_id, long_event = "d" * 250, "e" * 150
    response = deliver_github(client, github, long_event, {"action": "opened"}, delivery=long_id)
    assert response.status_code == 202, response.get_json()
    stored = _stored(db, response.get_json()["delivery_id"])
    assert stored.delivery_key == long_id[:200] and stored.event_name == long_event[:100]


def test_a_delivery_without_an_id_is_keyed_by_the_sha256_of_its_body(client, db, auth, trello_fake):
    url, sign, _ = trello_with_webhook(client, db, auth.register(), trello_fake, lists=["todos", "Shipped"])
    payload = example("trello", "createCard.json")
    del payload["action"]["id"]
    body = json.dumps(payload).encode()
    response = client.post(url, data=body, headers=sign(body))
    assert response.status_code == 202, response.get_json()
    assert _stored(db, response.get_json()["delivery_id"]).delivery_key == "sha256:" + hashlib.sha256(body).hexdigest()


# ---- registering --------------------------------------------------------------------------------------------------


def test_the_callback_url_is_the_public_base_url_without_its_trailing_slash(make_app):
    app = make_app(PUBLIC_BASE_URL="https://hooks.example/TGX/")
    with app.app_context():
        assert callback_url(7) == "https://hooks.example/TGX/api/v1/webhooks/7"


def test_registering_answers_and_stores_the_hook_id_and_callback_url(client, db, github, app):
    tracker_id, user = github["tracker"]["id"], github["user"]
    response = client.post(f"{TRACKERS}{tracker_id}/webhook", headers=user.headers)
    assert response.status_code == 201
    db.session.expire_all()
    stored = registration(db, tracker_id)
    expected_url = f"{app.config['PUBLIC_BASE_URL'].rstrip('/')}/api/v1/webhooks/{tracker_id}"
    assert response.get_json() == {"hook_id": stored.hook_id, "callback_url": expected_url}
    assert stored.hook_id and int(stored.hook_id) in github["fake"].state.repos[REPO.lower()].hooks
    assert db.session.get(Tracker, tracker_id).webhook_id == stored.hook_id


def test_the_provider_calls_of_registering_and_unregistering_are_logged_by_operation(client, github, caplog):
    tracker_id, user = github["tracker"]["id"], github["user"]
    caplog.set_level(logging.INFO, logger="api.services.trackers")

    def operations():
        calls = [
            record.operation
            for record in caplog.records
            if getattr(record, "tracker_id", None) == tracker_id and hasattr(record, "operation")
        ]
        caplog.clear()
        return calls

    operations()
    assert client.post(f"{TRACKERS}{tracker_id}/webhook", headers=user.headers).status_code == 201
    assert operations() == ["delete_webhook", "create_webhook"]
    assert client.delete(f"{TRACKERS}{tracker_id}/webhook", headers=user.headers).status_code == 200
    assert operations() == ["delete_webhook"]


def test_a_manual_set_up_is_committed_before_its_400_with_the_secret_it_shows(client, auth, db, jira_cloud_fake):
    from api import crypto

    user = auth.register()
    jira_cloud_fake.add_basic_auth("ops@example.com", "key", name="bob")
    jira_cloud_fake.add_project("OPS", members=["bob"])
    connection = {
        "base_url": jira_cloud_fake.base_url,
        "credentials": {"email": "ops@example.com", "api_token": "key"},
        "options": {"deployment": "cloud"},
    }
    tracker = make_tracker(client, user, name="cloud", provider="jira", target="OPS", **connection)
    response = client.post(f"{TRACKERS}{tracker['id']}/webhook", headers=user.headers)
    assert response.status_code == 400 and response.get_json()["error"] == "manual_setup_required"
    shown = response.get_json()["message"].split("Secret: ", 1)[1].split(" ", 1)[0]
    # Read on another connection: the request's own session (shared with the test here) would show uncommitted rows.
    with db.engine.connect() as other:
        row = other.execute(
            text("SELECT webhook_id, webhook_secret_encrypted FROM trackers WHERE id = :id"), {"id": tracker["id"]}
        ).one()
    assert row.webhook_id is None
    assert crypto.decrypt_json(row.webhook_secret_encrypted) == {
        "hook_id": "",
        "secret": shown,
        "callback_url": callback_url(tracker["id"]),
    }


def test_a_tracker_without_webhooks_cannot_register_one_and_says_so(client, auth):
    user = auth.register()
    builtin = make_tracker(client, user)
    response = client.post(f"{TRACKERS}{builtin['id']}/webhook", headers=user.headers)
    assert response.status_code == 400, response.get_json()
    assert response.get_json() == {
        "code": 400,
        "error": "not_supported",
        "message": "Webhooks is not supported by the built-in provider.",
    }


def test_re_registering_that_fails_on_the_provider_leaves_no_registration_behind(client, db, github):
    tracker_id, user, fake = github["tracker"]["id"], github["user"], github["fake"]
    old = registration(db, tracker_id)
    fake.fail_next(403, match=r"^POST .*/hooks$")
    response = client.post(f"{TRACKERS}{tracker_id}/webhook", headers=user.headers)
    assert response.status_code >= 400
    db.session.expire_all()
    tracker = db.session.get(Tracker, tracker_id)
    assert tracker.webhook_id is None and tracker.webhook_secret_encrypted is None
    assert not fake.state.repos[REPO.lower()].hooks, "the old hook was removed on the provider"
    assert deliver_github(client, github, "issues", {"action": "opened"}, secret=old.secret).status_code == 401


def test_unregistering_forgets_the_secret_for_good_and_a_second_time_is_404_saying_why(client, db, github):
    tracker_id, user, fake = github["tracker"]["id"], github["user"], github["fake"]
    hook_id = registration(db, tracker_id).hook_id
    assert client.delete(f"{TRACKERS}{tracker_id}/webhook", headers=user.headers).status_code == 200
    assert any(r.method == "DELETE" and r.path.endswith(f"/hooks/{hook_id}") for r in fake.requests)
    with db.engine.connect() as other:  # committed: another connection sees the registration gone
        row = other.execute(
            text("SELECT webhook_id, webhook_secret_encrypted FROM trackers WHERE id = :id"), {"id": tracker_id}
        ).one()
    assert tuple(row) == (None, None)
    again = client.delete(f"{TRACKERS}{tracker_id}/webhook", headers=user.headers)
    assert again.status_code == 404
    assert again.get_json()["message"] == "This tracker has no webhook registered."


# ---- processing ---------------------------------------------------------------------------------------------------


def _deliver_and_process(client, app, github, name, delivery, event="issues"):
    response = deliver_github(client, github, event, example("github", name), delivery=delivery)
    assert response.status_code == 202, response.get_json()
    delivery_id = response.get_json()["delivery_id"]
    with app.app_context():
        process_delivery(delivery_id)
    return delivery_id


def test_a_processed_delivery_asks_for_the_index_refresh_of_its_issue(client, app, db, github):
    delivery_id = _deliver_and_process(client, app, github, "issues.labeled.json", "r-1")
    stored = _stored(db, delivery_id)
    assert stored.status == "processed" and stored.processed_at is not None
    refresh = _jobs(db, "gateway:refresh_index")
    assert [(queue, args["tracker_id"], args["issue_ids"]) for queue, args in refresh] == [
        ("polling", github["tracker"]["id"], ["1"])
    ]


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("updated_at", "not a time", "ValueError: Invalid isoformat string: 'not a time'"),
        ("number", None, "KeyError: 'number'"),  # None: the field left out
        ("user", "octocat", "AttributeError: 'str' object has no attribute 'get'"),
        ("labels", 5, "TypeError: 'int' object is not iterable"),
    ],
)
def test_a_signed_payload_the_provider_cannot_read_is_marked_failed_once_instead_of_retried(
    client, app, db, github, caplog, field, value, error
):
    payload = example("github", "issues.opened.json")
    if value is None:
        del payload["issue"][field]
    else:
        payload["issue"][field] = value
    response = deliver_github(client, github, "issues", payload, delivery="unreadable")
    assert response.status_code == 202, response.get_json()
    delivery_id = response.get_json()["delivery_id"]
    with app.app_context(), caplog.at_level(logging.WARNING, logger="api.services.webhooks"):
        process_delivery(delivery_id)  # returns: a job that raised would be retried
        process_delivery(delivery_id)  # and a second run finds nothing pending
    stored = _stored(db, delivery_id)
    assert stored.status == "failed" and stored.processed_at is not None
    assert stored.error == f"The payload could not be read: {error}"
    assert db.session.scalar(select(func.count()).select_from(Event).where(Event.delivery_id == delivery_id)) == 0
    assert [r.getMessage() for r in caplog.records] == [f"webhook delivery {delivery_id} failed: unreadable payload"]


def test_the_reason_an_unreadable_payload_failed_is_cut_at_500_characters(client, app, db, github):
    payload = example("github", "issues.opened.json")
    payload["issue"]["updated_at"] = "x" * 600
    delivery_id = deliver_github(client, github, "issues", payload, delivery="long").get_json()["delivery_id"]
    with app.app_context():
        process_delivery(delivery_id)
    reason = "The payload could not be read: ValueError: Invalid isoformat string: '" + "x" * 600
    assert _stored(db, delivery_id).error == reason[:500]


def test_a_deleted_issue_leaves_the_index_and_is_not_refreshed(client, app, db, github):
    from api.models.index import IndexedIssue
    from api.services import polling

    polling.poll_tracker(session=db.session, tracker_id=github["tracker"]["id"])
    db.session.remove()
    assert db.session.get(IndexedIssue, (github["tracker"]["id"], "1")) is not None
    db.session.execute(text("DELETE FROM procrastinate_jobs"))
    db.session.commit()
    delivery_id = _deliver_and_process(client, app, github, "issues.deleted.json", "r-2")
    db.session.remove()
    assert db.session.get(IndexedIssue, (github["tracker"]["id"], "1")) is None
    assert _jobs(db, "gateway:refresh_index") == []
    assert _stored(db, delivery_id).status == "processed"


def test_a_delivery_with_no_issue_event_is_marked_ignored_with_its_time(client, app, db, github):
    delivery_id = _deliver_and_process(client, app, github, "ping.json", "r-3", event="ping")
    stored = _stored(db, delivery_id)
    assert stored.status == "ignored" and stored.processed_at is not None
    assert _jobs(db, "gateway:refresh_index") == []
    assert db.session.scalar(select(func.count()).select_from(Event)) == 0


def test_processing_an_already_processed_delivery_releases_its_row_lock(client, app, db, github):
    delivery_id = _deliver_and_process(client, app, github, "issues.opened.json", "r-4")
    with app.app_context():
        process_delivery(delivery_id)  # a retried job: nothing to do, and nothing left locked
        assert read_unlocked(db.engine, "webhook_deliveries", "id", delivery_id) == delivery_id
        db.session.remove()


def test_a_trello_trackers_options_decide_how_a_delivery_is_normalized(client, app, db, auth, trello_fake):
    url, sign, _ = trello_with_webhook(
        client, db, auth.register(), trello_fake, lists=["todos", "Shipped"], closed_list="Shipped"
    )
    payload = example("trello", "createCard.json")
    payload["action"]["data"]["list"] = {"id": "5f70732bb7991045f878901f", "name": "Shipped"}
    body = json.dumps(payload).encode()
    response = client.post(url, data=body, headers=sign(body))
    assert response.status_code == 202, response.get_json()
    with app.app_context():
        process_delivery(response.get_json()["delivery_id"])
    db.session.expire_all()
    events = db.session.scalars(select(Event)).all()
    assert [(e.type, e.issue["status"]) for e in events] == [("issue.created", "closed")]


# ---- echoes of the gateway's own changes --------------------------------------------------------------------------


def _change(db, tracker_id, issue_id, kinds, age):
    change = GatewayChange(tracker_id=tracker_id, issue_id=issue_id, kinds=kinds, chain_depth=1, created_at=utcnow() - age)
    db.session.add(change)
    db.session.commit()
    return change.id


def _item(kind, issue_id="1"):
    return WebhookEvent(type=kind, issue_id=issue_id, issue=None)


def test_an_echo_consumes_one_kind_of_a_change_at_a_time_then_the_change(db, github):
    tracker_id = github["tracker"]["id"]
    change_id = _change(db, tracker_id, "1", ["issue.labeled", "issue.closed"], timedelta(minutes=1))
    assert _echo_of(db.session, tracker_id, _item("issue.labeled")).id == change_id
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(GatewayChange, change_id).kinds == ["issue.closed"]
    assert _echo_of(db.session, tracker_id, _item("issue.labeled")) is None, "each kind is echoed once"
    assert _echo_of(db.session, tracker_id, _item("issue.closed")).id == change_id
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(GatewayChange, change_id) is None


def test_an_echo_is_recognised_for_fifteen_minutes_only(db, github):
    tracker_id = github["tracker"]["id"]
    _change(db, tracker_id, "1", ["issue.closed"], timedelta(minutes=15, seconds=30))
    assert _echo_of(db.session, tracker_id, _item("issue.closed")) is None
    recent = _change(db, tracker_id, "1", ["issue.closed"], timedelta(minutes=14, seconds=30))
    assert _echo_of(db.session, tracker_id, _item("issue.closed")).id == recent


def test_a_change_recorded_for_any_issue_is_the_echo_of_a_new_issue(db, github):
    tracker_id = github["tracker"]["id"]
    change_id = _change(db, tracker_id, "*", ["issue.created"], timedelta(minutes=1))
    assert _echo_of(db.session, tracker_id, _item("issue.created", issue_id="42")).id == change_id
    assert _echo_of(db.session, tracker_id, _item("issue.created", issue_id=None)) is None


def test_the_prune_of_body_hashes_is_committed(client, app, db, github):
    deliver_github(client, github, "issues", example("github", "issues.opened.json"), delivery="p-1")
    window = timedelta(hours=app.config["WEBHOOK_REPLAY_WINDOW_HOURS"])
    assert prune_seen_bodies(session=db.session, now=utcnow() + window + timedelta(minutes=1)) == 1
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(WebhookBodyHash)) == 0


def test_two_workers_take_two_matching_changes_as_echoes_one_each_without_waiting(app, db, github):
    from sqlalchemy.orm import Session

    tracker_id = github["tracker"]["id"]
    first = _change(db, tracker_id, "1", ["issue.closed"], timedelta(minutes=2))
    second = _change(db, tracker_id, "1", ["issue.closed"], timedelta(minutes=1))
    assert _echo_of(db.session, tracker_id, _item("issue.closed")).id == first  # this worker holds the first, uncommitted
    with db.engine.connect() as connection, Session(bind=connection) as other_worker:
        connection.execute(text("SET lock_timeout = '2s'"))  # a worker that waited for the lock would fail here
        assert _echo_of(other_worker, tracker_id, _item("issue.closed")).id == second
        other_worker.rollback()
    db.session.rollback()

"""Inbound webhooks against replay and probing: a signed body replayed under a new delivery id runs nothing twice,
a stored delivery is processed exactly once, re-registering leaves no old hook alive on the provider, and the
endpoint answers alike for unknown ids and for trackers without a registration."""

import hashlib
import json
import threading

import pytest
from sqlalchemy import func, select, text

from api.jobs import run_worker
from api.models.automations import AutomationRun
from api.models.events import Event
from api.models.webhooks import WebhookBodyHash, WebhookDelivery
from api.services.webhooks import process_delivery
from test.conftest import registration
from test.test_trackers import TRACKERS, make_tracker
from test.test_webhooks import deliver_github, gitlab_with_webhook, trello_with_webhook

REPO = "Codertocat/Hello-World"


def _opened(number=1, title="Replayed"):
    issue = {
        "number": number,
        "title": title,
        "state": "open",
        "user": {"login": "Codertocat", "id": 1},
        "html_url": f"https://github.com/{REPO}/issues/{number}",
        "labels": [],
        "assignees": [],
    }
    return {"action": "opened", "issue": issue, "repository": {"full_name": REPO}}


def _rule_on_created(client, user):
    body = {"name": "note", "event_types": ["issue.created"], "actions": [{"type": "notify"}]}
    response = client.post("/api/v1/automations/", json=body, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _count(db, model):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_signed_github_body_replayed_under_a_new_delivery_id_runs_nothing_twice(client, app, db, github):
    _rule_on_created(client, github["user"])
    first = deliver_github(client, github, "issues", _opened(), delivery="original-id")
    assert first.status_code == 202 and first.get_json()["status"] == "accepted"
    replay = deliver_github(client, github, "issues", _opened(), delivery="attacker-chosen-id")
    assert replay.status_code == 202
    assert replay.get_json() == {"status": "duplicate", "delivery_id": first.get_json()["delivery_id"]}
    run_worker(app, concurrency=1, wait=False)
    assert _count(db, WebhookDelivery) == 1
    assert _count(db, Event) == 1
    assert _count(db, AutomationRun) == 1


def test_a_different_body_under_a_new_delivery_id_is_accepted(client, app, db, github):
    assert deliver_github(client, github, "issues", _opened(1), delivery="a").get_json()["status"] == "accepted"
    assert deliver_github(client, github, "issues", _opened(2), delivery="b").get_json()["status"] == "accepted"
    run_worker(app, concurrency=1, wait=False)
    assert _count(db, Event) == 2


def test_the_same_body_after_the_replay_window_is_accepted_again(client, db, github, make_app):
    assert deliver_github(client, github, "issues", _opened(), delivery="a").get_json()["status"] == "accepted"
    # A window of zero hours has always passed: the hash row is refreshed and the delivery taken.
    no_window = make_app(WEBHOOK_REPLAY_WINDOW_HOURS=0).test_client()
    assert deliver_github(no_window, github, "issues", _opened(), delivery="b").get_json()["status"] == "accepted"
    assert deliver_github(client, github, "issues", _opened(), delivery="c").get_json()["status"] == "duplicate"
    assert _count(db, WebhookDelivery) == 2


def test_the_replay_window_is_per_tracker(client, db, auth, github_fake, github):
    # A second tracker on the same repository, registered with its own secret, may receive the same body.
    user = github["user"]
    other = make_tracker(
        client, user, name="gh2", provider="github", target=REPO, base_url=github_fake.base_url, credentials={"token": "gh-token"}
    )
    assert client.post(f"{TRACKERS}{other['id']}/webhook", headers=user.headers).status_code == 201
    env = {"tracker": other, "secret": registration(db, other["id"]).secret}
    assert deliver_github(client, github, "issues", _opened(), delivery="a").get_json()["status"] == "accepted"
    assert deliver_github(client, env, "issues", _opened(), delivery="b").get_json()["status"] == "accepted"


def test_a_signed_trello_body_replayed_is_a_duplicate(client, auth, db, trello_fake):
    url, sign, board = trello_with_webhook(client, db, auth.register(), trello_fake)
    # Without an action id the delivery key falls back to the body hash too; with one, the action id dedupes first.
    body = json.dumps({"action": {"type": "createCard", "data": {}}, "model": {"id": board["id"]}}).encode()
    signed = sign(body)
    assert client.post(url, data=body, headers=signed).get_json()["status"] == "accepted"
    assert client.post(url, data=body, headers=signed).get_json()["status"] == "duplicate"
    assert _count(db, WebhookDelivery) == 1


def test_a_gitlab_body_replayed_under_a_new_event_uuid_is_a_duplicate(client, auth, db, gitlab_fake):
    url, token = gitlab_with_webhook(client, db, auth.register(), gitlab_fake)
    body = json.dumps({"object_kind": "issue", "object_attributes": {"iid": 1, "title": "x", "action": "open"}}).encode()
    headers = {"X-Gitlab-Event": "Issue Hook", "X-Gitlab-Token": token}
    assert client.post(url, data=body, headers={**headers, "X-Gitlab-Event-UUID": "u-1"}).get_json()["status"] == "accepted"
    assert client.post(url, data=body, headers={**headers, "X-Gitlab-Event-UUID": "u-2"}).get_json()["status"] == "duplicate"


def test_a_stored_delivery_processed_twice_runs_its_rules_once(client, app, db, github):
    _rule_on_created(client, github["user"])
    delivery_id = deliver_github(client, github, "issues", _opened()).get_json()["delivery_id"]
    # As a retried job or a second worker would: the status guard makes the second call a no-op.
    with app.app_context():
        process_delivery(delivery_id)
    with app.app_context():
        process_delivery(delivery_id)
    assert _count(db, Event) == 1
    assert db.session.get(WebhookDelivery, delivery_id).status == "processed"
    run_worker(app, concurrency=1, wait=False)
    assert _count(db, AutomationRun) == 1


def test_a_delivery_locked_by_one_worker_is_left_alone_by_another(app, db, client, github):
    delivery_id = deliver_github(client, github, "issues", _opened()).get_json()["delivery_id"]
    finished = threading.Event()

    def second_worker():
        with app.app_context():
            try:
                process_delivery(delivery_id)
            finally:
                db.session.remove()
                finished.set()

    # The test plays the first worker: it holds the delivery's row lock, then marks it processed and commits.
    with db.engine.connect() as first_worker:
        transaction = first_worker.begin()
        first_worker.execute(text("SELECT id FROM webhook_deliveries WHERE id = :id FOR UPDATE"), {"id": delivery_id})
        thread = threading.Thread(target=second_worker)
        thread.start()
        finished.wait(2)  # without the row lock the second worker would record its events meanwhile
        first_worker.execute(text("UPDATE webhook_deliveries SET status = 'processed' WHERE id = :id"), {"id": delivery_id})
        transaction.commit()
    thread.join(30)
    assert finished.is_set()
    assert _count(db, Event) == 0


def test_re_registering_a_webhook_removes_the_old_hook_from_the_provider(client, db, github):
    tracker_id, user, fake = github["tracker"]["id"], github["user"], github["fake"]
    old = registration(db, tracker_id)
    response = client.post(f"{TRACKERS}{tracker_id}/webhook", headers=user.headers)
    assert response.status_code == 201, response.get_json()
    db.session.expire_all()
    new = registration(db, tracker_id)
    assert new.hook_id != old.hook_id and new.secret != old.secret
    assert list(fake.state.repos[REPO.lower()].hooks) == [int(new.hook_id)]
    assert any(r.method == "DELETE" and r.path.endswith(f"/hooks/{old.hook_id}") for r in fake.requests)
    # The old secret no longer verifies anything.
    stale = deliver_github(client, github, "issues", _opened(), secret=old.secret)
    assert stale.status_code == 401


def _answer(response):
    headers = sorted((name, value) for name, value in response.headers.items() if name.lower() != "content-length")
    return response.status_code, response.get_data(), headers


@pytest.mark.parametrize("method", ["POST", "HEAD"])
def test_unknown_ids_and_trackers_without_a_registration_get_the_same_answer(client, auth, method):
    user = auth.register()
    builtin = make_tracker(client, user)
    unregistered = make_tracker(
        client, user, name="gh", provider="github", target="o/r", base_url="http://127.0.0.1:9", credentials={"token": "t"}
    )
    body = json.dumps(_opened()).encode()
    headers = {
        "X-Request-ID": "probe-1",
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": "d",
        "X-Hub-Signature-256": "sha256=" + hashlib.sha256(body).hexdigest(),
    }
    answers = [
        _answer(client.open(f"/api/v1/webhooks/{tracker_id}", method=method, data=body, headers=headers))
        for tracker_id in (987654, builtin["id"], unregistered["id"])
    ]
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == (401 if method == "POST" else 200)


def test_a_signed_delivery_nested_too_deep_is_400_malformed_json_not_a_crash(client, db, github):
    body = ('{"action": "opened", "x": ' + "[" * 5000 + "]" * 5000 + "}").encode()
    response = deliver_github(client, github, "issues", None, body=body)
    assert response.status_code == 400 and response.get_json()["error"] == "malformed_json"
    assert _count(db, WebhookDelivery) == 0


def test_body_hashes_past_the_replay_window_are_pruned_and_fresh_ones_kept(client, app, db, github):
    from datetime import timedelta

    from api.models.base import utcnow
    from api.services.webhooks import prune_seen_bodies

    deliver_github(client, github, "issues", _opened(1), delivery="old")
    deliver_github(client, github, "issues", _opened(2), delivery="new")
    window = timedelta(hours=app.config["WEBHOOK_REPLAY_WINDOW_HOURS"])
    db.session.execute(
        text(
            "UPDATE webhook_body_hashes SET received_at = :at WHERE delivery_id = "
            "(SELECT id FROM webhook_deliveries WHERE delivery_key = 'old')"
        ),
        {"at": utcnow() - window - timedelta(minutes=1)},
    )
    db.session.commit()
    assert prune_seen_bodies(session=db.session) == 1
    assert _count(db, WebhookBodyHash) == 1
    replay = deliver_github(client, github, "issues", _opened(2), delivery="new-id-same-body")
    assert replay.get_json()["status"] == "duplicate", "a hash inside the window must survive the prune"


def test_the_prune_runs_hourly_as_a_periodic_job(app):
    from api import jobs

    job_app = jobs.create_job_app(app)
    crons = {task.task.name: task.cron for task in job_app.periodic_registry.periodic_tasks.values()}
    assert crons.get("gateway:prune_webhook_body_hashes") == "17 * * * *"

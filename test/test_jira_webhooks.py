"""Jira webhooks: real Cloud and Data Center payloads normalized into the unified events, X-Hub-Signature verified
over the raw body, registration through the DC admin webhooks API, and Cloud's manual registration explained."""

import copy
import json
import logging

import pytest
from sqlalchemy import func, select

from api.jobs import run_worker
from api.models.webhooks import WebhookDelivery
from api.trackers.base import TrackerConfig, WebhookRegistration, hmac_hex
from api.trackers.providers.jira import JiraProvider
from test.conftest import registration
from test.fakes.specs import specs_dir
from test.test_trackers import TRACKERS, make_tracker

HOOKS = specs_dir() / "jira" / "webhooks"


def example(name):
    return json.loads((HOOKS / name).read_text())


def provider(target="TES"):
    return JiraProvider(TrackerConfig(tracker_id=1, target=target))


def signed(secret, body, delivery="wh-1"):
    return {
        "X-Hub-Signature": "sha256=" + hmac_hex(secret, body),
        "X-Atlassian-Webhook-Identifier": delivery,
        "Content-Type": "application/json",
    }


# The 11 real payloads are normalized and checked field by field with the other providers' in test_webhooks.py
# (test/fakes/jira.py WEBHOOK_EXPECTATIONS); the tests here cover what only Jira does.


def test_data_center_comment_events_carry_the_issue_id_from_the_comment_link():
    payload = example("dc/comment_created.json")
    (event,) = provider().normalize_webhook("comment_created", payload)
    assert event.issue is None and event.issue_id == "10013"
    assert event.comment.author.id == "levbrouk" and event.comment.body == "unik"


def test_changelog_tells_labeled_assigned_reopened_from_a_plain_update():
    base = example("jira_issue_updated.edited.json")

    def with_items(*items, category="new"):
        payload = copy.deepcopy(base)
        payload["changelog"]["items"] = list(items)
        payload["issue"]["fields"]["status"]["statusCategory"]["key"] = category
        return provider().normalize_webhook("jira:issue_updated", payload)[0]

    labeled = with_items({"field": "labels", "fromString": "test-label", "toString": "test-label urgent"})
    assert labeled.type == "issue.labeled" and labeled.changes["labels"]["to"] == "test-label urgent"
    assert with_items({"field": "labels", "fromString": "a b", "toString": "a"}).type == "issue.unlabeled"
    assert with_items({"field": "assignee", "from": None, "to": "5c5f", "toString": "Ann"}).type == "issue.assigned"
    assert with_items({"field": "assignee", "from": "5c5f", "to": None, "fromString": "Ann"}).type == "issue.updated"
    reopened = with_items(
        {"field": "resolution", "fromString": "Done", "toString": None},
        {"field": "status", "fromString": "Done", "toString": "To Do"},
    )
    assert reopened.type == "issue.reopened"
    assert (
        with_items({"field": "status", "fromString": "To Do", "toString": "In Progress"}, category="indeterminate").type
        == "issue.updated"
    )
    assert with_items({"field": "summary", "fromString": "a", "toString": "b"}).type == "issue.updated"


def test_events_of_another_project_are_ignored():
    payload = example("jira_issue_created.json")
    assert provider("OTHER").normalize_webhook("jira:issue_created", payload) == []
    worklog = {**payload, "webhookEvent": "worklog_updated"}
    assert provider("TES").normalize_webhook("worklog_updated", worklog) == []


def test_signature_is_an_hmac_of_the_raw_body_compared_in_constant_time():
    secret, body = "s3cret-value", b'{"webhookEvent":"jira:issue_created"}'
    registered = WebhookRegistration("1", secret, "u")
    jira = provider()
    assert jira.verify_webhook({"X-Hub-Signature": "sha256=" + hmac_hex(secret, body)}, body, registered)
    assert not jira.verify_webhook({"X-Hub-Signature": "sha256=" + hmac_hex(secret, body)}, body + b" ", registered)
    assert not jira.verify_webhook({"X-Hub-Signature": "sha256=" + hmac_hex("other", body)}, body, registered)
    assert not jira.verify_webhook({"X-Hub-Signature": hmac_hex(secret, body)}, body, registered)  # no sha256= prefix
    assert not jira.verify_webhook({}, body, registered)
    assert jira.webhook_delivery({"X-Atlassian-Webhook-Identifier": "abc"}, {"webhookEvent": "comment_created"}) == (
        "abc",
        "comment_created",
    )


def _data_center_tracker(client, user, jira_dc_fake, token, member, **token_options):
    """A Data Center tracker on project TES of the fake, whose token belongs to `member`."""
    jira_dc_fake.add_token(token, name=member, **token_options)
    jira_dc_fake.add_project("TES", members=[member])
    return make_tracker(
        client,
        user,
        name="jira-dc",
        provider="jira",
        target="TES",
        base_url=jira_dc_fake.base_url,
        credentials={"token": token},
        options={"deployment": "data_center"},
    )


@pytest.fixture
def dc(client, auth, jira_dc_fake):
    user = auth.register()
    tracker = _data_center_tracker(client, user, jira_dc_fake, "dc-pat", "alice")
    return {"user": user, "tracker": tracker, "fake": jira_dc_fake}


def test_registering_on_data_center_creates_a_signed_admin_webhook_for_the_project(client, db, dc):
    response = client.post(f"{TRACKERS}{dc['tracker']['id']}/webhook", headers=dc["user"].headers)
    assert response.status_code == 201, response.get_json()
    (hook,) = dc["fake"].webhooks()
    stored = registration(db, dc["tracker"]["id"])
    assert hook["url"] == response.get_json()["callback_url"] == stored.callback_url
    assert hook["secret"] == stored.secret and len(stored.secret) >= 32
    issue, comment, attachment = "jira:issue_", "comment_", "attachment_"
    assert set(hook["events"]) == {
        *(issue + verb for verb in ("created", "updated", "deleted")),
        *(comment + verb for verb in ("created", "updated", "deleted")),
        *(attachment + verb for verb in ("created", "deleted")),
    }
    assert hook["filters"]["issue-related-events-section"] == 'project = "TES"'
    assert client.delete(f"{TRACKERS}{dc['tracker']['id']}/webhook", headers=dc["user"].headers).status_code == 200
    assert dc["fake"].webhooks() == []


def test_signed_delivery_is_stored_once_and_processed_into_events(client, app, db, dc):
    client.post(f"{TRACKERS}{dc['tracker']['id']}/webhook", headers=dc["user"].headers)
    secret = registration(db, dc["tracker"]["id"]).secret
    url = f"/api/v1/webhooks/{dc['tracker']['id']}"
    body = (HOOKS / "dc" / "jira_issue_updated.json").read_bytes()
    assert client.post(url, data=body, headers=signed(secret, body)).get_json()["status"] == "accepted"
    assert client.post(url, data=body, headers=signed(secret, body)).get_json()["status"] == "duplicate"
    # The identifier is not signed: the same body under a new one is a replay, recognised by its hash.
    assert client.post(url, data=body, headers=signed(secret, body, "wh-2")).get_json()["status"] == "duplicate"
    assert client.post(url, data=body, headers=signed("wrong", body, "wh-3")).status_code == 401
    run_worker(app, concurrency=1, wait=False)
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
    events = client.get(f"{TRACKERS}{dc['tracker']['id']}/events", headers=dc["user"].headers).get_json()["events"]
    assert [event["type"] for event in events] == ["issue.closed"]
    assert events[0]["issue_id"] == "TES-4" and events[0]["issue"]["remote_status"] == "Resolved"


def test_registering_on_cloud_is_a_400_that_tells_the_admin_the_url_and_secret_to_paste(
    client, auth, db, caplog, jira_cloud_fake
):
    caplog.set_level(logging.DEBUG)
    user = auth.register()
    jira_cloud_fake.add_basic_auth("me@example.com", "tok", name="alice")
    jira_cloud_fake.add_project("APP", members=["alice"])
    tracker = make_tracker(
        client,
        user,
        name="jira-cloud",
        provider="jira",
        target="APP",
        base_url=jira_cloud_fake.base_url,
        credentials={"email": "me@example.com", "api_token": "tok"},
        options={"deployment": "cloud"},
    )
    response = client.post(f"{TRACKERS}{tracker['id']}/webhook", headers=user.headers)
    assert response.status_code == 400 and response.get_json()["error"] == "manual_setup_required"
    message = response.get_json()["message"]
    assert f"/api/v1/webhooks/{tracker['id']}" in message and "project = APP" in message
    assert not [r for r in jira_cloud_fake.requests if "webhook" in r.path]
    secret = registration(db, tracker["id"]).secret
    assert f"Secret: {secret} " in message and len(secret) >= 32
    assert secret not in caplog.text, "the secret is shown to its owner once, never logged"
    # What Jira then sends, signed with the pasted secret, is accepted; anything else is not.
    body = (HOOKS / "jira_issue_created.json").read_bytes()
    url = f"/api/v1/webhooks/{tracker['id']}"
    assert client.post(url, data=body, headers=signed("guess", body)).status_code == 401
    assert client.post(url, data=body, headers=signed(secret, body)).get_json()["status"] == "accepted"
    again = client.post(f"{TRACKERS}{tracker['id']}/webhook", headers=user.headers).get_json()["message"]
    assert secret not in again, "registering again makes a new secret"
    assert client.post(url, data=body, headers=signed(secret, body, "wh-9")).status_code == 401


def test_a_data_center_token_without_admin_rights_cannot_register_and_nothing_is_stored(client, auth, db, jira_dc_fake):
    user = auth.register()
    tracker = _data_center_tracker(client, user, jira_dc_fake, "user-pat", "carol", admin=False)
    response = client.post(f"{TRACKERS}{tracker['id']}/webhook", headers=user.headers)
    assert response.status_code == 502 and response.get_json()["error"] == "tracker_auth_failed"
    assert "Administrator" in response.get_json()["message"] and jira_dc_fake.webhooks() == []
    assert client.delete(f"{TRACKERS}{tracker['id']}/webhook", headers=user.headers).status_code == 404


def test_malformed_fields_in_a_delivery_do_not_break_normalizing():
    payload = example("jira_issue_created.json")
    payload["issue"]["fields"].update(
        {
            "status": "odd",
            "created": "yesterday",
            "duedate": "soon",
            "labels": [1, None],
            "comment": [],
            "assignee": "x",
            "description": {"type": "doc", "content": 5},
        }
    )
    (event,) = provider().normalize_webhook("jira:issue_created", payload)
    assert event.issue.status == "open" and event.issue.created_at is None and event.issue.due_date is None
    assert event.issue.labels == [] and event.issue.assignees == [] and event.issue.description == ""


# ---- Data Center comment deliveries name their issue by number: the event names it by key ----------------------


def _dc_comment_delivery(client, app, db, dc, issue, body, delivery):
    """Register the webhook, make a comment on `issue` in Jira and deliver Data Center's comment_created for it (which
    names the issue by its number only, in the comment's link)."""
    from api.models.trackers import Tracker
    from api.services import trackers as trackers_service

    if not dc["fake"].webhooks():
        assert client.post(f"{TRACKERS}{dc['tracker']['id']}/webhook", headers=dc["user"].headers).status_code == 201
    jira = trackers_service.build_provider(session=db.session, tracker=db.session.get(Tracker, dc["tracker"]["id"]))
    comment = jira.create_comment(issue["key"], body)
    db.session.remove()
    payload = example("dc/comment_created.json")
    payload["comment"].update(
        id=comment.id, body=body, self=f"{dc['fake'].base_url}/rest/api/2/issue/{issue['id']}/comment/{comment.id}"
    )
    raw = json.dumps(payload).encode()
    secret = registration(db, dc["tracker"]["id"]).secret
    response = client.post(f"/api/v1/webhooks/{dc['tracker']['id']}", data=raw, headers=signed(secret, raw, delivery))
    assert response.get_json()["status"] == "accepted"
    run_worker(app, concurrency=1, wait=False)
    db.session.remove()
    return client.get(f"{TRACKERS}{dc['tracker']['id']}/events", headers=dc["user"].headers).get_json()["events"]


def test_a_data_center_comment_delivery_names_its_issue_by_the_key_polls_and_the_index_use(client, app, db, dc):
    from api.models.index import IndexedIssue
    from api.services import polling

    issue = dc["fake"].add_issue("TES", "Discussed")
    assert issue["id"] != issue["key"] == "TES-1"
    polling.poll_tracker(session=db.session, tracker_id=dc["tracker"]["id"])  # the index names it as polls do
    db.session.remove()
    assert [row.issue_id for row in db.session.scalars(select(IndexedIssue))] == ["TES-1"]
    events = _dc_comment_delivery(client, app, db, dc, issue, "From Jira", "wh-c1")
    assert [(e["type"], e["issue_id"], e["comment"]["body"]) for e in events] == [("comment.created", "TES-1", "From Jira")]
    assert events[0]["issue"]["title"] == "Discussed"  # the issue as Jira has it, read once
    reads = [r for r in dc["fake"].requests if r.method == "GET" and r.path.endswith(f"/issue/{issue['id']}")]
    assert len(reads) == 1


def test_a_data_center_comment_on_another_project_s_issue_records_nothing(client, app, db, dc):
    dc["fake"].add_project("OTHER", members=["alice"])
    elsewhere = dc["fake"].add_issue("OTHER", "Not this tracker's")
    payload = example("dc/comment_created.json")
    payload["comment"]["self"] = f"{dc['fake'].base_url}/rest/api/2/issue/{elsewhere['id']}/comment/10082"
    assert client.post(f"{TRACKERS}{dc['tracker']['id']}/webhook", headers=dc["user"].headers).status_code == 201
    raw = json.dumps(payload).encode()
    secret = registration(db, dc["tracker"]["id"]).secret
    response = client.post(f"/api/v1/webhooks/{dc['tracker']['id']}", data=raw, headers=signed(secret, raw, "wh-o1"))
    assert response.get_json()["status"] == "accepted"
    run_worker(app, concurrency=1, wait=False)
    db.session.remove()
    assert client.get(f"{TRACKERS}{dc['tracker']['id']}/events", headers=dc["user"].headers).get_json()["events"] == []
    assert db.session.scalar(select(WebhookDelivery.status)) == "ignored"


def test_when_jira_cannot_answer_a_data_center_comment_event_keeps_the_number_rather_than_go_missing(client, app, db, dc):
    issue = dc["fake"].add_issue("TES", "Discussed")
    dc["fake"].fail_next(status=503, count=20, match=f"^GET .*/issue/{issue['id']}$")
    events = _dc_comment_delivery(client, app, db, dc, issue, "While Jira struggles", "wh-f1")
    assert [(e["type"], e["issue_id"]) for e in events] == [("comment.created", issue["id"])]

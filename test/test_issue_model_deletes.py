"""`issue.deleted` for a delete made through the gateway, exactly once in every events mode: recorded by the gateway
where the provider's webhooks never report deletes (GitLab, and Gitea before its 2025 releases), left to the webhook
where they do (Trello's deleteCard, Jira's jira:issue_deleted), and a later webhook, poll or reconcile of the same
delete adding nothing."""

import json
import secrets

import pytest

from api import crypto
from api.jobs import run_worker
from api.models.trackers import Tracker
from api.services import polling
from api.services import webhooks as webhooks_service
from api.trackers.base import NewIssue, WebhookRegistration
from api.trackers.registry import all_providers
from test import test_provider_contract as contract
from test.test_polling_events import behind, events, poll
from test.test_polling_exactly_once import _signed
from test.test_provider_contract import create

env = contract.env  # the contract suite's per-provider environment (a fixture)


def test_only_providers_whose_webhooks_report_deletes_say_so():
    reporting = {cls.slug for cls in all_providers() if cls.webhook_reports_deletes}
    assert reporting == {"jira", "trello"}


@pytest.fixture
def hooked(client, app, db, env):
    """The contract tracker with a stored webhook registration: its events come by webhook (mode auto -> webhook)."""
    stored = WebhookRegistration(
        hook_id="1", secret=secrets.token_urlsafe(32), callback_url=webhooks_service.callback_url(env.tracker["id"])
    )
    db.session.get(Tracker, env.tracker["id"]).webhook_secret_encrypted = crypto.encrypt_json(vars(stored))
    db.session.commit()
    assert client.get(env.url(), headers=env.user.headers).get_json()["effective_events_mode"] == "webhook"
    db.session.remove()

    def deliver(event, payload):
        body = json.dumps(payload).encode()
        headers = {**_signed(env, stored.secret, stored.callback_url, event, body), "Content-Type": "application/json"}
        response = client.post(f"/api/v1/webhooks/{env.tracker['id']}", data=body, headers=headers)
        assert response.status_code == 202, response.get_json()
        run_worker(app, concurrency=1, wait=False)

    return deliver


def deleted(db, env):
    return [
        (e.issue_id, e.source, (e.issue or {}).get("title")) for e in events(db, env.tracker["id"]) if e.type == "issue.deleted"
    ]


def delete(client, env, issue_id):
    response = client.delete(env.url(f"/issues/{issue_id}"), headers=env.user.headers)
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("env", ["gitlab"], indirect=True)
def test_a_gitlab_delete_in_webhook_mode_is_recorded_by_the_gateway_once(client, db, env, hooked):
    env.fake.add_member("group/app", "root", access_level=50)  # only owners delete issues on GitLab
    issue = create(client, env, title="Gone from GitLab")
    poll(db, env)
    delete(client, env, issue["id"])
    assert deleted(db, env) == [(issue["id"], "gateway", "Gone from GitLab")]
    assert polling.reconcile_tracker(session=db.session, tracker_id=env.tracker["id"]) == 0
    assert len(deleted(db, env)) == 1


@pytest.mark.parametrize("env", ["gitlab"], indirect=True)
def test_deleting_an_issue_the_index_never_saw_still_records_its_last_state(client, db, env, hooked):
    env.fake.add_member("group/app", "root", access_level=50)
    made = behind(db, env).create_issue(NewIssue(title="Made on GitLab"))  # no webhook, no poll: not indexed
    db.session.remove()
    delete(client, env, made.id)
    assert deleted(db, env) == [(made.id, "gateway", "Made on GitLab")]


@pytest.mark.parametrize("env", ["gitea"], indirect=True)
def test_a_gitea_delete_webhook_after_the_gateways_record_adds_nothing(client, db, env, hooked):
    issue = create(client, env, title="Gone from Gitea")
    raw = behind(db, env).get_issue(issue["id"]).remote_data
    db.session.remove()
    delete(client, env, issue["id"])
    hooked(
        "issues",
        {"action": "deleted", "issue": raw, "repository": {"full_name": env.tracker["target"]}, "sender": {"login": env.member}},
    )
    assert deleted(db, env) == [(issue["id"], "gateway", "Gone from Gitea")]


@pytest.mark.parametrize("env", ["trello"], indirect=True)
def test_a_trello_delete_in_webhook_mode_is_left_to_its_deletecard_webhook(client, db, env, hooked):
    issue = create(client, env, title="Gone from Trello")
    delete(client, env, issue["id"])
    assert deleted(db, env) == []  # Trello reports it
    action = {
        "id": "6a0000000000000000000001",
        "type": "deleteCard",
        "date": "2025-01-01T00:00:00.000Z",
        "data": {"card": {"id": issue["id"], "idShort": 1}, "board": {"id": env.tracker["target"]}},
        "memberCreator": {"id": "5e0a0c0a0c0a0c0a0c0a0c0a", "username": env.member},
    }
    hooked("deleteCard", {"action": action, "model": {"id": env.tracker["target"]}})
    assert [(issue_id, source) for issue_id, source, _ in deleted(db, env)] == [(issue["id"], "webhook")]


@pytest.mark.parametrize("env", ["trello"], indirect=True)
def test_a_trello_delete_in_poll_mode_is_recorded_by_the_gateway(client, db, env, hooked):
    client.patch(env.url(), json={"events_mode": "poll"}, headers=env.user.headers)
    issue = create(client, env, title="Polled card")
    delete(client, env, issue["id"])
    assert deleted(db, env) == [(issue["id"], "gateway", "Polled card")]

"""Priority, issue type and parent are part of a change's identity: a priority-only change made behind the gateway's
back is one issue.updated naming it (native on Jira, label-borne elsewhere), a priority-only webhook in the same second
as an earlier update is recorded rather than taken for it, and the gateway's own PATCH names what it changed."""

import json

from api import crypto
from api.jobs import QUEUE_WEBHOOKS, run_worker
from api.models.index import IndexedIssue
from api.models.trackers import Tracker
from api.trackers.base import IssueChanges
from test import test_provider_contract as contract
from test.test_polling_events import POLLED, behind, events, poll
from test.test_polling_exactly_once import _signed, hooked  # noqa: F401  (hooked: a fixture)
from test.test_provider_contract import create, parametrize_env
from test.test_provider_contract_deeper import enable_workflow

env = contract.env  # the contract suite's per-provider environment (a fixture)

JIRA = [name for name in POLLED if name.startswith("jira")]
BY_LABELS = [name for name in POLLED if not name.startswith("jira")]


def _since(db, env, before):
    return events(db, env.tracker["id"])[before:]


def _polled(client, db, env, title):
    """An issue made through the gateway and a baseline poll: the issue, and how many events the tracker has so far."""
    issue = create(client, env, title=title)
    poll(db, env)
    return issue, len(events(db, env.tracker["id"]))


def _updated(recorded):
    return [event for event in recorded if event.type == "issue.updated"]


@parametrize_env(JIRA)
def test_a_native_priority_change_behind_the_gateways_back_is_one_issue_updated_naming_it(client, db, env):
    issue, before = _polled(client, db, env, "Prioritised")
    provider = behind(db, env)
    provider.update_issue(issue["id"], provider.prepare_changes(issue["id"], IssueChanges(priority="urgent")))
    assert poll(db, env)["events"] == 1
    (event,) = _since(db, env, before)
    assert event.type == "issue.updated" and event.source == "poll"
    assert event.changes["priority"] == {"from": None, "to": "urgent"} and event.changes["remote_priority"]["to"]
    assert poll(db, env)["events"] == 0  # the overlap reads it again: not twice


@parametrize_env(BY_LABELS)
def test_a_label_borne_priority_change_behind_the_gateways_back_is_one_issue_updated_naming_it(client, db, env):
    enable_workflow(client, env)  # priority_labels {"urgent": "P1", "high": "P2"}
    issue, before = _polled(client, db, env, "Prioritised")
    behind(db, env).update_issue(issue["id"], IssueChanges(labels=["P1"]))
    poll(db, env)
    recorded = _since(db, env, before)
    (updated,) = _updated(recorded)
    assert updated.changes["priority"] == {"from": None, "to": "urgent"}
    assert sorted(event.type for event in recorded) == ["issue.labeled", "issue.updated"]
    # The gateway's own write stores the same (enriched) state a poll reads: the next poll finds nothing new.
    before = len(events(db, env.tracker["id"]))
    patched = client.patch(env.url(f"/issues/{issue['id']}"), json={"priority": "high"}, headers=env.user.headers)
    assert patched.status_code == 200, patched.get_json()
    (updated,) = _updated(_since(db, env, before))
    assert updated.changes["priority"] == {"from": "urgent", "to": "high"} and updated.source == "gateway"
    assert poll(db, env)["events"] == 0


@parametrize_env(["github", "jira_dc"])
def test_an_index_row_hashed_before_priority_counted_is_no_change_when_its_issue_is_read_again(client, db, env):
    issue = create(client, env, title="Indexed long ago")
    poll(db, env)
    # A row indexed before the deploy that added priority, type and parent to the hash: only its hash differs.
    db.session.get(IndexedIssue, (env.tracker["id"], issue["id"])).content_hash = "0" * 64
    db.session.commit()
    before = len(events(db, env.tracker["id"]))
    assert poll(db, env)["issues"] >= 1  # within the overlap: read again
    assert _since(db, env, before) == []


def _jira_updated(env, raw, item):
    return {
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_updated",
        "issue": raw,
        "user": {"accountId": env.member} if env.variant.name == "jira_cloud" else {"key": env.member, "name": env.member},
        "changelog": {"id": "1", "items": [{"fieldtype": "jira", **item}]},
    }


@parametrize_env(JIRA)
def test_a_priority_only_webhook_in_the_same_second_as_an_earlier_update_is_recorded(client, app, db, env, hooked):  # noqa: F811
    issue_id = create(client, env, title="Before")["id"]
    poll(db, env)
    secret = crypto.decrypt_json(db.session.get(Tracker, env.tracker["id"]).webhook_secret_encrypted)
    db.session.remove()

    def deliver(payload):
        body = json.dumps(payload).encode()
        headers = {
            **_signed(env, secret["secret"], secret["callback_url"], "jira:issue_updated", body),
            "Content-Type": "application/json",
        }
        assert client.post(f"/api/v1/webhooks/{env.tracker['id']}", data=body, headers=headers).status_code == 202
        run_worker(app, concurrency=1, wait=False, queues=[QUEUE_WEBHOOKS])

    provider = behind(db, env)
    renamed = provider.update_issue(issue_id, IssueChanges(title="After")).remote_data
    deliver(_jira_updated(env, renamed, {"field": "summary", "fromString": "Before", "toString": "After"}))
    raised = provider.update_issue(issue_id, provider.prepare_changes(issue_id, IssueChanges(priority="urgent"))).remote_data
    raised["fields"]["updated"] = renamed["fields"]["updated"]  # the same second as the rename
    deliver(
        _jira_updated(env, raised, {"field": "priority", "fromString": None, "toString": raised["fields"]["priority"]["name"]})
    )
    updated = [event for event in events(db, env.tracker["id"]) if event.type == "issue.updated"]
    assert [(event.source, event.issue["title"], event.issue["priority"]) for event in updated] == [
        ("webhook", "After", None),
        ("webhook", "After", "urgent"),
    ]


@parametrize_env(["builtin", "jira_dc"])
def test_a_priority_patched_through_the_api_is_an_issue_updated_naming_priority(client, db, env):
    issue = create(client, env, title="Patched")
    parent = create(client, env, title="Parent")
    if env.provider != "builtin":
        poll(db, env)  # polled: the gateway records its own writes' events
    before = len(events(db, env.tracker["id"]))
    patched = client.patch(env.url(f"/issues/{issue['id']}"), json={"priority": "high"}, headers=env.user.headers)
    assert patched.status_code == 200, patched.get_json()
    (updated,) = _updated(_since(db, env, before))
    assert updated.changes["priority"] == {"from": None, "to": "high"} and updated.source == "gateway"
    listed = client.get(env.url("/events"), headers=env.user.headers).get_json()["events"]
    assert listed[0]["type"] == "issue.updated" and listed[0]["changes"]["priority"] == {"from": None, "to": "high"}
    before = len(events(db, env.tracker["id"]))
    moved = client.patch(env.url(f"/issues/{issue['id']}"), json={"parent_id": parent["id"]}, headers=env.user.headers)
    assert moved.status_code == 200, moved.get_json()
    (updated,) = _updated(_since(db, env, before))
    assert updated.changes == {"parent_id": {"from": None, "to": parent["id"]}}

"""Exactly once with a webhook also active: on every provider that has webhooks, a change made on the tracker and seen
both by a signed delivery and by a poll is one event, whichever of the two sees it first.

The fakes send no webhooks, so each provider's delivery is built here the way the provider builds it (its headers, its
signature, its payload shape) from the state the fake holds. The built-in tracker has no webhooks and is never polled:
it records its own events once, as it makes the change (test_polling_events covers that it is never polled)."""

import base64
import contextlib
import functools
import hashlib
import hmac
import json
import secrets
import sys
import uuid
from datetime import UTC, timedelta

import pytest
from sqlalchemy import select

from api import crypto
from api.jobs import QUEUE_WEBHOOKS, run_worker
from api.models.trackers import Tracker
from api.models.webhooks import WebhookDelivery
from api.services import webhooks as webhooks_service
from api.trackers.base import Capability, IssueChanges, NewIssue, WebhookRegistration, hmac_hex
from api.trackers.registry import provider_class
from test import test_provider_contract as contract
from test.test_polling_events import POLLED, behind, events, poll
from test.test_provider_contract import parametrize_env

env = contract.env  # the contract suite's per-provider environment (a fixture)


def _slug(env):
    return env.variant.name.split("_")[0]


WEBHOOKS = [name for name in POLLED if Capability.WEBHOOKS in provider_class(name.split("_")[0]).capabilities]


def _stamp(moment):
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ---- what each provider sends: (event header value, payload) for a label added and for a new comment ----------------


def _github_like(env, issue, comment, label, action="created"):
    repository = {"full_name": env.tracker["target"]}
    if comment is not None:
        raw = {
            "id": int(comment.id),
            "body": comment.body,
            "user": {"login": env.member, "id": 1},
            "created_at": _stamp(comment.created_at),
            "updated_at": _stamp(comment.updated_at or comment.created_at),
        }
        return "issue_comment", {"action": action, "issue": issue.remote_data, "comment": raw, "repository": repository}
    action = "labeled" if _slug(env) == "github" else "label_updated"
    return "issues", {
        "action": action,
        "issue": issue.remote_data,
        "label": {"name": label},
        "repository": repository,
        "sender": {"login": env.member},
    }


def _gitlab(env, issue, comment, label):
    raw = issue.remote_data
    if comment is not None:
        note = {
            "id": int(comment.id),
            "note": comment.body,
            "noteable_type": "Issue",
            "action": "create",
            "created_at": _stamp(comment.created_at),
            "updated_at": _stamp(comment.updated_at or comment.created_at),
        }
        return "Note Hook", {
            "object_kind": "note",
            "event_type": "note",
            "object_attributes": note,
            "issue": raw,
            "user": {"id": 1, "username": env.member},
        }
    labels = [{"title": name} for name in raw["labels"]]
    return "Issue Hook", {
        "object_kind": "issue",
        "event_type": "issue",
        "user": {"id": 1, "username": env.member},
        "object_attributes": {**raw, "action": "update", "url": raw.get("web_url")},
        "labels": labels,
        "assignees": raw.get("assignees") or [],
        "changes": {"labels": {"previous": [item for item in labels if item["title"] != label], "current": labels}},
    }


def _trello(env, issue, comment, label):
    card = issue.remote_data
    data = {
        "card": {key: card.get(key) for key in ("id", "name", "idShort", "shortLink", "idList")},
        "board": {"id": env.tracker["target"]},
    }
    creator = {"id": "5e0a0c0a0c0a0c0a0c0a0c0a", "username": env.member, "fullName": env.member}
    if comment is not None:
        action = {
            "id": comment.id,
            "type": "commentCard",
            "date": _stamp(comment.created_at),
            "data": {**data, "text": comment.body},
            "memberCreator": creator,
        }
    else:  # Trello's action date is the card's last activity
        action = {
            "id": uuid.uuid4().hex[:24],
            "type": "addLabelToCard",
            "date": card["dateLastActivity"],
            "data": {**data, "label": {"name": label}},
            "memberCreator": creator,
        }
    return action["type"], {"action": action, "model": {"id": env.tracker["target"]}}


def _jira(env, issue, comment, label):
    raw = issue.remote_data
    cloud = env.variant.name == "jira_cloud"
    user = {"accountId": env.member} if cloud else {"key": env.member, "name": env.member}
    if comment is not None:
        body = (
            {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": comment.body}]}]}
            if cloud
            else comment.body
        )
        raw_comment = {
            "self": f"{env.fake.base_url}/rest/api/2/issue/{raw['id']}/comment/{comment.id}",
            "id": comment.id,
            "author": user,
            "body": body,
            "created": _stamp(comment.created_at),
            "updated": _stamp(comment.updated_at or comment.created_at),
        }
        payload = {"webhookEvent": "comment_created", "comment": raw_comment}
        if cloud:  # Data Center's comment events carry no issue, only its numeric id in the comment's link
            payload["issue"] = raw
        return "comment_created", payload
    before = " ".join(name for name in raw["fields"]["labels"] if name != label)
    return "jira:issue_updated", {
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_updated",
        "user": user,
        "issue": raw,
        "changelog": {
            "id": "1",
            "items": [
                {"field": "labels", "fieldtype": "jira", "fromString": before, "toString": " ".join(raw["fields"]["labels"])}
            ],
        },
    }


PAYLOADS = {"github": _github_like, "gitea": _github_like, "gitlab": _gitlab, "trello": _trello, "jira": _jira}
# An edited comment, for the providers whose polls list comments by update time (see QUIET below).
EDITED = {"github": functools.partial(_github_like, action="edited"), "gitea": functools.partial(_github_like, action="edited")}


def _signed(env, secret, callback, event, body):
    """The headers the provider sends with a delivery: its event name, a delivery id and its signature of the body."""
    delivery = uuid.uuid4().hex
    slug = _slug(env)
    if slug == "github":
        return {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": "sha256=" + hmac_hex(secret, body)}
    if slug == "gitea":
        return {"X-Gitea-Event": event, "X-Gitea-Delivery": delivery, "X-Gitea-Signature": hmac_hex(secret, body)}
    if slug == "gitlab":
        return {"X-Gitlab-Event": event, "X-Gitlab-Event-UUID": delivery, "X-Gitlab-Token": secret}
    if slug == "trello":
        digest = hmac.new(secret.encode(), body + callback.encode(), hashlib.sha1).digest()
        return {"X-Trello-Webhook": base64.b64encode(digest).decode()}
    return {"X-Atlassian-Webhook-Identifier": delivery, "X-Hub-Signature": "sha256=" + hmac_hex(secret, body)}


def test_every_provider_with_webhooks_has_a_delivery_built_here():
    assert {name.split("_")[0] for name in WEBHOOKS} == set(PAYLOADS)


# ---- the tests -----------------------------------------------------------------------------------------------------


@pytest.fixture
def hooked(client, app, db, env):
    """The contract tracker with a verified webhook registration, in poll mode: the webhook and the polls both record.

    The registration is stored as `POST /trackers/<id>/webhook` stores it (registering on each provider, with the rights
    it needs, is test_webhooks' business); deliveries are signed with its secret.
    """
    stored = WebhookRegistration(
        hook_id="1", secret=secrets.token_urlsafe(32), callback_url=webhooks_service.callback_url(env.tracker["id"])
    )
    db.session.get(Tracker, env.tracker["id"]).webhook_secret_encrypted = crypto.encrypt_json(vars(stored))
    db.session.commit()
    shown = client.get(env.url(), headers=env.user.headers).get_json()
    assert shown["events_mode"] == "auto" and shown["effective_events_mode"] == "webhook"
    patched = client.patch(env.url(), json={"events_mode": "poll"}, headers=env.user.headers)
    assert patched.get_json()["effective_events_mode"] == "poll"
    db.session.remove()

    def deliver(issue_id, *, comment=None, label=None, refresh=True, edited=False):
        """Send the delivery the provider would send for the label just added or the comment just made (or `edited`),
        and process it (with `refresh=False`, not the index refresh it enqueues: a poll may run before that job)."""
        issue = behind(db, env).get_issue(issue_id)
        db.session.remove()
        event, payload = (EDITED if edited else PAYLOADS)[_slug(env)](env, issue, comment, label)
        body = json.dumps(payload).encode()
        headers = {**_signed(env, stored.secret, stored.callback_url, event, body), "Content-Type": "application/json"}
        response = client.post(f"/api/v1/webhooks/{env.tracker['id']}", data=body, headers=headers)
        assert response.status_code == 202 and response.get_json()["status"] == "accepted", response.get_json()
        run_worker(app, concurrency=1, wait=False, queues=None if refresh else [QUEUE_WEBHOOKS])

    return deliver


def _recorded(db, env, kind):
    return [(e.issue_id, e.source) for e in events(db, env.tracker["id"]) if e.type == kind]


@parametrize_env(WEBHOOKS)
def test_a_label_seen_by_a_webhook_and_a_poll_is_recorded_once_whichever_comes_first(client, db, env, hooked):
    ids = [behind(db, env).create_issue(NewIssue(title=f"Labeled {n}")).id for n in range(3)]
    poll(db, env)  # the baseline
    label = env.labels[0]
    behind(db, env).update_issue(ids[0], IssueChanges(labels=[label]))
    hooked(ids[0], label=label)  # the webhook first: the index is refreshed from the tracker, the poll finds nothing new
    assert poll(db, env)["events"] == 0
    behind(db, env).update_issue(ids[1], IssueChanges(labels=[label]))
    hooked(ids[1], label=label, refresh=False)  # the webhook first, the poll before the index refresh: same change hash
    assert poll(db, env)["events"] == 0
    behind(db, env).update_issue(ids[2], IssueChanges(labels=[label]))
    assert poll(db, env)["events"] == 1  # the poll first
    hooked(ids[2], label=label)
    assert sorted(_recorded(db, env, "issue.labeled")) == sorted([(ids[0], "webhook"), (ids[1], "webhook"), (ids[2], "poll")])


@parametrize_env([name for name in WEBHOOKS if Capability.COMMENTS in provider_class(name.split("_")[0]).capabilities])
def test_a_comment_seen_by_a_webhook_and_a_poll_is_recorded_once_whichever_comes_first(client, db, env, hooked):
    issue = behind(db, env).create_issue(NewIssue(title="Discussed")).id
    poll(db, env)
    first = behind(db, env).create_comment(issue, "Webhook first")
    hooked(issue, comment=first)
    assert poll(db, env)["events"] == 0
    second = behind(db, env).create_comment(issue, "Poll first")
    assert poll(db, env)["events"] == 1
    hooked(issue, comment=second)
    comments = [(e.comment["body"], e.source) for e in events(db, env.tracker["id"]) if e.type == "comment.created"]
    assert comments == [("Webhook first", "webhook"), ("Poll first", "poll")]


# ---- a comment edited on a quiet issue ------------------------------------------------------------------------------

# The providers whose issue keeps its update time when a comment is edited, and whose polls therefore also list the
# repository's comments by update time (the registry says which: they implement list_comments_updated_since).
QUIET = [name for name in POLLED if provider_class(name.split("_")[0]).lists_comments_by_update_time()]


def test_the_providers_listing_comments_by_update_time_are_the_ones_known_to_need_it():
    assert {name.split("_")[0] for name in QUIET} == {"github", "gitea"}
    assert {name.split("_")[0] for name in QUIET if name in WEBHOOKS} <= set(EDITED)


@contextlib.contextmanager
def _fake_clock_back(fake, hours):
    """The fake's clock `hours` behind while the block runs: what it makes then is old."""
    module = sys.modules[type(fake).__module__]
    real = module.utcnow
    module.utcnow = lambda: real() - timedelta(hours=hours)
    try:
        yield
    finally:
        module.utcnow = real


@parametrize_env(QUIET)
def test_a_comment_edited_on_a_quiet_issue_is_one_comment_updated_event_with_or_without_its_webhook(client, db, env, hooked):
    """The issue's update time stays put on a comment edit: the repository's comments listed by update time show the
    edit to the poll, once, and its webhook (edited) does not record it again."""
    with _fake_clock_back(env.fake, hours=2):  # an old issue with an old comment ...
        quiet = behind(db, env).create_issue(NewIssue(title="Quiet")).id
        comment = behind(db, env).create_comment(quiet, "First words")
    behind(db, env).create_issue(NewIssue(title="Busy elsewhere"))  # ... while the repository moves on
    poll(db, env)  # the baseline
    edited = behind(db, env).update_comment(quiet, comment.id, "Second thoughts")
    assert behind(db, env).get_issue(quiet).updated_at < edited.updated_at - timedelta(hours=1)
    seen = len(env.fake.requests)
    assert poll(db, env)["events"] == 1
    asked = [r for r in env.fake.requests[seen:] if r.method == "GET" and r.path.endswith("/issues/comments")]
    assert len(asked) == 1 and asked[0].query.get("since")
    assert not [r for r in env.fake.requests[seen:] if r.path.endswith(f"/issues/{quiet}/comments")], "the issue was quiet"
    assert poll(db, env)["events"] == 0  # the overlap lists it again: not twice
    if env.variant.name in WEBHOOKS:
        hooked(quiet, comment=edited, edited=True)
        assert [d.status for d in db.session.scalars(select(WebhookDelivery))] == ["processed"]  # read, and dropped
    recorded = [
        (e.type, e.issue_id, e.comment["body"], e.source) for e in events(db, env.tracker["id"]) if e.type.startswith("comment.")
    ]
    assert recorded == [("comment.updated", quiet, "Second thoughts", "poll")]

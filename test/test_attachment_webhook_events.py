"""Remote attachment events: Jira's attachment_created/attachment_deleted and Trello's addAttachmentToCard /
deleteAttachmentFromCard become attachment.created / attachment.deleted through the same pipeline as the other
events. GitLab and Gitea report no attachment events in their webhooks (nothing to map); GitHub has no attachments."""

import copy
import json

from api.jobs import run_worker
from api.trackers.base import TrackerConfig
from api.trackers.providers.jira import JiraProvider
from api.trackers.providers.trello import TrelloProvider
from test.conftest import registration
from test.test_jira_webhooks import HOOKS, dc, signed  # noqa: F401  (dc: the Data Center tracker fixture)
from test.test_trackers import TRACKERS

CARD = "5f1e0c3b9a1d2e3f4a5b6c7d"


def jira_attachment_payload(event, *, with_issue=True):
    """Jira's attachment webhook body (REST v2 shaped, as its other deliveries): the attachment, and the issue."""
    issue = json.loads((HOOKS / "dc" / "jira_issue_updated.json").read_text())["issue"]
    payload = {
        "timestamp": 1700000000000,
        "webhookEvent": event,
        "attachment": {
            "self": "https://jira.example.com/rest/api/2/attachment/10042",
            "id": "10042",
            "filename": "trace.log",
            "author": {"name": "levbrouk", "key": "levbrouk", "displayName": "Lev"},
            "created": "2019-10-01T10:00:00.000+0000",
            "size": 2048,
            "mimeType": "text/plain",
            "content": "https://jira.example.com/secure/attachment/10042/trace.log",
        },
    }
    if with_issue:
        payload["issue"] = issue
    return payload


def test_jira_attachment_events_carry_the_attachment_and_its_issue():
    provider = JiraProvider(TrackerConfig(tracker_id=1, target="TES"))
    (created,) = provider.normalize_webhook("attachment_created", jira_attachment_payload("attachment_created"))
    assert created.type == "attachment.created" and created.issue_id == "TES-4" and created.issue.title
    assert created.changes["attachment"] == {
        "id": "10042",
        "filename": "trace.log",
        "content_type": "text/plain",
        "size": 2048,
        "author": "levbrouk",
        "created_at": "2019-10-01T10:00:00.000+0000",
    }
    (deleted,) = provider.normalize_webhook("attachment_deleted", jira_attachment_payload("attachment_deleted", with_issue=False))
    assert deleted.type == "attachment.deleted" and deleted.issue_id is None and deleted.changes["attachment"]["id"] == "10042"
    other = JiraProvider(TrackerConfig(tracker_id=1, target="OTHER"))
    assert other.normalize_webhook("attachment_created", jira_attachment_payload("attachment_created")) == []
    assert provider.normalize_webhook("attachment_created", {"webhookEvent": "attachment_created", "attachment": "x"}) == []


def trello_action(kind, attachment):
    return {
        "action": {
            "id": "6a" + "0" * 22,
            "type": kind,
            "date": "2024-05-01T10:00:00.000Z",
            "memberCreator": {"id": "5" * 24, "username": "alice", "fullName": "Alice"},
            "data": {
                "card": {"id": CARD, "name": "Card", "idShort": 3},
                "attachment": attachment,
                "board": {"id": "b" * 24, "name": "B"},
                "list": {"id": "c" * 24, "name": "To do"},
            },
        },
        "model": {"id": "b" * 24},
    }


def test_trello_attachment_actions_become_attachment_events():
    provider = TrelloProvider(TrackerConfig(tracker_id=1, target="b" * 24))
    added = trello_action("addAttachmentToCard", {"id": "a" * 24, "name": "shot.png", "url": "https://trello.com/x/shot.png"})
    (created,) = provider.normalize_webhook("addAttachmentToCard", added)
    assert created.type == "attachment.created" and created.issue_id == CARD
    assert created.changes["attachment"]["id"] == "a" * 24 and created.changes["attachment"]["filename"] == "shot.png"
    assert created.changes["attachment"]["content_type"] == "image/png" and created.changes["attachment"]["author"] == "alice"
    removed = trello_action("deleteAttachmentFromCard", {"id": "a" * 24, "name": "shot.png"})
    (deleted,) = provider.normalize_webhook("deleteAttachmentFromCard", removed)
    assert deleted.type == "attachment.deleted" and deleted.changes["attachment"]["id"] == "a" * 24


def test_a_jira_attachment_delivery_is_recorded_as_an_event_like_any_other(client, app, db, dc):  # noqa: F811
    client.post(f"{TRACKERS}{dc['tracker']['id']}/webhook", headers=dc["user"].headers)
    secret = registration(db, dc["tracker"]["id"]).secret
    url = f"/api/v1/webhooks/{dc['tracker']['id']}"
    for number, name in enumerate(("attachment_created", "attachment_deleted")):
        payload = copy.deepcopy(jira_attachment_payload(name))
        body = json.dumps(payload).encode()
        assert client.post(url, data=body, headers=signed(secret, body, f"wh-a{number}")).get_json()["status"] == "accepted"
    run_worker(app, concurrency=1, wait=False)
    events = client.get(f"{TRACKERS}{dc['tracker']['id']}/events", headers=dc["user"].headers).get_json()["events"]
    assert [event["type"] for event in events] == ["attachment.deleted", "attachment.created"]
    assert all(event["issue_id"] == "TES-4" and event["changes"]["attachment"]["filename"] == "trace.log" for event in events)

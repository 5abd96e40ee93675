"""The built-in tracker emits the same normalized events as webhooks do, so automations and subscriptions work
with no external account; loops between rules stop at the chain depth limit."""

from sqlalchemy import select

from api.jobs import run_worker
from api.models.automations import AutomationRun
from api.models.events import Event
from test.test_trackers import TRACKERS, make_tracker


def _rule(client, user, **body):
    response = client.post("/api/v1/automations/", json=body, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_builtin_changes_become_events(client, auth, db):
    user = auth.register()
    tracker = make_tracker(client, user)
    url = f"{TRACKERS}{tracker['id']}/issues"
    client.post(url, json={"title": "First", "labels": ["a"]}, headers=user.headers)
    client.patch(f"{url}/1", json={"labels": ["a", "b"], "assignees": [user.username], "title": "Renamed"}, headers=user.headers)
    client.patch(f"{url}/1", json={"status": "closed"}, headers=user.headers)
    client.post(f"{url}/1/comments", json={"body": "done"}, headers=user.headers)
    events = client.get(f"{TRACKERS}{tracker['id']}/events", headers=user.headers).get_json()["events"]
    assert [e["type"] for e in reversed(events)] == [
        "issue.created",
        "issue.labeled",
        "issue.assigned",
        "issue.updated",
        "issue.closed",
        "comment.created",
    ]
    assert events[0]["comment"]["body"] == "done" and events[0]["issue"]["status"] == "closed"
    labeled = next(e for e in events if e["type"] == "issue.labeled")
    assert labeled["changes"] == {"labels": {"added": ["b"]}} and labeled["chain_depth"] == 0


def test_rule_on_the_builtin_tracker_runs_and_ignores_its_own_change(app, client, auth, db):
    user = auth.register()
    tracker = make_tracker(client, user)
    rule = _rule(
        client,
        user,
        name="ack",
        tracker_id=tracker["id"],
        event_types=["comment.created"],
        actions=[{"type": "add_comment", "body": "Thanks {{ comment.author.username }}"}],
    )
    client.post(f"{TRACKERS}{tracker['id']}/issues", json={"title": "x"}, headers=user.headers)
    client.post(f"{TRACKERS}{tracker['id']}/issues/1/comments", json={"body": "hello"}, headers=user.headers)
    run_worker(app, concurrency=1, wait=False)
    comments = client.get(f"{TRACKERS}{tracker['id']}/issues/1/comments", headers=user.headers).get_json()["comments"]
    assert [c["body"] for c in comments] == ["hello", f"Thanks {user.username}"]
    statuses = sorted(
        run.status for run in db.session.scalars(select(AutomationRun).where(AutomationRun.automation_id == rule["id"]))
    )
    assert statuses == ["skipped", "succeeded"]


def test_rules_that_trigger_each_other_stop_at_the_chain_depth_limit(app, client, auth, db):
    user = auth.register()
    tracker = make_tracker(client, user)
    cycle = [
        ("close on comment", "comment.created", {"type": "set_status", "status": "closed"}),
        ("reopen on close", "issue.closed", {"type": "set_status", "status": "open"}),
        ("comment on reopen", "issue.reopened", {"type": "add_comment", "body": "reopened"}),
    ]
    for name, event_type, action in cycle:
        _rule(client, user, name=name, event_types=[event_type], actions=[action], tracker_id=tracker["id"])
    client.post(f"{TRACKERS}{tracker['id']}/issues", json={"title": "x"}, headers=user.headers)
    client.post(f"{TRACKERS}{tracker['id']}/issues/1/comments", json={"body": "human"}, headers=user.headers)
    run_worker(app, concurrency=1, wait=False)
    depths = [e.chain_depth for e in db.session.scalars(select(Event).order_by(Event.id))]
    limit = app.config["AUTOMATION_MAX_CHAIN_DEPTH"]
    assert max(depths) == limit  # the cycle ran up to the limit ...
    runs = db.session.scalars(select(AutomationRun)).all()
    skipped = [run for run in runs if run.status == "skipped"]
    assert skipped and all("Chain depth" in run.error for run in skipped)  # ... and stopped there
    assert [run.status for run in runs].count("succeeded") == limit

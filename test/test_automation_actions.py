"""What one automation run does and records: each action's result, the changes it marks so their echo is known
(kept 30 minutes), upstream failures retried up to five attempts, and a finished run left alone."""

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from api.models.automations import Automation, AutomationRun
from api.models.base import utcnow
from api.models.events import Event
from api.models.webhooks import GatewayChange
from api.services.automations import MAX_ATTEMPTS, match_and_enqueue, run_automation
from api.trackers.base import TrackerUnavailable
from test.test_trackers import TRACKERS, make_tracker

AUTOMATIONS = "/api/v1/automations/"


def _run_for(client, app, db, github, actions, labels=()):
    """A rule with `actions` on the GitHub tracker, and its pending run for an issue.created event on issue 1."""
    user, tracker_id = github["user"], github["tracker"]["id"]
    response = client.post(
        AUTOMATIONS,
        json={"name": "act", "event_types": ["issue.created"], "tracker_id": tracker_id, "actions": actions},
        headers=user.headers,
    )
    assert response.status_code == 201, response.get_json()
    event = Event(
        tracker_id=tracker_id,
        owner_id=user.id,
        type="issue.created",
        issue_id="1",
        issue={"id": "1", "title": "Spelling error in the README file", "labels": list(labels)},
        chain_depth=0,
    )
    db.session.add(event)
    db.session.flush()
    match_and_enqueue(session=db.session, event=event)
    db.session.commit()
    return db.session.scalar(select(AutomationRun).where(AutomationRun.automation_id == response.get_json()["id"])).id


def _run(app, run_id):
    with app.app_context():
        run_automation(run_id)


def _subscribe(client, user, events):
    response = client.post(
        "/api/v1/subscriptions/",
        json={"url": "https://127.0.0.1/hook", "events": events, "secret": "s3cret-value-for-hmac-0123456789"},
        headers=user.headers,
    )
    assert response.status_code == 201, response.get_json()


def _stored_run(db, run_id):
    db.session.expire_all()
    return db.session.get(AutomationRun, run_id)


def _changes(db):
    db.session.expire_all()
    return [(change.issue_id, change.kinds) for change in db.session.scalars(select(GatewayChange).order_by(GatewayChange.id))]


def test_adding_labels_the_issue_already_has_changes_nothing_and_marks_nothing(client, app, db, github):
    run_id = _run_for(client, app, db, github, [{"type": "add_labels", "labels": ["triage"]}])
    _run(app, run_id)
    assert _stored_run(db, run_id).results == [{"type": "add_labels", "labels": ["triage"], "changed": True}]
    assert _changes(db) == [("1", ["issue.labeled", "issue.updated"])]
    again = _run_for(client, app, db, github, [{"type": "add_labels", "labels": ["triage"]}])
    patches = len([r for r in github["fake"].requests if r.method == "PATCH"])
    _run(app, again)
    assert _stored_run(db, again).results == [{"type": "add_labels", "labels": ["triage"], "changed": False}]
    assert len([r for r in github["fake"].requests if r.method == "PATCH"]) == patches
    assert len(_changes(db)) == 1


@pytest.mark.parametrize(("status", "kind"), [("closed", "issue.closed"), ("open", "issue.reopened")])
def test_setting_a_status_marks_its_echo_and_records_the_trackers_status(client, app, db, github, status, kind):
    run_id = _run_for(client, app, db, github, [{"type": "set_status", "status": status}])
    _run(app, run_id)
    run = _stored_run(db, run_id)
    assert run.status == "succeeded" and run.results == [{"type": "set_status", "status": status}]
    assert _changes(db) == [("1", [kind, "issue.updated"])]


def test_a_comment_marks_its_echo_and_records_the_comment_id(client, app, db, github):
    run_id = _run_for(client, app, db, github, [{"type": "add_comment", "body": "On {{ issue.title }}"}])
    _run(app, run_id)
    [result] = _stored_run(db, run_id).results
    posted = [r for r in github["fake"].requests if r.method == "POST" and r.path.endswith("/issues/1/comments")]
    assert posted[-1].json["body"] == "On Spelling error in the README file"
    assert result["type"] == "add_comment" and result["comment_id"]
    assert _changes(db) == [("1", ["comment.created"])]


def test_marking_a_change_forgets_those_older_than_thirty_minutes(client, app, db, github):
    tracker_id = github["tracker"]["id"]
    for age, issue_id in ((timedelta(minutes=30, seconds=30), "old"), (timedelta(minutes=29, seconds=30), "recent")):
        db.session.add(
            GatewayChange(
                tracker_id=tracker_id, issue_id=issue_id, kinds=["issue.closed"], chain_depth=0, created_at=utcnow() - age
            )
        )
    db.session.commit()
    _run(app, _run_for(client, app, db, github, [{"type": "set_status", "status": "closed"}]))
    assert _changes(db) == [("recent", ["issue.closed"]), ("1", ["issue.closed", "issue.updated"])]


def test_a_notify_action_records_how_many_subscriptions_it_reached(client, app, db, github):
    for _ in range(2):
        _subscribe(client, github["user"], ["*"])
    run_id = _run_for(client, app, db, github, [{"type": "notify", "message": "Seen {{ event.type }}"}])
    _run(app, run_id)
    assert _stored_run(db, run_id).results == [{"type": "notify", "deliveries": 2}]
    assert _changes(db) == []


def test_an_upstream_failure_is_retried_until_the_fifth_attempt_fails_the_run(client, app, db, github):
    run_id = _run_for(client, app, db, github, [{"type": "set_status", "status": "closed"}])
    github["fake"].fail_next(500, count=50, match=r"^PATCH ")
    assert MAX_ATTEMPTS == 5  # the documented number of attempts
    for attempt in range(1, 5):
        with pytest.raises(TrackerUnavailable):
            _run(app, run_id)  # re-raised: the job queue retries it
        run = _stored_run(db, run_id)
        assert (run.status, run.attempts, run.finished_at) == ("retrying", attempt, None)
        assert run.error.startswith("action 1 (set_status) failed: ")
    _run(app, run_id)
    run = _stored_run(db, run_id)
    assert (run.status, run.attempts) == ("failed", 5) and run.finished_at is not None
    _run(app, run_id)  # a finished run is left alone
    assert _stored_run(db, run_id).attempts == 5


def test_a_succeeded_run_is_not_run_again(client, app, db, github):
    run_id = _run_for(client, app, db, github, [{"type": "add_comment", "body": "Once"}])
    _run(app, run_id)
    run = _stored_run(db, run_id)
    assert (run.status, run.attempts, run.error) == ("succeeded", 1, None) and run.finished_at is not None
    _run(app, run_id)
    assert _stored_run(db, run_id).attempts == 1
    posted = [r for r in github["fake"].requests if r.method == "POST" and r.path.endswith("/issues/1/comments")]
    assert len(posted) == 1


def test_runs_list_their_event_and_results_newest_first(client, app, db, github):
    run_id = _run_for(client, app, db, github, [{"type": "set_status", "status": "closed"}])
    _run(app, run_id)
    rule_id = _stored_run(db, run_id).automation_id
    body = client.get(f"{AUTOMATIONS}{rule_id}/runs", headers=github["user"].headers).get_json()
    [run] = body["runs"]
    assert body["next_cursor"] is None
    assert (run["id"], run["event_type"], run["issue_id"], run["status"], run["attempts"]) == (
        run_id,
        "issue.created",
        "1",
        "succeeded",
        1,
    )
    assert run["results"] == [{"type": "set_status", "status": "closed"}] and run["error"] is None
    assert (
        client.get(f"{TRACKERS}{github['tracker']['id']}/issues/1", headers=github["user"].headers).get_json()["status"]
        == "closed"
    )


def test_a_run_rendering_longer_than_its_half_second_allowance_fails_saying_so(client, app, db, github):
    # Light on the sample event at save (comments_count 1), a hundred million loop steps on this one.
    loops = "{% for i in range(issue.comments_count) %}{% for j in range(issue.comments_count) %}{% endfor %}{% endfor %}"
    run_id = _run_for(client, app, db, github, [{"type": "add_comment", "body": loops + "done"}])
    event = db.session.get(Event, _stored_run(db, run_id).event_id)
    event.issue = {**event.issue, "comments_count": 10_000}
    db.session.commit()
    _run(app, run_id)
    run = _stored_run(db, run_id)
    assert (run.status, run.attempts) == ("failed", 1)
    assert run.error == "action 1 (add_comment) failed: Rendering body failed: The template took longer than 0.5 s to render."


def test_an_action_failing_on_an_unexpected_error_is_logged_with_its_traceback_and_retried(client, app, db, github, caplog):
    # A rule stored before its action's shape was checked: add_labels without labels is a KeyError, not an API error.
    run_id = _run_for(client, app, db, github, [{"type": "add_labels", "labels": ["triage"]}])
    rule = db.session.get(Automation, _stored_run(db, run_id).automation_id)
    rule.actions = [{"type": "add_labels"}]
    db.session.commit()
    with caplog.at_level(logging.ERROR, logger="api.services.automations"), pytest.raises(KeyError):
        _run(app, run_id)
    run = _stored_run(db, run_id)
    assert (run.status, run.attempts, run.error) == ("retrying", 1, "action 1 (add_labels) failed: KeyError")
    [record] = [r for r in caplog.records if r.name == "api.services.automations"]
    assert record.getMessage() == f"automation {rule.id} run {run_id} failed" and record.exc_info[0] is KeyError


def test_an_issue_from_a_template_goes_to_the_actions_tracker_and_marks_its_new_id(client, app, db, github):
    user = github["user"]
    builtin = make_tracker(client, user, name="local")
    template = client.post(
        "/api/v1/templates/",
        json={
            "name": "T",
            "title": "[Copy] {{ summary }}",
            "tracker_id": builtin["id"],
            "variables": [{"name": "summary", "required": True}],
        },
        headers=user.headers,
    ).get_json()
    run_id = _run_for(
        client,
        app,
        db,
        github,
        [
            {
                "type": "create_issue_from_template",
                "template_id": template["id"],
                "tracker_id": github["tracker"]["id"],
                "variables": {"summary": "{{ issue.title }}"},
            }
        ],
    )
    _run(app, run_id)
    [result] = _stored_run(db, run_id).results
    assert (result["type"], result["tracker_id"]) == ("create_issue_from_template", github["tracker"]["id"])
    created = client.get(f"{TRACKERS}{github['tracker']['id']}/issues/{result['issue_id']}", headers=user.headers).get_json()
    assert created["title"] == "[Copy] Spelling error in the README file" and result["url"] == created["url"]
    assert _changes(db) == [(result["issue_id"], ["issue.created"])]


def test_an_action_on_a_tracker_storing_issues_itself_marks_no_echo(client, app, db, auth):
    user = auth.register()
    tracker = make_tracker(client, user)
    issue = client.post(f"{TRACKERS}{tracker['id']}/issues", json={"title": "Local"}, headers=user.headers).get_json()
    response = client.post(
        AUTOMATIONS,
        json={
            "name": "close",
            "event_types": ["issue.labeled"],
            "tracker_id": tracker["id"],
            "actions": [{"type": "set_status", "status": "closed"}],
        },
        headers=user.headers,
    )
    assert response.status_code == 201, response.get_json()
    labeled = client.patch(f"{TRACKERS}{tracker['id']}/issues/{issue['id']}", json={"labels": ["done"]}, headers=user.headers)
    assert labeled.status_code == 200, labeled.get_json()
    [run] = db.session.scalars(select(AutomationRun)).all()
    _run(app, run.id)
    assert _stored_run(db, run.id).status == "succeeded" and _changes(db) == []


@pytest.mark.parametrize(
    ("action", "failing", "mark"),
    [
        ({"type": "set_status", "status": "closed"}, r"^PATCH ", ("1", ["issue.closed", "issue.updated"])),
        ({"type": "add_comment", "body": "Hi"}, r"^POST .*/comments$", ("1", ["comment.created"])),
    ],
)
def test_the_echo_mark_is_committed_before_the_call_and_kept_when_it_fails(client, app, db, github, action, failing, mark):
    # The provider may have made the change before failing: its webhook echo must still be recognised.
    run_id = _run_for(client, app, db, github, [action])
    github["fake"].fail_next(500, count=50, match=failing)
    with pytest.raises(TrackerUnavailable):
        _run(app, run_id)
    assert _changes(db) == [mark]


def test_a_new_issues_echo_mark_names_any_issue_until_the_tracker_answers(client, app, db, github):
    template = client.post(
        "/api/v1/templates/",
        json={"name": "T", "title": "Copy", "tracker_id": github["tracker"]["id"]},
        headers=github["user"].headers,
    ).get_json()
    run_id = _run_for(client, app, db, github, [{"type": "create_issue_from_template", "template_id": template["id"]}])
    github["fake"].fail_next(500, count=50, match=r"^POST .*/issues$")
    with pytest.raises(TrackerUnavailable):
        _run(app, run_id)
    assert _changes(db) == [("*", ["issue.created"])]


def test_action_texts_see_the_events_id_type_and_tracker(client, app, db, github):
    run_id = _run_for(
        client, app, db, github, [{"type": "add_comment", "body": "{{ event.id }} {{ event.type }} {{ event.tracker_id }}"}]
    )
    _run(app, run_id)
    posted = [r for r in github["fake"].requests if r.method == "POST" and r.path.endswith("/issues/1/comments")]
    event_id = _stored_run(db, run_id).event_id
    assert posted[-1].json["body"] == f"{event_id} issue.created {github['tracker']['id']}"

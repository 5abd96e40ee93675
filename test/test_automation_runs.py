"""How matching creates runs (pending and queued once, or skipped saying why) and how a run fails on what it cannot
act on, resumes after its completed actions, and tells subscribers what it notified."""

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from api.models.automations import Automation, AutomationRun
from api.models.events import Event
from api.models.subscriptions import OutboundDelivery
from api.services.automations import match_and_enqueue, run_automation
from api.trackers.base import TrackerUnavailable
from test.test_automation_actions import _run, _run_for, _stored_run, _subscribe
from test.test_trackers import make_tracker

AUTOMATIONS = "/api/v1/automations/"


def _rule(client, user, **body):
    response = client.post(
        AUTOMATIONS,
        json={"name": "r", "event_types": ["issue.updated"], "actions": [{"type": "notify"}], **body},
        headers=user.headers,
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _match(db, user, tracker, **fields):
    event = Event(
        **{
            "tracker_id": tracker["id"],
            "owner_id": user.id,
            "type": "issue.updated",
            "issue_id": "1",
            "issue": {"labels": []},
            "chain_depth": 0,
            **fields,
        }
    )
    db.session.add(event)
    db.session.flush()
    match_and_enqueue(session=db.session, event=event)
    db.session.commit()
    return event


def _runs(db, rule):
    db.session.expire_all()
    return db.session.scalars(
        select(AutomationRun).where(AutomationRun.automation_id == rule["id"]).order_by(AutomationRun.id)
    ).all()


def _jobs(db):
    return [
        tuple(row)
        for row in db.session.execute(text("SELECT queue_name, task_name, lock, args FROM procrastinate_jobs ORDER BY id"))
    ]


def test_a_matching_event_makes_one_pending_run_queued_once_even_when_matched_again(client, auth, db):
    user = auth.register()
    tracker = make_tracker(client, user)
    rule = _rule(client, user)
    event = _match(db, user, tracker)
    match_and_enqueue(session=db.session, event=event)  # a replayed delivery matches the same event again
    db.session.commit()
    [run] = _runs(db, rule)
    assert (run.status, run.error, run.attempts, run.results, run.finished_at) == ("pending", None, 0, [], None)
    assert _jobs(db) == [("automations", "gateway:run_automation", f"run-{run.id}", {"run_id": run.id})]


def test_an_event_caused_by_the_rule_itself_is_a_finished_skipped_run_and_queues_nothing(client, auth, db):
    user = auth.register()
    tracker = make_tracker(client, user)
    rule = _rule(client, user)
    _match(db, user, tracker, caused_by_rule_id=rule["id"], chain_depth=1)
    [run] = _runs(db, rule)
    assert (run.status, run.error) == ("skipped", "The event is this rule's own change; it does not trigger the rule again.")
    assert run.finished_at is not None and _jobs(db) == []


def test_the_chain_depth_limit_skips_at_the_configured_depth_and_not_below_it(client, auth, db, app, monkeypatch):
    user = auth.register()
    tracker = make_tracker(client, user)
    rule = _rule(client, user)
    limit = 2  # not the default 3: the setting is read, not assumed
    monkeypatch.setitem(app.config, "AUTOMATION_MAX_CHAIN_DEPTH", limit)
    _match(db, user, tracker, chain_depth=limit - 1, caused_by_rule_id=None)
    _match(db, user, tracker, chain_depth=limit, caused_by_rule_id=None)
    below, at = _runs(db, rule)
    assert (below.status, below.error) == ("pending", None)
    assert (at.status, at.error) == ("skipped", f"Chain depth limit ({limit}) reached: automations triggered each other.")
    assert [job[2] for job in _jobs(db)] == [f"run-{below.id}"]


def test_a_disabled_rule_or_another_owners_rule_gets_no_run(client, auth, db):
    user, other = auth.register(), auth.register()
    tracker = make_tracker(client, user)
    disabled = _rule(client, user, enabled=False)
    theirs = _rule(client, other)
    _match(db, user, tracker)
    assert _runs(db, disabled) == [] and _runs(db, theirs) == [] and _jobs(db) == []


def test_a_rule_that_does_not_match_does_not_stop_the_next_one_from_matching(client, auth, db):
    user = auth.register()
    tracker = make_tracker(client, user)
    first = _rule(client, user, conditions={"labels_include": ["nope"]})
    second = _rule(client, user)
    _match(db, user, tracker)
    assert _runs(db, first) == [] and [run.status for run in _runs(db, second)] == ["pending"]


def test_runs_are_listed_newest_first_with_their_event_and_times_one_page_at_a_time(client, auth, db):
    user = auth.register()
    tracker = make_tracker(client, user)
    rule = _rule(client, user)
    _match(db, user, tracker, issue_id="7")
    _match(db, user, tracker, issue_id="8", caused_by_rule_id=rule["id"])
    older, newer = _runs(db, rule)
    url = f"{AUTOMATIONS}{rule['id']}/runs"
    first = client.get(url, query_string={"limit": 1}, headers=user.headers).get_json()
    [run] = first["runs"]
    assert run == {
        "id": newer.id,
        "event_id": newer.event_id,
        "event_type": "issue.updated",
        "issue_id": "8",
        "status": "skipped",
        "attempts": 0,
        "results": [],
        "error": "The event is this rule's own change; it does not trigger the rule again.",
        "created_at": newer.created_at.isoformat(),
        "finished_at": newer.finished_at.isoformat(),
    }
    assert first["next_cursor"]
    second = client.get(url, query_string={"limit": 1, "cursor": first["next_cursor"]}, headers=user.headers).get_json()
    assert [(r["id"], r["issue_id"], r["finished_at"]) for r in second["runs"]] == [(older.id, "7", None)]
    assert second["next_cursor"] is None


def test_a_run_whose_template_was_deleted_fails_saying_so(client, app, db, github):
    user = github["user"]
    template = client.post(
        "/api/v1/templates/", json={"name": "T", "title": "Fixed", "tracker_id": github["tracker"]["id"]}, headers=user.headers
    ).get_json()
    run_id = _run_for(client, app, db, github, [{"type": "create_issue_from_template", "template_id": template["id"]}])
    assert client.delete(f"/api/v1/templates/{template['id']}", headers=user.headers).status_code == 200
    _run(app, run_id)
    run = _stored_run(db, run_id)
    assert (run.status, run.attempts) == ("failed", 1)
    assert run.error == "action 1 (create_issue_from_template) failed: The template no longer exists."


def test_an_issue_action_on_an_event_naming_no_issue_fails_saying_so(client, app, db, github):
    run_id = _run_for(client, app, db, github, [{"type": "add_labels", "labels": ["triage"]}])
    event = db.session.get(Event, _stored_run(db, run_id).event_id)
    event.issue_id = None
    db.session.commit()
    _run(app, run_id)
    run = _stored_run(db, run_id)
    assert (run.status, run.error) == ("failed", "action 1 (add_labels) failed: The event names no issue to act on.")


def test_an_action_of_an_unknown_type_fails_the_run_naming_it(client, app, db, github):
    run_id = _run_for(client, app, db, github, [{"type": "notify"}])
    rule = db.session.get(Automation, _stored_run(db, run_id).automation_id)
    rule.actions = [{"type": "notify"}, {"type": "frobnicate"}]  # stored by a newer version, say
    db.session.commit()
    _run(app, run_id)
    run = _stored_run(db, run_id)
    assert (run.status, run.error) == ("failed", "action 2 (frobnicate) failed: Unknown action frobnicate.")
    assert run.results == [{"type": "notify", "deliveries": 0}]


def test_a_retried_run_resumes_after_its_completed_actions(client, app, db, github):
    run_id = _run_for(
        client, app, db, github, [{"type": "add_comment", "body": "Looking"}, {"type": "set_status", "status": "closed"}]
    )
    github["fake"].fail_next(500, count=1, match=r"^PATCH ")
    with pytest.raises(TrackerUnavailable):  # re-raised for the job queue's retry
        _run(app, run_id)
    run = _stored_run(db, run_id)
    assert (run.status, [r["type"] for r in run.results]) == ("retrying", ["add_comment"])
    _run(app, run_id)
    run = _stored_run(db, run_id)
    assert (run.status, run.attempts, run.error) == ("succeeded", 2, None)
    assert [r["type"] for r in run.results] == ["add_comment", "set_status"]
    posted = [r for r in github["fake"].requests if r.method == "POST" and r.path.endswith("/issues/1/comments")]
    assert len(posted) == 1


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ({"type": "notify", "message": "Seen {{ issue.title }}"}, "Seen Spelling error in the README file"),
        ({"type": "notify"}, ""),
    ],
)
def test_a_notify_action_sends_the_rule_the_rendered_message_and_the_event(client, app, db, github, action, message):
    _subscribe(client, github["user"], ["automation.notify"])
    run_id = _run_for(client, app, db, github, [action])
    _run(app, run_id)
    run = _stored_run(db, run_id)
    [delivery] = db.session.scalars(select(OutboundDelivery)).all()
    payload = delivery.payload
    rule = db.session.get(Automation, run.automation_id)
    assert {key: payload.get(key) for key in ("automation_id", "automation", "message")} == {
        "automation_id": rule.id,
        "automation": "act",
        "message": message,
    }
    assert payload["event"]["id"] == run.event_id and payload["event"]["type"] == "issue.created"


def test_running_a_run_that_is_gone_or_already_decided_does_nothing(client, auth, db, app):
    user = auth.register()
    tracker = make_tracker(client, user)
    rule = _rule(client, user)
    _match(db, user, tracker, caused_by_rule_id=rule["id"])
    [skipped] = _runs(db, rule)
    _run(app, skipped.id)
    _run(app, skipped.id + 1000)  # deleted with its rule, say
    [run] = _runs(db, rule)
    assert (run.status, run.attempts) == ("skipped", 0)


def test_a_message_that_fails_to_render_on_the_event_fails_the_run_naming_the_message(client, app, db, github):
    run_id = _run_for(client, app, db, github, [{"type": "notify", "message": "{{ issue.title.upper() }}"}])
    event = db.session.get(Event, _stored_run(db, run_id).event_id)
    event.issue = {"labels": []}  # an event whose issue came without a title
    db.session.commit()
    _run(app, run_id)
    run = _stored_run(db, run_id)
    assert (run.status, run.error) == (
        "failed",
        "action 1 (notify) failed: Rendering message failed: Undefined value: 'dict object' has no attribute 'title'",
    )


def test_an_action_failing_on_a_database_error_is_recorded_after_a_rollback(client, app, db, github, make_app):
    # The echo table locked elsewhere: the action's first write fails (lock timeout) and leaves its transaction aborted.
    run_id = _run_for(client, app, db, github, [{"type": "set_status", "status": "closed"}])
    impatient = make_app(SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"options": "-c lock_timeout=300"}})
    with db.engine.connect() as other:
        other.execute(text("LOCK TABLE gateway_changes IN ACCESS EXCLUSIVE MODE"))
        with pytest.raises(OperationalError), impatient.app_context():
            run_automation(run_id)
        other.rollback()
    run = _stored_run(db, run_id)
    assert (run.status, run.attempts, run.error) == ("retrying", 1, "action 1 (set_status) failed: OperationalError")

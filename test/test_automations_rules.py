"""Automation rules: validated at save so they do not fail every run, capped, matched on every condition, and
failing once (not five times) when the tracker refuses an action."""

import pytest
from sqlalchemy import select

from api.jobs import run_worker
from api.models.automations import AutomationRun
from api.models.events import Event
from test.test_issue_templates import SLOW_PATTERN, SLOW_VALUE
from test.test_trackers import TRACKERS, make_tracker

AUTOMATIONS = "/api/v1/automations/"


def _post_rule(client, user, **body):
    return client.post(AUTOMATIONS, json={"name": "r", "event_types": ["issue.created"], **body}, headers=user.headers)


def _rule(client, user, **body):
    response = _post_rule(client, user, **body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _template(client, user, **body):
    response = client.post(
        "/api/v1/templates/", json={"name": "Mirror", "title": "[Mirror] {{ summary }}", **body}, headers=user.headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _runs(db, rule):
    db.session.expire_all()
    return db.session.scalars(
        select(AutomationRun).where(AutomationRun.automation_id == rule["id"]).order_by(AutomationRun.id)
    ).all()


# ---- validated at save ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "field", "fragment"),
    [
        ({"type": "add_comment", "body": "{{ title }} and {{ labels }}"}, "body", "undefined variables: labels, title"),
        ({"type": "notify", "message": "{{ issue.titel }}"}, "message", "has no attribute 'titel'"),
        ({"type": "add_comment", "body": "{{ issue.__class__ }}"}, "body", "Refused by the template sandbox"),
        ({"type": "add_comment", "body": "{{ 'x' * 100000000 }}"}, "body", "would build a value larger than"),
        ({"type": "add_comment", "body": "{{ issue.title|attr('x') }}"}, "body", "the filter 'attr' is not allowed"),
        ({"type": "add_comment", "body": "{{ comment.body }}"}, "body", "on issue events"),
        ({"type": "add_comment", "body": "{% for %}"}, "body", "line 1"),
    ],
)
def test_an_action_text_that_would_fail_every_run_is_422_naming_the_problem(client, auth, action, field, fragment):
    user = auth.register()
    response = _post_rule(client, user, actions=[{"type": "notify"}, action])
    assert response.status_code == 422, response.get_json()
    assert fragment in " ".join(response.get_json()["errors"]["actions"]["1"][field])


def test_comment_fields_are_fine_on_comment_events(client, auth):
    user = auth.register()
    _rule(
        client,
        user,
        event_types=["comment.created"],
        actions=[{"type": "add_comment", "body": "Thanks {{ comment.author.username }}: {{ comment.body }}"}],
    )


def test_template_variables_are_checked_against_the_template_naming_each(client, auth):
    user = auth.register()
    tracker = make_tracker(client, user)
    template = _template(
        client,
        user,
        tracker_id=tracker["id"],
        body="{{ details }}",
        variables=[{"name": "summary", "required": True}, {"name": "details", "default": ""}],
    )
    response = _post_rule(
        client,
        user,
        actions=[
            {
                "type": "create_issue_from_template",
                "template_id": template["id"],
                "variables": {"summry": "{{ issue.title }}", "details": "{{ issue.body }}"},
            }
        ],
    )
    assert response.status_code == 422, response.get_json()
    variables = response.get_json()["errors"]["actions"]["0"]["variables"]
    assert "Not declared by template" in variables["summry"][0] and "summary" in variables["summry"][0]
    assert "Required by template" in variables["summary"][0]
    assert "has no attribute 'body'" in variables["details"][0]


def test_the_readme_style_rule_with_valid_texts_is_saved(client, auth):
    user = auth.register()
    tracker = make_tracker(client, user)
    template = _template(
        client,
        user,
        tracker_id=tracker["id"],
        body="From {{ url }}",
        variables=[{"name": "summary", "required": True}, {"name": "url", "default": ""}],
    )
    _rule(
        client,
        user,
        conditions={"labels_include": ["bug"]},
        actions=[
            {
                "type": "create_issue_from_template",
                "template_id": template["id"],
                "variables": {"summary": "{{ issue.title }}", "url": "{{ issue.url }}"},
            }
        ],
    )


# ---- caps -------------------------------------------------------------------------------------------------------


def test_rules_per_user_are_capped(make_app):
    from test.conftest import AuthHelper

    client = make_app(AUTOMATION_MAX_RULES=2).test_client()
    auth = AuthHelper(client)
    user, other = auth.register(), auth.register()
    for _ in range(2):
        _rule(client, user, actions=[{"type": "notify"}])
    response = _post_rule(client, user, actions=[{"type": "notify"}])
    assert response.status_code == 422 and response.get_json()["error"] == "too_many_automations"
    _rule(client, other, actions=[{"type": "notify"}])  # the cap is per user


def test_conditions_per_rule_are_capped(client, auth, app):
    user = auth.register()
    limit = app.config["AUTOMATION_MAX_CONDITIONS"]
    labels = [f"l{index}" for index in range(limit)]
    _rule(client, user, conditions={"labels_include": labels}, actions=[{"type": "notify"}])
    response = _post_rule(client, user, conditions={"labels_include": labels, "author": "someone"}, actions=[{"type": "notify"}])
    assert response.status_code == 422
    assert f"At most {limit} conditions" in response.get_json()["errors"]["conditions"]["_schema"][0]


# ---- matching ---------------------------------------------------------------------------------------------------


def test_labels_exclude_keeps_a_rule_from_matching(client, auth, db):
    user = auth.register()
    tracker = make_tracker(client, user)
    rule = _rule(
        client,
        user,
        tracker_id=tracker["id"],
        conditions={"labels_include": ["bug"], "labels_exclude": ["wontfix"]},
        actions=[{"type": "notify"}],
    )
    for title, labels in (("excluded", ["bug", "wontfix"]), ("matched", ["bug"]), ("not included", ["docs"])):
        response = client.post(f"{TRACKERS}{tracker['id']}/issues", json={"title": title, "labels": labels}, headers=user.headers)
        assert response.status_code == 201
    issues = [db.session.get(Event, run.event_id).issue["title"] for run in _runs(db, rule)]
    assert issues == ["matched"]


@pytest.mark.timeout(60)
def test_a_condition_too_slow_to_decide_is_a_skipped_run_saying_why(client, auth, db):
    # SLOW_PATTERN matches SLOW_VALUE after about 3 s; under the match timeout it is undecided and the run says so.
    user = auth.register()
    tracker = make_tracker(client, user)
    rule = _rule(client, user, tracker_id=tracker["id"], conditions={"title_regex": SLOW_PATTERN}, actions=[{"type": "notify"}])
    assert client.post(f"{TRACKERS}{tracker['id']}/issues", json={"title": SLOW_VALUE}, headers=user.headers).status_code == 201
    [run] = _runs(db, rule)
    assert run.status == "skipped" and "took longer than" in run.error


@pytest.mark.timeout(60)
def test_an_owners_slow_rules_share_one_matching_allowance_per_event(client, auth, db):
    user = auth.register()
    tracker = make_tracker(client, user)
    rules = [
        _rule(client, user, tracker_id=tracker["id"], conditions={"title_regex": SLOW_PATTERN}, actions=[{"type": "notify"}])
        for _ in range(12)
    ]
    assert client.post(f"{TRACKERS}{tracker['id']}/issues", json={"title": SLOW_VALUE}, headers=user.headers).status_code == 201
    errors = [run.error for rule in rules for run in _runs(db, rule)]
    assert len(errors) == 12
    # 0.25 s for all of them: after a handful of 0.05 s timeouts the rest are not even tried.
    assert "ran out" in errors[-1], errors


# ---- running ----------------------------------------------------------------------------------------------------


def test_a_run_error_names_the_variables_the_template_refused(app, client, auth, db):
    user = auth.register()
    source, target = make_tracker(client, user, name="a"), make_tracker(client, user, name="b", target="other")
    template = _template(client, user, tracker_id=target["id"], variables=[{"name": "summary", "required": True}])
    rule = _rule(
        client,
        user,
        tracker_id=source["id"],
        actions=[
            {"type": "create_issue_from_template", "template_id": template["id"], "variables": {"summary": "{{ issue.title }}"}}
        ],
    )
    # The template changes after the rule was saved: it now requires a variable the rule does not give.
    changed = client.patch(
        f"/api/v1/templates/{template['id']}",
        json={
            "body": "{{ severity }}",
            "variables": [{"name": "summary", "required": True}, {"name": "severity", "required": True, "pattern": "low|high"}],
        },
        headers=user.headers,
    )
    assert changed.status_code == 200, changed.get_json()
    client.post(f"{TRACKERS}{source['id']}/issues", json={"title": "Crash"}, headers=user.headers)
    run_worker(app, concurrency=1, wait=False)
    [run] = _runs(db, rule)
    assert run.status == "failed" and run.attempts == 1
    assert "variables.severity: Required." in run.error, run.error


def test_the_texts_of_one_run_share_one_render_allowance(app, client, auth, db):
    # Sized by the issue: light on the sample event at save (12-character title), twenty times 250 K characters on a
    # 100-character title. Each text alone stays within the limit; one run shares one allowance, so together they do not.
    user = auth.register()
    source, target = make_tracker(client, user, name="a"), make_tracker(client, user, name="b", target="other")
    names = [f"v{index}" for index in range(20)]
    template = _template(
        client, user, tracker_id=target["id"], title="{{ v0 }}", variables=[{"name": name, "default": ""} for name in names]
    )
    rule = _rule(
        client,
        user,
        tracker_id=source["id"],
        actions=[
            {
                "type": "create_issue_from_template",
                "template_id": template["id"],
                "variables": dict.fromkeys(names, "{{ (issue.title * 2500)|length }}"),
            }
        ],
    )
    client.post(f"{TRACKERS}{source['id']}/issues", json={"title": "T" * 100}, headers=user.headers)
    run_worker(app, concurrency=1, wait=False)
    [run] = _runs(db, rule)
    assert run.status == "failed" and "characters in all" in run.error, run.error


def test_an_action_the_tracker_refuses_with_a_4xx_is_tried_once(app, client, auth, db, github_fake):
    from api.services.automations import MAX_ATTEMPTS, match_and_enqueue, run_automation

    user = auth.register()
    github_fake.add_token("gh-token", login="octocat")
    github_fake.add_repo("o/r")
    github_fake.add_issue("o/r", "Broken")
    tracker = make_tracker(
        client, user, name="gh", provider="github", target="o/r", base_url=github_fake.base_url, credentials={"token": "gh-token"}
    )
    rule = _rule(client, user, tracker_id=tracker["id"], actions=[{"type": "add_comment", "body": "Triaging"}])
    event = Event(
        tracker_id=tracker["id"],
        owner_id=user.id,
        type="issue.created",
        issue_id="1",
        issue={"title": "Broken", "labels": []},
        chain_depth=0,
    )
    db.session.add(event)
    db.session.flush()
    match_and_enqueue(session=db.session, event=event)
    db.session.commit()
    github_fake.fail_next(
        422,
        count=MAX_ATTEMPTS + 1,
        match=r"^POST .*/comments$",
        body={"message": "Validation Failed", "errors": [{"message": "locked"}]},
    )
    run_worker(app, concurrency=1, wait=False)
    [run] = _runs(db, rule)
    for _ in range(MAX_ATTEMPTS):  # what the worker would do if the run were left retrying
        with app.app_context():
            run_automation(run.id)
    [run] = _runs(db, rule)
    posts = [r for r in github_fake.requests if r.method == "POST" and r.path.endswith("/issues/1/comments")]
    assert len(posts) == 1 and run.attempts == 1 and run.status == "failed", (len(posts), run.attempts, run.status)
    assert "action 1 (add_comment) failed" in run.error


def test_the_texts_of_one_rule_share_one_render_allowance_at_save_as_in_runs(client, auth):
    # Each body alone builds 2 M characters, within the limit; the run would share one allowance, and so does the save.
    user = auth.register()
    heavy = {"type": "add_comment", "body": "{{ ('x' * 250000)|length }}" * 8}
    _rule(client, user, actions=[heavy])
    response = _post_rule(client, user, actions=[heavy, heavy, heavy])
    assert response.status_code == 422, response.get_json()
    assert "characters in all" in response.get_json()["errors"]["actions"]["2"]["body"][0]

"""What saving an automation refuses, word for word: references that are not the owner's, template variables, action
texts that would fail on the rule's events, patterns, the per-user cap, and an update checked as a whole."""

import pytest

from test.conftest import EMPTY_UPDATE_REFUSED
from test.test_trackers import make_tracker

AUTOMATIONS = "/api/v1/automations/"


def _post(client, user, **body):
    return client.post(
        AUTOMATIONS,
        json={"name": "r", "event_types": ["issue.created"], "actions": [{"type": "notify"}], **body},
        headers=user.headers,
    )


def _refused(response):
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["error"] == "invalid_automation" and body["message"] == "The automation is not valid."
    return body["errors"]


def _template(client, user, **body):
    response = client.post("/api/v1/templates/", json={"name": "T", "title": "{{ summary }}", **body}, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_tracker_or_template_of_another_user_is_refused_by_name(client, auth):
    user, other = auth.register(), auth.register()
    theirs = make_tracker(client, other)
    their_template = _template(client, other, tracker_id=theirs["id"], variables=[{"name": "summary", "default": "x"}])
    errors = _refused(
        _post(
            client,
            user,
            tracker_id=theirs["id"],
            actions=[{"type": "create_issue_from_template", "template_id": their_template["id"], "tracker_id": theirs["id"]}],
        )
    )
    assert errors == {
        "tracker_id": ["Not one of your trackers."],
        "actions": {"0": {"template_id": ["Not one of your templates."], "tracker_id": ["Not one of your trackers."]}},
    }


def test_a_template_without_a_default_tracker_needs_one_in_the_action(client, auth):
    user = auth.register()
    template = _template(client, user, variables=[{"name": "summary", "default": "x"}])
    errors = _refused(_post(client, user, actions=[{"type": "create_issue_from_template", "template_id": template["id"]}]))
    assert errors == {"actions": {"0": {"tracker_id": ["Required: the template has no default tracker."]}}}
    tracker = make_tracker(client, user)
    response = _post(
        client, user, actions=[{"type": "create_issue_from_template", "template_id": template["id"], "tracker_id": tracker["id"]}]
    )
    assert response.status_code == 201, response.get_json()


def test_template_variables_are_refused_word_for_word(client, auth):
    user = auth.register()
    tracker = make_tracker(client, user)
    template = _template(
        client,
        user,
        tracker_id=tracker["id"],
        variables=[{"name": "summary", "required": True}, {"name": "details", "default": ""}],
    )
    bare = _template(client, user, name="Bare", tracker_id=tracker["id"], title="Fixed")
    errors = _refused(
        _post(
            client,
            user,
            actions=[
                {"type": "create_issue_from_template", "template_id": template["id"], "variables": {"extra": "x"}},
                {"type": "create_issue_from_template", "template_id": bare["id"], "variables": {"extra": "x"}},
            ],
        )
    )
    assert errors["actions"]["0"]["variables"] == {
        "extra": [f"Not declared by template {template['id']}; it declares: details, summary."],
        "summary": [f'Required by template {template["id"]}: give it a value, e.g. "{{{{ issue.title }}}}".'],
    }
    assert errors["actions"]["1"]["variables"] == {"extra": [f"Not declared by template {bare['id']}; it declares: none."]}


def test_a_required_variable_with_a_default_may_be_left_out(client, auth):
    user = auth.register()
    tracker = make_tracker(client, user)
    template = _template(
        client, user, tracker_id=tracker["id"], variables=[{"name": "summary", "required": True, "default": "Untitled"}]
    )
    response = _post(client, user, actions=[{"type": "create_issue_from_template", "template_id": template["id"]}])
    assert response.status_code == 201, response.get_json()


def test_an_action_text_with_unknown_names_lists_them_and_the_names_allowed(client, auth):
    errors = _refused(_post(client, auth.register(), actions=[{"type": "add_comment", "body": "{{ title }} {{ labels }}"}]))
    assert errors == {
        "actions": {"0": {"body": ["Uses undefined variables: labels, title (action texts may use comment, event, issue)"]}}
    }


def test_a_text_failing_only_on_comment_events_says_so(client, auth):
    user = auth.register()
    body = "{{ comment.body.nope.deeper }}"
    errors = _refused(_post(client, user, event_types=["comment.created"], actions=[{"type": "add_comment", "body": body}]))
    [message] = errors["actions"]["0"]["body"]
    assert message.startswith("Fails on comment events: ")
    errors = _refused(_post(client, user, actions=[{"type": "notify", "message": "{{ comment.body.upper() }}"}]))
    [message] = errors["actions"]["0"]["message"]
    assert message.startswith("Fails on issue events (where `comment` is empty): ")


def test_a_variable_text_that_would_fail_is_refused_under_its_name(client, auth):
    user = auth.register()
    tracker = make_tracker(client, user)
    template = _template(client, user, tracker_id=tracker["id"], variables=[{"name": "summary", "required": True}])
    errors = _refused(
        _post(
            client,
            user,
            actions=[
                {"type": "create_issue_from_template", "template_id": template["id"], "variables": {"summary": "{{ nope }}"}}
            ],
        )
    )
    assert errors == {
        "actions": {
            "0": {"variables": {"summary": ["Uses undefined variables: nope (action texts may use comment, event, issue)"]}}
        }
    }


@pytest.mark.parametrize("field", ["title_regex", "body_regex"])
def test_a_refused_pattern_is_named_under_its_condition(client, auth, field):
    errors = _refused(_post(client, auth.register(), conditions={field: "(unclosed"}))
    assert list(errors) == ["conditions"] and list(errors["conditions"]) == [field]
    assert errors["conditions"][field][0]


def test_the_rule_cap_says_how_many_and_what_to_do(make_app):
    from test.conftest import AuthHelper

    client = make_app(AUTOMATION_MAX_RULES=1).test_client()
    user = AuthHelper(client).register()
    assert _post(client, user).status_code == 201
    response = _post(client, user)
    assert response.status_code == 422
    assert response.get_json() == {
        "code": 422,
        "error": "too_many_automations",
        "message": "You already have 1 automation rules, the most allowed; delete one first.",
        "errors": {"_schema": ["At most 1 rules per user."]},
    }


def test_an_update_is_checked_as_a_whole_and_an_empty_one_is_refused(client, auth):
    user = auth.register()
    rule = _post(
        client, user, event_types=["comment.created"], actions=[{"type": "add_comment", "body": "{{ comment.body }}"}]
    ).get_json()
    response = client.patch(f"{AUTOMATIONS}{rule['id']}", json={"event_types": ["issue.created"]}, headers=user.headers)
    assert "on issue events" in _refused(response)["actions"]["0"]["body"][0]
    assert client.get(f"{AUTOMATIONS}{rule['id']}", headers=user.headers).get_json()["event_types"] == ["comment.created"]
    empty = client.patch(f"{AUTOMATIONS}{rule['id']}", json={}, headers=user.headers)
    assert empty.status_code == 400
    assert empty.get_json() == EMPTY_UPDATE_REFUSED
    renamed = client.patch(f"{AUTOMATIONS}{rule['id']}", json={"name": "renamed"}, headers=user.headers)
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "renamed"


def test_another_users_rule_is_not_found_by_its_id(client, auth):
    rule = _post(client, auth.register()).get_json()
    response = client.get(f"{AUTOMATIONS}{rule['id']}", headers=auth.register().headers)
    assert response.status_code == 404 and response.get_json()["message"] == f"Automation {rule['id']} not found."


def test_texts_are_checked_at_save_on_an_event_shaped_like_a_stored_one(client, auth):
    # A stored event's issue carries its tracker id, a unified status, the provider's own word for it (the sample's is
    # GitHub's) and no remote_data, and the event its own type: the sample must too.
    user = auth.register()
    on_issues = (
        "{{ issue.tracker_id }} {{ event.id }} {{ event.tracker_id }} {{ {'issue.created': 'x'}[event.type] }}"
        " {{ {'open': 'o', 'closed': 'c'}[issue.status] }} {{ {'open': 'o'}[issue.remote_status] }}"
    )
    on_comments = "{{ comment.author.username }} {{ issue.author.name }} {{ {'comment.created': 'x'}[event.type] }}"
    assert _post(client, user, actions=[{"type": "notify", "message": on_issues}]).status_code == 201
    response = _post(client, user, event_types=["comment.created"], actions=[{"type": "add_comment", "body": on_comments}])
    assert response.status_code == 201, response.get_json()
    errors = _refused(_post(client, user, actions=[{"type": "notify", "message": "{{ issue.remote_data }}"}]))
    assert errors == {
        "actions": {
            "0": {
                "message": [
                    "Fails on issue events (where `comment` is empty): "
                    "Undefined value: 'dict object' has no attribute 'remote_data'"
                ]
            }
        }
    }
    errors = _refused(
        _post(
            client,
            user,
            event_types=["comment.created"],
            actions=[{"type": "notify", "message": "{{ {'issue.created': 'x'}[event.type] }}"}],
        )
    )
    assert errors == {
        "actions": {
            "0": {"message": ["Fails on comment events: Undefined value: 'dict object' has no attribute 'comment.created'"]}
        }
    }


def test_an_update_rechecks_the_stored_conditions_against_todays_limit(client, auth, app, monkeypatch):
    user = auth.register()
    rule = _post(client, user, conditions={"labels_include": ["a", "b"]}).get_json()
    monkeypatch.setitem(app.config, "AUTOMATION_MAX_CONDITIONS", 1)  # lowered since the rule was saved
    errors = _refused(client.patch(f"{AUTOMATIONS}{rule['id']}", json={"name": "renamed"}, headers=user.headers))
    assert errors == {"conditions": {"_schema": ["At most 1 conditions (labels, patterns, author) per rule."]}}

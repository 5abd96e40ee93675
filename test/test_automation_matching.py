"""Automation rules decided one condition at a time (trigger, tracker, labels, author, patterns), a failed run's
error text and whether it is retried, and what a run records action by action."""

import pytest

from api.errors import Unprocessable
from api.models.automations import Automation
from api.models.events import Event
from api.services.automations import _conditions_count, _describe, _retryable, matches
from api.trackers.base import TrackerError, TrackerNotFound, TrackerRateLimited, TrackerUnavailable, TrackerValidationError


# `is False` below: matches answers a bool, as annotated, not merely something falsy.
def _rule(**fields):
    return Automation(
        **{"enabled": True, "event_types": ["issue.created", "comment.created"], "tracker_id": None, "conditions": {}, **fields}
    )


def _event(event_type="issue.created", tracker_id=1, **issue):
    issue = {
        "title": "Login fails",
        "description": "Stack trace inside",
        "labels": ["bug", "ui"],
        "author": {"username": "Alice"},
        **issue,
    }
    return Event(type=event_type, tracker_id=tracker_id, issue=issue, comment=None)


# ---- the trigger --------------------------------------------------------------------------------------------------


def test_a_rule_matches_its_event_types_on_any_tracker_when_none_is_named():
    assert matches(_rule(), _event())
    assert matches(_rule(), _event(tracker_id=99))
    assert matches(_rule(), _event("issue.closed")) is False


def test_a_disabled_rule_matches_nothing():
    assert matches(_rule(enabled=False), _event()) is False


def test_a_rule_naming_a_tracker_matches_only_that_trackers_events():
    assert matches(_rule(tracker_id=1), _event(tracker_id=1))
    assert matches(_rule(tracker_id=1), _event(tracker_id=2)) is False


def test_an_event_without_an_issue_matches_a_rule_without_conditions_only():
    event = Event(type="issue.created", tracker_id=1, issue=None, comment=None)
    assert matches(_rule(), event)
    assert matches(_rule(conditions={"labels_include": ["bug"]}), event) is False
    assert matches(_rule(conditions={"author": "alice"}), event) is False


# ---- conditions ---------------------------------------------------------------------------------------------------


def test_labels_include_needs_every_listed_label():
    assert matches(_rule(conditions={"labels_include": ["bug"]}), _event())
    assert matches(_rule(conditions={"labels_include": ["bug", "ui"]}), _event())
    assert matches(_rule(conditions={"labels_include": ["bug", "backend"]}), _event()) is False


def test_labels_exclude_refuses_an_issue_with_any_listed_label():
    assert matches(_rule(conditions={"labels_exclude": ["wontfix", "ui"]}), _event()) is False
    assert matches(_rule(conditions={"labels_exclude": ["wontfix"]}), _event())


def test_the_author_condition_compares_usernames_ignoring_case():
    assert matches(_rule(conditions={"author": "ALICE"}), _event())
    assert matches(_rule(conditions={"author": "bob"}), _event()) is False
    assert matches(_rule(conditions={"author": "alice"}), _event(author=None)) is False
    for name in ("alice", "xxxx", "none"):  # an author without a username is nobody, whatever the name asked for
        assert matches(_rule(conditions={"author": name}), _event(author={"username": None})) is False


def test_on_comment_events_the_author_is_the_comments_not_the_issues():
    comment_by_bob = Event(
        type="comment.created",
        tracker_id=1,
        issue={"author": {"username": "alice"}, "labels": []},
        comment={"author": {"username": "Bob"}},
    )
    assert matches(_rule(conditions={"author": "bob"}), comment_by_bob)
    assert matches(_rule(conditions={"author": "alice"}), comment_by_bob) is False
    no_comment = Event(type="comment.created", tracker_id=1, issue={"author": {"username": "alice"}}, comment=None)
    assert matches(_rule(conditions={"author": "alice"}), no_comment) is False


def test_the_title_and_body_patterns_search_their_own_field():
    assert matches(_rule(conditions={"title_regex": "^Login"}), _event())
    assert matches(_rule(conditions={"title_regex": "Stack"}), _event()) is False
    assert matches(_rule(conditions={"body_regex": "trace"}), _event())
    assert matches(_rule(conditions={"body_regex": "Login"}), _event()) is False


def test_every_condition_must_hold():
    conditions = {"labels_include": ["bug"], "author": "alice", "title_regex": "Login", "body_regex": "trace"}
    assert matches(_rule(conditions=conditions), _event())
    for name, failing in (("labels_include", ["nope"]), ("author", "zed"), ("title_regex", "nope"), ("body_regex", "nope")):
        assert matches(_rule(conditions={**conditions, name: failing}), _event()) is False, name


def test_conditions_count_every_label_and_each_pattern_or_author():
    assert _conditions_count({}) == 0
    assert _conditions_count({"labels_include": ["a", "b"], "labels_exclude": ["c"]}) == 3
    assert _conditions_count({"title_regex": "x", "body_regex": "y", "author": "z"}) == 3
    assert _conditions_count({"title_regex": "", "body_regex": None, "labels_include": None}) == 0


# ---- failures -----------------------------------------------------------------------------------------------------


def test_a_failure_is_described_by_its_message_and_each_field_named():
    assert _describe(ValueError("secret detail")) == "ValueError"
    assert _describe(Unprocessable("Rendering body failed.")) == "Rendering body failed."
    nested = Unprocessable("Invalid.", errors={"variables": {"summary": ["Required.", "Too long."]}, "title": "Bad."})
    assert _describe(nested) == "Invalid. (variables.summary: Required. Too long.; title: Bad.)"


class _TrackerServerError(TrackerError):
    code = 500  # no provider maps to it today; the rule is "any 5xx"


@pytest.mark.parametrize(
    ("exc", "retried"),
    [
        (RuntimeError("bug"), True),
        (_TrackerServerError(), True),
        (TrackerUnavailable(), True),
        (TrackerRateLimited(), True),
        (TrackerNotFound(), False),
        (TrackerValidationError(), False),
        (Unprocessable("no"), False),
    ],
)
def test_only_upstream_trouble_is_retried(exc, retried):
    assert _retryable(exc) is retried

"""Automation rules: match normalized events, run actions in order, never loop forever."""

import json
import logging
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from api import jobs, patterns, template_engine
from api.errors import ApiError, NotFound, Unprocessable, ValidationFailed
from api.models.automations import Automation, AutomationRun
from api.models.base import utcnow
from api.models.events import Event
from api.models.issue_templates import IssueTemplate
from api.models.trackers import Tracker
from api.models.users import User
from api.models.webhooks import GatewayChange
from api.services import events as events_service
from api.services import issue_templates, subscriptions
from api.services import trackers as trackers_service
from api.services.events import event_to_dict
from api.services.pagination import Page, keyset_page
from api.trackers.base import Comment, Issue, Person, TrackerError
from api.trackers.registry import provider_class

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
ECHO_RETENTION = timedelta(minutes=30)
# Matching time all of an owner's rules share for one event, and render/match time one run's actions share:
# a slow rule costs its owner's events, never another user's.
MATCH_SECONDS_PER_EVENT = 0.25
RUN_RENDER_SECONDS = 0.5
RUN_PATTERN_SECONDS = 0.25
TEXT_NAMES = {"issue", "comment", "event"}


# ---- rules -------------------------------------------------------------------------------------


def _owned(session: Session, model: type[Any], object_id: int | None, owner: User) -> Any:
    item = session.get(model, object_id) if object_id is not None else None
    return item if item is not None and item.owner_id == owner.id else None


def _sample_context(with_comment: bool) -> dict[str, Any]:
    """An event with every field set, the shape `events.record` stores: action texts are test-rendered on it."""
    now = datetime.now(UTC)
    person = Person(id="1", username="octocat", name="The Octocat")
    issue = Issue(
        id="1",
        title="Sample issue",
        description="Sample description",
        status="open",
        remote_status="open",
        labels=["bug"],
        assignees=[person],
        author=person,
        url="https://tracker.example/issues/1",
        created_at=now,
        updated_at=now,
        closed_at=now,
        due_date=now.date(),
        comments_count=1,
    )
    comment = Comment(id="1", body="Sample comment", author=person, created_at=now, updated_at=now)
    issue_data = {**json.loads(json.dumps(asdict(issue), default=str)), "tracker_id": 1}
    issue_data.pop("remote_data", None)
    return {
        "issue": issue_data,
        "comment": json.loads(json.dumps(asdict(comment), default=str)) if with_comment else {},
        "event": {"id": 1, "type": "comment.created" if with_comment else "issue.created", "tracker_id": 1},
    }


def _text_problems(source: str, event_types: list[str] | None) -> list[str]:
    """Why an action text would fail on the rule's events: syntax, unknown names, or what the sandbox refuses."""
    try:
        used = template_engine.parse(source, field="text")
    except template_engine.TemplateError as exc:
        return exc.errors.get("text") or [str(exc)]
    unknown = sorted(used - TEXT_NAMES)
    if unknown:
        return [f"Uses undefined variables: {', '.join(unknown)} (action texts may use {', '.join(sorted(TEXT_NAMES))})"]
    kinds = {event_type.startswith("comment.") for event_type in event_types or ["issue.created"]}
    for with_comment in sorted(kinds):
        try:
            template_engine.render(source, _sample_context(with_comment))
        except template_engine.TemplateError as exc:
            where = "on comment events" if with_comment else "on issue events (where `comment` is empty)"
            return [f"Fails {where}: {exc}"]
    return []


def _template_variable_problems(template: IssueTemplate, variables: dict[str, str]) -> dict[str, list[str]]:
    declared = {variable["name"]: variable for variable in template.variables or []}
    problems = {
        name: [f"Not declared by template {template.id}; it declares: {', '.join(sorted(declared)) or 'none'}."]
        for name in variables
        if name not in declared
    }
    for name, variable in declared.items():
        if variable.get("required") and variable.get("default") is None and name not in variables:
            problems[name] = [f'Required by template {template.id}: give it a value, e.g. "{{{{ issue.title }}}}".']
    return problems


def _conditions_count(conditions: dict[str, Any]) -> int:
    return (
        len(conditions.get("labels_include") or [])
        + len(conditions.get("labels_exclude") or [])
        + sum(1 for name in ("title_regex", "body_regex", "author") if conditions.get(name))
    )


def _condition_problems(conditions: dict[str, Any]) -> dict[str, list[str]]:
    problems = {}
    limit = current_app.config["AUTOMATION_MAX_CONDITIONS"]
    if _conditions_count(conditions) > limit:
        problems["_schema"] = [f"At most {limit} conditions (labels, patterns, author) per rule."]
    for field in ("title_regex", "body_regex"):
        pattern = conditions.get(field)
        problem = template_engine.check_pattern(pattern) if pattern else None
        if problem:
            problems[field] = [problem]
    return problems


def _template_action_problems(session: Session, owner: User, action: dict[str, Any]) -> dict[str, Any]:
    """A create_issue_from_template action: the caller's template and tracker, and variables the template takes."""
    problems: dict[str, Any] = {}
    template = _owned(session, IssueTemplate, action.get("template_id"), owner)
    if template is None:
        problems["template_id"] = ["Not one of your templates."]
    if action.get("tracker_id") is not None and not _owned(session, Tracker, action["tracker_id"], owner):
        problems["tracker_id"] = ["Not one of your trackers."]
    elif template is not None and action.get("tracker_id") is None and template.tracker_id is None:
        problems["tracker_id"] = ["Required: the template has no default tracker."]
    if template is not None:
        variable_problems = _template_variable_problems(template, action.get("variables") or {})
        if variable_problems:
            problems["variables"] = variable_problems
    return problems


def _action_problems(session: Session, owner: User, action: dict[str, Any], event_types: list[str] | None) -> dict[str, Any]:
    problems = _template_action_problems(session, owner, action) if action["type"] == "create_issue_from_template" else {}
    for field in ("body", "message"):
        if action.get(field):
            text_problems = _text_problems(action[field], event_types)
            if text_problems:
                problems[field] = text_problems
    for name, value in (action.get("variables") or {}).items():
        text_problems = _text_problems(value, event_types)
        if text_problems:
            problems.setdefault("variables", {}).setdefault(name, []).extend(text_problems)
    return problems


def _check(session: Session, owner: User, data: dict[str, Any]) -> None:
    """References must be the owner's, patterns and texts must work on the rule's events: 422 naming each field."""
    errors: dict[str, Any] = {}
    if data.get("tracker_id") is not None and not _owned(session, Tracker, data["tracker_id"], owner):
        errors["tracker_id"] = ["Not one of your trackers."]
    conditions = _condition_problems(data.get("conditions") or {})
    if conditions:
        errors["conditions"] = conditions
    actions = {
        str(index): problems
        for index, action in enumerate(data.get("actions") or [])
        if (problems := _action_problems(session, owner, action, data.get("event_types")))
    }
    if actions:
        errors["actions"] = actions
    if errors:
        raise Unprocessable("The automation is not valid.", errors=errors, error="invalid_automation")


def create_automation(*, session: Session, owner: User, data: dict[str, Any]) -> Automation:
    """Validate and store a rule (at most AUTOMATION_MAX_RULES per user)."""
    limit = current_app.config["AUTOMATION_MAX_RULES"]
    if session.scalar(select(func.count()).select_from(Automation).where(Automation.owner_id == owner.id)) >= limit:
        raise Unprocessable(
            f"You already have {limit} automation rules, the most allowed; delete one first.",
            errors={"_schema": [f"At most {limit} rules per user."]},
            error="too_many_automations",
        )
    with template_engine.shared_budget():  # one render allowance for all test renders of one save
        _check(session, owner, data)
    rule = Automation(owner_id=owner.id, **data)
    session.add(rule)
    session.commit()
    return rule


def list_automations(*, session: Session, owner: User, limit: int, cursor: str | None) -> Page:
    """The caller's rules, oldest first."""
    stmt = select(Automation).where(Automation.owner_id == owner.id)
    return keyset_page(session, stmt, key=Automation.id, limit=limit, cursor=cursor)


def get_automation(*, session: Session, owner: User, automation_id: int) -> Automation:
    """One of the caller's rules; another user's is not found."""
    rule = _owned(session, Automation, automation_id, owner)
    if rule is None:
        raise NotFound(f"Automation {automation_id} not found.")
    return rule


def update_automation(*, session: Session, owner: User, automation_id: int, data: dict[str, Any]) -> Automation:
    """Change a rule; the result is validated as a whole."""
    rule = get_automation(session=session, owner=owner, automation_id=automation_id)
    if not data:
        raise ValidationFailed("Send at least one field to change.", errors={"_schema": ["No fields to change."]})
    with template_engine.shared_budget():
        _check(
            session,
            owner,
            {
                "tracker_id": rule.tracker_id,
                "event_types": rule.event_types,
                "conditions": rule.conditions,
                "actions": rule.actions,
                **data,
            },
        )
    for name, value in data.items():
        setattr(rule, name, value)
    session.commit()
    return rule


def delete_automation(*, session: Session, owner: User, automation_id: int) -> None:
    """Delete a rule and its run history."""
    session.delete(get_automation(session=session, owner=owner, automation_id=automation_id))
    session.commit()


def list_runs(*, session: Session, owner: User, automation_id: int, limit: int, cursor: str | None) -> dict[str, Any]:
    """A rule's runs, newest first."""
    rule = get_automation(session=session, owner=owner, automation_id=automation_id)
    stmt = select(AutomationRun).where(AutomationRun.automation_id == rule.id)
    page = keyset_page(session, stmt, key=AutomationRun.id, limit=limit, cursor=cursor, descending=True)
    events = {event.id: event for event in session.scalars(select(Event).where(Event.id.in_([r.event_id for r in page.items])))}
    runs = []
    for run in page.items:
        event = events.get(run.event_id)
        runs.append(
            {
                "id": run.id,
                "event_id": run.event_id,
                "event_type": event.type if event else None,
                "issue_id": event.issue_id if event else None,
                "status": run.status,
                "attempts": run.attempts,
                "results": run.results,
                "error": run.error,
                "created_at": run.created_at,
                "finished_at": run.finished_at,
            }
        )
    return {"runs": runs, "next_cursor": page.next_cursor}


# ---- matching ----------------------------------------------------------------------------------


def matches(rule: Automation, event: Event) -> bool:
    """Whether an event satisfies a rule's trigger and conditions.

    Raises PatternTimeout or PatternError when a regular expression cannot decide (too slow, or refused).
    """
    if not rule.enabled or event.type not in rule.event_types:
        return False
    if rule.tracker_id is not None and rule.tracker_id != event.tracker_id:
        return False
    conditions = rule.conditions or {}
    issue = event.issue or {}
    labels = set(issue.get("labels") or [])
    if not set(conditions.get("labels_include") or []) <= labels:
        return False
    if labels & set(conditions.get("labels_exclude") or []):
        return False
    if conditions.get("author"):
        who = (event.comment or {}).get("author") if event.type.startswith("comment.") else issue.get("author")
        if not who or (who.get("username") or "").lower() != conditions["author"].lower():
            return False
    for field, text in (("title_regex", issue.get("title")), ("body_regex", issue.get("description"))):
        if conditions.get(field) and not patterns.search(conditions[field], text):
            return False
    return True


def match_and_enqueue(*, session: Session, event: Event) -> None:
    """Create a run per matching rule and enqueue it, in the caller's transaction (not committed here)."""
    max_depth = current_app.config.get("AUTOMATION_MAX_CHAIN_DEPTH", 3)
    rules = session.scalars(
        select(Automation).where(Automation.owner_id == event.owner_id, Automation.enabled.is_(True)).order_by(Automation.id)
    )
    with patterns.allowance(MATCH_SECONDS_PER_EVENT):
        for rule in rules:
            status, error = "pending", None
            try:
                if not matches(rule, event):
                    continue
            except (patterns.PatternTimeout, patterns.PatternError) as exc:
                # Recorded, not dropped: the owner sees which rule could not be decided and why.
                status, error = "skipped", f"Conditions not checked: {exc}"
            if status == "pending" and event.caused_by_rule_id == rule.id:
                status, error = "skipped", "The event is this rule's own change; it does not trigger the rule again."
            elif status == "pending" and event.chain_depth >= max_depth:
                status, error = "skipped", f"Chain depth limit ({max_depth}) reached: automations triggered each other."
            run_id = session.execute(
                insert(AutomationRun)
                .values(
                    automation_id=rule.id,
                    event_id=event.id,
                    status=status,
                    error=error,
                    attempts=0,
                    results=[],
                    created_at=utcnow(),
                    finished_at=utcnow() if status == "skipped" else None,
                )
                .on_conflict_do_nothing(constraint="uq_automation_runs_automation_id_event_id")
                .returning(AutomationRun.id)
            ).scalar_one_or_none()
            if run_id is not None and status == "pending":
                jobs.enqueue(session, "gateway:run_automation", queue=jobs.QUEUE_AUTOMATIONS, lock=f"run-{run_id}", run_id=run_id)


# ---- running -----------------------------------------------------------------------------------


def _mark(
    session: Session, tracker_id: int | None, issue_id: str | None, kinds: list[str], rule: Automation, event: Event
) -> GatewayChange | None:
    """Remember a change we are about to make so its webhook echo is recognised (committed first)."""
    tracker = session.get(Tracker, tracker_id)
    if tracker is None or provider_class(tracker.provider).stores_issues_locally:  # its events carry the chain already
        return None
    session.execute(
        delete(GatewayChange).where(GatewayChange.tracker_id == tracker_id, GatewayChange.created_at < utcnow() - ECHO_RETENTION)
    )
    change = GatewayChange(
        tracker_id=tracker_id, issue_id=issue_id, kinds=kinds, rule_id=rule.id, chain_depth=event.chain_depth, created_at=utcnow()
    )
    session.add(change)
    session.commit()
    return change


def _render(source: str, context: dict[str, Any], what: str) -> str:
    try:
        return template_engine.render(source, context)
    except template_engine.TemplateError as exc:
        raise Unprocessable(f"Rendering {what} failed: {exc}") from None


def _issue_of(event: Event) -> str:
    """The issue an issue action works on; an event naming none has nothing for it to act on."""
    if event.issue_id is None:
        raise NotFound("The event names no issue to act on.")
    return event.issue_id


def _act(session: Session, rule: Automation, event: Event, owner: User, action: dict[str, Any]) -> dict[str, Any]:
    context = {
        "issue": event.issue or {},
        "comment": event.comment or {},
        "event": {"id": event.id, "type": event.type, "tracker_id": event.tracker_id},
    }
    kind = action["type"]
    if kind == "create_issue_from_template":
        template = session.get(IssueTemplate, action["template_id"])
        if template is None:
            raise Unprocessable("The template no longer exists.")
        tracker_id = action.get("tracker_id") or template.tracker_id
        variables = {name: _render(value, context, f"variable {name}") for name, value in (action.get("variables") or {}).items()}
        change = _mark(session, tracker_id, "*", ["issue.created"], rule, event)
        issue = issue_templates.create_issue(
            session=session, owner=owner, template_id=template.id, tracker_id=tracker_id, variables=variables
        )
        if change is not None:
            change.issue_id = issue["id"]
            session.commit()
        return {"type": kind, "tracker_id": tracker_id, "issue_id": issue["id"], "url": issue.get("url")}
    if kind == "add_comment":
        body = _render(action["body"], context, "body")
        issue_id = _issue_of(event)
        _mark(session, event.tracker_id, issue_id, ["comment.created"], rule, event)
        comment = trackers_service.create_comment(
            session=session, owner=owner, tracker_id=event.tracker_id, issue_id=issue_id, body=body
        )
        return {"type": kind, "comment_id": comment["id"]}
    if kind == "add_labels":
        issue_id = _issue_of(event)
        current = trackers_service.get_issue(session=session, owner=owner, tracker_id=event.tracker_id, issue_id=issue_id)
        labels = list(dict.fromkeys([*current["labels"], *action["labels"]]))
        if labels == current["labels"]:
            return {"type": kind, "labels": labels, "changed": False}
        _mark(session, event.tracker_id, issue_id, ["issue.labeled", "issue.updated"], rule, event)
        trackers_service.update_issue(
            session=session, owner=owner, tracker_id=event.tracker_id, issue_id=issue_id, data={"labels": labels}
        )
        return {"type": kind, "labels": labels, "changed": True}
    if kind == "set_status":
        status = action["status"]
        issue_id = _issue_of(event)
        _mark(
            session,
            event.tracker_id,
            issue_id,
            ["issue.closed" if status == "closed" else "issue.reopened", "issue.updated"],
            rule,
            event,
        )
        issue = trackers_service.update_issue(
            session=session, owner=owner, tracker_id=event.tracker_id, issue_id=issue_id, data={"status": status}
        )
        return {"type": kind, "status": issue["status"]}
    if kind == "notify":
        message = _render(action.get("message") or "", context, "message")
        count = subscriptions.notify(
            session=session,
            owner_id=owner.id,
            event_type="automation.notify",
            payload={"automation_id": rule.id, "automation": rule.name, "message": message, "event": event_to_dict(event)},
            event_id=event.id,
        )
        session.commit()
        return {"type": kind, "deliveries": count}
    raise Unprocessable(f"Unknown action {kind}.")


def _describe(exc: Exception) -> str:
    """An error for the run record: the message and, for validation errors, each field named."""
    if not isinstance(exc, ApiError):
        return type(exc).__name__
    details = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            details.append(f"{prefix}: {' '.join(map(str, value)) if isinstance(value, list) else value}")

    walk("", exc.errors or {})
    return f"{exc.message} ({'; '.join(details)})" if details else exc.message


def _retryable(exc: Exception) -> bool:
    # Upstream trouble (timeouts, 5xx, rate limits) may pass; a 4xx answer will not change on retry.
    return not isinstance(exc, ApiError) or (isinstance(exc, TrackerError) and exc.code >= 500)


def run_automation(run_id: int) -> None:
    """Run a rule's remaining actions for one event; completed actions are never repeated."""
    from api.extensions import db

    session = db.session()
    run = session.get(AutomationRun, run_id)
    if run is None or run.status in ("succeeded", "skipped", "failed"):
        return
    # The run's foreign keys cascade: while it exists, so do its rule, event and owner.
    rule, event = session.get_one(Automation, run.automation_id), session.get_one(Event, run.event_id)
    owner = session.get_one(User, rule.owner_id)
    run.attempts += 1
    session.commit()
    results = list(run.results or [])
    # One render and pattern allowance for the whole run (all its actions), not one per text.
    with template_engine.shared_budget(RUN_RENDER_SECONDS), patterns.allowance(RUN_PATTERN_SECONDS):
        for index, action in enumerate(rule.actions):
            if index < len(results):
                continue  # done by an earlier attempt
            try:
                with events_service.acting_for(rule_id=rule.id, chain_depth=event.chain_depth):
                    result = _act(session, rule, event, owner, action)
            except Exception as exc:
                session.rollback()
                retry = _retryable(exc) and run.attempts < MAX_ATTEMPTS
                run.error = f"action {index + 1} ({action['type']}) failed: {_describe(exc)}"
                run.status = "retrying" if retry else "failed"
                run.finished_at = None if retry else utcnow()
                session.commit()
                if not isinstance(exc, ApiError):
                    log.exception("automation %s run %s failed", rule.id, run.id)
                if retry:
                    raise
                return
            results.append(result)
            run.results = results
            session.commit()
    run.status, run.error, run.finished_at = "succeeded", None, utcnow()
    session.commit()

"""Issue templates: validated on save, rendered in a sandbox, turned into issues on any tracker."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api import patterns, template_engine
from api.errors import NotFound, Unprocessable, ValidationFailed
from api.models.issue_templates import IssueTemplate, TemplateIssue
from api.models.trackers import Tracker
from api.models.users import User
from api.services import trackers as trackers_service
from api.services.pagination import Page, keyset_page

# All the pattern checks of one render share this time, so a template with many variables cannot add them up.
PATTERNS_SECONDS = 0.25
TITLE_VARIABLE = {"name": "title", "description": "Issue title", "required": True, "default": None, "pattern": None}

STARTER_TEMPLATES = [
    {
        "name": "Bug report",
        "description": "Something does not work as expected",
        "title": "[Bug] {{ summary }}",
        "body": "## What happened\n{{ actual }}\n\n## What was expected\n{{ expected }}\n\n"
        "## Steps to reproduce\n{{ steps }}\n\n## Environment\n{{ environment }}\n",
        "labels": ["bug"],
        "variables": [
            {"name": "summary", "description": "One line", "required": True, "default": None, "pattern": None},
            {"name": "actual", "description": "What happened", "required": True, "default": None, "pattern": None},
            {"name": "expected", "description": "What should have happened", "required": True, "default": None, "pattern": None},
            {"name": "steps", "description": "How to reproduce", "required": False, "default": "Not given", "pattern": None},
            {
                "name": "environment",
                "description": "Version, browser, OS",
                "required": False,
                "default": "Not given",
                "pattern": None,
            },
        ],
    },
    {
        "name": "Feature request",
        "description": "Suggest an idea",
        "title": "[Feature] {{ summary }}",
        "body": "## Problem\n{{ problem }}\n\n## Proposed solution\n{{ solution }}\n",
        "labels": ["enhancement"],
        "variables": [
            {"name": "summary", "description": "One line", "required": True, "default": None, "pattern": None},
            {"name": "problem", "description": "What is hard today", "required": True, "default": None, "pattern": None},
            {
                "name": "solution",
                "description": "What you would like",
                "required": False,
                "default": "Open for ideas",
                "pattern": None,
            },
        ],
    },
]


def pattern_problem(pattern: str, value: str) -> str | None:
    """Why `value` fails `pattern` (no match, pattern refused, too slow to decide), or None."""
    try:
        if patterns.fullmatch(pattern, value):
            return None
    except patterns.PatternError as exc:
        return f"The pattern is refused: {exc}"
    except patterns.PatternTimeout as exc:
        return f"{exc} Pattern: {pattern}"
    return f"Does not match the pattern {pattern}."


def check_template(data: dict[str, Any]) -> None:
    """Syntax, forbidden constructs, undeclared variables and patterns; 422 naming each problem."""
    errors: dict[str, Any] = {}
    declared = {variable["name"] for variable in data.get("variables") or []}
    for field in ("title", "body"):
        try:
            used = template_engine.parse(data.get(field) or "", field=field)
        except template_engine.TemplateError as exc:
            errors.update(exc.errors)
            continue
        undeclared = sorted(used - declared)
        if undeclared:
            errors[field] = [f"Uses undeclared variables: {', '.join(undeclared)}"]
    with patterns.allowance(PATTERNS_SECONDS):
        for index, variable in enumerate(data.get("variables") or []):
            if not variable.get("pattern"):
                continue
            problem = template_engine.check_pattern(variable["pattern"])
            if problem:
                errors.setdefault("variables", {})[str(index)] = {"pattern": [problem]}
            elif variable.get("default") is not None:
                problem = pattern_problem(variable["pattern"], variable["default"])
                if problem:
                    errors.setdefault("variables", {})[str(index)] = {"default": [problem]}
    if errors:
        raise Unprocessable("The template is not valid.", errors=errors, error="invalid_template")


def _check_tracker(session: Session, owner: User, tracker_id: int | None) -> None:
    if tracker_id is None:
        return
    tracker = session.get(Tracker, tracker_id)
    if tracker is None or tracker.owner_id != owner.id:
        raise Unprocessable("Unknown tracker.", errors={"tracker_id": ["Not one of your trackers."]})


def create_template(*, session: Session, owner: User, data: dict[str, Any]) -> IssueTemplate:
    """Validate and store a template."""
    check_template(data)
    _check_tracker(session, owner, data.get("tracker_id"))
    template = IssueTemplate(owner_id=owner.id, **data)
    session.add(template)
    trackers_service.commit_unique_name(session, "template")
    return template


def create_starter_templates(*, session: Session, owner: User) -> None:
    """Give a new user the bug report and feature request templates."""
    for data in STARTER_TEMPLATES:
        session.add(IssueTemplate(owner_id=owner.id, assignees=[], **data))


def list_templates(*, session: Session, owner: User, limit: int, cursor: str | None) -> Page:
    """The caller's templates, oldest first."""
    stmt = select(IssueTemplate).where(IssueTemplate.owner_id == owner.id)
    return keyset_page(session, stmt, key=IssueTemplate.id, limit=limit, cursor=cursor)


def get_template(*, session: Session, owner: User, template_id: int) -> IssueTemplate:
    """One of the caller's templates; another user's is not found."""
    template = session.get(IssueTemplate, template_id)
    if template is None or template.owner_id != owner.id:
        raise NotFound(f"Template {template_id} not found.")
    return template


def update_template(*, session: Session, owner: User, template_id: int, data: dict[str, Any]) -> IssueTemplate:
    """Change a template; the result is validated as a whole."""
    template = get_template(session=session, owner=owner, template_id=template_id)
    if not data:
        raise ValidationFailed("Send at least one field to change.", errors={"_schema": ["No fields to change."]})
    check_template({"title": template.title, "body": template.body, "variables": template.variables, **data})
    if "tracker_id" in data:
        _check_tracker(session, owner, data["tracker_id"])
    for name, value in data.items():
        setattr(template, name, value)
    trackers_service.commit_unique_name(session, "template")
    return template


def delete_template(*, session: Session, owner: User, template_id: int) -> None:
    """Delete a template (the issues it created stay on their trackers)."""
    session.delete(get_template(session=session, owner=owner, template_id=template_id))
    session.commit()


def render(*, template: IssueTemplate, variables: dict[str, Any]) -> dict[str, Any]:
    """Render title and body with the given variables; 422 naming any missing, undeclared or invalid one."""
    declared = {variable["name"]: variable for variable in template.variables or []}
    errors = {name: ["Not declared by this template."] for name in variables if name not in declared}
    values = {}
    with patterns.allowance(PATTERNS_SECONDS):
        for name, variable in declared.items():
            value = variables.get(name, variable.get("default"))
            if value is None:
                if variable.get("required"):
                    errors[name] = ["Required."]
                value = ""
            elif variable.get("pattern"):
                problem = pattern_problem(variable["pattern"], value)
                if problem:
                    errors[name] = [problem]
            values[name] = value
    if errors:
        raise Unprocessable(
            f"Some variables are missing or invalid: {', '.join(sorted(errors))}.",
            errors={"variables": errors},
            error="invalid_variables",
        )
    try:
        with template_engine.shared_budget():
            title = " ".join(template_engine.render(template.title, values).split())
            description = template_engine.render(template.body or "", values)
    except template_engine.TemplateError as exc:
        raise Unprocessable(str(exc), error="render_failed") from None
    if not title:
        raise Unprocessable(
            "The rendered title is empty.", errors={"title": ["Rendered to an empty string."]}, error="render_failed"
        )
    if len(title) > 255:
        raise Unprocessable("The rendered title is longer than 255 characters.", error="render_failed")
    return {"title": title, "description": description, "labels": list(template.labels), "assignees": list(template.assignees)}


def create_issue(
    *, session: Session, owner: User, template_id: int, tracker_id: int | None, variables: dict[str, Any]
) -> dict[str, Any]:
    """Render a template and create the issue on a tracker, remembering it."""
    template = get_template(session=session, owner=owner, template_id=template_id)
    tracker_id = tracker_id or template.tracker_id
    if tracker_id is None:
        raise Unprocessable("Say which tracker to use.", errors={"tracker_id": ["Required: the template has no default."]})
    rendered = render(template=template, variables=variables)
    issue = trackers_service.create_issue(
        session=session, owner=owner, tracker_id=tracker_id, data={**rendered, "due_date": None}
    )
    session.add(
        TemplateIssue(
            template_id=template.id, tracker_id=tracker_id, issue_id=issue["id"], url=issue.get("url"), title=issue["title"]
        )
    )
    session.commit()
    return issue


def list_created_issues(*, session: Session, owner: User, template_id: int, limit: int, cursor: str | None) -> Page:
    """Issues this template created, oldest first."""
    template = get_template(session=session, owner=owner, template_id=template_id)
    stmt = select(TemplateIssue).where(TemplateIssue.template_id == template.id)
    return keyset_page(session, stmt, key=TemplateIssue.id, limit=limit, cursor=cursor)


def import_templates(*, session: Session, owner: User, tracker_id: int) -> dict[str, Any]:
    """Create templates from the repository's own issue templates; report what was skipped and why."""
    tracker, provider = trackers_service.connect(session=session, owner=owner, tracker_id=tracker_id)
    files = trackers_service.call_provider(tracker, "list_issue_template_files", provider.list_issue_template_files)
    existing = set(session.scalars(select(IssueTemplate.name).where(IssueTemplate.owner_id == owner.id)))
    imported, skipped = [], []
    for filename, text in files:
        if not filename.lower().endswith(".md"):
            reason = (
                "issue forms and config files (.yml) are not imported"
                if filename.endswith((".yml", ".yaml"))
                else "not a Markdown template"
            )
            skipped.append({"file": filename, "reason": reason})
            continue
        try:
            data = provider.parse_issue_template_file(filename, text)
        except ValueError as exc:
            skipped.append({"file": filename, "reason": f"malformed: {exc}"})
            continue
        if data["name"] in existing:
            skipped.append({"file": filename, "reason": f"a template named {data['name']!r} already exists"})
            continue
        data["variables"] = []
        if not data["title"].strip():
            data["title"] = "{{ title }}"
            data["variables"] = [dict(TITLE_VARIABLE)]
        try:
            check_template(data)
        except Unprocessable as exc:
            problems = "; ".join(f"{field}: {', '.join(map(str, messages))}" for field, messages in exc.errors.items())
            skipped.append({"file": filename, "reason": f"not a valid template ({problems})"})
            continue
        template = IssueTemplate(owner_id=owner.id, tracker_id=tracker.id, **data)
        session.add(template)
        existing.add(data["name"])
        imported.append(template)
    session.commit()
    return {"imported": imported, "skipped": skipped}

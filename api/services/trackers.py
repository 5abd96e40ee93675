"""Tracker connections and the unified issue operations; the one place that calls providers."""

import functools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from flask import current_app
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import crypto
from api.errors import ApiError, Conflict, NotFound, ValidationFailed
from api.metrics import tracker_calls, tracker_duration
from api.models.trackers import Tracker
from api.models.users import User
from api.services import events as events_service
from api.services import index as index_service
from api.services.pagination import Page as KeysetPage
from api.services.pagination import keyset_page
from api.trackers.base import (
    Capability,
    Comment,
    Issue,
    IssueChanges,
    IssueQuery,
    NewIssue,
    Page,
    TrackerBusy,
    TrackerConfig,
    TrackerError,
    TrackerNotFound,
    TrackerProvider,
    TrackerUnavailable,
    WebhookEvent,
    permission_scoped,
)
from api.trackers.registry import all_providers, provider_class
from api.trackers.resilience import BREAKER_FAILURES, breaker, in_flight
from api.url_policy import UrlNotAllowed, check_url

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


# ---- connections -------------------------------------------------------------------------------


def _check_base_url(base_url: str | None) -> str | None:
    if base_url in (None, ""):
        return None
    try:
        return check_url(base_url)
    except UrlNotAllowed as exc:
        raise ValidationFailed(errors={"base_url": [str(exc)]}) from None


class TrackerView:
    """A tracker as the API shows it: its columns, and what its provider and the settings make of them."""

    def __init__(self, tracker: Tracker) -> None:
        self._tracker = tracker

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tracker, name)

    @property
    def capabilities(self) -> list[str]:
        provider = provider_class(self.provider)
        return sorted(capability.value for capability in provider.effective_capabilities(self.options or {}))

    @property
    def events_mode(self) -> str:
        return self._tracker.events_mode or "auto"

    @property
    def effective_events_mode(self) -> str:
        return effective_mode(self._tracker)

    @property
    def poll_interval_seconds(self) -> int:
        return self._tracker.poll_interval_seconds or current_app.config["POLL_INTERVAL_SECONDS"]


def effective_mode(tracker: Tracker) -> str:
    """Where a tracker's events come from: "webhook", "poll", or "gateway" (it stores its issues and records them itself)."""
    if not provider_class(tracker.provider).polling_applies():
        return "gateway"
    if tracker.events_mode in ("webhook", "poll"):
        return tracker.events_mode
    return "webhook" if tracker.webhook_secret_encrypted else "poll"


def commit_unique_name(session: Session, kind: str = "tracker") -> None:
    """Commit; the owner already having a `kind` of this name (the unique constraint) is a 409 on `name`."""
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"You already have a {kind} with this name.", errors={"name": ["Already used."]}) from None


def create_tracker(*, session: Session, owner: User, data: dict[str, Any]) -> Tracker:
    """Store a tracker connection with encrypted credentials."""
    tracker = Tracker(
        owner_id=owner.id,
        name=data["name"],
        provider=data["provider"],
        target=data["target"],
        base_url=_check_base_url(data.get("base_url")),
        options=data.get("options") or {},
        events_mode=data.get("events_mode") or "auto",
        poll_interval_seconds=data.get("poll_interval_seconds"),
    )
    credentials = data.get("credentials") or {}
    tracker.credentials_encrypted = crypto.encrypt_json(credentials) if credentials else None
    session.add(tracker)
    commit_unique_name(session)
    return tracker


def list_trackers(*, session: Session, owner: User, limit: int, cursor: str | None) -> KeysetPage:
    """The caller's trackers, oldest first."""
    stmt = select(Tracker).where(Tracker.owner_id == owner.id)
    return keyset_page(session, stmt, key=Tracker.id, limit=limit, cursor=cursor)


def get_tracker(*, session: Session, owner: User, tracker_id: int) -> Tracker:
    """One of the caller's trackers; another user's is reported as not found."""
    tracker = session.get(Tracker, tracker_id)
    if tracker is None or tracker.owner_id != owner.id:
        raise NotFound(f"Tracker {tracker_id} not found.")
    return tracker


def update_tracker(*, session: Session, owner: User, tracker_id: int, data: dict[str, Any]) -> Tracker:
    """Change a tracker's name, target, base URL, credentials or options."""
    tracker = get_tracker(session=session, owner=owner, tracker_id=tracker_id)
    if not data:
        raise ValidationFailed("Send at least one field to change.", errors={"_schema": ["No fields to change."]})
    if "base_url" in data:
        tracker.base_url = _check_base_url(data["base_url"])
    if "credentials" in data:
        tracker.credentials_encrypted = crypto.encrypt_json(data["credentials"]) if data["credentials"] else None
    for name in ("name", "target", "options", "events_mode", "poll_interval_seconds"):
        if name in data:
            setattr(tracker, name, data[name])
    if "poll_interval_seconds" in data:
        tracker.next_poll_at = None  # due at once on the new schedule
    commit_unique_name(session)
    breaker.record_success(tracker.id)  # new settings deserve a fresh start
    return tracker


def delete_tracker(*, session: Session, owner: User, tracker_id: int) -> None:
    """Delete a tracker connection (issues stored locally go with it)."""
    tracker = get_tracker(session=session, owner=owner, tracker_id=tracker_id)
    session.delete(tracker)
    session.commit()


# ---- calling providers -------------------------------------------------------------------------


def public_base_url() -> str:
    # From config only (never the request), so the API and the worker build the same absolute URLs.
    return (current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")


def build_provider(*, session: Session | None, tracker: Tracker, actor: str | None = None) -> TrackerProvider:
    """A provider instance for one tracker, from its decrypted configuration."""
    config = current_app.config
    cls = provider_class(tracker.provider)
    options = dict(tracker.options or {})
    if cls.stores_issues_locally:  # it builds its issues' URLs itself
        options["public_base_url"] = public_base_url()
    provider_config = TrackerConfig(
        tracker_id=tracker.id,
        target=tracker.target,
        base_url=tracker.base_url,
        credentials=crypto.decrypt_json(tracker.credentials_encrypted) if tracker.credentials_encrypted else {},
        options=options,
        timeout=config["TRACKER_TIMEOUT_SECONDS"],
        retries=config["TRACKER_RETRIES"],
    )
    return cls(provider_config, session=session, actor=actor)


def connect(*, session: Session, owner: User, tracker_id: int) -> tuple[Tracker, TrackerProvider]:
    """One of the caller's trackers and a provider built for it."""
    tracker = get_tracker(session=session, owner=owner, tracker_id=tracker_id)
    return tracker, build_provider(session=session, tracker=tracker, actor=owner.username)


def call_provider(tracker: Tracker, operation: str, func: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """Run one provider operation within the tracker's in-flight limit and circuit breaker, with metrics and a log line."""
    if provider_class(tracker.provider).stores_issues_locally:  # no remote to protect
        return _guarded_call(tracker, operation, func, *args, **kwargs)
    # The slot is taken before the breaker is consulted, so a refused call never leaves a half-open trial pending.
    try:
        with in_flight.slot(tracker.id, limit=current_app.config["TRACKER_MAX_IN_FLIGHT"]):
            return _guarded_call(tracker, operation, func, *args, **kwargs)
    except TrackerBusy:
        tracker_calls.labels(tracker.provider, TrackerBusy.error).inc()
        raise


def _refused(tracker: Tracker, exc: ApiError | ValidationError, remote: bool) -> str:
    """The outcome of a call that raised one of the gateway's errors, told to the circuit breaker."""
    if isinstance(exc, ValidationError):
        # The caller's input (a forged cursor) was refused before the tracker was asked: a 400, not a tracker failure.
        return "rejected"
    if remote and isinstance(exc, BREAKER_FAILURES):
        breaker.record_failure(tracker.id, threshold=current_app.config["TRACKER_BREAKER_THRESHOLD"])
    elif remote:
        # The tracker answered (rate limited, not found, rejected): it is up, so a half-open trial closes.
        breaker.record_success(tracker.id)
    return exc.error if isinstance(exc, TrackerError) else "rejected"


def _guarded_call(tracker: Tracker, operation: str, func: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    config = current_app.config
    remote = not provider_class(tracker.provider).stores_issues_locally
    if remote:
        breaker.before_call(
            tracker.id, threshold=config["TRACKER_BREAKER_THRESHOLD"], reset_seconds=config["TRACKER_BREAKER_RESET_SECONDS"]
        )
    started = time.perf_counter()
    outcome = "ok"
    try:
        return func(*args, **kwargs)
    except (ApiError, ValidationError) as exc:
        outcome = _refused(tracker, exc, remote)
        raise
    except Exception:
        outcome = "internal_error"
        log.exception(
            "provider %s failed in %s", tracker.provider, operation, extra={"tracker_id": tracker.id, "operation": operation}
        )
        if remote:
            breaker.record_failure(tracker.id, threshold=config["TRACKER_BREAKER_THRESHOLD"])
        raise TrackerUnavailable("The tracker answered in a way the gateway could not use.") from None
    finally:
        elapsed = time.perf_counter() - started
        tracker_calls.labels(tracker.provider, outcome).inc()
        tracker_duration.labels(tracker.provider).observe(elapsed)
        if outcome == "ok" and remote:
            breaker.record_success(tracker.id)
        log.info(
            "tracker call %s %s -> %s",
            tracker.provider,
            operation,
            outcome,
            extra={
                "tracker_id": tracker.id,
                "provider": tracker.provider,
                "operation": operation,
                "outcome": outcome,
                "duration_ms": round(elapsed * 1000, 2),
            },
        )


def _commit_local_change(
    session: Session, tracker: Tracker, provider: TrackerProvider, items: Callable[[], list[WebhookEvent]]
) -> None:
    """A locally stored change (flushed by the provider) commits in one transaction with the events it amounts to.

    A remote provider's change is already made on the tracker; its events arrive by webhook.
    """
    if provider.stores_issues_locally:
        events_service.emit(session=session, tracker=tracker, items=items())
        session.commit()


def _index_own_write(
    session: Session, tracker: Tracker, provider: TrackerProvider, issue: Issue, comment: Comment | None = None
) -> None:
    """The index follows the gateway's own write to a remote tracker at once; a polled tracker records its events too."""
    if provider.stores_issues_locally or not provider.polling_applies():
        return
    index_service.gateway_wrote(
        session=session, tracker=tracker, issue=issue, comment=comment, emit_events=effective_mode(tracker) == "poll"
    )
    session.commit()


def issue_dict(tracker: Tracker, issue: Issue, include_remote_data: bool = False) -> dict[str, Any]:
    data = vars(issue).copy()
    data["tracker_id"] = tracker.id
    if not include_remote_data:
        data.pop("remote_data", None)
    return data


def verify_tracker(*, session: Session, owner: User, tracker_id: int) -> dict[str, Any]:
    """Check credentials and target with the provider."""
    tracker, provider = connect(session=session, owner=owner, tracker_id=tracker_id)
    if tracker.base_url:
        _check_base_url(tracker.base_url)
    return {"ok": True, "target": call_provider(tracker, "verify", provider.verify)}


def issue_query(data: Mapping[str, Any]) -> IssueQuery:
    labels = [name.strip() for name in (data.get("labels") or "").split(",") if name.strip()]
    return IssueQuery(
        status=data.get("status"),
        labels=labels,
        assignee=data.get("assignee"),
        q=data.get("q"),
        updated_since=data.get("updated_since"),
        limit=data["limit"],
        cursor=data.get("cursor"),
        status_category=data.get("status_category"),
        priority=data.get("priority"),
        parent_id=data.get("parent_id"),
    )


def list_page(provider: TrackerProvider, query: IssueQuery) -> Page:
    """The provider's page for a unified query: filters it maps to labels asked, what it only approximates kept out."""
    prepared = provider.prepare_query(query)
    if prepared is None:  # contradictory filters
        return Page(items=[])
    page = provider.list_issues(prepared)
    return Page(
        items=[issue for issue in map(provider.enrich, page.items) if provider.keep(issue, query)], next_cursor=page.next_cursor
    )


def list_issues(*, session: Session, owner: User, tracker_id: int, query: dict[str, Any]) -> dict[str, Any]:
    """One page of a tracker's issues, most recently updated first."""
    tracker, provider = connect(session=session, owner=owner, tracker_id=tracker_id)
    if query.get("source") == "index" and provider.polling_applies():
        result = index_service.list_from_index(session=session, trackers=[tracker], query=query)
        for _tracker, refused in result.pop("unsupported"):
            raise refused
        return {**result, "index_age": index_service.index_age_seconds(session=session, trackers=[tracker])}
    page = call_provider(tracker, "list_issues", list_page, provider, issue_query(query))
    include = query.get("include_remote_data", False)
    return {"issues": [issue_dict(tracker, issue, include) for issue in page.items], "next_cursor": page.next_cursor}


def _issue_scoped(func: Callable[P, R]) -> Callable[P, R]:
    """An operation on one issue: the tracker's "not found" means the issue (slug `issue_not_found`), not the tracker."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except TrackerNotFound as exc:
            exc.error = "issue_not_found"
            raise

    return wrapper


@_issue_scoped
def get_issue(
    *, session: Session, owner: User, tracker_id: int, issue_id: str, include_remote_data: bool = False
) -> dict[str, Any]:
    """One issue of a tracker."""
    tracker, provider = connect(session=session, owner=owner, tracker_id=tracker_id)
    issue = call_provider(tracker, "get_issue", provider.get_issue, issue_id)
    return issue_dict(tracker, provider.enrich(issue), include_remote_data)


def create_issue(*, session: Session, owner: User, tracker_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Create an issue on a tracker."""
    tracker, provider = connect(session=session, owner=owner, tracker_id=tracker_id)
    issue = provider.enrich(
        call_provider(tracker, "create_issue", lambda new: provider.create_issue(provider.prepare_new(new)), NewIssue(**data))
    )
    _commit_local_change(session, tracker, provider, lambda: [WebhookEvent("issue.created", issue.id, issue)])
    _index_own_write(session, tracker, provider, issue)
    return issue_dict(tracker, issue)


@_issue_scoped
def update_issue(*, session: Session, owner: User, tracker_id: int, issue_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Change some fields of an issue, status included."""
    if not data:
        raise ValidationFailed("Send at least one field to change.", errors={"_schema": ["No fields to change."]})
    tracker, provider = connect(session=session, owner=owner, tracker_id=tracker_id)
    before = provider.get_issue(issue_id) if provider.stores_issues_locally else None
    issue = call_provider(
        tracker,
        "update_issue",
        lambda changes: provider.update_issue(issue_id, provider.prepare_changes(issue_id, changes)),
        IssueChanges(**data),
    )
    issue = provider.enrich(issue)
    _commit_local_change(session, tracker, provider, lambda: events_service.changes_between(before, issue) if before else [])
    _index_own_write(session, tracker, provider, issue)
    return issue_dict(tracker, issue)


def _gateway_records_delete(tracker: Tracker, provider: TrackerProvider) -> bool:
    """Whether the gateway records a remote delete itself: polled, or webhooks that never report deletes."""
    return effective_mode(tracker) == "poll" or not provider.webhook_reports_deletes


@_issue_scoped
def delete_issue(*, session: Session, owner: User, tracker_id: int, issue_id: str) -> None:
    """Delete an issue where the provider can; its `issue.deleted` is recorded here unless the provider's webhooks report it."""
    tracker, provider = connect(session=session, owner=owner, tracker_id=tracker_id)
    provider.require(Capability.ISSUE_DELETE, "Deleting issues")
    if provider.stores_issues_locally:
        before = provider.get_issue(issue_id)
    elif (
        _gateway_records_delete(tracker, provider)
        and index_service.get_entry(session=session, tracker_id=tracker.id, issue_id=str(issue_id)) is None
    ):
        before = call_provider(tracker, "get_issue", provider.get_issue, issue_id)  # the event carries its last state
    else:
        before = None
    with permission_scoped():
        call_provider(tracker, "delete_issue", provider.delete_issue, issue_id)
    _commit_local_change(session, tracker, provider, lambda: [WebhookEvent("issue.deleted", before.id, before)] if before else [])
    if not provider.stores_issues_locally and provider.polling_applies():
        index_service.gateway_deleted(
            session=session,
            tracker=tracker,
            issue_id=before.id if before else str(issue_id),
            emit_events=_gateway_records_delete(tracker, provider),
            issue=before,
        )
        session.commit()


@_issue_scoped
def list_children(
    *, session: Session, owner: User, tracker_id: int, issue_id: str, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Issues whose parent is this issue."""
    tracker, provider = connect(session=session, owner=owner, tracker_id=tracker_id)
    provider.require(Capability.PARENT, "Parent and child issues")
    page = call_provider(tracker, "list_children", provider.list_children, issue_id, limit=limit, cursor=cursor)
    return {"issues": [issue_dict(tracker, provider.enrich(issue)) for issue in page.items], "next_cursor": page.next_cursor}


@_issue_scoped
def list_comments(
    *, session: Session, owner: User, tracker_id: int, issue_id: str, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Comments of an issue, oldest first."""
    tracker, provider = connect(session=session, owner=owner, tracker_id=tracker_id)
    page = call_provider(tracker, "list_comments", provider.list_comments, issue_id, limit=limit, cursor=cursor)
    return {"comments": [vars(comment) for comment in page.items], "next_cursor": page.next_cursor}


@_issue_scoped
def create_comment(*, session: Session, owner: User, tracker_id: int, issue_id: str, body: str) -> dict[str, Any]:
    """Add a comment to an issue."""
    tracker, provider = connect(session=session, owner=owner, tracker_id=tracker_id)
    comment = call_provider(tracker, "create_comment", provider.create_comment, issue_id, body)

    def items() -> list[WebhookEvent]:
        issue = provider.get_issue(issue_id)
        return [WebhookEvent("comment.created", issue.id, issue, comment=comment)]

    _commit_local_change(session, tracker, provider, items)
    if not provider.stores_issues_locally and effective_mode(tracker) == "poll":
        _index_own_write(session, tracker, provider, call_provider(tracker, "get_issue", provider.get_issue, issue_id), comment)
    return vars(comment)


@_issue_scoped
def update_comment(
    *, session: Session, owner: User, tracker_id: int, issue_id: str, comment_id: str, body: str
) -> dict[str, Any]:
    """Change a comment's text (as far as the provider lets the stored token)."""
    tracker, provider = connect(session=session, owner=owner, tracker_id=tracker_id)
    provider.require(Capability.COMMENT_EDIT, "Editing comments")
    with permission_scoped():
        comment = call_provider(tracker, "update_comment", provider.update_comment, issue_id, comment_id, body)

    def items() -> list[WebhookEvent]:
        issue = provider.get_issue(issue_id)
        return [WebhookEvent("comment.updated", issue.id, issue, comment=comment)]

    _commit_local_change(session, tracker, provider, items)
    return vars(comment)


@_issue_scoped
def delete_comment(*, session: Session, owner: User, tracker_id: int, issue_id: str, comment_id: str) -> None:
    """Delete a comment (as far as the provider lets the stored token)."""
    tracker, provider = connect(session=session, owner=owner, tracker_id=tracker_id)
    provider.require(Capability.COMMENT_DELETE, "Deleting comments")
    with permission_scoped():
        call_provider(tracker, "delete_comment", provider.delete_comment, issue_id, comment_id)

    def items() -> list[WebhookEvent]:
        issue = provider.get_issue(issue_id)
        gone = Comment(id=str(comment_id), body="", author=None, created_at=None, updated_at=None)
        return [WebhookEvent("comment.deleted", issue.id, issue, comment=gone)]

    _commit_local_change(session, tracker, provider, items)


def list_labels(*, session: Session, owner: User, tracker_id: int) -> dict[str, Any]:
    """Labels available on a tracker."""
    tracker, provider = connect(session=session, owner=owner, tracker_id=tracker_id)
    return {"labels": [vars(label) for label in call_provider(tracker, "list_labels", provider.list_labels)]}


def list_members(*, session: Session, owner: User, tracker_id: int) -> dict[str, Any]:
    """People who can be assigned on a tracker."""
    tracker, provider = connect(session=session, owner=owner, tracker_id=tracker_id)
    return {"members": [vars(person) for person in call_provider(tracker, "list_members", provider.list_members)]}


def provider_examples() -> dict[str, dict[str, Any]]:
    """Every registered provider's example POST /trackers/ body; variants are named "<slug> (<variant>)"."""
    found = {}
    for cls in all_providers():
        for variant, body in (cls.examples or {"": cls.example}).items():
            if body:
                found[f"{cls.slug} ({variant})" if variant else cls.slug] = body
    return found

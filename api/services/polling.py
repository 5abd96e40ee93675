"""Events without webhooks: incremental polls of remote trackers into the local index, deletion detection, scheduling."""

import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from api import jobs
from api.errors import ApiError
from api.metrics import poll_duration, poll_events, polls
from api.models.base import utcnow
from api.models.index import IndexedIssue
from api.models.trackers import Tracker
from api.models.users import User
from api.services import index as index_service
from api.services import trackers as trackers_service
from api.trackers.base import (
    Capability,
    Comment,
    Issue,
    NotSupported,
    TrackerError,
    TrackerNotFound,
    TrackerProvider,
    TrackerRateLimited,
    WebhookEvent,
)
from api.trackers.registry import all_providers, provider_class

log = logging.getLogger(__name__)

QUEUE_POLLING = "polling"
PAGE_SIZE = 100
MAX_PAGES = 500  # 50,000 issues changed between two polls: beyond that the poll gives up (and says so) rather than run on
MAX_COMMENT_PAGES = 10
MAX_BACKOFF_SECONDS = 3600


def pollable_slugs() -> list[str]:
    return sorted(cls.slug for cls in all_providers() if cls.polling_applies())


def polling_applies(tracker: Tracker) -> bool:
    return provider_class(tracker.provider).polling_applies()


def interval_seconds(tracker: Tracker) -> int:
    return tracker.poll_interval_seconds or current_app.config["POLL_INTERVAL_SECONDS"]


def effective_mode(tracker: Tracker) -> str:
    """Where the tracker's events come from: "webhook", "poll", or "gateway" (it records them itself)."""
    return trackers_service.effective_mode(tracker)


# ---- scheduling --------------------------------------------------------------------------------

_RUNNING = text(
    "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'gateway:poll_tracker' AND status IN ('todo', 'doing')"
)


def schedule_due(*, session: Session, now: datetime | None = None) -> list[int]:
    """Enqueue one poll job per due tracker, within the global cap; return the tracker ids enqueued."""
    now = now or utcnow()
    slots = current_app.config["POLL_MAX_CONCURRENT"] - session.scalar(_RUNNING)
    if slots <= 0:
        session.rollback()
        return []
    due = list(
        session.scalars(
            select(Tracker)
            .where(Tracker.provider.in_(pollable_slugs()), or_(Tracker.next_poll_at.is_(None), Tracker.next_poll_at <= now))
            .order_by(Tracker.next_poll_at.asc().nullsfirst(), Tracker.id)
            .limit(slots)
            .with_for_update(skip_locked=True)
        )
    )
    for tracker in due:
        # Claimed until the job reschedules it; a job lost with its worker is retried by the stalled-job sweep.
        tracker.next_poll_at = now + timedelta(seconds=max(interval_seconds(tracker), 60))
        jobs.enqueue(session, "gateway:poll_tracker", queue=QUEUE_POLLING, lock=f"poll:{tracker.id}", tracker_id=tracker.id)
    session.commit()
    return [tracker.id for tracker in due]


def resync(*, session: Session, owner: User, tracker_id: int, emit_events: bool | None) -> dict[str, Any]:
    """Re-read every issue of a tracker into the index (a new baseline), with events for what differs if asked."""
    tracker = trackers_service.get_tracker(session=session, owner=owner, tracker_id=tracker_id)
    if not polling_applies(tracker):
        raise NotSupported("This tracker records its own events; there is nothing to poll.")
    jobs.enqueue(
        session,
        "gateway:poll_tracker",
        queue=QUEUE_POLLING,
        lock=f"poll:{tracker.id}",
        tracker_id=tracker.id,
        full=True,
        emit_events=bool(emit_events),
    )
    session.commit()
    return {"message": f"resync of tracker {tracker.id} queued", "emit_events": bool(emit_events)}


# ---- one poll ----------------------------------------------------------------------------------


def _fetch_changed(tracker: Tracker, provider: TrackerProvider, since: datetime | None) -> list[Issue]:
    issues: list[Issue] = []
    cursor = None
    for _ in range(MAX_PAGES):
        page = trackers_service.call_provider(
            tracker, "poll_issues", provider.list_issues_updated_since, since, limit=PAGE_SIZE, cursor=cursor
        )
        issues += map(provider.enrich, page.items)  # label-borne priorities, as the index and the gateway's writes hold them
        cursor = page.next_cursor
        if not cursor:
            return issues
    raise TrackerError("Too many changed issues for one poll.")


def _fetch_comments(tracker: Tracker, provider: TrackerProvider, issue_id: str) -> list[Comment]:
    comments: list[Comment] = []
    cursor = None
    for _ in range(MAX_COMMENT_PAGES):
        page = trackers_service.call_provider(
            tracker, "poll_comments", provider.list_comments, issue_id, limit=PAGE_SIZE, cursor=cursor
        )
        comments += page.items
        cursor = page.next_cursor
        if not cursor:
            break
    return comments


def _comments_of_quiet_issues(
    session: Session, tracker: Tracker, provider: TrackerProvider, since: datetime | None, read: set[str], *, emit: bool
) -> int:
    """Comments changed since on issues this poll did not read: an edit that left its issue's update time alone.

    Only where the provider lists comments by update time (`list_comments_updated_since`); elsewhere an edited comment
    is seen when its issue shows up in the listing.
    """
    if not provider.lists_comments_by_update_time():
        return 0
    recorded, cursor = 0, None
    for _ in range(MAX_PAGES):
        page = trackers_service.call_provider(
            tracker, "poll_comments", provider.list_comments_updated_since, since, limit=PAGE_SIZE, cursor=cursor
        )
        if page is None:  # the provider has no such list after all
            return recorded
        # One page at a time: memory stays at a page of comments however many changed (recording is idempotent).
        recorded += _record_comment_changes(session, tracker, page.items, read, emit=emit)
        cursor = page.next_cursor
        if not cursor:
            return recorded
    raise TrackerError("Too many changed comments for one poll.")


def _record_comment_changes(
    session: Session, tracker: Tracker, changed: list[tuple[str, Comment]], read: set[str], *, emit: bool
) -> int:
    """Record each listed comment's change once, on issues this poll did not read itself."""
    recorded = 0
    for issue_id, comment in changed:
        entry = None if issue_id in read else index_service.get_entry(session=session, tracker_id=tracker.id, issue_id=issue_id)
        if entry is None:  # read with its issue already, or no indexed issue (a pull request's comment)
            continue
        item = index_service.comment_change(entry, comment)
        if (
            item is not None
            and emit
            and index_service.record_once(session=session, tracker=tracker, item=item, source="poll") is not None
        ):
            recorded += 1
    return recorded


def _failed(session: Session, tracker: Tracker, exc: TrackerError, now: datetime) -> dict[str, Any]:
    """Keep the cursor; come back later, later still after each failure in a row (or when the tracker says)."""
    retry_after = None
    if isinstance(exc, TrackerRateLimited):
        retry_after = int(exc.headers.get("Retry-After") or 0) or None
    else:
        tracker.poll_failures = (tracker.poll_failures or 0) + 1
        tracker.last_poll_error = f"{exc.error}: {exc.message}"[:500]
    # A rate limit waits two intervals at least (longer if the tracker says so); failures in a row double the wait each.
    doublings = 1 if isinstance(exc, TrackerRateLimited) else min(tracker.poll_failures or 0, 10)
    backoff = min(interval_seconds(tracker) * 2**doublings, MAX_BACKOFF_SECONDS)
    tracker.next_poll_at = now + timedelta(seconds=max(backoff, retry_after or 0, interval_seconds(tracker)))
    outcome = "rate_limited" if isinstance(exc, TrackerRateLimited) else "failed"
    session.commit()
    polls.labels(tracker.provider, outcome).inc()
    log.warning(
        "poll of tracker %s %s: %s",
        tracker.id,
        outcome,
        exc.error,
        extra={"tracker_id": tracker.id, "outcome": outcome, "next_poll_at": tracker.next_poll_at.isoformat()},
    )
    return {"tracker_id": tracker.id, "outcome": outcome, "events": 0, "issues": 0}


def _comments_may_have_changed(entry: IndexedIssue, issue: Issue) -> bool:
    """Whether a listed issue's comments need reading: it changed since it was indexed, its row was last written by a
    webhook or the gateway (whose comment state may lag), or it was indexed within the second of its last update (a
    comment added later in that second leaves the update time alone).

    An issue in the overlap window that is just as indexed is skipped: an edit to one of its comments is found by the
    repository-wide comment listing where the provider has one, and moves the issue's update time elsewhere.
    """
    updated_at = issue.updated_at.replace(microsecond=0) if issue.updated_at is not None else None
    return (
        updated_at is None
        or updated_at != entry.updated_at
        or issue.comments_count != entry.comments_count
        or entry.data.get("_indexed_by") not in ("poll", "baseline")
        or entry.indexed_at < updated_at + timedelta(seconds=1)
    )


def _poll_issue(
    session: Session,
    tracker: Tracker,
    provider: TrackerProvider,
    issue: Issue,
    *,
    emit: bool,
    read_comments: bool,
    now: datetime,
    read: set[str],
) -> int:
    """Index one listed issue and record its differences (and its comments', when read); the events recorded."""
    entry = index_service.get_entry(session=session, tracker_id=tracker.id, issue_id=issue.id)
    items = index_service.issue_events(entry, issue) if emit else []
    comments = None
    if read_comments and entry is not None and _comments_may_have_changed(entry, issue):
        fetched_comments = _fetch_comments(tracker, provider, issue.id)
        if emit:
            items += index_service.comment_events(entry.comments, issue, fetched_comments, known_count=entry.comments_count)
        comments = index_service.comment_state(fetched_comments)
        read.add(issue.id)
    recorded = sum(
        index_service.record_once(session=session, tracker=tracker, item=item, source="poll") is not None for item in items
    )
    # Only a poll that recorded the differences may later stand in for a webhook of the same change.
    index_service.upsert(
        session=session, tracker=tracker, issue=issue, source="poll" if emit else "baseline", comments=comments, now=now
    )
    return recorded


def poll_tracker(
    *, session: Session, tracker_id: int, full: bool = False, emit_events: bool | None = None, now: datetime | None = None
) -> dict[str, Any] | None:
    """Fetch the issues changed since the cursor (minus the overlap), index them, record their differences as events.

    The first poll (no cursor) is a baseline: it indexes and records nothing, unless `emit_events`. Fails keep the cursor.
    """
    tracker = session.get(Tracker, tracker_id)
    if tracker is None or not polling_applies(tracker):
        session.rollback()
        return None
    now = now or utcnow()
    started = time.perf_counter()
    mode = effective_mode(tracker)
    baseline = tracker.poll_cursor is None or full
    emit = bool(emit_events) if emit_events is not None else (mode == "poll" and not baseline)
    overlap = timedelta(seconds=current_app.config["POLL_OVERLAP_SECONDS"])
    since = None if baseline or tracker.poll_cursor is None else tracker.poll_cursor - overlap
    provider = trackers_service.build_provider(session=session, tracker=tracker)
    with_comments = Capability.COMMENTS in provider.capabilities
    recorded = 0
    read: set[str] = set()  # issues whose comments this poll read in full
    try:
        fetched = _fetch_changed(tracker, provider, since)
        newest = tracker.poll_cursor
        for issue in fetched:
            read_comments = with_comments and not baseline
            recorded += _poll_issue(session, tracker, provider, issue, emit=emit, read_comments=read_comments, now=now, read=read)
            if issue.updated_at is not None and (newest is None or issue.updated_at > newest):
                newest = issue.updated_at
        if with_comments and since is not None:
            recorded += _comments_of_quiet_issues(session, tracker, provider, since, read, emit=emit)
        if since is None:  # a full listing is a reconcile too
            recorded += _forget_missing(session, tracker, {issue.id for issue in fetched}, emit=emit)
            tracker.last_reconciled_at = now
        elif _reconcile_due(tracker, now):
            recorded += _reconcile(session, tracker, provider, emit=mode == "poll")
            tracker.last_reconciled_at = now
    except ApiError as exc:
        session.rollback()
        tracker = session.get_one(Tracker, tracker_id)  # the tracker this poll started from
        return _failed(session, tracker, exc if isinstance(exc, TrackerError) else TrackerError(exc.message), now)
    # An empty tracker has no newest issue: start from the poll's own clock (the overlap covers skew).
    tracker.poll_cursor = newest or tracker.poll_cursor or now
    tracker.last_polled_at = now
    tracker.last_poll_error = None
    tracker.poll_failures = 0
    tracker.next_poll_at = now + timedelta(seconds=interval_seconds(tracker))
    session.commit()
    elapsed = time.perf_counter() - started
    polls.labels(tracker.provider, "baseline" if baseline and not emit else "ok").inc()
    poll_duration.labels(tracker.provider).observe(elapsed)
    poll_events.labels(tracker.provider).observe(recorded)
    log.info(
        "polled tracker %s: %d issues, %d events",
        tracker.id,
        len(fetched),
        recorded,
        extra={"tracker_id": tracker.id, "issues": len(fetched), "events": recorded, "duration_ms": round(elapsed * 1000, 2)},
    )
    return {"tracker_id": tracker.id, "outcome": "ok", "events": recorded, "issues": len(fetched), "baseline": baseline}


# ---- deletion detection ------------------------------------------------------------------------


def _reconcile_due(tracker: Tracker, now: datetime) -> bool:
    every = current_app.config["POLL_RECONCILE_SECONDS"]
    return tracker.last_reconciled_at is None or tracker.last_reconciled_at <= now - timedelta(seconds=every)


def _forget_missing(session: Session, tracker: Tracker, present: Iterable[str], *, emit: bool) -> int:
    gone = index_service.indexed_ids(session=session, tracker_id=tracker.id) - set(present)
    recorded = 0
    for issue_id in sorted(gone):
        entry = session.get_one(IndexedIssue, (tracker.id, issue_id))  # listed from the index just above
        item = WebhookEvent("issue.deleted", issue_id, index_service.to_issue(entry))
        if emit and index_service.record_once(session=session, tracker=tracker, item=item, source="poll") is not None:
            recorded += 1
    index_service.remove(session=session, tracker_id=tracker.id, issue_ids=gone)
    return recorded


def _reconcile(session: Session, tracker: Tracker, provider: TrackerProvider, *, emit: bool) -> int:
    present = trackers_service.call_provider(tracker, "poll_issue_ids", provider.list_issue_ids, page_size=PAGE_SIZE)
    return _forget_missing(session, tracker, present, emit=emit)


def reconcile_tracker(*, session: Session, tracker_id: int, now: datetime | None = None) -> int:
    """Compare the ids on the tracker with the index now: issues gone from the tracker are issue.deleted."""
    tracker = session.get(Tracker, tracker_id)
    if tracker is None or not polling_applies(tracker) or tracker.poll_cursor is None:
        session.rollback()
        return 0
    provider = trackers_service.build_provider(session=session, tracker=tracker)
    recorded = _reconcile(session, tracker, provider, emit=effective_mode(tracker) == "poll")
    tracker.last_reconciled_at = now or utcnow()
    session.commit()
    return recorded


# ---- webhooks refresh the index at once --------------------------------------------------------


def refresh_issues(*, session: Session, tracker_id: int, issue_ids: Iterable[str]) -> None:
    """Re-read issues a webhook named and index them (its events are already recorded); a missing one leaves the index."""
    tracker = session.get(Tracker, tracker_id)
    if tracker is None or not polling_applies(tracker):
        session.rollback()
        return
    provider = trackers_service.build_provider(session=session, tracker=tracker)
    for issue_id in issue_ids:
        try:
            issue = trackers_service.call_provider(tracker, "refresh_issue", provider.get_issue, issue_id)
        except TrackerNotFound:
            index_service.remove(session=session, tracker_id=tracker.id, issue_ids=[issue_id])
            continue
        index_service.upsert(session=session, tracker=tracker, issue=issue, source="webhook")
    session.commit()


def prune_change_hashes(*, session: Session, now: datetime | None = None) -> int:
    """Forget change hashes older than POLL_DEDUPE_DAYS; return how many went."""
    removed = index_service.prune_change_hashes(
        session=session, before=(now or utcnow()) - timedelta(days=current_app.config["POLL_DEDUPE_DAYS"])
    )
    session.commit()
    return removed

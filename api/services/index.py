"""The local issue index: newest known state per issue, the events its differences amount to, change-hash dedupe,
and fast reads (filters, keyset pagination, PostgreSQL full-text search) answered from it."""

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, cast, overload

from marshmallow import ValidationError
from sqlalchemy import ColumnElement, Exists, Select, and_, delete, exists, false, func, or_, select, text
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from api.models.base import utcnow
from api.models.events import Event
from api.models.index import EventChangeHash, IndexedIssue
from api.models.trackers import Tracker
from api.schemas.base import decode_cursor, encode_cursor
from api.services import events as events_service
from api.trackers.base import (
    PRIORITIES,
    Comment,
    Issue,
    IssueQuery,
    NotSupported,
    Person,
    TrackerConfig,
    TrackerProvider,
    WebhookEvent,
)

# The fields whose change is an event; updated_at and comments_count alone are not.
COMPARED = (
    "title",
    "description",
    "status",
    "remote_status",
    "labels",
    "assignees",
    "due_date",
    "priority",
    "remote_priority",
    "issue_type",
    "parent_id",
)

_CLAIM = text("""
    INSERT INTO event_change_hashes (tracker_id, issue_id, change_hash, source, created_at)
    VALUES (:tracker_id, :issue_id, :change_hash, :source, :now)
    ON CONFLICT DO NOTHING
    RETURNING change_hash
""")


def _sha(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _compared(issue: Issue) -> dict[str, Any]:
    return {
        "title": issue.title or "",
        "description": issue.description or "",
        "status": issue.status,
        "remote_status": issue.remote_status or "",
        "labels": sorted(issue.labels or []),
        "assignees": sorted(person.username for person in issue.assignees or []),
        "due_date": issue.due_date.isoformat() if issue.due_date else None,
        "priority": issue.priority,
        "remote_priority": issue.remote_priority,
        "issue_type": issue.issue_type,
        "parent_id": str(issue.parent_id) if issue.parent_id is not None else None,
    }


def content_hash(issue: Issue) -> str:
    """SHA-256 of the fields whose change is an event."""
    return _sha(_compared(issue))


def _second(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat() if moment else None


# What each issue event is about: the same change seen by a webhook and by a poll hashes the same.
_ABOUT = {
    "issue.closed": ("status",),
    "issue.reopened": ("status",),
    "issue.labeled": ("labels",),
    "issue.unlabeled": ("labels",),
    "issue.assigned": ("assignees",),
    "issue.created": (),
    "issue.updated": (
        "title",
        "description",
        "due_date",
        "remote_status",
        "priority",
        "remote_priority",
        "issue_type",
        "parent_id",
    ),
}


def change_hash(item: WebhookEvent) -> str:
    """The identity of one change: event type, issue, the part of the resulting state it is about, and when."""
    if item.comment is not None:
        # Comment ids are unique per tracker, and the issue may be named differently (a provider whose comment
        # deliveries name the issue by number, while a poll names it by key): the comment alone says which change it is.
        about = [item.comment.id]
        if item.type != "comment.created":
            about.append(hashlib.sha256((item.comment.body or "").encode()).hexdigest())
        return _sha([item.type, about])
    if item.issue is None:
        return _sha([item.type, item.issue_id, item.changes])
    if item.type in ("issue.created", "issue.deleted"):  # once per issue, whatever state the report carries
        return _sha([item.type, item.issue_id])
    state = _compared(item.issue)
    fields = _ABOUT.get(item.type, tuple(state))
    return _sha([item.type, item.issue_id, {name: state[name] for name in fields}, _second(item.issue.updated_at)])


def _poll_saw(entry: IndexedIssue | None, item: WebhookEvent) -> bool:
    """An event-recording poll already stored this state of the issue or a newer one (and recorded what changed)."""
    if entry is None or item.issue is None or entry.data.get("_indexed_by") != "poll" or item.issue.updated_at is None:
        return False
    seen = item.issue.updated_at.replace(microsecond=0)
    if entry.updated_at != seen:
        return entry.updated_at > seen
    # Times have seconds only: in the same second the poll may have read the issue just before this change.
    stored, delivered = _compared(to_issue(entry)), _compared(item.issue)
    return all(stored[name] == delivered[name] for name in _ABOUT.get(item.type, tuple(stored)))


def _provider(tracker: Tracker) -> TrackerProvider:
    """The tracker's provider as its options configure it, without credentials (enough to read labels and queries)."""
    from api.trackers.registry import provider_class

    return provider_class(tracker.provider)(
        TrackerConfig(tracker_id=tracker.id, target=tracker.target, options=dict(tracker.options or {}))
    )


@overload
def _enriched(tracker: Tracker, issue: Issue) -> Issue: ...
@overload
def _enriched(tracker: Tracker, issue: None) -> None: ...
@overload
def _enriched(tracker: Tracker, issue: Issue | None) -> Issue | None: ...
def _enriched(tracker: Tracker, issue: Issue | None) -> Issue | None:
    """A copy of the issue with its label-borne priority and status category filled as the gateway reads them."""
    return _provider(tracker).enrich(dataclasses.replace(issue)) if issue is not None else None


def first_sighting(*, session: Session, tracker: Tracker, item: WebhookEvent, source: str) -> bool:
    """Claim a change for recording: False when a poll, a webhook or the gateway already recorded it."""
    issue_id = item.issue_id
    if issue_id is None:
        return True
    # Webhook payloads come unenriched; the index and polls hold label-borne priorities: compare like with like.
    item = dataclasses.replace(item, issue=_enriched(tracker, item.issue))
    if (
        source == "webhook"
        and item.issue is not None
        and item.comment is None
        and _poll_saw(session.get(IndexedIssue, (tracker.id, issue_id)), item)
    ):
        return False
    issue_key = "" if item.comment is not None else issue_id[:100]  # see change_hash
    claimed = session.execute(
        _CLAIM,
        {"tracker_id": tracker.id, "issue_id": issue_key, "change_hash": change_hash(item), "source": source, "now": utcnow()},
    ).first()
    return claimed is not None


def record_once(*, session: Session, tracker: Tracker, item: WebhookEvent, source: str, **kwargs: Any) -> Event | None:
    """Record an event unless the same change is already recorded; return it, or None for a duplicate."""
    if not first_sighting(session=session, tracker=tracker, item=item, source=source):
        return None
    return events_service.record(session=session, tracker=tracker, item=item, source=source, **kwargs)


# ---- entries -----------------------------------------------------------------------------------


def _jsonable(issue: Issue) -> dict[str, Any]:
    data = dataclasses.asdict(dataclasses.replace(issue, remote_data=None))
    data.pop("remote_data", None)
    return events_service.jsonable(data)


def to_issue(entry: IndexedIssue) -> Issue:
    """The unified Issue an index entry holds."""
    data = entry.data

    def person(raw: Any) -> Person | None:  # a stored JSON object, or None
        return Person(id=raw.get("id"), username=raw.get("username"), name=raw.get("name")) if raw else None

    values = {}
    for spec in dataclasses.fields(Issue):
        if spec.name not in data or spec.name == "remote_data":
            continue
        value = data[spec.name]
        if spec.name in ("author",):
            value = person(value)
        elif spec.name == "assignees":
            value = [person(raw) for raw in value or []]
        elif spec.name.endswith("_at") and value:
            value = datetime.fromisoformat(value)
        elif spec.name == "due_date" and value:
            value = date.fromisoformat(value)
        values[spec.name] = value
    return Issue(**values)


def get_entry(*, session: Session, tracker_id: int, issue_id: str) -> IndexedIssue | None:
    return session.get(IndexedIssue, (tracker_id, issue_id))


def upsert(
    *,
    session: Session,
    tracker: Tracker,
    issue: Issue,
    source: str,
    comments: dict[str, str] | None = None,
    now: datetime | None = None,
) -> IndexedIssue:
    """Store the newest state of an issue (an older state than the stored one is ignored); return the entry."""
    entry = session.get(IndexedIssue, (tracker.id, issue.id))
    issue = _enriched(tracker, issue)
    updated_at = (issue.updated_at or utcnow()).replace(microsecond=0)
    if entry is not None and entry.updated_at > updated_at and source not in ("poll", "baseline"):  # polls read it all
        return entry
    data = {**_jsonable(issue), "tracker_id": tracker.id, "_indexed_by": source}
    values = {
        "title": issue.title or "",
        "description": issue.description or "",
        "status": issue.status,
        "remote_status": (issue.remote_status or "")[:255],
        "labels": list(issue.labels or []),
        "assignees": [person.username for person in issue.assignees or []],
        "comments_count": issue.comments_count or 0,
        "created_at": issue.created_at,
        "updated_at": updated_at,
        "data": data,
        "content_hash": content_hash(issue),
        "indexed_at": now or utcnow(),
    }
    if entry is None:
        entry = IndexedIssue(tracker_id=tracker.id, issue_id=issue.id, comments=comments, **values)
        session.add(entry)
    else:
        for name, value in values.items():
            setattr(entry, name, value)
        if comments is not None:
            entry.comments = comments
    return entry


def remove(*, session: Session, tracker_id: int, issue_ids: Iterable[str]) -> None:
    """Drop issues from the index."""
    if issue_ids:
        session.execute(
            delete(IndexedIssue).where(IndexedIssue.tracker_id == tracker_id, IndexedIssue.issue_id.in_(list(issue_ids)))
        )


def indexed_ids(*, session: Session, tracker_id: int) -> set[str]:
    return set(session.scalars(select(IndexedIssue.issue_id).where(IndexedIssue.tracker_id == tracker_id)))


def issue_events(entry: IndexedIssue | None, issue: Issue) -> list[WebhookEvent]:
    """The unified events between a stored entry (None: new issue) and the fetched state."""
    if entry is None:
        return [WebhookEvent("issue.created", issue.id, issue)]
    if entry.content_hash == content_hash(issue):
        return []
    before = to_issue(entry)
    # Rows hashed before priority, type and parent were compared differ in hash alone: compare the states themselves.
    # Such a row is compared only when a poll fetches its issue again (it changed, or sits in the overlap); a row
    # indexed by an unenriched poll then shows its label-borne priority as a change once.
    if _compared(before) == _compared(issue):
        return []
    return events_service.changes_between(before, issue)


def comment_state(comments: Iterable[Comment]) -> dict[str, str]:
    """comment id -> SHA-256 of its body, as stored on an entry."""
    return {str(comment.id): hashlib.sha256((comment.body or "").encode()).hexdigest() for comment in comments}


def comment_events(
    stored: dict[str, str] | None, issue: Issue, comments: list[Comment], *, known_count: int
) -> list[WebhookEvent]:
    """comment.created / comment.updated between the stored comment hashes and the fetched comments.

    Never read before (`stored` None): only the comments beyond the count the index knew are new.
    """
    fetched = comment_state(comments)
    if stored is None:
        fresh = comments[known_count:] if len(comments) > known_count else []
        return [WebhookEvent("comment.created", issue.id, issue, comment=c) for c in fresh]
    items = []
    for comment in comments:
        key = str(comment.id)
        if key not in stored:
            items.append(WebhookEvent("comment.created", issue.id, issue, comment=comment))
        elif stored[key] != fetched[key]:
            items.append(WebhookEvent("comment.updated", issue.id, issue, comment=comment))
    return items


def comment_change(entry: IndexedIssue, comment: Comment) -> WebhookEvent | None:
    """The event one comment listed by update time amounts to against an entry (None: nothing new); the entry learns it.

    Without stored bodies (comments never read) an edited comment (updated after it was created) is comment.updated;
    a new one moved its issue's update time, so the issue's own re-read reports it.
    """
    key, digest = str(comment.id), comment_state([comment])[str(comment.id)]
    stored = entry.comments
    if stored is None:
        edited = comment.updated_at is not None and comment.created_at is not None and comment.updated_at > comment.created_at
        kind = "comment.updated" if edited else None
    else:
        kind = "comment.created" if key not in stored else "comment.updated" if stored[key] != digest else None
        entry.comments = {**stored, key: digest}
    return WebhookEvent(kind, entry.issue_id, to_issue(entry), comment=comment) if kind else None


# ---- the gateway's own writes ------------------------------------------------------------------


def gateway_wrote(*, session: Session, tracker: Tracker, issue: Issue, emit_events: bool, comment: Comment | None = None) -> None:
    """Index an issue the gateway just changed; with `emit_events` (polled trackers) record what changed as its events."""
    entry = session.get(IndexedIssue, (tracker.id, issue.id))
    items = issue_events(entry, issue) if emit_events else []
    comments = None
    if comment is not None:
        if emit_events:
            items.append(WebhookEvent("comment.created", issue.id, issue, comment=comment))
        if entry is not None and entry.comments is not None:
            comments = {**entry.comments, **comment_state([comment])}
    fresh = [item for item in items if first_sighting(session=session, tracker=tracker, item=item, source="gateway")]
    if fresh:
        events_service.emit(session=session, tracker=tracker, items=fresh, source="gateway")
    upsert(session=session, tracker=tracker, issue=issue, source="gateway", comments=comments)


def gateway_deleted(*, session: Session, tracker: Tracker, issue_id: str, emit_events: bool, issue: Issue | None = None) -> None:
    """Drop an issue the gateway just deleted; with `emit_events` record its issue.deleted once (a later poll or webhook
    of the same delete is a duplicate). The event carries the indexed state, else `issue`."""
    entry = session.get(IndexedIssue, (tracker.id, issue_id))
    state = to_issue(entry) if entry is not None else issue
    if emit_events and state is not None:
        item = WebhookEvent("issue.deleted", issue_id, state)
        if first_sighting(session=session, tracker=tracker, item=item, source="gateway"):
            events_service.emit(session=session, tracker=tracker, items=[item], source="gateway")
    if entry is not None:
        session.delete(entry)


# ---- reads -------------------------------------------------------------------------------------


def _issue_dict(entry: IndexedIssue) -> dict[str, Any]:
    data = {key: value for key, value in entry.data.items() if not key.startswith("_")}
    for name in ("created_at", "updated_at", "closed_at"):
        if data.get(name):
            data[name] = datetime.fromisoformat(data[name])
    data["tracker_id"] = entry.tracker_id
    data["indexed_at"] = entry.indexed_at
    return data


def _filtered(stmt: Select[tuple[IndexedIssue]], query: Mapping[str, Any]) -> Select[tuple[IndexedIssue]]:
    if query.get("status"):
        stmt = stmt.where(IndexedIssue.status == query["status"])
    labels = [name.strip() for name in (query.get("labels") or "").split(",") if name.strip()]
    if labels:
        stmt = stmt.where(IndexedIssue.labels.contains(labels))
    if query.get("assignee"):
        stmt = stmt.where(IndexedIssue.assignees.any(query["assignee"]))
    if query.get("updated_since"):
        stmt = stmt.where(IndexedIssue.updated_at >= query["updated_since"])
    if query.get("q"):
        stmt = stmt.where(IndexedIssue.search.op("@@")(func.websearch_to_tsquery("english", query["q"])))
    return stmt


def _has_label(name: str) -> Exists:
    """The entry carries this label, compared without case as the providers' enrich does."""
    labels = func.unnest(IndexedIssue.labels).table_valued("name")
    return exists(select(1).select_from(labels).where(func.lower(labels.c.name) == name.lower()))


def _field(name: str) -> ColumnElement[str]:
    return IndexedIssue.data[name].astext


def _tracker_scope(tracker: Tracker, query: Mapping[str, Any]) -> ColumnElement[bool] | None:
    """This tracker's entries matching status_category, priority and parent_id as its provider decides them (native
    fields as stored, label-borne ones from the labels under the tracker's current options); NotSupported where the
    live list would refuse the filter, None where nothing can match."""
    provider = _provider(tracker)
    unified = IssueQuery(
        status=query.get("status"),
        status_category=query.get("status_category"),
        priority=query.get("priority"),
        parent_id=query.get("parent_id"),
    )
    if provider.prepare_query(unified) is None:  # refuses what the live list refuses
        return None
    clauses = [IndexedIssue.tracker_id == tracker.id]
    in_progress_label, priority_labels = provider.workflow_labels()
    category = unified.status_category
    if category and "status_category" in provider.native_fields:
        clauses.append(_field("status_category") == category)
    elif category:
        clauses.append(IndexedIssue.status == ("closed" if category == "done" else "open"))
        if category != "done" and in_progress_label:
            doing = _has_label(in_progress_label)
            clauses.append(doing if category == "in_progress" else ~doing)
    level = unified.priority
    if level and "priority" in provider.native_fields:
        clauses.append(_field("priority") == level)
    elif level:  # the first configured level whose label the issue carries is its priority
        clauses.append(_has_label(priority_labels[level]))
        clauses += [
            ~_has_label(priority_labels[higher])
            for higher in PRIORITIES[: PRIORITIES.index(level)]
            if priority_labels.get(higher)
        ]
    if unified.parent_id is not None:
        clauses.append(_field("parent_id") == str(unified.parent_id))
    return and_(*clauses)


def list_from_index(*, session: Session, trackers: Iterable[Tracker], query: Mapping[str, Any]) -> dict[str, Any]:
    """One page of indexed issues of these trackers, most recently updated first (keyset on updated_at, tracker, id).

    `unsupported` lists (tracker, NotSupported) for the trackers whose provider cannot take a filter asked.
    """
    scopes, unsupported = [], []
    for tracker in trackers:
        try:
            scope = _tracker_scope(tracker, query)
        except NotSupported as exc:
            unsupported.append((tracker, exc))
            continue
        if scope is not None:
            scopes.append(scope)
    stmt = _filtered(select(IndexedIssue).where(or_(false(), *scopes)), query)
    if query.get("cursor"):
        stamp, tracker_id, issue_id = decode_cursor(query["cursor"], types=(str, int, str))
        try:
            stamp = datetime.fromisoformat(stamp)
        except ValueError:
            raise ValidationError({"cursor": ["Invalid cursor."]}) from None
        stmt = stmt.where(
            or_(
                IndexedIssue.updated_at < stamp,
                and_(IndexedIssue.updated_at == stamp, IndexedIssue.tracker_id < tracker_id),
                and_(IndexedIssue.updated_at == stamp, IndexedIssue.tracker_id == tracker_id, IndexedIssue.issue_id < issue_id),
            )
        )
    limit = query["limit"]
    rows = list(
        session.scalars(
            stmt.order_by(IndexedIssue.updated_at.desc(), IndexedIssue.tracker_id.desc(), IndexedIssue.issue_id.desc()).limit(
                limit + 1
            )
        )
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor([last.updated_at.isoformat(), last.tracker_id, last.issue_id])
    return {"issues": [_issue_dict(entry) for entry in rows], "next_cursor": next_cursor, "unsupported": unsupported}


def index_age_seconds(*, session: Session, trackers: Iterable[Tracker]) -> int | None:
    """Seconds since the stalest of these trackers was last polled in full; None when one never was."""
    stamps = [tracker.last_polled_at for tracker in trackers]
    polled = [stamp for stamp in stamps if stamp is not None]
    if not stamps or len(polled) < len(stamps):
        return None
    return max(0, int((utcnow() - min(polled)).total_seconds()))


def prune_change_hashes(*, session: Session, before: datetime) -> int:
    """Forget change hashes older than `before` (a webhook that late is not deduped)."""
    # A DML statement's result is a CursorResult, which counts its rows.
    return cast(CursorResult[Any], session.execute(delete(EventChangeHash).where(EventChangeHash.created_at < before))).rowcount

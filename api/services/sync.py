"""Two-way issue sync: the syncs API's logic and the engine that keeps each linked pair of issues in step.

The engine is driven by recorded events (api/pipeline.py hands each one to `enqueue_for_event`) and runs as jobs.
It never trusts an event's copy of an issue: a job reads both issues, compares each field with the hash stored on
the link for that side at the last sync, and writes only what changed on one side since then. Its own writes come
back as events too; they find nothing new to carry, so one change makes exactly one write on the other side.
"""

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields as dataclass_fields
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api import jobs
from api.errors import ApiError, Conflict, NotFound, Unprocessable, ValidationFailed
from api.metrics import sync_lag
from api.models.base import utcnow
from api.models.events import Event
from api.models.sync import FLOWS, Sync, SyncComment, SyncLink
from api.models.trackers import Tracker
from api.models.users import User
from api.models.webhooks import GatewayChange
from api.services import events as events_service
from api.services import trackers as trackers_service
from api.services.pagination import Page, keyset_page
from api.trackers.base import (
    Capability,
    IssueChanges,
    TrackerError,
    TrackerNotFound,
    TrackerValidationError,
    WebhookEvent,
)
from api.trackers.registry import provider_class

log = logging.getLogger(__name__)

R = TypeVar("R")
# An issue as the issues API returns it (trackers_service.issue_dict).
IssueData = dict[str, Any]

QUEUE = "sync"
MAX_ATTEMPTS = 10
SIDES = ("left", "right")
FIELDS = ("title", "description", "status", "labels", "assignees", "priority")
DEFAULT_FIELDS = dict.fromkeys((*FIELDS, "comments"), "both")
# A backlink footer line per sync the issue belongs to: the gateway's, never part of the synced text.
_FOOTER = re.compile(r"^<!-- tg-sync:(\d+):([0-9a-f]{32}) -->.*$", re.M)
_COMMENT_MARK = re.compile(r"<!-- tg-sync-comment:([0-9a-f]{32}) -->")
MAX_CONFLICTS_KEPT = 50
MAX_COMMENTS = 1000
MARKER_SCAN_PAGES = 20
BACKFILL_PAGE = 50
ECHO_KINDS = {
    "title": ["issue.updated"],
    "description": ["issue.updated"],
    "labels": ["issue.labeled", "issue.unlabeled"],
    "assignees": ["issue.assigned", "issue.updated"],
    "status": ["issue.closed", "issue.reopened", "issue.updated"],
    "priority": ["issue.updated"],
}


def other(side: str) -> str:
    return "right" if side == "left" else "left"


def _sources(sync: Sync, name: str) -> set[str]:
    """The sides a field (or "create", or "comments") may flow from, given the sync's and the field's direction."""
    flows = FLOWS[sync.direction]
    if name == "create":
        return flows
    return flows & FLOWS[(sync.fields or {}).get(name, "both")]


# ---- the API -----------------------------------------------------------------------------------


def _owned_tracker(session: Session, owner: User, tracker_id: int | None) -> Tracker | None:
    tracker = session.get(Tracker, tracker_id) if tracker_id is not None else None
    return tracker if tracker is not None and tracker.owner_id == owner.id else None


def _check(session: Session, owner: User, data: Mapping[str, Any]) -> None:
    """Both trackers must be the caller's and different: 422 naming the field (another user's is never read)."""
    errors = {}
    for name in ("left_tracker_id", "right_tracker_id"):
        if _owned_tracker(session, owner, data.get(name)) is None:
            errors[name] = ["Not one of your trackers."]
    if not errors and data["left_tracker_id"] == data["right_tracker_id"]:
        errors["right_tracker_id"] = ["Must differ from left_tracker_id."]
    if errors:
        raise Unprocessable("The sync is not valid.", errors=errors, error="invalid_sync")


def create_sync(*, session: Session, owner: User, data: dict[str, Any]) -> Sync:
    """Store a sync; with backfill, the existing matching issues are paired in the background."""
    _check(session, owner, data)
    sync = Sync(owner_id=owner.id, backfill_state={}, **data)
    sync.fields = {**DEFAULT_FIELDS, **(data.get("fields") or {})}
    session.add(sync)
    session.flush()
    if sync.backfill and sync.enabled:
        _enqueue_backfill(session, sync.id)
    session.commit()
    return sync


def list_syncs(*, session: Session, owner: User, limit: int, cursor: str | None) -> Page:
    """The caller's syncs, oldest first."""
    return keyset_page(session, select(Sync).where(Sync.owner_id == owner.id), key=Sync.id, limit=limit, cursor=cursor)


def get_sync(*, session: Session, owner: User, sync_id: int) -> Sync:
    """One of the caller's syncs; another user's is not found."""
    sync = session.get(Sync, sync_id)
    if sync is None or sync.owner_id != owner.id:
        raise NotFound(f"Sync {sync_id} not found.")
    return sync


def update_sync(*, session: Session, owner: User, sync_id: int, data: dict[str, Any]) -> Sync:
    """Change a sync; turning backfill on (again) starts it from the beginning."""
    sync = get_sync(session=session, owner=owner, sync_id=sync_id)
    if not data:
        raise ValidationFailed("Send at least one field to change.", errors={"_schema": ["No fields to change."]})
    merged = {"left_tracker_id": sync.left_tracker_id, "right_tracker_id": sync.right_tracker_id, **data}
    _check(session, owner, merged)
    restart = data.get("backfill") is True and not sync.backfill
    moved = any(name in data and data[name] != getattr(sync, name) for name in ("left_tracker_id", "right_tracker_id"))
    for name, value in data.items():
        if name == "fields":
            value = {**DEFAULT_FIELDS, **(sync.fields or {}), **value}
        setattr(sync, name, value)
    if moved:  # the pairs belong to the old trackers: forgotten, never read against the new ones
        session.execute(delete(SyncLink).where(SyncLink.sync_id == sync.id))
        restart = sync.backfill
    if restart:
        sync.backfill_state = {}
    if sync.backfill and sync.enabled and (restart or data.get("enabled") is True):
        _enqueue_backfill(session, sync.id)
    session.commit()
    return sync


def delete_sync(*, session: Session, owner: User, sync_id: int) -> None:
    """Delete a sync and its links (the issues themselves stay as they are)."""
    session.delete(get_sync(session=session, owner=owner, sync_id=sync_id))
    session.commit()


def list_links(*, session: Session, owner: User, sync_id: int, limit: int, cursor: str | None) -> Page:
    """A sync's issue pairs, oldest first."""
    sync = get_sync(session=session, owner=owner, sync_id=sync_id)
    return keyset_page(session, select(SyncLink).where(SyncLink.sync_id == sync.id), key=SyncLink.id, limit=limit, cursor=cursor)


def _get_link(session: Session, sync: Sync, link_id: int) -> SyncLink:
    link = session.get(SyncLink, link_id)
    if link is None or link.sync_id != sync.id:
        raise NotFound(f"Link {link_id} not found.")
    return link


def create_link(*, session: Session, owner: User, sync_id: int, left_issue_id: str, right_issue_id: str) -> SyncLink:
    """Pair two existing issues; the first reconcile (in the background) settles their differences by the policy."""
    sync = get_sync(session=session, owner=owner, sync_id=sync_id)
    issues, errors = {}, {}
    for side, issue_id in (("left", left_issue_id), ("right", right_issue_id)):
        try:
            issues[side] = trackers_service.get_issue(
                session=session, owner=owner, tracker_id=_tracker_id(sync, side), issue_id=issue_id
            )
        except TrackerNotFound:
            errors[f"{side}_issue_id"] = ["No such issue on this side's tracker."]
    if errors:
        raise Unprocessable("The issues cannot be paired.", errors=errors, error="invalid_link")
    taken = session.scalar(
        select(SyncLink.id).where(
            SyncLink.sync_id == sync.id,
            or_(SyncLink.left_issue_id == issues["left"]["id"], SyncLink.right_issue_id == issues["right"]["id"]),
        )
    )
    if taken is not None:
        raise Conflict(f"One of these issues is already paired (link {taken}).", error="already_linked")
    link = SyncLink(
        sync_id=sync.id,
        origin="pair",
        op_key=uuid.uuid4().hex,
        state="pending",
        hashes={},
        conflicts=[],
        notes={},
        left_issue_id=issues["left"]["id"],
        right_issue_id=issues["right"]["id"],
        left_url=issues["left"]["url"],
        right_url=issues["right"]["url"],
    )
    session.add(link)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict("One of these issues is already paired.", error="already_linked") from None
    _enqueue_link(session, sync.id, link.id, comments=True)
    session.commit()
    return link


def delete_link(*, session: Session, owner: User, sync_id: int, link_id: int) -> None:
    """Unpair: nothing more is synced for these two issues (their backlinks keep them from being mirrored again)."""
    sync = get_sync(session=session, owner=owner, sync_id=sync_id)
    session.delete(_get_link(session, sync, link_id))
    session.commit()


def resync(*, session: Session, owner: User, sync_id: int) -> int:
    """Reconcile every link of the sync now (in the background); returns how many were queued."""
    sync = get_sync(session=session, owner=owner, sync_id=sync_id)
    link_ids = list(session.scalars(select(SyncLink.id).where(SyncLink.sync_id == sync.id).order_by(SyncLink.id)))
    for link_id in link_ids:
        _enqueue_link(session, sync.id, link_id, comments=True)
    session.commit()
    return len(link_ids)


# ---- queueing ----------------------------------------------------------------------------------


def _enqueue(session: Session, task: str, key: str, **kwargs: Any) -> None:
    """Queue a job unless one with the same key is already waiting: that one reads the issues when it runs."""
    try:
        with session.begin_nested():
            jobs.enqueue(session, task, queue=QUEUE, queueing_lock=key, **kwargs)
    except IntegrityError:
        pass


def _enqueue_link(session: Session, sync_id: int, link_id: int, *, comments: bool, event_at: str | None = None) -> None:
    _enqueue(
        session,
        "gateway:sync_link",
        f"sync-link-{link_id}{'-c' if comments else ''}",
        sync_id=sync_id,
        link_id=link_id,
        comments=comments,
        event_at=event_at,
    )


def _enqueue_backfill(session: Session, sync_id: int) -> None:
    _enqueue(session, "gateway:sync_backfill", f"sync-backfill-{sync_id}", sync_id=sync_id)


def enqueue_for_event(*, session: Session, event: Event) -> None:
    """Pipeline consumer: an event on a side of an enabled sync queues a propagation job (duplicates collapse)."""
    if event.issue_id is None or event.type.startswith("sync."):
        return
    syncs = session.execute(
        select(Sync.id, Sync.left_tracker_id).where(
            Sync.owner_id == event.owner_id,
            Sync.enabled.is_(True),
            or_(Sync.left_tracker_id == event.tracker_id, Sync.right_tracker_id == event.tracker_id),
        )
    ).all()
    comments = event.type.startswith("comment.")
    for sync_id, left_tracker_id in syncs:
        side = "left" if left_tracker_id == event.tracker_id else "right"
        _enqueue(
            session,
            "gateway:sync_issue",
            f"sync-{sync_id}-{side}-{event.issue_id}{'-c' if comments else ''}"[:200],
            sync_id=sync_id,
            side=side,
            issue_id=event.issue_id,
            comments=comments,
            event_at=event.occurred_at.isoformat(),
            chain_depth=event.chain_depth,
        )


# ---- values, hashes, backlinks -----------------------------------------------------------------


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:32]


def content(description: str | None) -> str:
    """The synced text of a description: without the gateway's backlink footers."""
    return _FOOTER.sub("", description or "").rstrip()


def _mirror_of(session: Session, sync: Sync, description: str | None) -> tuple[str, str | None] | None:
    """("own", op_key) for an issue carrying this sync's backlink, ("pair", None) for another sync's between the
    same two trackers (mirroring it again would duplicate it), else None."""
    for found in _FOOTER.finditer(description or ""):
        sync_id = int(found.group(1))
        if sync_id == sync.id:
            return "own", found.group(2)
        theirs = session.get(Sync, sync_id) if sync_id < 2**31 else None
        if theirs is not None and {theirs.left_tracker_id, theirs.right_tracker_id} == {
            sync.left_tracker_id,
            sync.right_tracker_id,
        }:
            return "pair", None
    return None


def _marker(sync_id: int, op_key: str) -> str:
    return f"<!-- tg-sync:{sync_id}:{op_key} -->"


def _with_footer(text_: str, sync_id: int, op_key: str, other_url: str | None, current: str | None = "") -> str:
    """`text_` with this sync's backlink footer, other syncs' footers on the current description kept."""
    kept = [found.group(0) for found in _FOOTER.finditer(current or "") if found.group(1) != str(sync_id)]
    footers = "\n\n".join([*kept, f"{_marker(sync_id, op_key)} _Synced with {other_url or 'its pair'} by Ticket Gateway._"])
    return f"{text_}\n\n{footers}" if text_ else footers


def _username(person: Any) -> str | None:  # a Person, a person's JSON, or None
    return person.username if hasattr(person, "username") else (person or {}).get("username")


def _has(dataclass_type: type, name: str) -> bool:
    return name in {item.name for item in dataclass_fields(dataclass_type)}


def _supports(tracker: Tracker, name: str) -> bool:
    """Whether the tracker's provider (with its options) has a capability, by name: absent names are simply False."""
    capability = getattr(Capability, name, None)
    cls = provider_class(tracker.provider)
    effective = getattr(cls, "effective_capabilities", None)
    return capability is not None and capability in (effective(tracker.options or {}) if effective else cls.capabilities)


def matches(sync: Sync, issue: IssueData) -> bool:
    """Whether an issue passes the sync's filter (labels_include, status, q)."""
    wanted = sync.filter or {}
    if not set(wanted.get("labels_include") or []) <= set(issue["labels"]):
        return False
    if wanted.get("status") and issue["status"] != wanted["status"]:
        return False
    needle = (wanted.get("q") or "").lower()
    return not needle or needle in issue["title"].lower() or needle in content(issue["description"]).lower()


# ---- the engine --------------------------------------------------------------------------------


@contextmanager
def _advisory_lock(key: str) -> Iterator[None]:
    """Serialize work on one pair across workers; a killed worker's connection drops and frees it."""
    from api.extensions import db

    connection = db.engine.connect()
    try:
        connection.execute(text("SELECT pg_advisory_lock(hashtext(:key))"), {"key": key})
        connection.commit()
        yield
    finally:
        try:
            connection.execute(text("SELECT pg_advisory_unlock(hashtext(:key))"), {"key": key})
            connection.commit()
        finally:
            connection.close()


class _Job:
    """One propagation run: the sync, its owner and trackers, and the calls it makes on either side."""

    def __init__(self, session: Session, sync: Sync, *, chain_depth: int = 0, event_at: str | None = None) -> None:
        self.session, self.sync = session, sync
        # The sync's foreign keys cascade: its owner and trackers exist while it does.
        self.owner = session.get_one(User, sync.owner_id)
        self.trackers = {
            "left": session.get_one(Tracker, sync.left_tracker_id),
            "right": session.get_one(Tracker, sync.right_tracker_id),
        }
        self.depth = chain_depth
        self.event_at = datetime.fromisoformat(event_at) if event_at else None
        self._members: dict[str, dict[str, str]] = {}
        self.notes: dict[str, str] = {}  # what could not be carried over, by side and field
        self.compare_category = all(_supports(t, "IN_PROGRESS") for t in self.trackers.values())
        self.compare_priority = _has(IssueChanges, "priority") and all(_supports(t, "PRIORITY") for t in self.trackers.values())

    def tracker_id(self, side: str) -> int:
        return self.trackers[side].id

    def title(self, side: str) -> str:
        return provider_class(self.trackers[side].provider).title()

    def remote(self, side: str) -> bool:
        return not provider_class(self.trackers[side].provider).stores_issues_locally

    def _mark(self, side: str, issue_id: str, kinds: Iterable[str]) -> None:
        """Remember a write we are about to make on a remote tracker, so its webhook echo is known as ours."""
        if self.remote(side):
            self.session.add(
                GatewayChange(
                    tracker_id=self.tracker_id(side),
                    issue_id=issue_id,
                    kinds=sorted(set(kinds)),
                    rule_id=None,
                    chain_depth=self.depth,
                    created_at=utcnow(),
                )
            )
            self.session.commit()

    def _call(self, func: Callable[..., R], **kwargs: Any) -> R:
        with events_service.acting_for(rule_id=None, chain_depth=self.depth):
            return func(session=self.session, owner=self.owner, **kwargs)

    def get_issue(self, side: str, issue_id: str) -> IssueData | None:
        try:
            return self._call(trackers_service.get_issue, tracker_id=self.tracker_id(side), issue_id=issue_id)
        except TrackerNotFound:
            return None

    def _labels_fallback(self, side: str, data: dict[str, Any], write: Callable[[dict[str, Any]], IssueData]) -> IssueData:
        """A write refused for labels the target lacks (and will not create) goes again without them, noted."""
        try:
            return write(data)
        except TrackerValidationError:
            if not data.get("labels"):
                raise
            known = {
                label["name"] for label in self._call(trackers_service.list_labels, tracker_id=self.tracker_id(side))["labels"]
            }
            missing = [name for name in data["labels"] if name not in known]
            if not missing:
                raise
            self.notes[f"{side}_labels"] = f"labels not on the {side} side: {', '.join(missing)}"
            return write({**data, "labels": [name for name in data["labels"] if name in known]})

    def create_issue(self, side: str, data: dict[str, Any]) -> IssueData:
        self._mark(side, "*", ["issue.created"])
        issue = self._labels_fallback(
            side, data, lambda body: self._call(trackers_service.create_issue, tracker_id=self.tracker_id(side), data=body)
        )
        self.observe_lag()
        return issue

    def update_issue(self, side: str, issue_id: str, data: dict[str, Any]) -> IssueData:
        self._mark(side, issue_id, [kind for name in data for kind in ECHO_KINDS.get(name, ["issue.updated"])])
        issue = self._labels_fallback(
            side,
            data,
            lambda body: self._call(
                trackers_service.update_issue, tracker_id=self.tracker_id(side), issue_id=issue_id, data=body
            ),
        )
        self.observe_lag()
        return issue

    def list_issues(self, side: str, **query: Any) -> dict[str, Any]:
        return self._call(trackers_service.list_issues, tracker_id=self.tracker_id(side), query={"limit": 100, **query})

    def comments(self, side: str, issue_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while len(items) < MAX_COMMENTS:
            page = self._call(
                trackers_service.list_comments, tracker_id=self.tracker_id(side), issue_id=issue_id, limit=100, cursor=cursor
            )
            items += page["comments"]
            cursor = page["next_cursor"]
            if not cursor:
                break
        return items

    def create_comment(self, side: str, issue_id: str, body: str) -> dict[str, Any]:
        self._mark(side, issue_id, ["comment.created"])
        comment = self._call(trackers_service.create_comment, tracker_id=self.tracker_id(side), issue_id=issue_id, body=body)
        self.observe_lag()
        return comment

    def members(self, side: str) -> dict[str, str]:
        if side not in self._members:
            try:
                found = self._call(trackers_service.list_members, tracker_id=self.tracker_id(side))["members"]
            except TrackerError:
                found = []
            self._members[side] = {person["username"].lower(): person["username"] for person in found if person.get("username")}
        return self._members[side]

    def observe_lag(self) -> None:
        if self.event_at is not None:
            sync_lag.observe(max(0.0, (utcnow() - self.event_at).total_seconds()))

    def record(self, side: str, issue_id: str | None, event_type: str, changes: dict[str, Any]) -> None:
        """A sync.* event on one side's tracker: it reaches automations and subscriptions like the others."""
        events_service.record(
            session=self.session,
            tracker=self.trackers[side],
            item=WebhookEvent(event_type, issue_id, changes={"sync_id": self.sync.id, **changes}),
            chain_depth=self.depth,
        )

    # ---- field values on each side ----

    def values(self, issue: IssueData) -> dict[str, Any]:
        status = issue["status"]
        if self.compare_category:
            status = issue.get("status_category") or ("done" if status == "closed" else "todo")
        return {
            "title": issue["title"],
            "description": content(issue["description"]),
            "status": status,
            "labels": sorted(set(issue["labels"])),
            "assignees": sorted({(_username(p) or "").lower() for p in issue["assignees"]} - {""}),
            "priority": issue.get("priority") if self.compare_priority else None,
        }

    def map_assignees(self, side: str, names: Iterable[str]) -> tuple[list[str], str | None]:
        """Usernames from the other side as members of this side; (found, note naming those left out)."""
        members = self.members(side)
        found = [members[name] for name in names if name in members]
        missing = [name for name in names if name not in members]
        return found, (f"not members on the {side} side: {', '.join(missing)}" if missing else None)

    def status_write(self, value: str, mine: Mapping[str, Any], current: IssueData) -> dict[str, str]:
        """The status change for a side: its category where both sides compare by category, else open/closed."""
        if self.compare_category and _has(IssueChanges, "status_category"):
            return {"status_category": value} if value != mine["status"] else {}
        status = "closed" if value in ("closed", "done") else "open"
        return {"status": status} if status != current["status"] else {}

    def write_data(
        self, side: str, writes: Mapping[str, Any], link: SyncLink, current: IssueData
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """IssueChanges fields for one side's write, the footer kept; fields that would change nothing are dropped."""
        data: dict[str, Any] = {}
        notes: dict[str, str] = {}
        mine = self.values(current)
        for name, value in writes.items():
            if name == "description":
                data["description"] = _with_footer(
                    value, self.sync.id, link.op_key, getattr(link, f"{other(side)}_url"), current["description"]
                )
            elif name == "status":
                data.update(self.status_write(value, mine, current))
            elif name == "assignees":
                found, note = self.map_assignees(side, value)
                if note:
                    notes[f"{side}_assignees"] = note
                if sorted(item.lower() for item in found) != mine["assignees"]:
                    data["assignees"] = found
            elif value != mine[name]:
                data[name] = value
        return data, notes


def _tracker_id(sync: Sync, side: str) -> int:
    return sync.left_tracker_id if side == "left" else sync.right_tracker_id


def _find_link(session: Session, sync_id: int, side: str, issue_id: str) -> SyncLink | None:
    column = SyncLink.left_issue_id if side == "left" else SyncLink.right_issue_id
    return session.scalar(select(SyncLink).where(SyncLink.sync_id == sync_id, column == issue_id))


def _describe(exc: Exception) -> str:
    return exc.message if isinstance(exc, ApiError) else f"Internal error ({type(exc).__name__})."


def _fail(session: Session, sync_id: int, link_id: int | None, exc: Exception, job: _Job | None) -> None:
    """Mark the link `error` with the reason (a sync.failed event when it turns so); the job is retried."""
    session.rollback()
    link = session.get(SyncLink, link_id) if link_id else None
    if link is None:
        return
    turned = link.state != "error"
    link.state, link.error = "error", _describe(exc)
    if turned and job is not None:
        side = "left" if link.left_issue_id else "right"
        job.record(side, getattr(link, f"{side}_issue_id"), "sync.failed", {"link_id": link.id, "error": link.error})
    session.commit()


def run_issue(
    *,
    session: Session,
    sync_id: int,
    side: str,
    issue_id: str,
    comments: bool = False,
    event_at: str | None = None,
    chain_depth: int = 0,
) -> None:
    """A change on one side: reconcile its pair, or mirror it on the other side when it is new and matches."""
    sync = session.get(Sync, sync_id)
    if sync is None or not sync.enabled:
        return
    link = _find_link(session, sync_id, side, issue_id)
    if link is None:
        with _advisory_lock(f"sync-src:{sync_id}:{side}:{issue_id}"):
            session.expire_all()
            link = _find_link(session, sync_id, side, issue_id) or _new_link(session, sync, side, issue_id, chain_depth)
    if link is not None:
        run_link(
            session=session,
            sync_id=sync_id,
            link_id=link.id,
            comments=True if link.state == "pending" else comments,
            event_at=event_at,
            chain_depth=chain_depth,
        )


def _new_link(session: Session, sync: Sync, side: str, issue_id: str, chain_depth: int) -> SyncLink | None:
    """The pending link for a new issue (committed before any remote create), or None when it is not to be mirrored."""
    job = _Job(session, sync, chain_depth=chain_depth)
    issue = job.get_issue(side, issue_id)
    if issue is None:
        return None
    if issue["id"] != issue_id:  # the event named the issue another way (a provider whose comment deliveries name it by number)
        known = _find_link(session, sync.id, side, issue["id"])
        if known is not None:
            return known
    found = _mirror_of(session, sync, issue["description"])
    if found:
        # A mirror (or a source that has one): never mirrored back. A mirror whose create was not yet recorded (the
        # worker died, or the webhook came first) is adopted by its link here.
        link = session.scalar(select(SyncLink).where(SyncLink.op_key == found[1])) if found[1] else None
        if link is not None and link.sync_id == sync.id and getattr(link, f"{side}_issue_id") is None:
            setattr(link, f"{side}_issue_id", issue["id"])
            setattr(link, f"{side}_url", issue["url"])
            session.commit()
            return link
        return None
    if side not in _sources(sync, "create") or not matches(sync, issue):
        return None
    link = SyncLink(sync_id=sync.id, origin=side, op_key=uuid.uuid4().hex, state="pending", hashes={}, conflicts=[], notes={})
    setattr(link, f"{side}_issue_id", issue["id"])
    setattr(link, f"{side}_url", issue["url"])
    session.add(link)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return _find_link(session, sync.id, side, issue["id"])
    return link


def run_link(
    *, session: Session, sync_id: int, link_id: int, comments: bool = False, event_at: str | None = None, chain_depth: int = 0
) -> None:
    """Bring one pair in step: create the mirror if it is missing, carry changed fields, mirror new comments."""
    sync = session.get(Sync, sync_id)
    if sync is None or not sync.enabled:
        return
    job = _Job(session, sync, chain_depth=chain_depth, event_at=event_at)
    with _advisory_lock(f"sync-link:{link_id}"):
        session.expire_all()
        link = session.get(SyncLink, link_id)
        if link is None:
            return
        try:
            created = False
            if link.origin != "pair" and getattr(link, f"{other(link.origin)}_issue_id") is None:
                if not _create_mirror(job, link):
                    return
                created = True
            issues = _reconcile(job, link)
            if issues is None:
                return
            if comments or created:
                _sync_comments(job, link)
            link.state = "conflict" if link.notes.get("conflicted") else "ok"
            link.error, link.last_synced_at = None, utcnow()
            session.commit()
        except Exception as exc:
            _fail(session, sync_id, link_id, exc, job)
            if not isinstance(exc, ApiError):
                log.exception("sync %s link %s failed", sync_id, link_id)
            raise


def _create_mirror(job: _Job, link: SyncLink) -> bool:
    """Create the other side's issue once: a retry finds the first attempt's mirror by the link's marker."""
    session, sync = job.session, job.sync
    src, dst = link.origin, other(link.origin)
    source = job.get_issue(src, getattr(link, f"{src}_issue_id"))
    if source is None:
        session.delete(link)
        session.commit()
        return False
    mirror = _find_by_marker(job, dst, link) if link.notes.get("create_attempts") else None
    if mirror is None:
        link.notes = {**link.notes, "create_attempts": link.notes.get("create_attempts", 0) + 1}
        session.commit()  # the attempt is on record before the remote create
        data = {
            "title": source["title"],
            "description": _with_footer(content(source["description"]), sync.id, link.op_key, source["url"]),
        }
        notes = {}
        if src in _sources(sync, "labels"):
            data["labels"] = sorted(set(source["labels"]))
        if job.compare_priority and src in _sources(sync, "priority") and source.get("priority"):
            data["priority"] = source["priority"]
        if src in _sources(sync, "assignees"):
            data["assignees"], note = job.map_assignees(dst, job.values(source)["assignees"])
            if note:
                notes[f"{dst}_assignees"] = note
        mirror = job.create_issue(dst, data)
        job.notes.update(notes)
    setattr(link, f"{dst}_issue_id", mirror["id"])
    setattr(link, f"{dst}_url", mirror["url"])
    # The mirror's values are its baseline; the source has none, so whatever the create did not carry (status,
    # priority) is written from the source by the reconcile that follows.
    link.hashes = {dst: {name: _hash(value) for name, value in job.values(mirror).items()}, src: {}}
    session.commit()
    job.record(
        src,
        source["id"],
        "sync.linked",
        {
            "link_id": link.id,
            "left_issue_id": link.left_issue_id,
            "right_issue_id": link.right_issue_id,
            "left_url": link.left_url,
            "right_url": link.right_url,
        },
    )
    session.commit()
    return True


def _find_by_marker(job: _Job, side: str, link: SyncLink) -> IssueData | None:
    """The issue on `side` whose backlink carries this link's operation key (a create that went through), or None."""
    needle = _marker(job.sync.id, link.op_key)
    since = link.created_at - timedelta(minutes=10)
    cursor = None
    for _ in range(MARKER_SCAN_PAGES):
        page = job.list_issues(side, updated_since=since, cursor=cursor)
        for issue in page["issues"]:
            if needle in (issue["description"] or ""):
                return issue
        cursor = page["next_cursor"]
        if not cursor:
            return None
    return None


def _winner(job: _Job, issues: Mapping[str, IssueData], sources: set[str]) -> str | None:
    """Who wins a conflict: the policy, within the directions the field may flow."""
    if len(sources) < 2:
        return next(iter(sources), None)
    policy = job.sync.conflict_policy
    if policy in SIDES:
        return policy
    return "right" if issues["right"]["updated_at"] > issues["left"]["updated_at"] else "left"


def _baseline(link: SyncLink, values: Mapping[str, dict[str, Any]]) -> tuple[dict[str, dict[str, str]], bool]:
    """The value hashes each side had when last synced, and whether this is a fresh pair's first pass."""
    stored = link.hashes or {}
    hashes = {side: dict(stored.get(side) or {}) for side in SIDES}
    if link.origin in SIDES and not hashes[other(link.origin)]:
        # A mirror adopted after its creator died: it is the baseline, as _create_mirror would have recorded.
        hashes[other(link.origin)] = {name: _hash(value) for name, value in values[other(link.origin)].items()}
    return hashes, link.origin == "pair" and not any(hashes.values())


def _field_winner(job: _Job, issues: Mapping[str, IssueData], name: str, changed: set[str]) -> str | None:
    """The side whose value of a field flows to the other, or None (nothing may flow, or nothing changed)."""
    sources = _sources(job.sync, name)
    if changed == set(SIDES):
        return _winner(job, issues, sources)
    if changed:
        (side,) = changed
        return side if side in sources else None
    return None


def _plan(
    job: _Job,
    issues: Mapping[str, IssueData],
    values: Mapping[str, dict[str, Any]],
    hashes: dict[str, dict[str, str]],
    initial: bool,
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Per side, the fields to write there, and the conflicts settled (hashes updated for what needs no write)."""
    writes: dict[str, dict[str, Any]] = {side: {} for side in SIDES}
    conflicts, now = [], utcnow().isoformat()
    for name in FIELDS:
        if name == "priority" and not job.compare_priority:
            continue
        current = {side: _hash(values[side][name]) for side in SIDES}
        changed = {side for side in SIDES if hashes[side].get(name) != current[side]}
        winner = None if current["left"] == current["right"] else _field_winner(job, issues, name, changed)
        if winner is None:  # equal, nothing may flow, or both stayed as last synced: accept each side as it is
            hashes["left"][name], hashes["right"][name] = current["left"], current["right"]
            continue
        loser = other(winner)
        if changed == set(SIDES):
            conflicts.append(
                {
                    "field": name,
                    "side": loser,
                    "value": values[loser][name],
                    "kept": winner,
                    "kept_value": values[winner][name],
                    "at": now,
                    "initial": initial,
                }
            )
        writes[loser][name] = values[winner][name]
        hashes[winner][name] = current[winner]
    return writes, conflicts


def _write_sides(
    job: _Job,
    link: SyncLink,
    issues: dict[str, IssueData],
    writes: Mapping[str, dict[str, Any]],
    hashes: dict[str, dict[str, str]],
) -> dict[str, str]:
    """Make the planned writes on each side; what could not be carried over (assignees) for the link's notes."""
    unmapped = dict(link.notes.get("unmapped") or {})
    unmapped.update(job.notes)
    for side in SIDES:
        if not writes[side]:
            continue
        data, notes = job.write_data(side, writes[side], link, issues[side])
        unmapped.update(notes)
        if data:
            issues[side] = job.update_issue(side, getattr(link, f"{side}_issue_id"), data)
        written = job.values(issues[side])
        for name in writes[side]:
            hashes[side][name] = _hash(written[name])
    unmapped.update(job.notes)
    return unmapped


def _record_conflicts(job: _Job, link: SyncLink, conflicts: list[dict[str, Any]], initial: bool) -> None:
    if conflicts:
        link.conflicts = [*(link.conflicts or []), *conflicts][-MAX_CONFLICTS_KEPT:]
    job.session.commit()
    if conflicts and not initial:
        for conflict in conflicts:
            job.record(
                conflict["side"], getattr(link, f"{conflict['side']}_issue_id"), "sync.conflict", {"link_id": link.id, **conflict}
            )
        job.session.commit()


def _reconcile(job: _Job, link: SyncLink) -> dict[str, IssueData] | None:
    """Carry each field changed on one side since the last sync to the other; None when the pair is gone."""
    fetched = {side: job.get_issue(side, getattr(link, f"{side}_issue_id")) for side in SIDES}
    issues: dict[str, IssueData] = {}
    for side in SIDES:
        issue = fetched[side]
        if issue is None:
            _apply_delete(job, link, side, fetched[other(side)])
            return None
        issues[side] = issue
    values = {side: job.values(issues[side]) for side in SIDES}
    hashes, initial = _baseline(link, values)
    writes, conflicts = _plan(job, issues, values, hashes, initial)
    needle = _marker(job.sync.id, link.op_key)
    for side in SIDES:  # the backlink: a side without this link's footer gets it with its own text
        if needle not in (issues[side]["description"] or ""):
            writes[side].setdefault("description", values[side]["description"])
    unmapped = _write_sides(job, link, issues, writes, hashes)
    link.hashes = hashes
    link.notes = {**link.notes, "unmapped": unmapped}
    if conflicts or any(writes.values()):  # a pass with nothing to carry (an echo) leaves a conflict on show
        link.notes = {**link.notes, "conflicted": bool(conflicts) and not initial}
    _record_conflicts(job, link, conflicts, initial)
    return issues


def _apply_delete(job: _Job, link: SyncLink, deleted_side: str, survivor: IssueData | None) -> None:
    """One issue of the pair is gone: on_delete says what happens to the other, then the pair is forgotten."""
    session, sync = job.session, job.sync
    target = other(deleted_side)
    target_id = getattr(link, f"{target}_issue_id")
    if survivor is not None and deleted_side in _sources(sync, "create"):
        delete_issue = getattr(trackers_service, "delete_issue", None)
        if sync.on_delete == "delete" and delete_issue is not None and _supports(job.trackers[target], "ISSUE_DELETE"):
            job._mark(target, target_id, ["issue.deleted"])
            job._call(delete_issue, tracker_id=job.tracker_id(target), issue_id=target_id)
        elif sync.on_delete in ("close", "delete") and survivor["status"] != "closed":
            job.update_issue(target, target_id, {"status": "closed"})
    session.delete(link)
    session.commit()


def _attributed(job: _Job, side: str, comment: Mapping[str, Any], op_key: str) -> str:
    author = _username(comment.get("author")) or "someone"
    return f"**{author}** ({job.title(side)}): {comment['body']}\n\n<!-- tg-sync-comment:{op_key} -->"


def _sync_comments(job: _Job, link: SyncLink) -> None:
    """Mirror each comment once, in order, with attribution; a retry finds a mirror already made by its marker."""
    session, sync = job.session, job.sync
    sources = _sources(sync, "comments")
    if not sources:
        return
    rows = list(session.scalars(select(SyncComment).where(SyncComment.link_id == link.id)))
    for src in SIDES:
        if src not in sources:
            continue
        dst = other(src)
        src_id, dst_id = getattr(link, f"{src}_issue_id"), getattr(link, f"{dst}_issue_id")
        done = {row.source_comment_id: row for row in rows if row.source_side == src}
        mirrors = {row.mirror_comment_id for row in rows if row.source_side == dst}
        target_comments = None
        listed = job.comments(src, src_id)
        _follow_edits(
            job,
            dst,
            dst_id,
            listed,
            [row for row in rows if row.source_side == src and row.mirror_comment_id],
            complete=len(listed) < MAX_COMMENTS,
        )
        for comment in listed:
            row = done.get(comment["id"])
            if (row is not None and row.mirror_comment_id) or comment["id"] in mirrors or _COMMENT_MARK.search(comment["body"]):
                continue
            mirror = None
            if row is None:
                row = SyncComment(
                    link_id=link.id,
                    source_side=src,
                    source_comment_id=comment["id"],
                    op_key=uuid.uuid4().hex,
                    created_at=utcnow(),
                )
                session.add(row)
                session.commit()  # on record before the remote create
                rows.append(row)
            else:
                if target_comments is None:
                    target_comments = job.comments(dst, dst_id)
                mirror = next((c for c in target_comments if f"tg-sync-comment:{row.op_key}" in c["body"]), None)
            if mirror is None:
                mirror = job.create_comment(dst, dst_id, _attributed(job, src, comment, row.op_key))
            row.mirror_comment_id, row.body_hash = mirror["id"], _hash(comment["body"])
            session.commit()


def _follow_edits(
    job: _Job, dst: str, dst_id: str, listed: list[dict[str, Any]], rows: list[SyncComment], *, complete: bool
) -> None:
    """A mirrored comment edited or deleted at its source follows, where the mirror's tracker can edit or delete."""
    session = job.session
    by_id = {comment["id"]: comment for comment in listed}
    for row in rows:
        comment = by_id.get(row.source_comment_id)
        try:
            if comment is None and complete:
                if _supports(job.trackers[dst], "COMMENT_DELETE") and hasattr(trackers_service, "delete_comment"):
                    job._mark(dst, dst_id, ["comment.deleted"])
                    job._call(
                        trackers_service.delete_comment,
                        tracker_id=job.tracker_id(dst),
                        issue_id=dst_id,
                        comment_id=row.mirror_comment_id,
                    )
                session.delete(row)
            elif (
                comment is not None
                and row.body_hash
                and row.body_hash != _hash(comment["body"])
                and _supports(job.trackers[dst], "COMMENT_EDIT")
                and hasattr(trackers_service, "update_comment")
            ):
                job._mark(dst, dst_id, ["comment.updated"])
                job._call(
                    trackers_service.update_comment,
                    tracker_id=job.tracker_id(dst),
                    issue_id=dst_id,
                    comment_id=row.mirror_comment_id,
                    body=_attributed(job, other(dst), comment, row.op_key),
                )
                row.body_hash = _hash(comment["body"])
                job.observe_lag()
        except TrackerNotFound:  # the mirror is gone already
            session.delete(row)
        session.commit()


def run_backfill(*, session: Session, sync_id: int) -> None:
    """Queue every existing matching issue of each source side once; the cursor is kept, so a restart resumes."""
    sync = session.get(Sync, sync_id)
    if sync is None or not sync.enabled or not sync.backfill:
        return
    job = _Job(session, sync)
    wanted = sync.filter or {}
    query = {
        "status": wanted.get("status"),
        "labels": ",".join(wanted.get("labels_include") or []),
        "q": wanted.get("q"),
        "limit": BACKFILL_PAGE,
    }
    for side in SIDES:
        if side not in _sources(sync, "create"):
            continue
        while (sync.backfill_state or {}).get(side) != "done":
            page = job.list_issues(side, **query, cursor=(sync.backfill_state or {}).get(side))
            for issue in page["issues"]:
                if _mirror_of(session, sync, issue["description"]) or _find_link(session, sync.id, side, issue["id"]):
                    continue
                _enqueue(
                    session,
                    "gateway:sync_issue",
                    f"sync-{sync.id}-{side}-{issue['id']}"[:200],
                    sync_id=sync.id,
                    side=side,
                    issue_id=issue["id"],
                    comments=True,
                    event_at=None,
                    chain_depth=0,
                )
            sync.backfill_state = {**(sync.backfill_state or {}), side: page["next_cursor"] or "done"}
            session.commit()

"""The normalized event stream: its JSON shape, listing, recording, and the events of locally stored trackers.

Recording hands each event to the consumers api/pipeline.py installs; this module imports none of them.
"""

import contextlib
import contextvars
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.models.base import utcnow
from api.models.events import Event
from api.models.trackers import Tracker
from api.schemas.events import event_schema
from api.schemas.fastdump import fast_dump
from api.services.pagination import Page, keyset_page
from api.trackers.base import EVENT_TYPES, Issue, WebhookEvent  # noqa: F401  (EVENT_TYPES: re-exported)

# Set while an automation acts, so the events its changes cause carry the chain (loop protection).
_origin: contextvars.ContextVar[tuple[int | None, int] | None] = contextvars.ContextVar("automation_origin", default=None)

# A consumer takes (session=, event=).
Consumer = Callable[..., None]
# The consumers of recorded events, in order; installed once per process by api.pipeline.install().
_consumers: tuple[Consumer, ...] | None = None


def set_consumers(consumers: Iterable[Consumer]) -> None:
    """Wire the functions (session=, event=) that every recorded event is handed to, in the caller's transaction."""
    global _consumers
    _consumers = tuple(consumers)


def event_to_dict(event: Event) -> dict[str, Any]:
    """The JSON of an event, as listed by the API and sent to subscribers."""
    return fast_dump(event_schema, event)


def list_events(*, session: Session, tracker_id: int, limit: int, cursor: str | None) -> Page:
    """A tracker's events, newest first."""
    stmt = select(Event).where(Event.tracker_id == tracker_id)
    return keyset_page(session, stmt, key=Event.id, limit=limit, cursor=cursor, descending=True)


@contextlib.contextmanager
def acting_for(*, rule_id: int | None, chain_depth: int) -> Iterator[None]:
    """Mark changes made inside this block as an automation's (rule, depth of the event that triggered it)."""
    token = _origin.set((rule_id, chain_depth))
    try:
        yield
    finally:
        _origin.reset(token)


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of `value`: dates and times as ISO strings, anything else JSON lacks as its str()."""
    return json.loads(json.dumps(value, default=lambda item: item.isoformat() if hasattr(item, "isoformat") else str(item)))


def record(
    *,
    session: Session,
    tracker: Tracker,
    item: WebhookEvent,
    delivery_id: int | None = None,
    chain_depth: int = 0,
    caused_by_rule_id: int | None = None,
    source: str | None = None,
) -> Event:
    """Store one normalized event and hand it to the pipeline's consumers (in the caller's transaction)."""
    if _consumers is None:
        raise RuntimeError("No event consumers installed: the composition root must call api.pipeline.install().")
    issue = None
    if item.issue is not None:
        # remote_data (the provider's whole payload) is not stored: left out before asdict deep-copies it.
        issue = jsonable({**asdict(replace(item.issue, remote_data=None)), "tracker_id": tracker.id})
        issue.pop("remote_data", None)
    event = Event(
        tracker_id=tracker.id,
        owner_id=tracker.owner_id,
        delivery_id=delivery_id,
        type=item.type,
        issue_id=item.issue_id,
        issue=issue,
        comment=jsonable(asdict(item.comment)) if item.comment else None,
        changes=jsonable(item.changes or {}),
        chain_depth=chain_depth,
        caused_by_rule_id=caused_by_rule_id,
        source=source,
        occurred_at=utcnow(),
    )
    session.add(event)
    session.flush()
    for consume in _consumers:
        consume(session=session, event=event)
    return event


def emit(*, session: Session, tracker: Tracker, items: Iterable[WebhookEvent], source: str = "gateway") -> None:
    """Events of the gateway's own changes: recorded with its changes, committed by the caller."""
    origin = _origin.get()
    for item in items:
        record(
            session=session,
            tracker=tracker,
            item=item,
            chain_depth=origin[1] + 1 if origin else 0,
            caused_by_rule_id=origin[0] if origin else None,
            source=source,
        )


# The fields an issue.updated names in its changes, {field: {"from", "to"}}.
EDITED = ("title", "description", "due_date", "priority", "remote_priority", "issue_type", "parent_id")


def changes_between(before: Issue, after: Issue) -> list[WebhookEvent]:
    """The unified events an issue update amounts to."""
    items = []
    if before.status != after.status:
        items.append(WebhookEvent("issue.closed" if after.status == "closed" else "issue.reopened", after.id, after))
    added, removed = set(after.labels) - set(before.labels), set(before.labels) - set(after.labels)
    if added:
        items.append(WebhookEvent("issue.labeled", after.id, after, changes={"labels": {"added": sorted(added)}}))
    if removed:
        items.append(WebhookEvent("issue.unlabeled", after.id, after, changes={"labels": {"removed": sorted(removed)}}))
    assigned = {p.username for p in after.assignees} - {p.username for p in before.assignees}
    if assigned:
        items.append(WebhookEvent("issue.assigned", after.id, after, changes={"assignees": {"added": sorted(assigned)}}))
    edited = {
        name: {"from": getattr(before, name), "to": getattr(after, name)}
        for name in EDITED
        if getattr(before, name) != getattr(after, name)
    }
    if edited or not items:
        items.append(WebhookEvent("issue.updated", after.id, after, changes=edited))
    return items

"""The normalized event stream: its JSON shape and listing."""

from sqlalchemy import select

from api.models.webhooks import Event
from api.services.pagination import keyset_page

EVENT_TYPES = (
    "issue.created", "issue.updated", "issue.closed", "issue.reopened", "issue.labeled", "issue.unlabeled",
    "issue.assigned", "issue.deleted", "comment.created", "comment.updated", "comment.deleted",
)


def event_to_dict(event):
    """The JSON of an event, as listed by the API and sent to subscribers."""
    return {
        "id": event.id,
        "type": event.type,
        "tracker_id": event.tracker_id,
        "issue_id": event.issue_id,
        "issue": event.issue,
        "comment": event.comment,
        "changes": event.changes or {},
        "chain_depth": event.chain_depth,
        "occurred_at": event.occurred_at.isoformat(),
    }


def list_events(*, session, tracker_id, limit, cursor):
    """A tracker's events, newest first."""
    stmt = select(Event).where(Event.tracker_id == tracker_id)
    return keyset_page(session, stmt, key=Event.id, limit=limit, cursor=cursor, descending=True)

"""Who consumes recorded events: one list, installed once by each composition root (the web app and the worker).

Each consumer is called as consumer(session=, event=) in the transaction that records the event, and only
enqueues its own work there; consumers never import each other, and api/services/events.py imports none of them.
"""

from sqlalchemy import text

from api.services import automations, events, subscriptions, sync

CONSUMERS = (
    automations.match_and_enqueue,  # rules matching the event -> runs on the automations queue
    subscriptions.fan_out,  # subscriptions to the event type -> signed deliveries on the outbound queue
    sync.enqueue_for_event,  # an event on a side of an enabled sync -> a propagation job on the sync queue
)

# Whether the event's owner has anything each consumer (same order) would read: enabled rules, enabled subscriptions,
# an enabled sync with this tracker on a side. Each is a superset of what that consumer selects, so skipping a consumer
# on False changes nothing; most owners have none, and one statement then stands for three ORM queries per event.
_INTERESTED = text("""
    SELECT EXISTS (SELECT 1 FROM automations WHERE owner_id = :owner_id AND enabled),
           EXISTS (SELECT 1 FROM subscriptions WHERE owner_id = :owner_id AND enabled),
           EXISTS (SELECT 1 FROM syncs WHERE owner_id = :owner_id AND enabled
                   AND (left_tracker_id = :tracker_id OR right_tracker_id = :tracker_id))
""")


def consume(*, session, event):
    """Hand a recorded event to the consumers that have something to read for its owner."""
    interested = session.execute(_INTERESTED, {"owner_id": event.owner_id, "tracker_id": event.tracker_id}).one()
    for consumer, wanted in zip(CONSUMERS, interested, strict=True):
        if wanted:
            consumer(session=session, event=event)


def install():
    """Wire the consumers to api.services.events.record (idempotent)."""
    events.set_consumers((consume,))

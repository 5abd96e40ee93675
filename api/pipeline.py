"""Who consumes recorded events: one list, installed once by each composition root (the web app and the worker).

Each consumer is called as consumer(session=, event=) in the transaction that records the event, and only
enqueues its own work there; consumers never import each other, and api/services/events.py imports none of them.
"""

from api.services import automations, events, subscriptions, sync

CONSUMERS = (
    automations.match_and_enqueue,  # rules matching the event -> runs on the automations queue
    subscriptions.fan_out,  # subscriptions to the event type -> signed deliveries on the outbound queue
    sync.enqueue_for_event,  # an event on a side of an enabled sync -> a propagation job on the sync queue
)


def install():
    """Wire CONSUMERS to api.services.events.record (idempotent)."""
    events.set_consumers(CONSUMERS)

"""Inbound webhooks: verify, store durably with their job, normalize once, hand events on."""

import hashlib
import logging
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import Row, String, any_, bindparam, delete, exists, select, text
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from api import crypto, jobs
from api.errors import BadRequest, NotFound, Unauthorized
from api.http import loads_bounded
from api.metrics import webhook_deliveries
from api.models.base import utcnow
from api.models.trackers import Tracker
from api.models.users import User
from api.models.webhooks import GatewayChange, WebhookBodyHash, WebhookDelivery
from api.services import events as events_service
from api.services import index as index_service
from api.services import trackers as trackers_service
from api.trackers.base import Capability, ManualWebhookSetup, TrackerConfig, WebhookEvent, WebhookRegistration
from api.trackers.registry import provider_class

log = logging.getLogger(__name__)

# A text() statement is compiled once; the PostgreSQL insert() construct is recompiled on every call.
# The payload is stored from the raw body, so PostgreSQL parses it once and Python never re-serialises it.
_STORE = text("""
    INSERT INTO webhook_deliveries (tracker_id, delivery_key, event_name, payload, status, received_at)
    VALUES (:tracker_id, :key, :event, CAST(:payload AS jsonb), 'pending', :now)
    ON CONFLICT ON CONSTRAINT uq_webhook_deliveries_tracker_id_delivery_key DO NOTHING
    RETURNING id
""")

# A verified body seen on this tracker within the replay window is a replay, whatever its (unsigned) delivery id:
# a new row, or one whose last sighting is older than the window, is taken; a recent one is not.
_SEEN_BODY = text("""
    INSERT INTO webhook_body_hashes (tracker_id, body_sha256, delivery_id, received_at)
    VALUES (:tracker_id, :digest, :delivery_id, :now)
    ON CONFLICT (tracker_id, body_sha256) DO UPDATE SET delivery_id = EXCLUDED.delivery_id, received_at = EXCLUDED.received_at
        WHERE webhook_body_hashes.received_at < :cutoff
    RETURNING delivery_id
""")

# What verifying and storing a delivery reads of its tracker: a row, not an ORM object (about half the CPU of session.get).
_TRACKER = select(Tracker.id, Tracker.provider, Tracker.target, Tracker.options, Tracker.webhook_secret_encrypted).where(
    Tracker.id == bindparam("tracker_id")
)

_REFUSED = "The delivery's signature or token does not verify."

# An automation's change is recognised in the tracker's webhook echo for this long.
ECHO_WINDOW = timedelta(minutes=15)


def _registration(tracker: Tracker | Row[Any]) -> WebhookRegistration | None:
    if not tracker.webhook_secret_encrypted:
        return None
    return WebhookRegistration(**crypto.decrypt_json(tracker.webhook_secret_encrypted))


def callback_url(tracker_id: int) -> str:
    """The URL providers call: PUBLIC_BASE_URL + /api/v1/webhooks/<id> (never the request's host)."""
    return f"{current_app.config['PUBLIC_BASE_URL'].rstrip('/')}/api/v1/webhooks/{tracker_id}"


def register(*, session: Session, owner: User, tracker_id: int) -> dict[str, str]:
    """Create (or replace) the gateway's webhook on the provider; a replaced hook is removed first."""
    tracker, provider = trackers_service.connect(session=session, owner=owner, tracker_id=tracker_id)
    provider.require(Capability.WEBHOOKS, "Webhooks")
    previous = _registration(tracker)
    if previous is not None:
        # First, because some providers refuse a second hook for the same callback URL, and the old hook (whose
        # secret is about to be forgotten) must not stay alive on the provider.
        trackers_service.call_provider(tracker, "delete_webhook", provider.delete_webhook, previous.hook_id)
        tracker.webhook_id = tracker.webhook_secret_encrypted = None
        session.commit()
    try:
        registration = trackers_service.call_provider(
            tracker, "create_webhook", provider.create_webhook, callback_url(tracker.id)
        )
    except ManualWebhookSetup as exc:
        # The owner pastes the URL and this secret in the tracker's admin screens; deliveries then verify against it.
        secret = secrets.token_urlsafe(32)
        registration = WebhookRegistration(hook_id="", secret=secret, callback_url=callback_url(tracker.id))
        tracker.webhook_id = None
        tracker.webhook_secret_encrypted = crypto.encrypt_json(vars(registration))
        session.commit()
        raise ManualWebhookSetup(f"{exc.message} Secret: {secret} (shown only now; registering again makes a new one).") from None
    tracker.webhook_id = registration.hook_id
    tracker.webhook_secret_encrypted = crypto.encrypt_json(vars(registration))
    session.commit()
    return {"hook_id": registration.hook_id, "callback_url": registration.callback_url}


def unregister(*, session: Session, owner: User, tracker_id: int) -> None:
    """Remove the gateway's webhook from the provider and forget its secret."""
    tracker = trackers_service.get_tracker(session=session, owner=owner, tracker_id=tracker_id)
    registration = _registration(tracker)
    if registration is None:
        raise NotFound("This tracker has no webhook registered.")
    provider = trackers_service.build_provider(session=session, tracker=tracker, actor=owner.username)
    trackers_service.call_provider(tracker, "delete_webhook", provider.delete_webhook, registration.hook_id)
    tracker.webhook_id = tracker.webhook_secret_encrypted = None
    session.commit()


def receive(*, session: Session, tracker_id: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """Verify a delivery, store it and enqueue its processing in one transaction; duplicates and replays are dropped."""
    tracker = session.execute(_TRACKER, {"tracker_id": tracker_id}).first()
    registration = _registration(tracker) if tracker is not None else None
    if tracker is None or registration is None:
        # An unknown id, a locally stored tracker and a tracker without a webhook get the answer a bad signature gets,
        # so the endpoint tells nobody which tracker ids exist.
        webhook_deliveries.labels(tracker.provider if tracker is not None else "unknown", "rejected").inc()
        raise Unauthorized(_REFUSED, error="invalid_signature")
    slug = tracker.provider
    # Verifying needs no tracker credentials, so none are decrypted on this hot path.
    provider = provider_class(slug)(
        TrackerConfig(tracker_id=tracker.id, target=tracker.target, options=dict(tracker.options or {}))
    )
    if not provider.verify_webhook(headers, body, registration):
        webhook_deliveries.labels(slug, "rejected").inc()
        raise Unauthorized(_REFUSED, error="invalid_signature")
    try:
        payload = loads_bounded(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The delivery is not JSON.", error="malformed_json") from None
    if not isinstance(payload, dict):
        raise BadRequest("The delivery is not a JSON object.", error="malformed_json")
    key, event_name = provider.webhook_delivery(headers, payload)
    digest = hashlib.sha256(body).hexdigest()
    key = (key or "sha256:" + digest)[:200]
    now = utcnow()
    delivery_id = session.execute(
        _STORE, {"tracker_id": tracker.id, "key": key, "event": event_name[:100], "payload": body.decode("utf-8"), "now": now}
    ).scalar_one_or_none()
    if delivery_id is None:
        session.rollback()
        webhook_deliveries.labels(slug, "duplicate").inc()
        existing = session.scalar(
            select(WebhookDelivery.id).where(WebhookDelivery.tracker_id == tracker.id, WebhookDelivery.delivery_key == key)
        )
        return {"status": "duplicate", "delivery_id": existing}
    # The delivery id is not signed: a captured body replayed under a new id is recognised by its hash. Where the
    # provider signs the body (webhook_body_signed) that stops replays; where it only sends a shared token, there
    # this stops verbatim replays and nothing more.
    window = timedelta(hours=current_app.config["WEBHOOK_REPLAY_WINDOW_HOURS"])
    fresh = session.execute(
        _SEEN_BODY, {"tracker_id": tracker.id, "digest": digest, "delivery_id": delivery_id, "now": now, "cutoff": now - window}
    ).first()
    if fresh is None:
        session.rollback()
        webhook_deliveries.labels(slug, "duplicate").inc()
        existing = session.scalar(
            select(WebhookBodyHash.delivery_id).where(
                WebhookBodyHash.tracker_id == tracker.id, WebhookBodyHash.body_sha256 == digest
            )
        )
        return {"status": "duplicate", "delivery_id": existing}
    jobs.enqueue(session, "gateway:process_delivery", queue=jobs.QUEUE_WEBHOOKS, delivery_id=delivery_id)
    session.commit()
    webhook_deliveries.labels(slug, "accepted").inc()
    return {"status": "accepted", "delivery_id": delivery_id}


# The worker's statements, built once: SQLAlchemy then computes each one's cache key once per process.
_ECHO = (
    select(GatewayChange)
    .where(
        GatewayChange.tracker_id == bindparam("tracker_id"),
        GatewayChange.issue_id.in_([bindparam("issue_id", type_=String), "*"]),
        bindparam("kind", type_=String) == any_(GatewayChange.kinds),
        GatewayChange.created_at >= bindparam("since"),
    )
    .order_by(GatewayChange.id)
    .limit(1)
    .with_for_update(skip_locked=True)
)
# The delivery (locked), its tracker, and whether the tracker has any marked gateway change, in one round trip. Changes
# are marked (and committed) before the write they announce, so one that this delivery echoes is already visible here;
# without any, no event of the delivery needs the echo lookup.
_PENDING_DELIVERY = (
    select(WebhookDelivery, Tracker, exists().where(GatewayChange.tracker_id == Tracker.id))
    .join(Tracker, Tracker.id == WebhookDelivery.tracker_id)
    .where(WebhookDelivery.id == bindparam("delivery_id"))
    .with_for_update(of=WebhookDelivery)
)


def _echo_of(session: Session, tracker_id: int, webhook_event: WebhookEvent) -> GatewayChange | None:
    """The gateway change this event echoes, if any (consumed so a later human change counts as human)."""
    if webhook_event.issue_id is None:
        return None
    change = session.scalar(
        _ECHO,
        {
            "tracker_id": tracker_id,
            "issue_id": webhook_event.issue_id,
            "kind": webhook_event.type,
            "since": utcnow() - ECHO_WINDOW,
        },
    )
    if change is not None:
        change.kinds = [kind for kind in change.kinds if kind != webhook_event.type]
        if not change.kinds:
            session.delete(change)
    return change


def process_delivery(delivery_id: int) -> None:
    """Normalize one stored delivery into events, match automations and subscriptions; exactly once."""
    from api.extensions import db

    session = db.session()
    found = session.execute(_PENDING_DELIVERY, {"delivery_id": delivery_id}).first()
    if found is None or found[0].status != "pending":
        session.rollback()
        return
    delivery, tracker, marked = found
    tracker_id = tracker.id
    # Normalizing reads the payload only: no credentials are decrypted for it.
    provider = provider_class(tracker.provider)(
        TrackerConfig(tracker_id=tracker.id, target=tracker.target, options=dict(tracker.options or {}))
    )
    try:
        normalized = provider.normalize_webhook(delivery.event_name, delivery.payload)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        # A signed payload the provider's shape does not fit (only its tracker's owner can sign one): every retry
        # would fail alike, so it is marked failed with the reason instead of retried.
        delivery.status, delivery.error = "failed", f"The payload could not be read: {type(exc).__name__}: {exc}"[:500]
        delivery.processed_at = utcnow()
        session.commit()
        log.warning("webhook delivery %s failed: unreadable payload", delivery_id, extra={"delivery_id": delivery_id})
        return
    normalized = provider.complete_webhook_events(
        normalized,
        lambda issue_id: trackers_service.call_provider(
            tracker, "webhook_issue", trackers_service.build_provider(session=session, tracker=tracker).get_issue, issue_id
        ),
    )
    for item in normalized:
        if not index_service.first_sighting(session=session, tracker=tracker, item=item, source="webhook"):
            continue  # a poll or the gateway's own write already recorded this change
        echo = _echo_of(session, tracker.id, item) if marked else None
        events_service.record(
            session=session,
            tracker=tracker,
            item=item,
            delivery_id=delivery.id,
            chain_depth=echo.chain_depth + 1 if echo else 0,
            caused_by_rule_id=echo.rule_id if echo else None,
            source="webhook",
        )
    named = sorted({item.issue_id for item in normalized if item.issue_id and item.type != "issue.deleted"})
    if named and provider.polling_applies():  # the index follows at once (from the tracker: payloads can be partial)
        jobs.enqueue(session, "gateway:refresh_index", queue="polling", tracker_id=tracker.id, issue_ids=named[:50])
    if any(item.type == "issue.deleted" for item in normalized):
        index_service.remove(
            session=session,
            tracker_id=tracker.id,
            issue_ids=[item.issue_id for item in normalized if item.type == "issue.deleted" and item.issue_id is not None],
        )
    delivery.status = "processed" if normalized else "ignored"
    delivery.processed_at = utcnow()
    session.commit()
    log.info(
        "webhook delivery %s processed: %d events",
        delivery_id,
        len(normalized),
        extra={"delivery_id": delivery_id, "tracker_id": tracker_id, "events": len(normalized)},
    )


def prune_seen_bodies(*, session: Session, now: datetime | None = None) -> int:
    """Forget body hashes older than the replay window (they no longer stop anything); return how many went."""
    cutoff = (now or utcnow()) - timedelta(hours=current_app.config["WEBHOOK_REPLAY_WINDOW_HOURS"])
    # A DML statement's result is a CursorResult, which counts its rows.
    result = cast(CursorResult[Any], session.execute(delete(WebhookBodyHash).where(WebhookBodyHash.received_at < cutoff)))
    removed = result.rowcount
    session.commit()
    return removed

"""Outbound events: owner-scoped subscriptions, fan-out of events, and signed deliveries retried for about a day."""

import contextlib
import hashlib
import hmac
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import current_app
from marshmallow import ValidationError
from sqlalchemy import literal, select, tuple_
from sqlalchemy.orm import Session

from api import crypto, jobs
from api.errors import Conflict, NotFound, ValidationFailed
from api.models.base import utcnow
from api.models.events import Event
from api.models.subscriptions import DeliveryAttempt, OutboundDelivery, Subscription
from api.models.users import User
from api.schemas.base import decode_cursor, encode_cursor
from api.schemas.subscriptions import ALL_EVENTS
from api.services.events import event_to_dict, jsonable
from api.services.pagination import Page, keyset_page
from api.url_policy import PolicySession, UrlNotAllowed, check_url

log = logging.getLogger(__name__)

SEND_TASK = "gateway:send_outbound"
USER_AGENT = "TicketGateway/1.0"
# Seconds to wait after each failed attempt (30 s, 2 min, 10 min, 30 min, 1 h, 3 h, 6 h, 12 h: ~22.7 h in all);
# the attempt after the last entry that fails marks the delivery failed. Config: OUTBOUND_RETRY_SCHEDULE.
RETRY_SCHEDULE = (30, 120, 600, 1800, 3600, 10800, 21600, 43200)
# Statuses whose Retry-After says when the receiver wants the next attempt.
RETRY_AFTER_STATUSES = frozenset({429, 503})
DEFAULT_TIMEOUT_SECONDS = 10.0
_ERRNO_MESSAGE = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


# ---- subscriptions -----------------------------------------------------------------------------


def _check_url(url: str) -> str:
    try:
        check_url(url)
    except UrlNotAllowed as exc:
        raise ValidationFailed(errors={"url": [str(exc)]}) from None
    # Stored as given (not normalised): a receiver may care about its trailing slash, and redirects are not followed.
    return url.strip()


def create_subscription(*, session: Session, owner: User, data: dict[str, Any]) -> Subscription:
    """Store a subscription with its secret encrypted."""
    subscription = Subscription(
        owner_id=owner.id,
        url=_check_url(data["url"]),
        events=data["events"],
        secret_encrypted=crypto.encrypt_json(data["secret"]),
        enabled=data.get("enabled", True),
    )
    session.add(subscription)
    session.commit()
    return subscription


def list_subscriptions(*, session: Session, owner: User, limit: int, cursor: str | None) -> Page:
    """The caller's subscriptions, oldest first."""
    stmt = select(Subscription).where(Subscription.owner_id == owner.id)
    return keyset_page(session, stmt, key=Subscription.id, limit=limit, cursor=cursor)


def get_subscription(*, session: Session, owner: User, subscription_id: int) -> Subscription:
    """One of the caller's subscriptions; another user's is not found."""
    subscription = session.get(Subscription, subscription_id)
    if subscription is None or subscription.owner_id != owner.id:
        raise NotFound(f"Subscription {subscription_id} not found.")
    return subscription


def update_subscription(*, session: Session, owner: User, subscription_id: int, data: dict[str, Any]) -> Subscription:
    """Change a subscription; pending retries use the new URL and secret."""
    subscription = get_subscription(session=session, owner=owner, subscription_id=subscription_id)
    if not data:
        raise ValidationFailed("Send at least one field to change.", errors={"_schema": ["No fields to change."]})
    if "url" in data:
        subscription.url = _check_url(data["url"])
    if "secret" in data:
        subscription.secret_encrypted = crypto.encrypt_json(data["secret"])
    for name in ("events", "enabled"):
        if name in data:
            setattr(subscription, name, data[name])
    session.commit()
    return subscription


def delete_subscription(*, session: Session, owner: User, subscription_id: int) -> None:
    """Delete a subscription with its deliveries (their pending retries find nothing to send)."""
    session.delete(get_subscription(session=session, owner=owner, subscription_id=subscription_id))
    session.commit()


# ---- fan-out -----------------------------------------------------------------------------------


def _create_deliveries(session: Session, *, owner_id: int, event_type: str, payload: dict[str, Any], event_id: int | None) -> int:
    subscriptions = session.scalars(
        select(Subscription)
        .where(
            Subscription.owner_id == owner_id,
            Subscription.enabled.is_(True),
            Subscription.events.overlap([event_type, ALL_EVENTS]),
        )
        .order_by(Subscription.id)
    ).all()
    now = utcnow()
    for subscription in subscriptions:
        delivery = OutboundDelivery(
            id=str(uuid.uuid4()),
            subscription_id=subscription.id,
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(delivery)
        jobs.enqueue(session, SEND_TASK, queue=jobs.QUEUE_OUTBOUND, delivery_id=delivery.id, attempt=1)
    return len(subscriptions)


def fan_out(*, session: Session, event: Event) -> int:
    """One delivery (and its send job) per enabled subscription of the event's owner that wants its type; no commit."""
    return _create_deliveries(
        session, owner_id=event.owner_id, event_type=event.type, payload=event_to_dict(event), event_id=event.id
    )


def notify(*, session: Session, owner_id: int, event_type: str, payload: dict[str, Any], event_id: int | None = None) -> int:
    """Like fan_out, for an event that is not an Event row (e.g. automation.notify); no commit."""
    return _create_deliveries(session, owner_id=owner_id, event_type=event_type, payload=jsonable(payload), event_id=event_id)


# ---- deliveries --------------------------------------------------------------------------------


def _decode_delivery_cursor(cursor: str) -> tuple[datetime, str]:
    created_at, delivery_id = decode_cursor(cursor, types=(str, str))
    try:
        return datetime.fromisoformat(created_at), delivery_id
    except ValueError:
        raise ValidationError({"cursor": ["Invalid cursor."]}) from None


def list_deliveries(*, session: Session, owner: User, subscription_id: int, limit: int, cursor: str | None) -> Page:
    """A subscription's deliveries, newest first (keyset on created_at, id: the ids are UUIDs)."""
    get_subscription(session=session, owner=owner, subscription_id=subscription_id)
    stmt = select(OutboundDelivery).where(OutboundDelivery.subscription_id == subscription_id)
    if cursor:
        after = tuple_(*map(literal, _decode_delivery_cursor(cursor)))
        stmt = stmt.where(tuple_(OutboundDelivery.created_at, OutboundDelivery.id) < after)
    items = session.scalars(stmt.order_by(OutboundDelivery.created_at.desc(), OutboundDelivery.id.desc()).limit(limit + 1)).all()
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        next_cursor = encode_cursor([items[-1].created_at.isoformat(), items[-1].id])
    return Page(items=items, next_cursor=next_cursor)


def get_delivery(*, session: Session, owner: User, subscription_id: int, delivery_id: str) -> OutboundDelivery:
    """One delivery of one of the caller's subscriptions."""
    get_subscription(session=session, owner=owner, subscription_id=subscription_id)
    delivery = session.get(OutboundDelivery, delivery_id)
    if delivery is None or delivery.subscription_id != subscription_id:
        raise NotFound(f"Delivery {delivery_id} not found.")
    return delivery


def get_delivery_with_attempts(*, session: Session, owner: User, subscription_id: int, delivery_id: str) -> OutboundDelivery:
    """A delivery (see get_delivery) with every attempt, oldest first, as its `attempt_log`."""
    delivery = get_delivery(session=session, owner=owner, subscription_id=subscription_id, delivery_id=delivery_id)
    # Read by the delivery schema; not a column.
    delivery.attempt_log = session.scalars(  # type: ignore[attr-defined]
        select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery.id).order_by(DeliveryAttempt.id)
    ).all()
    return delivery


def redeliver(*, session: Session, owner: User, subscription_id: int, delivery_id: str) -> OutboundDelivery:
    """Schedule an immediate new attempt of any delivery (same delivery id); a failure resumes the retry schedule."""
    subscription = get_subscription(session=session, owner=owner, subscription_id=subscription_id)
    if not subscription.enabled:
        raise Conflict("The subscription is disabled; enable it before redelivering.", error="subscription_disabled")
    get_delivery(session=session, owner=owner, subscription_id=subscription_id, delivery_id=delivery_id)
    # Found just above, and locked now: a delivery goes only with its subscription.
    delivery = session.execute(
        select(OutboundDelivery)
        .where(OutboundDelivery.id == delivery_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    delivery.status = "pending"
    delivery.next_attempt_at = utcnow()
    # The job claims the next attempt number, so a scheduled retry carrying the same number becomes a no-op.
    jobs.enqueue(session, SEND_TASK, queue=jobs.QUEUE_OUTBOUND, delivery_id=delivery.id, attempt=delivery.attempts + 1)
    session.commit()
    return delivery


# ---- sending -----------------------------------------------------------------------------------


@dataclass
class _Outcome:
    attempted_at: datetime
    status_code: int | None = None
    error: str | None = None
    duration_ms: int = 0
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


_sessions = threading.local()


def _session() -> PolicySession:
    """This thread's outbound session: the URL policy on every attempt, the checked address pinned, no redirect
    followed, no cookie kept, no proxy variables read."""
    if getattr(_sessions, "session", None) is None:
        _sessions.session = PolicySession()
    return _sessions.session


def sign(*, secret: str, timestamp: int, body: bytes) -> str:
    """The X-Gateway-Signature header value: HMAC-SHA256 over f"{timestamp}.{body}" keyed with the secret."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _body(delivery: OutboundDelivery) -> bytes:
    return json.dumps(
        {
            "id": delivery.id,
            "type": delivery.event_type,
            "created_at": delivery.created_at.astimezone(UTC).isoformat(),
            "data": delivery.payload,
        },
        separators=(",", ":"),
    ).encode()


def _retry_schedule() -> tuple[float, ...]:
    schedule = current_app.config.get("OUTBOUND_RETRY_SCHEDULE")
    return tuple(RETRY_SCHEDULE if schedule is None else schedule)


def _retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delay-seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError, IndexError):
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, when.timestamp() - (now if now is not None else time.time()))
    return None


def _next_delay(schedule: tuple[float, ...], attempt: int, retry_after: float | None) -> float:
    """The wait before the next attempt: the schedule's, or the receiver's Retry-After kept within the schedule's bounds."""
    if retry_after is None:
        return schedule[attempt - 1]
    return min(max(retry_after, min(schedule)), max(schedule))


def _connection_error(exc: Exception) -> str:
    # requests' message embeds the URL (whose query may carry a token); keep only the OS-level reason.
    match = _ERRNO_MESSAGE.search(str(exc))
    return f"Could not connect: {match.group(1).strip()}." if match else "Could not connect to the receiver."


def _post(*, url: str, secret: str | None, delivery_id: str, event_type: str, body: bytes) -> _Outcome:
    attempted_at, started = utcnow(), time.perf_counter()

    def outcome(**fields: Any) -> _Outcome:
        return _Outcome(attempted_at=attempted_at, duration_ms=round((time.perf_counter() - started) * 1000), **fields)

    if secret is None:
        return outcome(error="The subscription's secret cannot be decrypted with the configured ENCRYPTION_KEYS.")
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Gateway-Event": event_type,
        "X-Gateway-Delivery": delivery_id,
        "X-Gateway-Timestamp": str(timestamp),
        "X-Gateway-Signature": sign(secret=secret, timestamp=timestamp, body=body),
    }
    timeout = float(current_app.config.get("OUTBOUND_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))
    try:
        # The policy runs again at every attempt, on the address actually connected to: DNS may have changed since
        # the subscription was saved. stream=True: only the status line and headers are read, never the body.
        with _session().post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False, stream=True) as response:
            status_code = response.status_code
            retry_after = _retry_after(response.headers.get("Retry-After")) if status_code in RETRY_AFTER_STATUSES else None
    except UrlNotAllowed as exc:
        return outcome(error=f"Refused by the outbound URL policy: {exc}")
    except requests.Timeout:
        return outcome(error=f"Timed out after {timeout:g} s.")
    except requests.exceptions.SSLError:
        return outcome(error="TLS handshake with the receiver failed.")
    except requests.ConnectionError as exc:
        return outcome(error=_connection_error(exc))
    except requests.RequestException as exc:
        return outcome(error=f"Request failed: {type(exc).__name__}.")
    if 200 <= status_code < 300:
        return outcome(status_code=status_code)
    if 300 <= status_code < 400:
        return outcome(status_code=status_code, error=f"Answered {status_code}; redirects are not followed.")
    return outcome(status_code=status_code, error=f"Answered {status_code}.", retry_after=retry_after)


def _due(delivery: OutboundDelivery | None, attempt: int) -> bool:
    return delivery is not None and delivery.status == "pending" and delivery.attempts == attempt - 1


def _record(session: Session, *, delivery_id: str, attempt: int, outcome: _Outcome) -> str | None:
    delivery = session.scalar(
        select(OutboundDelivery)
        .where(OutboundDelivery.id == delivery_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if delivery is None or not _due(delivery, attempt):
        session.rollback()
        log.warning(
            "outbound delivery %s attempt %d was overtaken by another attempt; its result is dropped",
            delivery_id,
            attempt,
            extra={"delivery_id": delivery_id, "attempt": attempt},
        )
        return None
    session.add(
        DeliveryAttempt(
            delivery_id=delivery_id,
            attempted_at=outcome.attempted_at,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
        )
    )
    delivery.attempts = attempt
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    delivery.next_attempt_at = None
    schedule = _retry_schedule()
    if outcome.succeeded:
        delivery.status = "succeeded"
        delivery.delivered_at = utcnow()
    elif attempt > len(schedule):
        delivery.status = "failed"
    else:
        delay = _next_delay(schedule, attempt, outcome.retry_after)
        delivery.next_attempt_at = utcnow() + timedelta(seconds=delay)
        jobs.enqueue(
            session,
            SEND_TASK,
            queue=jobs.QUEUE_OUTBOUND,
            scheduled_at=delivery.next_attempt_at if delay > 0 else None,
            delivery_id=delivery_id,
            attempt=attempt + 1,
        )
    status = delivery.status
    session.commit()
    return status


def send_delivery(*, session: Session, delivery_id: str, attempt: int | None = None) -> str | None:
    """Make attempt number `attempt` of a delivery and record it; returns the new status, None when there was nothing to do."""
    delivery = session.get(OutboundDelivery, delivery_id)
    if attempt is None and delivery is not None:
        attempt = delivery.attempts + 1
    if delivery is None or attempt is None or not _due(delivery, attempt):
        session.rollback()
        return None
    subscription = session.get_one(Subscription, delivery.subscription_id)  # the delivery's foreign key cascades
    if not subscription.enabled:
        delivery.status, delivery.next_attempt_at, delivery.last_error = "failed", None, "The subscription is disabled."
        session.commit()
        return "failed"
    url, body, event_type, subscription_id = subscription.url, _body(delivery), delivery.event_type, subscription.id
    try:
        secret = crypto.decrypt_json(subscription.secret_encrypted)
    except RuntimeError:
        secret = None
    # No transaction (nor row lock) stays open across the HTTP call; _record re-checks the attempt number instead.
    session.rollback()
    outcome = _post(url=url, secret=secret, delivery_id=delivery_id, event_type=event_type, body=body)
    status = _record(session, delivery_id=delivery_id, attempt=attempt, outcome=outcome)
    if status is not None:
        log.log(
            logging.INFO if outcome.succeeded else logging.WARNING,
            "outbound delivery %s attempt %d to %s: %s (%d ms); now %s",
            delivery_id,
            attempt,
            urlsplit(url).hostname,
            "delivered" if outcome.succeeded else outcome.error,
            outcome.duration_ms,
            status,
            extra={
                "delivery_id": delivery_id,
                "subscription_id": subscription_id,
                "event_type": event_type,
                "attempt": attempt,
                "status_code": outcome.status_code,
                "duration_ms": outcome.duration_ms,
                "delivery_status": status,
            },
        )
    return status

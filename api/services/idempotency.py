"""Idempotency-Key handling for POSTs that create things: a retry replays the first response."""

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from api.errors import BadRequest, Conflict, Unprocessable
from api.models.base import utcnow
from api.models.idempotency import IdempotencyRecord

KEY_TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255


def _fingerprint(scope: str, payload: Any) -> str:
    canonical = json.dumps({"scope": scope, "payload": payload}, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def run(
    *, session: Session, user_id: int, key: str | None, scope: str, payload: Any, action: Callable[[], tuple[Any, int]]
) -> tuple[Any, int, bool]:
    """Run `action` (returning (body, status)) once per (user, key); retries get the stored response.

    Returns (body, status, replayed).
    """
    if key is None:
        body, status = action()
        return body, status, False
    if not key.strip() or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise BadRequest("Idempotency-Key must be 1-255 printable characters.", error="invalid_idempotency_key")
    fingerprint = _fingerprint(scope, payload)
    session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key, IdempotencyRecord.created_at < utcnow() - KEY_TTL
        )
    )
    inserted = session.execute(
        insert(IdempotencyRecord)
        .values(user_id=user_id, key=key, scope=scope, request_hash=fingerprint, created_at=utcnow())
        .on_conflict_do_nothing(constraint="uq_idempotency_records_user_id_key")
        .returning(IdempotencyRecord.id)
    ).scalar_one_or_none()
    session.commit()
    if inserted is None:
        # The conflicting row (younger than KEY_TTL: older ones were just deleted) is there to read.
        record = session.execute(
            select(IdempotencyRecord).where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
        ).scalar_one()
        if record.request_hash != fingerprint:
            raise Unprocessable("This Idempotency-Key was already used with a different request.", error="idempotency_key_reused")
        if record.status_code is None:
            raise Conflict(
                "A request with this Idempotency-Key is still being processed; retry shortly.",
                error="idempotency_key_in_progress",
                headers={"Retry-After": "1"},
            )
        return record.response, record.status_code, True
    try:
        body, status = action()
    except BaseException:
        session.rollback()
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == inserted))
        session.commit()
        raise
    record = session.get_one(IdempotencyRecord, inserted)
    record.status_code, record.response = status, body
    session.commit()
    return body, status, False

"""The aggregate issue view: one issue query over every tracker of the caller, merged into one cursor-paged list."""

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from flask import current_app
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import ApiError
from api.models.trackers import Tracker
from api.models.users import User
from api.schemas.base import MAX_LIMIT, decode_cursor, encode_cursor
from api.services import index as index_service
from api.services.trackers import build_provider, call_provider, issue_dict, issue_query, list_page, public_base_url
from api.trackers.base import TrackerTimeout, TrackerUnavailable
from api.trackers.registry import provider_class

log = logging.getLogger(__name__)
# One tracker's page of issue dicts and its next provider cursor, fetched by (tracker id, provider cursor).
FetchResult = tuple[list[dict[str, Any]], str | None]
Fetch = Callable[[int, str | None], FetchResult]


def _failure(tracker: Tracker, exc: BaseException) -> dict[str, Any]:
    if not isinstance(exc, ApiError):
        exc = TrackerUnavailable()
    return {
        "tracker_id": tracker.id,
        "name": tracker.name,
        "provider": tracker.provider,
        "code": exc.code,
        "error": exc.error,
        "message": exc.message,
    }


def _valid_position(value: Any) -> bool:
    return value in ("done", "failed") or (
        isinstance(value, list)
        and len(value) == 2
        and (value[0] is None or isinstance(value[0], str))
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
        and 0 <= value[1] <= MAX_LIMIT
    )


def _fanout_state(cursor: str) -> dict[int, Any]:
    """Per tracker id, the position an aggregate cursor records; anything encode did not make is a 400 on `cursor`."""
    (raw,) = decode_cursor(cursor, types=(dict,))
    state = {}
    for key, value in raw.items():
        if not (key.isascii() and key.isdigit() and len(key) <= 18 and _valid_position(value)):
            raise ValidationError({"cursor": ["Invalid cursor."]})
        state[int(key)] = value
    return state


def _from_index(session: Session, trackers: list[Tracker], query: dict[str, Any]) -> dict[str, Any]:
    indexed = [t for t in trackers if provider_class(t.provider).polling_applies()]
    result = index_service.list_from_index(session=session, trackers=indexed, query=query)
    errors = [_failure(tracker, refused) for tracker, refused in result.pop("unsupported")]
    return {**result, "errors": errors, "index_age": index_service.index_age_seconds(session=session, trackers=indexed)}


def _fetcher(owner: User, query: dict[str, Any]) -> Fetch:
    """A function (tracker_id, provider_cursor) -> (issues, next_cursor) that runs in a worker thread."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the proxy's target, for another thread
    base_url = public_base_url()
    include_remote = query.get("include_remote_data", False)

    def fetch(tracker_id: int, provider_cursor: str | None) -> FetchResult:
        with app.app_context():
            from api.extensions import db

            try:
                # One of the caller's trackers, read a moment ago in the request's session.
                tracker = db.session.get_one(Tracker, tracker_id)
                provider = build_provider(session=db.session(), tracker=tracker, actor=owner.username)
                if provider.stores_issues_locally:
                    provider.config.options["public_base_url"] = base_url
                page = call_provider(
                    tracker, "list_issues", list_page, provider, issue_query({**query, "cursor": provider_cursor})
                )
                return [issue_dict(tracker, issue, include_remote) for issue in page.items], page.next_cursor
            finally:
                db.session.remove()

    return fetch


def _fetch_all(
    pending: list[Tracker], positions: dict[int, Any], fetch: Fetch
) -> tuple[dict[int, FetchResult], dict[int, dict[str, Any]]]:
    """Each pending tracker's page, fetched concurrently within the fan-out timeout: (results, failed trackers)."""
    results: dict[int, FetchResult] = {}
    failures: dict[int, dict[str, Any]] = {}
    refused: ValidationError | None = None
    executor = ThreadPoolExecutor(max_workers=min(8, len(pending)), thread_name_prefix="fanout")
    futures = {executor.submit(fetch, t.id, positions[t.id][0]): t for t in pending}
    _done, not_done = wait(futures, timeout=current_app.config["TRACKER_FANOUT_TIMEOUT_SECONDS"])
    for future, tracker in futures.items():
        try:
            if future in not_done:
                raise TrackerTimeout("The tracker did not answer within the fan-out timeout.")
            results[tracker.id] = future.result()
        except ValidationError as exc:  # a provider refused its part of a forged cursor: the caller's error
            refused = exc
        except Exception as exc:  # one tracker's failure, even a bug, must not sink the others
            if not isinstance(exc, ApiError):
                log.exception("aggregate listing failed for tracker %s", tracker.id)
            failures[tracker.id] = _failure(tracker, exc)
    executor.shutdown(wait=False, cancel_futures=True)
    if refused is not None:
        raise ValidationError({"cursor": ["Invalid cursor."]}) from refused
    return results, failures


def _merge(results: dict[int, FetchResult], positions: dict[int, Any], limit: int) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """The newest `limit` issues not yet returned, and how far into each tracker's page they reach."""
    candidates = []
    for tracker_id, (issues, _next) in results.items():
        skip = positions[tracker_id][1]
        candidates += [(issue["updated_at"], -tracker_id, -index, issue) for index, issue in enumerate(issues) if index >= skip]
    candidates.sort(key=lambda item: item[:3], reverse=True)
    chosen = candidates[:limit]
    taken: dict[int, int] = {}
    for _, negative_id, negative_index, _issue in chosen:
        taken[-negative_id] = max(taken.get(-negative_id, 0), -negative_index + 1)
    return [item[3] for item in chosen], taken


def aggregate_issues(*, session: Session, owner: User, query: dict[str, Any]) -> dict[str, Any]:
    """The same issue query over every tracker of the caller, fanned out concurrently.

    The cursor keeps, per tracker, the provider cursor of the page last read and how many of its
    issues were already returned, so merged pages neither skip nor repeat issues. A tracker that
    fails or times out is named in `errors` on that page and left out of the following ones.
    """
    trackers = list(session.scalars(select(Tracker).where(Tracker.owner_id == owner.id).order_by(Tracker.id)))
    if query.get("source") == "index":
        return _from_index(session, trackers, query)
    state = _fanout_state(query["cursor"]) if query.get("cursor") else {}
    positions = {t.id: state.get(t.id, [None, 0]) for t in trackers}
    pending = [t for t in trackers if isinstance(positions[t.id], list)]
    results, failures = _fetch_all(pending, positions, _fetcher(owner, query)) if pending else ({}, {})
    issues, taken = _merge(results, positions, query["limit"])
    new_state = {**state, **dict.fromkeys(failures, "failed")}
    for tracker_id, (page_issues, next_cursor) in results.items():
        provider_cursor, skip = positions[tracker_id]
        upto = max(skip, taken.get(tracker_id, 0))
        new_state[tracker_id] = (
            ([next_cursor, 0] if next_cursor else "done") if upto >= len(page_issues) else [provider_cursor, upto]
        )
    more = any(isinstance(new_state.get(t.id, [None, 0]), list) for t in trackers)
    next_cursor = encode_cursor([{str(key): value for key, value in new_state.items()}]) if more else None
    return {"issues": issues, "next_cursor": next_cursor, "errors": list(failures.values())}

"""What every remote provider shares: an HTTP session with timeouts, bounded retries and the outbound URL policy,
error translation for transport failures, and a per-tracker circuit breaker."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ReadTimeoutError, ResponseError
from urllib3.util.retry import Retry

from api.trackers.base import (
    TrackerBusy,
    TrackerCircuitOpen,
    TrackerError,
    TrackerTimeout,
    TrackerUnavailable,
)
from api.url_policy import PolicyAdapter, PolicySession, UrlNotAllowed

if TYPE_CHECKING:
    from types import TracebackType
    from typing import Self

    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse

# Waiting longer than this for a provider's Retry-After inside one API request is pointless:
# the caller gets 503 with the provider's Retry-After instead.
MAX_RETRY_AFTER_SECONDS = 2.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class BoundedRetry(Retry):
    """urllib3 Retry that gives up at once when the server asks for a long wait."""

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if response is not None and response.status in RETRY_STATUSES:
            retry_after = self.get_retry_after(response)
            if retry_after is not None and retry_after > MAX_RETRY_AFTER_SECONDS:
                # With raise_on_status=False urllib3 hands this response back unretried;
                # the provider module turns it into TrackerRateLimited with the provider's Retry-After.
                raise MaxRetryError(_pool, url, reason=ResponseError("Retry-After too long"))  # type: ignore[arg-type]  # as urllib3 does
        return super().increment(method, url, response, error, _pool, _stacktrace)


def retry_policy(retries: int) -> Retry:
    """Bounded retries with exponential backoff for idempotent calls on 429/5xx and connect errors."""
    return BoundedRetry(
        total=retries,
        connect=retries,
        read=0,  # a read timeout may mean the write happened; never repeat it blindly
        status=retries,
        backoff_factor=0.25,
        backoff_max=2.0,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=IDEMPOTENT_METHODS,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


class TimeoutSession(PolicySession):
    """The outbound policy session with a default timeout and bounded retries; a redirect is a TrackerUnavailable."""

    def __init__(self, timeout: float, retries: int) -> None:
        super().__init__(PolicyAdapter(max_retries=retry_policy(retries), pool_connections=4, pool_maxsize=8))
        self.default_timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = super().send(request, **kwargs)
        if 300 <= response.status_code < 400 and response.status_code != 304:
            # Never followed, and the body of a response that points elsewhere is never read.
            response.close()
            raise TrackerUnavailable(f"The tracker answered {response.status_code} (a redirect); redirects are not followed.")
        return response


_sessions: dict[tuple, TimeoutSession] = {}
_sessions_lock = threading.Lock()
_local = threading.local()


def _remember(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    _local.last_response = response
    return response


def shared_session(timeout: float, retries: int) -> TimeoutSession:
    """A process-wide pooled session per (timeout, retries), so tracker connections are reused across requests."""
    key = (timeout, retries)
    with _sessions_lock:
        if key not in _sessions:
            session = TimeoutSession(timeout, retries)
            session.hooks["response"].append(_remember)
            _sessions[key] = session
        return _sessions[key]


def last_response_headers() -> dict:
    """Headers of the last HTTP response this thread received through a shared session."""
    response = getattr(_local, "last_response", None)
    return dict(response.headers) if response is not None else {}


def retry_after_seconds(
    headers: Mapping[str, str] | None, *, reset_header: str | None = None, now: float | None = None
) -> float | None:
    """Seconds to wait, from Retry-After or an epoch-seconds reset header."""
    headers = {key.lower(): value for key, value in (headers or {}).items()}
    with contextlib.suppress(TypeError, ValueError):
        if headers.get("retry-after") is not None:
            return max(1.0, float(headers["retry-after"]))
        if reset_header and headers.get(reset_header.lower()) is not None:
            return max(1.0, float(headers[reset_header.lower()]) - (now or time.time()))
    return None


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
MAX_PROVIDER_MESSAGE = 200


def provider_message(value: object) -> str:
    """A provider's error message as the API may echo it: one short line of text, never a page or a raw body."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = " ".join(_CONTROL.sub(" ", str(value or "")).split())
    if text.startswith(("<", "{", "[")):
        return ""  # markup or a structure, not a message
    return text if len(text) <= MAX_PROVIDER_MESSAGE else text[: MAX_PROVIDER_MESSAGE - 3] + "..."


@contextlib.contextmanager
def transport_errors() -> Iterator[None]:
    """Translate requests' transport failures (timeouts, refused or dropped connections) into TrackerErrors."""
    try:
        yield
    except TrackerError:
        raise
    except UrlNotAllowed as exc:
        # Checked on every call: the host may resolve elsewhere now than when the tracker was saved.
        raise TrackerUnavailable(f"The tracker address is refused by the outbound URL policy: {exc}") from None
    except requests.Timeout:
        raise TrackerTimeout() from None
    except requests.ConnectionError as exc:
        # With a urllib3 Retry in place, requests reports an exhausted read timeout as a ConnectionError.
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        # urllib3's NewConnectionError (refused, unreachable) subclasses ConnectTimeoutError; it is no timeout.
        if isinstance(reason, (ReadTimeoutError, ConnectTimeoutError)) and not isinstance(reason, NewConnectionError):
            raise TrackerTimeout() from None
        raise TrackerUnavailable("The tracker could not be reached.") from None
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.RetryError):
        raise TrackerUnavailable("The tracker could not be reached.") from None


class CircuitBreaker:
    """Per-tracker breaker: after `threshold` consecutive failures, calls fail fast for `reset_seconds`,
    then one trial call decides whether to close again. State is per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[object, dict] = {}

    def before_call(self, key: object, *, threshold: int, reset_seconds: float) -> None:
        with self._lock:
            state = self._state.get(key)
            if not state or state["opened_at"] is None:
                return
            elapsed = time.monotonic() - state["opened_at"]
            if elapsed < reset_seconds:
                raise TrackerCircuitOpen(retry_after=reset_seconds - elapsed)
            if state["probing"]:
                raise TrackerCircuitOpen(retry_after=1)
            state["probing"] = True  # half-open: this call is the trial

    def record_success(self, key: object) -> None:
        with self._lock:
            self._state.pop(key, None)

    def record_failure(self, key: object, *, threshold: int) -> None:
        with self._lock:
            state = self._state.setdefault(key, {"failures": 0, "opened_at": None, "probing": False})
            state["failures"] += 1
            if state["probing"] or state["failures"] >= threshold:
                state["opened_at"] = time.monotonic()
                state["probing"] = False

    def is_open(self, key: object) -> bool:
        with self._lock:
            state = self._state.get(key)
            return bool(state and state["opened_at"] is not None)

    def reset(self) -> None:
        with self._lock:
            self._state.clear()


class InFlightLimit:
    """Per-tracker cap on calls in flight in this process, so one hanging tracker cannot hold every request
    thread while its circuit is still closed (it takes TRACKER_BREAKER_THRESHOLD timeouts to open)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight: dict[object, int] = {}

    @contextlib.contextmanager
    def slot(self, key: object, *, limit: int) -> Iterator[None]:
        with self._lock:
            if self._in_flight.get(key, 0) >= limit:
                raise TrackerBusy()
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[key] -= 1


breaker = CircuitBreaker()
in_flight = InFlightLimit()

# Failures that say the tracker is unhealthy (as opposed to a bad request or missing object).
BREAKER_FAILURES = (TrackerTimeout, TrackerUnavailable)


def reset_for_tests() -> None:
    """Forget this process's breaker states, in-flight counts and pooled sessions (tests reuse tracker ids)."""
    breaker.reset()
    with in_flight._lock:
        in_flight._in_flight.clear()
    with _sessions_lock:
        for session in _sessions.values():
            session.close()
        _sessions.clear()

"""The shared outbound session's rules, one at a time: which calls are retried and how often, when a Retry-After is
too long to wait for, the default timeout, redirects refused, transport failures translated, provider messages
cut to one line, the breaker's and the in-flight cap's bounds, and the per-process state reset between tests."""

import threading

import pytest
import requests
from urllib3 import HTTPResponse
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ReadTimeoutError
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from api.trackers.base import TrackerBusy, TrackerCircuitOpen, TrackerError, TrackerTimeout, TrackerUnavailable
from api.trackers.resilience import (
    CircuitBreaker,
    InFlightLimit,
    TimeoutSession,
    breaker,
    in_flight,
    last_response_headers,
    provider_message,
    reset_for_tests,
    retry_after_seconds,
    retry_policy,
    shared_session,
    transport_errors,
)
from api.url_policy import UrlNotAllowed


class Upstream:
    """A tracker stand-in on 127.0.0.1: /status/<n> answers n (after `hold` seconds for /hold), and counts requests."""

    def __init__(self):
        self.hits, self.lock, self.release = [], threading.Lock(), threading.Event()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def app(self, environ, start_response):
        request = Request(environ)
        with self.lock:
            self.hits.append((request.method, request.path))
        if request.path == "/hold":
            self.release.wait(5)
            return Response("late", status=200)(environ, start_response)
        status = int(request.path.rsplit("/", 1)[-1])
        headers = {"Location": "http://elsewhere.example/"} if 300 <= status < 400 and "bare" not in request.args else {}
        headers["X-Seen"] = str(len(self.hits))
        return Response(f"status {status}", status=status, headers=headers)(environ, start_response)

    def url(self, path):
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def count(self, method, path):
        with self.lock:
            return sum(1 for hit in self.hits if hit == (method, path))


@pytest.fixture
def upstream(app):
    server = Upstream()
    server.thread.start()
    with app.app_context():
        yield server
    server.release.set()
    server.server.shutdown()


def _response(status, **headers):
    return HTTPResponse(body=b"", status=status, headers=headers, preload_content=False)


# ---- the retry policy ---------------------------------------------------------------------------------------------


def test_only_idempotent_methods_are_retried_and_only_on_429_and_the_gateway_5xx_statuses():
    policy = retry_policy(3)
    for method in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE"):
        assert all(policy.is_retry(method, status) for status in (429, 500, 502, 503, 504)), method
    for method in ("POST", "PATCH"):
        assert not any(policy.is_retry(method, status) for status in (429, 500, 502, 503, 504)), method
    assert not any(policy.is_retry("GET", status) for status in (400, 404, 501, 505))


def test_a_retry_after_above_two_seconds_stops_the_retries_and_two_seconds_is_waited_for():
    policy = retry_policy(3)
    for status in (429, 503):
        with pytest.raises(MaxRetryError):
            policy.increment("GET", "/x", response=_response(status, **{"Retry-After": "3"}))
        policy.increment("GET", "/x", response=_response(status, **{"Retry-After": "2"}))
    policy.increment("GET", "/x", response=_response(503))  # no Retry-After: an ordinary retry
    policy.increment("GET", "/x", response=_response(404, **{"Retry-After": "30"}))  # not a retried status


def test_status_and_connect_errors_are_retried_as_often_as_configured_but_a_read_timeout_never():
    policy = retry_policy(2)
    for _ in range(2):
        policy = policy.increment("GET", "/x", response=_response(503))
    with pytest.raises(MaxRetryError):
        policy.increment("GET", "/x", response=_response(503))
    policy = retry_policy(2)
    for _ in range(2):
        policy = policy.increment("GET", "/x", error=ConnectTimeoutError())
    with pytest.raises(MaxRetryError):
        policy.increment("GET", "/x", error=ConnectTimeoutError())
    with pytest.raises((MaxRetryError, ReadTimeoutError)):
        retry_policy(2).increment("GET", "/x", error=ReadTimeoutError(None, "/x", "read timed out"))


def test_the_backoff_starts_at_half_a_second_and_is_capped_at_two():
    policy = retry_policy(10)
    for _ in range(2):
        policy = policy.increment("GET", "/x", response=_response(503))
    assert policy.get_backoff_time() == 0.5
    for _ in range(4):
        policy = policy.increment("GET", "/x", response=_response(503))
    assert policy.get_backoff_time() == 2.0
    assert policy.respect_retry_after_header is True


def test_a_get_answered_503_is_retried_and_the_last_answer_returned_but_a_post_is_sent_once(upstream):
    session = TimeoutSession(timeout=5, retries=2)
    response = session.get(upstream.url("/status/503"))
    assert response.status_code == 503 and upstream.count("GET", "/status/503") == 3
    assert session.post(upstream.url("/status/503")).status_code == 503
    assert upstream.count("POST", "/status/503") == 1


# ---- the session --------------------------------------------------------------------------------------------------


def test_a_call_without_a_timeout_gets_the_sessions_and_an_explicit_one_is_kept(upstream):
    with pytest.raises(TrackerTimeout), transport_errors():
        TimeoutSession(timeout=0.3, retries=0).get(upstream.url("/hold"))
    with pytest.raises(TrackerTimeout), transport_errors():
        TimeoutSession(timeout=30, retries=0).get(upstream.url("/hold"), timeout=0.3)


@pytest.mark.parametrize("status", [300, 301, 302, 307, 308, 399])
def test_a_redirect_is_refused_not_followed(upstream, status):
    with pytest.raises(TrackerUnavailable) as refused:
        TimeoutSession(timeout=5, retries=0).get(upstream.url(f"/status/{status}"))
    assert refused.value.message == f"The tracker answered {status} (a redirect); redirects are not followed."
    assert upstream.count("GET", f"/status/{status}") == 1


def test_a_refused_3xx_is_closed_unread_even_when_streamed_and_without_a_location(upstream):
    # requests itself consumes and closes a 3xx that has a Location; one without is left to the session.
    session, seen = TimeoutSession(timeout=5, retries=0), []
    session.hooks["response"].append(lambda response, *args, **kwargs: seen.append(response))
    with pytest.raises(TrackerUnavailable):
        session.get(upstream.url("/status/300?bare=1"), stream=True)
    [response] = seen
    assert response.raw.closed


@pytest.mark.parametrize("status", [200, 299, 304, 400])
def test_other_answers_and_304_come_back_as_they_are(upstream, status):
    assert TimeoutSession(timeout=5, retries=0).get(upstream.url(f"/status/{status}")).status_code == status


def test_shared_sessions_are_one_per_timeout_and_retries_and_remember_the_last_response_per_thread(upstream):
    session = shared_session(5, 1)
    assert shared_session(5, 1) is session
    assert shared_session(5, 2) is not session and shared_session(6, 1) is not session
    session.get(upstream.url("/status/200"))
    assert last_response_headers()["X-Seen"] == "1"
    elsewhere = []
    worker = threading.Thread(target=lambda: elsewhere.append(last_response_headers()))
    worker.start()
    worker.join()
    assert elsewhere == [{}]


def test_the_reset_for_tests_forgets_breakers_in_flight_counts_and_sessions(upstream):
    session = shared_session(7, 0)
    session.get(upstream.url("/status/200"))
    pools = session.get_adapter("http://").poolmanager.pools
    assert len(pools) == 1
    for _ in range(3):
        breaker.record_failure("reset-me", threshold=3)
    slot = in_flight.slot("reset-me", limit=1)
    slot.__enter__()
    reset_for_tests()
    assert not breaker.is_open("reset-me")
    with in_flight.slot("reset-me", limit=1):
        pass
    assert shared_session(7, 0) is not session
    assert len(pools) == 0, "the pooled connections of the forgotten session are closed"


# ---- Retry-After and provider messages ----------------------------------------------------------------------------


def test_retry_after_is_read_case_insensitively_with_a_floor_of_one_second():
    assert retry_after_seconds({"Retry-After": "5"}) == 5.0
    assert retry_after_seconds({"retry-after": "2.5"}) == 2.5
    assert retry_after_seconds({"Retry-After": "0"}) == 1.0
    assert retry_after_seconds({"Retry-After": "7", "X-Reset": "1000"}, reset_header="X-Reset", now=900) == 7.0


def test_a_reset_header_gives_the_seconds_until_that_epoch_time():
    assert retry_after_seconds({"X-RateLimit-Reset": "1000"}, reset_header="x-ratelimit-reset", now=990) == 10.0
    assert retry_after_seconds({"x-ratelimit-reset": "1000"}, reset_header="X-RateLimit-Reset", now=999.5) == 1.0
    assert retry_after_seconds({"X-RateLimit-Reset": "1000"}, reset_header="X-RateLimit-Reset", now=2000) == 1.0
    assert retry_after_seconds({"X-RateLimit-Reset": "1000"}) is None


def test_no_or_an_unreadable_retry_after_is_none():
    assert retry_after_seconds(None) is None
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert retry_after_seconds({"X-Reset": "soon"}, reset_header="X-Reset", now=1) is None


def test_a_provider_message_is_one_line_of_at_most_200_characters():
    assert provider_message(b"Bad\r\n\tthing\x00 happened ") == "Bad thing happened"
    assert provider_message(b"caf\xe9 \xff closed") == "caf\ufffd \ufffd closed"  # not UTF-8: replaced, never an error
    assert provider_message(None) == ""
    assert provider_message("x" * 200) == "x" * 200
    assert provider_message("y" * 201) == "y" * 197 + "..."
    assert len(provider_message("z" * 5000)) == 200


@pytest.mark.parametrize("raw", ["<html><body>Error</body></html>", '{"message": "x"}', "[1, 2]", "  <p>x</p>"])
def test_markup_or_a_structure_is_no_provider_message(raw):
    assert provider_message(raw) == ""


# ---- transport errors ---------------------------------------------------------------------------------------------


def _translated(exc):
    with pytest.raises(TrackerError) as caught, transport_errors():
        raise exc
    return caught.value


def test_timeouts_are_tracker_timeouts():
    assert type(_translated(requests.Timeout())) is TrackerTimeout
    for reason in (ReadTimeoutError(None, "/x", "read timed out"), ConnectTimeoutError("connect timed out")):
        assert type(_translated(requests.ConnectionError(MaxRetryError(None, "/x", reason=reason)))) is TrackerTimeout


def test_refused_dropped_or_exhausted_connections_are_unreachable():
    refused = NewConnectionError(None, "refused")
    for exc in (
        requests.ConnectionError(MaxRetryError(None, "/x", reason=refused)),
        requests.ConnectionError(),
        requests.ConnectionError("plain"),
        requests.exceptions.ChunkedEncodingError(),
        requests.exceptions.RetryError(),
    ):
        translated = _translated(exc)
        assert type(translated) is TrackerUnavailable and translated.message == "The tracker could not be reached."


def test_an_address_the_policy_refuses_says_so_and_a_tracker_error_passes_unchanged():
    refused = _translated(UrlNotAllowed("10.0.0.1 is a private address"))
    assert type(refused) is TrackerUnavailable
    assert refused.message == "The tracker address is refused by the outbound URL policy: 10.0.0.1 is a private address"
    original = TrackerBusy()
    assert _translated(original) is original


# ---- breaker and in-flight bounds ---------------------------------------------------------------------------------


def test_the_circuit_opens_at_exactly_the_threshold_and_says_when_to_retry():
    circuit = CircuitBreaker()
    for _ in range(2):
        circuit.record_failure("t", threshold=3)
    assert not circuit.is_open("t")
    circuit.before_call("t", threshold=3, reset_seconds=100)
    circuit.record_failure("t", threshold=3)
    assert circuit.is_open("t")
    with pytest.raises(TrackerCircuitOpen) as refused:
        circuit.before_call("t", threshold=3, reset_seconds=100)
    assert 90 <= int(refused.value.headers["Retry-After"]) <= 99
    circuit.before_call("t", threshold=3, reset_seconds=0)  # the half-open trial
    with pytest.raises(TrackerCircuitOpen) as busy:
        circuit.before_call("t", threshold=3, reset_seconds=0)
    assert busy.value.headers["Retry-After"] == "1"
    circuit.reset()
    assert not circuit.is_open("t")


def test_the_in_flight_cap_admits_up_to_the_limit_per_key_and_frees_a_slot_on_error():
    limit = InFlightLimit()
    with limit.slot("a", limit=2), limit.slot("a", limit=2):
        with pytest.raises(TrackerBusy), limit.slot("a", limit=2):
            pass
        with limit.slot("b", limit=2):
            pass
    with pytest.raises(ValueError), limit.slot("a", limit=1):
        raise ValueError("the call failed")
    with limit.slot("a", limit=1):
        pass


def test_releasing_one_slot_admits_exactly_one_more_call():
    limit = InFlightLimit()
    with limit.slot("a", limit=2):
        with limit.slot("a", limit=2):
            pass
        with limit.slot("a", limit=2), pytest.raises(TrackerBusy), limit.slot("a", limit=2):
            pass

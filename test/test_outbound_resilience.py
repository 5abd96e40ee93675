"""Resilience of tracker calls: writes are never repeated on a 5xx, a long Retry-After never holds a request thread,
and the circuit breaker admits one half-open trial at a time and forgets failures after a success."""

import threading
import time

import pytest

from api.trackers.base import TrackerCircuitOpen
from api.trackers.resilience import CircuitBreaker
from test.test_provider_contract import env as env
from test.test_provider_contract import parametrize_env

REMOTE = ["github", "gitlab", "trello"]


def _writes(env, method):
    return [r for r in env.fake.requests if r.method == method]


@parametrize_env(REMOTE)
@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_create_answered_with_a_server_error_is_sent_once(client, env, status):
    env.fake.fail_next(status, count=1, match="^POST ")
    response = client.post(env.url("/issues"), json={"title": "Once"}, headers=env.user.headers)
    assert response.status_code == 502, response.get_json()
    assert len(_writes(env, "POST")) == 1  # a retry would have created the issue (a duplicate if the first went through)


@parametrize_env(REMOTE)
def test_a_comment_answered_with_a_server_error_is_sent_once(client, env):
    issue = client.post(env.url("/issues"), json={"title": "Commented"}, headers=env.user.headers).get_json()
    before = len(_writes(env, "POST"))
    env.fake.fail_next(503, count=1, match="^POST ")
    response = client.post(env.url(f"/issues/{issue['id']}/comments"), json={"body": "hi"}, headers=env.user.headers)
    assert response.status_code == 502, response.get_json()
    assert len(_writes(env, "POST")) == before + 1


@parametrize_env(["github"])
def test_a_patch_answered_with_a_server_error_is_sent_once(client, env):
    issue = client.post(env.url("/issues"), json={"title": "Patched"}, headers=env.user.headers).get_json()
    env.fake.fail_next(502, count=1, match="^PATCH ")
    response = client.patch(env.url(f"/issues/{issue['id']}"), json={"title": "New"}, headers=env.user.headers)
    assert response.status_code == 502, response.get_json()
    assert len(_writes(env, "PATCH")) == 1


# A retry that slept out the provider's Retry-After would take 120 s; the timeout fails the test long before.
@pytest.mark.timeout(30)
@parametrize_env(REMOTE)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_long_retry_after_is_handed_to_the_caller_not_slept_out(client, env, method):
    env.fake.rate_limit_next(count=5, retry_after=120)
    started = time.monotonic()
    if method == "GET":
        response = client.get(env.url("/issues"), headers=env.user.headers)
    else:
        response = client.post(env.url("/issues"), json={"title": "x"}, headers=env.user.headers)
    assert response.status_code == 503 and response.get_json()["error"] == "tracker_rate_limited"
    assert int(response.headers["Retry-After"]) >= 10
    assert time.monotonic() - started < 10


@pytest.mark.timeout(30)
@parametrize_env(["github", "gitlab"])
def test_a_server_error_with_a_long_retry_after_is_not_slept_out(client, env):
    env.fake.fail_next(503, count=5, match="^GET ", headers={"Retry-After": "120"})
    started = time.monotonic()
    response = client.get(env.url("/issues"), headers=env.user.headers)
    assert response.status_code == 502
    assert time.monotonic() - started < 10


# ---- circuit breaker ---------------------------------------------------------------------------


def test_a_success_resets_the_consecutive_failure_count():
    breaker = CircuitBreaker()
    for _ in range(2):
        breaker.record_failure("t", threshold=3)
    breaker.record_success("t")
    for _ in range(2):
        breaker.record_failure("t", threshold=3)
    assert not breaker.is_open("t")
    breaker.before_call("t", threshold=3, reset_seconds=60)  # still closed: no exception
    breaker.record_failure("t", threshold=3)
    assert breaker.is_open("t")


def _open(breaker, key="t"):
    for _ in range(3):
        breaker.record_failure(key, threshold=3)
    assert breaker.is_open(key)


def test_an_open_circuit_fails_fast_until_the_reset_time():
    breaker = CircuitBreaker()
    _open(breaker)
    with pytest.raises(TrackerCircuitOpen):
        breaker.before_call("t", threshold=3, reset_seconds=60)
    breaker.before_call("other", threshold=3, reset_seconds=60)  # other trackers are not affected


def test_half_open_admits_exactly_one_trial_at_a_time_even_under_concurrency():
    breaker = CircuitBreaker()
    _open(breaker)
    admitted, refused, start = [], [], threading.Barrier(8)

    def attempt():
        start.wait()
        try:
            breaker.before_call("t", threshold=3, reset_seconds=0)
            admitted.append(1)
        except TrackerCircuitOpen:
            refused.append(1)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 1 and len(refused) == 7


def test_a_failed_trial_reopens_and_a_successful_trial_closes_the_circuit():
    breaker = CircuitBreaker()
    _open(breaker)
    breaker.before_call("t", threshold=3, reset_seconds=0)
    breaker.record_failure("t", threshold=3)  # the trial failed: open again, for a full reset period
    with pytest.raises(TrackerCircuitOpen):
        breaker.before_call("t", threshold=3, reset_seconds=60)
    breaker.before_call("t", threshold=3, reset_seconds=0)  # the next trial
    with pytest.raises(TrackerCircuitOpen):
        breaker.before_call("t", threshold=3, reset_seconds=0)  # while it runs, nobody else
    breaker.record_success("t")
    assert not breaker.is_open("t")
    for _ in range(5):
        breaker.before_call("t", threshold=3, reset_seconds=60)

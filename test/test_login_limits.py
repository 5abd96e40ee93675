"""Login and registration under load and probing: argon2 hashing is bounded per process (503 busy beyond it),
an unknown user costs one real verification like a known one, and the rate-limit window resets once it passes."""

import threading

import pytest
from argon2 import PasswordHasher

import api.ratelimit

LOGIN, REGISTER = "/api/v1/users/login", "/api/v1/users/register"


class HeldHasher:
    """Once armed, argon2 verify and hash (in every thread) wait inside the hasher until released."""

    def __init__(self):
        self.armed, self.release = threading.Event(), threading.Event()
        self.inside = threading.Semaphore(0)

    def hold(self):
        if self.armed.is_set():
            self.inside.release()
            self.release.wait(30)

    def wait_inside(self, count):
        return all(self.inside.acquire(timeout=30) for _ in range(count))


@pytest.fixture
def held_hasher(monkeypatch):
    held = HeldHasher()
    real_verify, real_hash = PasswordHasher.verify, PasswordHasher.hash

    def verify(self, *args, **kwargs):
        held.hold()
        return real_verify(self, *args, **kwargs)

    def hash_(self, *args, **kwargs):
        held.hold()
        return real_hash(self, *args, **kwargs)

    monkeypatch.setattr(PasswordHasher, "verify", verify)
    monkeypatch.setattr(PasswordHasher, "hash", hash_)
    yield held
    held.release.set()


def _post_in_thread(app, path, body, results):
    thread = threading.Thread(target=lambda: results.append(app.test_client().post(path, json=body).status_code))
    thread.start()
    return thread


@pytest.mark.parametrize(("path", "username"), [(LOGIN, "someone"), (REGISTER, "newcomer")])
def test_a_password_request_beyond_the_hashing_slots_gets_503_busy_with_retry_after(auth, make_app, held_hasher, path, username):
    user = auth.register()
    app = make_app(PASSWORD_HASH_CONCURRENCY=1, PASSWORD_HASH_WAIT_SECONDS=0.2)
    credentials = {"username": user.username, "password": user.password}
    held_hasher.armed.set()
    results = []
    holder = _post_in_thread(app, LOGIN, credentials, results)
    try:
        assert held_hasher.wait_inside(1), "the first login never reached the hasher"
        busy = app.test_client().post(path, json={"username": username, "password": "long enough password"})
        assert busy.status_code == 503
        assert busy.get_json()["error"] == "busy" and busy.get_json()["code"] == 503
        assert int(busy.headers["Retry-After"]) >= 1
    finally:
        held_hasher.armed.clear()
        held_hasher.release.set()
        holder.join(30)
    assert results == [200]  # the holder was served, and its slot is free again:
    assert app.test_client().post(LOGIN, json=credentials).status_code == 200


def test_every_configured_hashing_slot_is_usable_and_only_the_next_request_waits(auth, make_app, held_hasher):
    user = auth.register()
    app = make_app(PASSWORD_HASH_CONCURRENCY=2, PASSWORD_HASH_WAIT_SECONDS=0.2)
    credentials = {"username": user.username, "password": user.password}
    held_hasher.armed.set()
    results = []
    holders = [_post_in_thread(app, LOGIN, credentials, results) for _ in range(2)]
    try:
        assert held_hasher.wait_inside(2), "two logins should hash at once with two slots"
        assert app.test_client().post(LOGIN, json=credentials).status_code == 503
    finally:
        held_hasher.armed.clear()
        held_hasher.release.set()
        for holder in holders:
            holder.join(30)
    assert results == [200, 200]


def test_login_for_an_unknown_user_runs_one_real_argon2_verification(client, auth, monkeypatch):
    auth.register()  # the dummy hash may be made here; only the verifications of the login below are counted
    calls = []
    real_verify = PasswordHasher.verify

    def spy(self, hash_, password):
        calls.append(hash_)
        return real_verify(self, hash_, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    response = client.post(LOGIN, json={"username": "nobody-here", "password": "some password"})
    assert response.status_code == 401
    assert len(calls) == 1 and calls[0].startswith("$argon2id$")


def test_the_login_rate_limit_window_resets_once_it_has_passed(make_app, auth, monkeypatch):
    user = auth.register()
    client = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="2 per minute").test_client()
    body = {"username": user.username, "password": user.password}
    assert [client.post(LOGIN, json=body).status_code for _ in range(3)] == [200, 200, 429]

    # The counter store's clock moves past the one-minute window (no sleeping).
    real_time = api.ratelimit.time.time

    class Later:
        @staticmethod
        def time():
            return real_time() + 61

    monkeypatch.setattr(api.ratelimit, "time", Later)
    assert [client.post(LOGIN, json=body).status_code for _ in range(3)] == [200, 200, 429]

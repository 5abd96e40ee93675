"""The outbound URL policy on every call: non-global addresses refused (with IPv6 transition forms), host names checked
against what they resolve to (the resolver is faked), the checked address pinned (no DNS rebinding), no redirect
followed, no cookie kept across tenants, and no Sentry trace header sent to a tracker."""

import itertools
import socket
import threading

import pytest
import requests

from api.trackers.resilience import breaker, provider_message
from api.url_policy import PolicySession, UrlNotAllowed, check_url, is_public
from test.outbound_recorder import Recorder
from test.test_trackers import TRACKERS, make_tracker

BODY_MARKER = "internal-metadata-7f3a"
CREDENTIALS = {
    "github": {"token": "gh-secret-token"},
    "gitlab": {"token": "gl-secret-token"},
    "trello": {"api_key": "tr-key", "token": "tr-secret-token", "api_secret": "tr-app-secret"},
}
TARGETS = {"github": "o/r", "gitlab": "group/app", "trello": "abcdefgh"}


def _tracker_at(client, user, base_url, provider="github"):
    return make_tracker(
        client, user, provider=provider, target=TARGETS[provider], credentials=CREDENTIALS[provider], base_url=base_url
    )


@pytest.fixture(autouse=True)
def _fresh_breaker():
    breaker.reset()
    yield
    breaker.reset()


class FakeResolver:
    """Stands in for DNS: scripted answers for names under .test, the real resolver for everything else."""

    def __init__(self, real):
        self.real = real
        self.scripts = {}
        self.calls = []

    def answer(self, name, *answers, repeat=False):
        """Answer `name` with each of `answers` in turn (a list of IPs, or an exception); the last one sticks."""
        self.scripts[name] = itertools.cycle(answers) if repeat else itertools.chain(answers, itertools.repeat(answers[-1]))

    def __call__(self, host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in self.scripts:
            return self.real(host, port, *args, **kwargs)
        self.calls.append(name)
        answer = next(self.scripts[name])
        if isinstance(answer, Exception):
            raise answer
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (ip, port or 0, 0, 0) if ":" in ip else (ip, port or 0),
            )
            for ip in answer
        ]


@pytest.fixture
def resolver(monkeypatch):
    fake = FakeResolver(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


@pytest.fixture
def strict(make_app):
    """A client of an app whose allowlist is 127.0.0.1 only: 127.0.0.2 stands for an internal address."""
    app = make_app(TRACKER_ALLOWED_HOSTS=["127.0.0.1"], PUBLIC_BASE_URL="https://gateway.example.com")
    return app.test_client()


# ---- the policy itself -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "100.64.0.1",
        "100.100.100.200",
        "10.1.2.3",
        "127.0.0.1",
        "169.254.169.254",
        "192.168.1.1",
        "198.18.0.1",
        "0.0.0.0",  # noqa: S104
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:100.100.100.200",  # IPv4-mapped
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::808:808",  # NAT64 to internal; local-use NAT64
        "2002:7f00:1::1",
        "2002:808:808::1",  # 6to4, whatever it embeds
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "::8.8.8.8",  # IPv4-compatible (deprecated)
    ],
)
def test_non_global_addresses_and_transition_forms_are_refused(address):
    import ipaddress

    assert is_public(ipaddress.ip_address(address)) is False


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"])
def test_global_addresses_pass(address):
    import ipaddress

    assert is_public(ipaddress.ip_address(address)) is True


@pytest.mark.parametrize(
    "url",
    [
        "https://100.100.100.200/hook",
        "https://100.64.1.1/",
        "https://[2002:7f00:1::1]/",
        "https://[64:ff9b::a9fe:a9fe]/latest",
        "https://[::ffff:10.0.0.1]/",
    ],
)
def test_api_refuses_carrier_grade_nat_6to4_nat64_and_mapped_targets(client, auth, url):
    user = auth.register()
    tracker = client.post(
        TRACKERS,
        json={"name": "T", "provider": "github", "target": "o/r", "base_url": url, "credentials": {"token": "t"}},
        headers=user.headers,
    )
    assert tracker.status_code == 400 and "base_url" in tracker.get_json()["errors"]
    subscription = client.post(
        "/api/v1/subscriptions/", json={"url": url, "events": ["*"], "secret": "s" * 20}, headers=user.headers
    )
    assert subscription.status_code == 400 and "url" in subscription.get_json()["errors"]


@pytest.mark.parametrize(
    "answer", [["127.0.0.1"], ["10.0.0.7"], ["169.254.169.254"], ["93.184.216.34", "10.0.0.7"], ["::ffff:127.0.0.1"]]
)
def test_a_host_name_is_refused_when_any_address_it_resolves_to_is_internal(make_app, resolver, answer):
    resolver.answer("tracker.corp.test", answer)
    with make_app(TRACKER_ALLOWED_HOSTS=["192.0.2.0/24"]).app_context():
        with pytest.raises(UrlNotAllowed, match="private"):
            check_url("https://tracker.corp.test/api")
        with pytest.raises(UrlNotAllowed, match="https"):
            check_url("http://tracker.corp.test/api")
    assert resolver.calls == ["tracker.corp.test", "tracker.corp.test"]


def test_a_host_name_resolving_to_public_addresses_passes_and_allowlisted_names_may_be_internal(make_app, resolver):
    resolver.answer("tracker.example.test", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
    resolver.answer("tracker.corp.test", ["10.0.0.7"])
    with make_app(TRACKER_ALLOWED_HOSTS=["tracker.corp.test"]).app_context():
        assert check_url("https://tracker.example.test/") == "https://tracker.example.test"
        assert check_url("http://tracker.corp.test") == "http://tracker.corp.test"


def test_a_name_that_resolves_to_an_internal_address_is_refused_through_the_api(client, auth, resolver):
    resolver.answer("metadata.test", ["169.254.169.254"])
    user = auth.register()
    response = client.post(
        TRACKERS,
        json={
            "name": "T",
            "provider": "gitlab",
            "target": "g/p",
            "base_url": "https://metadata.test",
            "credentials": {"token": "t"},
        },
        headers=user.headers,
    )
    assert response.status_code == 400 and "private" in response.get_json()["errors"]["base_url"][0]
    assert resolver.calls == ["metadata.test"]


# ---- DNS rebinding: resolve once, check, connect to what was checked ----------------------------


def test_a_name_that_rebinds_to_an_internal_address_after_the_save_is_never_connected_to(strict, auth, resolver):
    client = strict
    with Recorder("127.0.0.1") as public, Recorder("127.0.0.2", public.port) as internal:
        resolver.answer("tracker.rebind.test", ["127.0.0.1"], ["127.0.0.2"])
        user = auth.register()
        tracker = _tracker_at(client, user, f"http://tracker.rebind.test:{public.port}")
        response = client.get(f"{TRACKERS}{tracker['id']}/issues", headers=user.headers)
        assert response.status_code == 502 and response.get_json()["error"] == "tracker_unavailable"
        assert "outbound URL policy" in response.get_json()["message"]
        assert internal.requests == [] and public.requests == []


def test_each_call_connects_to_the_address_it_checked_never_to_a_second_answer(strict, auth, resolver):
    client = strict
    with Recorder("127.0.0.1") as public, Recorder("127.0.0.2", public.port) as internal:
        user = auth.register()
        resolver.answer("tracker.flip.test", ["127.0.0.1"])
        tracker = _tracker_at(client, user, f"http://tracker.flip.test:{public.port}")
        # From now on every second answer is internal: checking one answer and connecting with another would show.
        resolver.answer("tracker.flip.test", ["127.0.0.1"], ["127.0.0.2"], repeat=True)
        statuses = [client.get(f"{TRACKERS}{tracker['id']}/issues", headers=user.headers).status_code for _ in range(4)]
        assert sorted(statuses) == [200, 200, 502, 502]
        assert internal.requests == []
        assert len(public.requests) == 2
        # The name, not the pinned address, is what the tracker sees.
        assert {r.headers["Host"] for r in public.requests} == {f"tracker.flip.test:{public.port}"}


def test_a_subscription_host_that_rebinds_is_never_delivered_to(client, auth, db, resolver, make_app):
    from test.test_subscriptions import deliveries, emit, make_subscription, run_jobs

    with Recorder("127.0.0.1") as public, Recorder("127.0.0.2", public.port) as internal:
        resolver.answer("hooks.rebind.test", ["127.0.0.1"], ["127.0.0.2"])
        worker = make_app(TRACKER_ALLOWED_HOSTS=["127.0.0.1"], OUTBOUND_RETRY_SCHEDULE=[0, 0])
        user = auth.register()
        tracker = make_tracker(client, user)
        subscription = make_subscription(worker.test_client(), user, url=f"http://hooks.rebind.test:{public.port}/hook")
        emit(db, user, tracker)
        run_jobs(worker)
        assert internal.requests == [] and public.requests == []
        (delivery,) = deliveries(client, user, subscription)
        assert delivery["status"] == "failed" and delivery["attempts"] == 3
        assert delivery["last_error"].startswith("Refused by the outbound URL policy")


def test_tls_keeps_the_host_name_for_sni_while_connecting_to_the_checked_address(app, resolver):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    received = []

    def accept():
        connection, _ = listener.accept()
        with connection:
            connection.settimeout(5)
            received.append(connection.recv(4096))  # the ClientHello, whose SNI names the host in clear

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    resolver.answer("sni.pinned.test", ["127.0.0.1"])
    with app.app_context(), pytest.raises(requests.exceptions.RequestException):
        PolicySession().get(f"https://sni.pinned.test:{listener.getsockname()[1]}/", timeout=5)
    thread.join(5)
    listener.close()
    assert received and b"sni.pinned.test" in received[0]
    assert resolver.calls == ["sni.pinned.test"]


def test_a_dns_failure_on_a_call_is_502_tracker_unavailable_not_a_timeout(client, auth, resolver, github_fake):
    port = github_fake.base_url.rsplit(":", 1)[1]
    resolver.answer("gone.test", ["127.0.0.1"], socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    user = auth.register()
    tracker = _tracker_at(client, user, f"http://gone.test:{port}")
    response = client.get(f"{TRACKERS}{tracker['id']}/issues", headers=user.headers)
    assert response.status_code == 502 and response.get_json()["error"] == "tracker_unavailable"


def test_a_refused_connection_is_502_tracker_unavailable(client, auth):
    with Recorder("127.0.0.1") as closed:
        port = closed.port
    user = auth.register()
    tracker = _tracker_at(client, user, f"http://127.0.0.1:{port}", provider="gitlab")
    response = client.get(f"{TRACKERS}{tracker['id']}/issues", headers=user.headers)
    assert response.status_code == 502 and response.get_json()["error"] == "tracker_unavailable"


# ---- redirects are never followed --------------------------------------------------------------


def _assert_redirect_refused(response, internal):
    assert response.status_code == 502, response.get_json()
    body = response.get_json()
    assert body["error"] == "tracker_unavailable" and "302" in body["message"]
    assert BODY_MARKER not in response.get_data(as_text=True)
    assert internal.requests == []  # so no credential reached it either


@pytest.mark.parametrize("provider", ["github", "gitlab", "trello"])
def test_a_tracker_redirect_to_an_internal_host_is_never_followed(strict, auth, provider):
    client = strict
    with (
        Recorder("127.0.0.2", body=BODY_MARKER) as internal,
        Recorder(
            "127.0.0.1", status=302, body=BODY_MARKER, headers={"Location": f"{internal.url}/latest/meta-data/"}
        ) as redirector,
    ):
        user = auth.register()
        tracker = _tracker_at(client, user, redirector.url, provider)
        base = f"{TRACKERS}{tracker['id']}"
        _assert_redirect_refused(client.post(f"{base}/verify", headers=user.headers), internal)
        breaker.reset()
        _assert_redirect_refused(client.get(f"{base}/issues", headers=user.headers), internal)
        breaker.reset()
        _assert_redirect_refused(client.post(f"{base}/issues", json={"title": "x"}, headers=user.headers), internal)
        breaker.reset()
        _assert_redirect_refused(client.post(f"{base}/webhook", headers=user.headers), internal)
        assert redirector.requests  # the tracker host itself was asked


@pytest.mark.parametrize("provider", ["github", "gitlab"])
def test_template_import_does_not_follow_a_redirect(strict, auth, provider):
    client = strict
    with (
        Recorder("127.0.0.2", body=BODY_MARKER) as internal,
        Recorder("127.0.0.1", status=302, headers={"Location": f"{internal.url}/x"}) as redirector,
    ):
        user = auth.register()
        tracker = _tracker_at(client, user, redirector.url, provider)
        response = client.post("/api/v1/templates/import", json={"tracker_id": tracker["id"]}, headers=user.headers)
        _assert_redirect_refused(response, internal)


def test_a_subscription_redirect_to_an_internal_host_is_not_followed(client, auth, db, make_app):
    from test.test_subscriptions import deliveries, emit, make_subscription, run_jobs

    with (
        Recorder("127.0.0.2") as internal,
        Recorder("127.0.0.1", status=307, headers={"Location": f"{internal.url}/hook"}) as redirector,
    ):
        worker = make_app(TRACKER_ALLOWED_HOSTS=["127.0.0.1"], OUTBOUND_RETRY_SCHEDULE=[])
        user = auth.register()
        subscription = make_subscription(worker.test_client(), user, url=f"{redirector.url}/hook")
        emit(db, user, make_tracker(client, user))
        run_jobs(worker)
        assert len(redirector.requests) == 1 and internal.requests == []
        (delivery,) = deliveries(client, user, subscription)
        assert delivery["last_status_code"] == 307 and "not followed" in delivery["last_error"]


# ---- provider messages -------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "status"), [("github", 422), ("gitlab", 400), ("trello", 400)])
def test_a_provider_error_body_that_is_not_its_message_is_never_echoed(client, auth, provider, status):
    page = f"<html><body>{BODY_MARKER}</body></html>"
    with Recorder("127.0.0.1", status=status, body=page, content_type="text/html") as tracker_host:
        user = auth.register()
        tracker = _tracker_at(client, user, tracker_host.url, provider)
        response = client.post(f"{TRACKERS}{tracker['id']}/verify", headers=user.headers)
        assert response.status_code in (404, 422, 502), response.get_json()
        assert BODY_MARKER not in response.get_data(as_text=True) and "<" not in response.get_json()["message"]


def test_provider_messages_are_one_short_line():
    assert provider_message("title\nis\x00 too   fancy") == "title is too fancy"
    assert len(provider_message("x" * 5000)) == 200
    assert provider_message(b"<!DOCTYPE html><p>secret</p>") == ""
    assert provider_message('{"internal": "json"}') == ""


# ---- cookies -----------------------------------------------------------------------------------


def test_a_cookie_set_by_a_tracker_never_reaches_another_call(client, auth):
    with Recorder("127.0.0.1", headers={"Set-Cookie": "session=tenant-a-secret; Path=/"}) as tracker_host:
        for provider in ("github", "gitlab", "trello"):
            for _ in range(2):
                user = auth.register()
                tracker = _tracker_at(client, user, tracker_host.url, provider)
                client.get(f"{TRACKERS}{tracker['id']}/issues", headers=user.headers)
        assert len(tracker_host.requests) >= 6
        assert not [r for r in tracker_host.requests if "Cookie" in r.headers]


# ---- Sentry ------------------------------------------------------------------------------------


def test_sentry_sends_no_trace_headers_to_tracker_hosts(make_app, auth, github_fake):
    import sentry_sdk

    github_fake.add_token("gh-token")
    github_fake.add_repo("o/r")
    try:
        app = make_app(SENTRY_DSN="http://public@127.0.0.1:9/1", SENTRY_TRACES_SAMPLE_RATE=1.0)
        assert sentry_sdk.get_client().options["trace_propagation_targets"] == []
        with Recorder("127.0.0.1") as tracker_host:
            client = app.test_client()
            user = auth.register()
            tracker = _tracker_at(client, user, tracker_host.url, provider="gitlab")
            with sentry_sdk.start_transaction(name="outbound", sampled=True):
                client.get(f"{TRACKERS}{tracker['id']}/issues", headers=user.headers)
            assert tracker_host.requests
            for request in tracker_host.requests:
                assert "sentry-trace" not in {name.lower() for name in request.headers}
                assert "baggage" not in {name.lower() for name in request.headers}
    finally:
        sentry_sdk.init()  # no DSN: the SDK is off again for the rest of the run


def test_gitlab_field_errors_are_echoed_as_one_short_line(client, auth, gitlab_fake):
    gitlab_fake.add_token("gl-token", username="root")
    gitlab_fake.add_project("group/app")
    user = auth.register()
    tracker = make_tracker(
        client, user, provider="gitlab", target="group/app", credentials={"token": "gl-token"}, base_url=gitlab_fake.base_url
    )
    gitlab_fake.fail_next(400, body={"message": {"title": ["can't be blank"], "labels": ["is invalid"]}}, match="^POST ")
    response = client.post(f"{TRACKERS}{tracker['id']}/issues", json={"title": "x"}, headers=user.headers)
    assert response.status_code == 422
    assert response.get_json()["message"] == "GitLab rejected the request: title can't be blank; labels is invalid"

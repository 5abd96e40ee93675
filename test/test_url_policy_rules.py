"""The outbound URL policy's rules one by one: why a URL is refused, what an allowlist entry admits, what a resolver
answer turns into, and that a policy session reads no proxy variable (the resolver is faked where a name is used)."""

import ipaddress
import socket

import pytest
from urllib3.exceptions import NewConnectionError

from api import url_policy
from api.url_policy import PolicyAdapter, PolicySession, UrlNotAllowed, check_url, checked_addresses, is_public
from test.test_outbound_policy import resolver  # noqa: F401 - a fixture

ABSOLUTE, CREDENTIALS, HTTPS = "Must be an absolute http(s) URL.", "Must not contain credentials.", "Must use https."
PRIVATE = "Must not point to a private, loopback, link-local or otherwise non-public address."


@pytest.fixture
def policy(make_app):
    """Runs the policy under an app with the given TRACKER_ALLOWED_HOSTS."""

    def under(allowed, call, *args):
        with make_app(TRACKER_ALLOWED_HOSTS=allowed).app_context():
            return call(*args)

    return under


def refusal(policy, url, allowed=None):
    with pytest.raises(UrlNotAllowed) as refused:
        policy(allowed, check_url, url)
    return str(refused.value)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://8.8.8.8/", ABSOLUTE),
        ("https://", ABSOLUTE),
        ("/relative/path", ABSOLUTE),
        ("https://[::1/", ABSOLUTE),
        ("https://8.8.8.8:99999/", ABSOLUTE),
        ("https://user:pass@8.8.8.8/", CREDENTIALS),
        ("https://user@8.8.8.8/", CREDENTIALS),
        ("https://:pass@8.8.8.8/", CREDENTIALS),
        ("http://8.8.8.8/", HTTPS),
        ("https://10.0.0.1/", PRIVATE),
        ("https://[::ffff:127.0.0.1]/", PRIVATE),
    ],
)
def test_each_refusal_says_why(policy, url, why):
    assert refusal(policy, url) == why


def test_an_allowed_url_is_returned_trimmed_without_a_trailing_slash(policy):
    assert policy(None, check_url, "  https://8.8.8.8/hooks/  ") == "https://8.8.8.8/hooks"
    assert policy(None, check_url, "https://8.8.8.8/Hooks/X") == "https://8.8.8.8/Hooks/X"


@pytest.mark.parametrize(
    ("url", "port"),
    [("https://8.8.8.8/", 443), ("https://8.8.8.8:8443/", 8443), ("http://10.1.2.3/", 80), ("http://10.1.2.3:8080/", 8080)],
)
def test_the_checked_port_is_the_urls_or_its_schemes_default(policy, url, port):
    host, checked_port, addresses = policy(["10.0.0.0/8"], checked_addresses, url)
    assert checked_port == port and addresses == [ipaddress.ip_address(host)]


def test_a_host_name_is_checked_lowercase_without_its_trailing_dot(policy, resolver):  # noqa: F811
    resolver.answer("tracker.example.test", ["93.184.216.34"])
    assert policy(None, checked_addresses, "https://Tracker.Example.TEST./x") == (
        "tracker.example.test",
        443,
        [ipaddress.ip_address("93.184.216.34")],
    )


def test_an_allowlisted_name_is_matched_lowercase_without_its_trailing_dot(policy, resolver):  # noqa: F811
    resolver.answer("tracker.corp.test", ["10.0.0.7"])
    assert policy(["Tracker.Corp.TEST."], check_url, "http://tracker.corp.test/") == "http://tracker.corp.test"
    assert policy(["tracker.corp.test"], checked_addresses, "http://tracker.corp.test:8080/") == (
        "tracker.corp.test",
        8080,
        [ipaddress.ip_address("10.0.0.7")],
    )
    assert refusal(policy, "https://tracker.corp.test/", ["other.corp.test"]) == PRIVATE


def test_an_allowlisted_network_may_have_host_bits_set(policy):
    assert policy(["10.1.2.3/8"], check_url, "http://10.200.0.1/") == "http://10.200.0.1"


def test_an_allowlisted_network_admits_the_ipv4_inside_a_mapped_address(policy, resolver):  # noqa: F811
    resolver.answer("mapped.corp.test", ["::ffff:10.0.0.5"])
    assert policy(["10.0.0.0/8"], check_url, "http://mapped.corp.test") == "http://mapped.corp.test"


def test_an_allowlisted_ipv6_network_admits_a_plain_ipv6_address(policy):
    assert policy(["fd00::/8"], check_url, "http://[fd00::5]/") == "http://[fd00::5]"


def test_a_name_resolving_to_a_listed_and_an_unlisted_address_needs_https_and_a_public_unlisted_one(policy, resolver):  # noqa: F811
    resolver.answer("mixed.corp.test", ["10.0.0.5", "93.184.216.34"])
    resolver.answer("inside.corp.test", ["10.0.0.5", "192.168.1.9"])
    assert refusal(policy, "http://mixed.corp.test/", ["10.0.0.0/8"]) == HTTPS
    assert policy(["10.0.0.0/8"], check_url, "https://mixed.corp.test/") == "https://mixed.corp.test"
    assert refusal(policy, "https://inside.corp.test/", ["10.0.0.0/8"]) == PRIVATE


def test_no_allowlist_setting_at_all_allows_only_public_https(policy):
    assert policy(None, check_url, "https://8.8.8.8") == "https://8.8.8.8"
    assert refusal(policy, "https://127.0.0.1/") == PRIVATE


def test_resolver_answers_are_deduplicated_in_order_and_scoped_ipv6_is_read_without_its_zone(policy, monkeypatch):
    answers = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 0)),
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1%eth0", 0, 0, 2)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 0)),
    ]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answers)
    addresses = policy(["fe80::/10"], checked_addresses, "https://dual.example.test/")[2]
    assert addresses == [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("fe80::1")]


@pytest.mark.parametrize(
    "answer", [socket.gaierror(socket.EAI_NONAME, "Name or service not known"), []], ids=["resolver error", "no address"]
)
def test_a_name_that_does_not_resolve_is_refused_saying_so(policy, monkeypatch, answer):
    def getaddrinfo(*args, **kwargs):
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    assert refusal(policy, "https://nowhere.example.test/") == "The host 'nowhere.example.test' does not resolve."


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("ff0e::1", False),
        ("2606:4700::1111", True),
        ("64:ff9b::a00:1", False),
        ("64:ff9b::808:808", True),
        ("::ffff:8.8.8.8", True),
        ("::ffff:10.0.0.1", False),
    ],
)
def test_global_multicast_and_the_ipv4_inside_transition_forms_decide(address, public):
    assert is_public(ipaddress.ip_address(address)) is public


def test_a_policy_session_reads_no_environment_credentials_or_proxies(policy, monkeypatch, tmp_path, github_fake):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login tenant-a password leaked-secret\n")
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    response = policy(["127.0.0.1"], lambda: PolicySession().get(f"{github_fake.base_url}/rate_limit", timeout=10))
    assert response.status_code == 200
    assert [request.headers.get("authorization") for request in github_fake.requests] == [None]


def test_https_calls_of_a_policy_session_are_checked_too(policy):
    with pytest.raises(UrlNotAllowed, match="private"):
        policy(None, lambda: PolicySession().get("https://127.0.0.1:1/", timeout=5))


def test_a_policy_adapter_never_builds_a_proxy_manager():
    with pytest.raises(UrlNotAllowed) as refused:
        PolicyAdapter().proxy_manager_for("http://127.0.0.1:3128")
    assert str(refused.value) == "Outbound calls do not go through proxies."


def test_a_pinned_connection_outside_a_checked_call_is_refused_even_after_one(policy, github_fake):
    host, port = "127.0.0.1", int(github_fake.base_url.rsplit(":", 1)[1].split("/")[0])

    def unchecked():
        pool = url_policy._PinnedHTTPConnectionPool(host, port, retries=False)
        with pytest.raises(NewConnectionError) as refused:
            pool.urlopen("GET", "/rate_limit", retries=False)
        assert str(refused.value).endswith(": Refused: the address was not checked by the outbound URL policy.")

    unchecked()
    assert policy(["127.0.0.1"], lambda: PolicySession().get(f"{github_fake.base_url}/rate_limit", timeout=10)).ok
    unchecked()  # the checked call's pin does not outlive it
    url_policy._pin.target = ("127.0.0.1", port + 1, [ipaddress.ip_address(host)])
    try:
        unchecked()  # a pin for another port does not admit this one
    finally:
        url_policy._pin.target = None


def test_a_connect_that_times_out_is_a_connect_timeout_naming_the_host(policy):
    import requests

    # A listener that never accepts, its queue filled: Linux drops further SYNs, so the next connect times out.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    waiting = []
    try:
        for _ in range(4):
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(("127.0.0.1", port))
            waiting.append(client)
        with pytest.raises(requests.ConnectTimeout, match=r"Connection to 127\.0\.0\.1 timed out"):
            policy(["127.0.0.1"], lambda: PolicySession().get(f"http://127.0.0.1:{port}/", timeout=(0.3, 5)))
    finally:
        for client in waiting:
            client.close()
        server.close()

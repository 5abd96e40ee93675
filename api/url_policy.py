"""Outbound URL policy, enforced on every outbound HTTP call (tracker providers, template import, webhook
registration, subscription deliveries).

A URL must be https and every address its host resolves to must be globally routable, unless the host is listed
in TRACKER_ALLOWED_HOSTS (host names, IPs or CIDRs), in which case http and the listed addresses are allowed too.
`PolicySession` applies the policy to each call: it resolves the host once, checks every address, connects only to
a checked address (SNI, certificate check and the Host header keep the name), follows no redirect and keeps no
cookie, so neither a redirect nor a DNS answer that changes between check and connect can lead a call inside.
"""

import http.cookiejar
import ipaddress
import socket
import threading
from urllib.parse import urlsplit

import requests
from flask import current_app
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection


class UrlNotAllowed(ValueError):
    """The URL breaks the outbound policy; the message says why."""


# Transition forms that carry an IPv4 address, or reach one through a relay the gateway does not control.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_REFUSED_V6 = tuple(
    ipaddress.ip_network(net)
    for net in (
        "::/8",  # unspecified, loopback, IPv4-compatible (deprecated) and IPv4-translated forms
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215)
        "2001::/32",  # Teredo
        "2002::/16",  # 6to4
    )
)


def is_public(address) -> bool:
    """Whether an address is globally routable, looking through IPv4-mapped and NAT64 forms to the IPv4 inside."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if address in _NAT64:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if any(address in network for network in _REFUSED_V6):
            return False
    return address.is_global and not address.is_multicast


def _allowed_entries():
    hosts, networks = set(), []
    for entry in current_app.config.get("TRACKER_ALLOWED_HOSTS") or []:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))
    return hosts, networks


def _plain(address):
    return address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped else address


def _resolve(host):
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        # Looked up at call time, so that a test can stand in for the resolver.
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise UrlNotAllowed(f"The host {host!r} does not resolve.") from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UrlNotAllowed(f"The host {host!r} does not resolve.")
    return addresses


def _parts(url):
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # e.g. an unbalanced "[" or "]" in the host: "Invalid IPv6 URL"
        raise UrlNotAllowed("Must be an absolute http(s) URL.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlNotAllowed("Must be an absolute http(s) URL.")
    if parts.username or parts.password:
        raise UrlNotAllowed("Must not contain credentials.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UrlNotAllowed("Must be an absolute http(s) URL.") from None
    return parts.scheme, parts.hostname.lower().rstrip("."), port


def checked_addresses(url: str):
    """(host, port, addresses) for a URL the policy allows: the host resolved once and every address checked."""
    scheme, host, port = _parts(url)
    hosts, networks = _allowed_entries()
    addresses = _resolve(host)
    if host in hosts:
        return host, port, addresses
    listed = [any(_plain(address) in network for network in networks) for address in addresses]
    if all(listed):
        return host, port, addresses
    if scheme != "https":
        raise UrlNotAllowed("Must use https.")
    if any(not ok and not is_public(address) for address, ok in zip(addresses, listed, strict=True)):
        raise UrlNotAllowed("Must not point to a private, loopback, link-local or otherwise non-public address.")
    return host, port, addresses


def check_url(url: str) -> str:
    """Return the normalised URL, or raise UrlNotAllowed saying why it is refused."""
    checked_addresses(url)
    return url.strip().rstrip("/")


# ---- enforcement on every call -----------------------------------------------------------------

_pin = threading.local()


def _same_host(a, b):
    return a.lower().strip("[]").rstrip(".") == b.lower().strip("[]").rstrip(".")


class _PinnedConnectionMixin:
    """Connects to the addresses the policy checked for this call, never to a fresh DNS answer."""

    def _new_conn(self):
        target = getattr(_pin, "target", None)
        if target is None or not _same_host(target[0], self.host) or target[1] != self.port:
            raise NewConnectionError(self, "Refused: the address was not checked by the outbound URL policy.")
        error = None
        for address in target[2]:
            try:
                return connection.create_connection(
                    (str(address), self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError:
                error = ConnectTimeoutError(self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})")
            except OSError as exc:
                error = NewConnectionError(self, f"Failed to establish a new connection: {exc}")
        raise error


class _PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class _PinnedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class PolicyAdapter(HTTPAdapter):
    """Checks each request's URL against the policy and connects only to the addresses it checked."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PinnedHTTPConnectionPool, "https": _PinnedHTTPSConnectionPool}

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        raise UrlNotAllowed("Outbound calls do not go through proxies.")

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        _pin.target = checked_addresses(request.url)
        try:
            return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=None)
        finally:
            _pin.target = None


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """A pooled session serves every tenant: it must never store or send a cookie."""

    def set_ok(self, cookie, request):
        return False

    def return_ok(self, cookie, request):
        return False


class PolicySession(requests.Session):
    """A requests session for outbound calls: the URL policy and address pinning on every call, no redirect
    followed (a 3xx comes back as it is), no cookie kept, no proxy variables read."""

    def __init__(self, adapter=None):
        super().__init__()
        self.trust_env = False
        self.cookies = requests.cookies.RequestsCookieJar(policy=_NoCookies())
        adapter = adapter or PolicyAdapter()
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def send(self, request, **kwargs):
        kwargs["allow_redirects"] = False
        return super().send(request, **kwargs)

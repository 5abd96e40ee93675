"""Outbound URL policy for tracker base URLs and webhook subscriptions.

https only, and never a private, loopback, link-local or otherwise internal address, unless the host
is listed in TRACKER_ALLOWED_HOSTS (host names, IPs or CIDRs), in which case http is allowed too.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from flask import current_app


class UrlNotAllowed(ValueError):
    """The URL breaks the outbound policy; the message says why."""


def _allowed_entries():
    hosts, networks = set(), []
    for entry in current_app.config.get("TRACKER_ALLOWED_HOSTS") or []:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))
    return hosts, networks


def _is_internal(address):
    return (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified
            or (isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None
                and _is_internal(address.ipv4_mapped)))


def _resolve(host):
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise UrlNotAllowed(f"The host {host!r} does not resolve.") from None
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def check_url(url: str) -> str:
    """Return the normalised URL, or raise UrlNotAllowed saying why it is refused."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlNotAllowed("Must be an absolute http(s) URL.")
    if parts.username or parts.password:
        raise UrlNotAllowed("Must not contain credentials.")
    host = parts.hostname.lower().rstrip(".")
    hosts, networks = _allowed_entries()
    addresses = _resolve(host)
    allowed = host in hosts or (addresses and all(any(a in net for net in networks) for a in addresses))
    if allowed:
        return url.strip().rstrip("/")
    if parts.scheme != "https":
        raise UrlNotAllowed("Must use https.")
    if any(_is_internal(address) for address in addresses):
        raise UrlNotAllowed("Must not point to a private, loopback or link-local address.")
    return url.strip().rstrip("/")

"""The guarded passthrough: one raw call relative to a provider's API root, with the stored credentials.

The caller names only a path under the root (no scheme, host, dot segments, doubled or encoded separators), the
provider adds its credentials, the shared resilient session keeps the URL policy and follows no redirect, and the
answer is cut at a size and a time; response headers are filtered and each call is logged without bodies.
"""

import logging
import re
import threading
import time
from typing import Any, NoReturn
from urllib.parse import urlsplit

import requests
from flask import current_app
from sqlalchemy.orm import Session
from urllib3 import exceptions as urllib3_errors

from api.errors import ValidationFailed
from api.http import loads_bounded
from api.models.users import User
from api.services.trackers import call_provider, connect
from api.trackers.base import Capability, TrackerTimeout, TrackerUnavailable
from api.trackers.resilience import shared_session, transport_errors

log = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024
# Only these response headers travel back: never cookies, auth challenges or the provider's hop-by-hop headers.
FORWARDED_HEADERS = frozenset(
    {
        "content-type",
        "content-language",
        "etag",
        "last-modified",
        "link",
        "retry-after",
        "x-total-count",
        "x-total",
        "x-total-pages",
        "x-page",
        "x-per-page",
        "x-next-page",
        "x-prev-page",
        "x-request-id",
    }
)
# Rate-limit headers, and the providers' own request ids (x-<provider>-request-id), help a caller debug a call.
FORWARDED_PREFIXES = ("x-ratelimit-",)
_REQUEST_ID_HEADER = re.compile(r"x-[a-z0-9]+-request-id")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_ENCODED = re.compile(r"%(2e|2f|5c|25|00)", re.IGNORECASE)
_ENCODED_SLASH = re.compile(r"%2f", re.IGNORECASE)
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\?#]")


def check_path(path: str, *, encoded_slash: bool = False) -> str:
    """The path as sent under the API root, or ValidationFailed naming what is refused.

    With `encoded_slash` (a provider whose ids hold a '/', e.g. `group%2Fproject`), '%2F' inside one segment is
    the one encoding allowed, and each part it separates is held to the same rules as a segment.
    """

    def refuse(why: str) -> NoReturn:
        raise ValidationFailed(f"path refused: {why}.", errors={"path": [why]})

    if _SCHEME.match(path) or path.startswith("//"):
        refuse("a scheme or host is not allowed; give a path relative to the provider's API root")
    if _UNSAFE.search(path):
        refuse("no spaces, control characters, backslashes, '?' or '#' (send parameters in `query`)")
    if _ENCODED.search(_ENCODED_SLASH.sub("/", path) if encoded_slash else path):
        refuse(
            "no percent-encoded '.', '/', '\\\\', '%' or NUL"
            if not encoded_slash
            else "no percent-encoded '.', '\\\\', '%' or NUL ('%2F' only inside a name)"
        )
    relative = path[1:] if path.startswith("/") else path
    if not relative or "//" in relative:
        refuse("empty segments ('//') are not allowed")
    for segment in relative.split("/"):
        parts = _ENCODED_SLASH.split(segment)
        if any(part in (".", "..") for part in parts):
            refuse("'.' and '..' segments are not allowed")
        if len(parts) > 1 and "" in parts:
            refuse("an encoded '/' must join two names")
    return relative


def _join(root: str, relative: str) -> str:
    url = f"{root.rstrip('/')}/{relative}"
    base, target = urlsplit(root), urlsplit(url)
    # Belt and braces: whatever the path held, the URL stays on the root's scheme, host and path.
    if (target.scheme, target.netloc) != (base.scheme, base.netloc) or not target.path.startswith(base.path.rstrip("/") + "/"):
        raise ValidationFailed("path refused: it leaves the provider's API root.", errors={"path": ["Leaves the API root."]})
    return url


def _headers(response: requests.Response) -> dict[str, str]:
    return {
        name: value
        for name, value in response.headers.items()
        if name.lower() in FORWARDED_HEADERS
        or name.lower().startswith(FORWARDED_PREFIXES)
        or _REQUEST_ID_HEADER.fullmatch(name.lower())
    }


def _read_capped(response: requests.Response, *, limit: int, deadline: float) -> bytes:
    """The body, cut at `limit` bytes and at `deadline`: read in pieces as they arrive (a provider dripping bytes does
    not hold one read open), and a watchdog shuts the socket at the deadline so no single read outlasts it."""
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        response.raw.shutdown()

    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), expire)
    watchdog.daemon = True
    watchdog.start()
    body = bytearray()
    try:
        while chunk := response.raw.read1(READ_CHUNK, decode_content=True):
            body += chunk
            if len(body) > limit:
                raise TrackerUnavailable(f"The provider's answer is larger than the passthrough's {limit} bytes.")
            if expired.is_set() or time.monotonic() > deadline:
                break
    except (urllib3_errors.HTTPError, OSError) as exc:  # raw reads are not wrapped by requests
        if not expired.is_set():
            if isinstance(exc, urllib3_errors.ReadTimeoutError | TimeoutError):
                raise TrackerTimeout("The provider's answer took longer than the passthrough allows.") from None
            raise TrackerUnavailable("The provider's answer broke off.") from None
    finally:
        watchdog.cancel()
    if expired.is_set() or time.monotonic() > deadline:
        raise TrackerTimeout("The provider's answer took longer than the passthrough allows.")
    return bytes(body)


def _body(response: requests.Response, raw: bytes) -> Any:
    if not raw:
        return None
    if "json" in (response.headers.get("Content-Type") or "").lower():
        try:
            return loads_bounded(raw)
        except ValueError:
            pass
    return raw.decode(response.encoding or "utf-8", "replace")


def passthrough(
    *, session: Session, owner: User, tracker_id: int, method: str, path: str, query: dict[str, Any] | None, json: Any
) -> dict[str, Any]:
    """One raw provider call -> {status, headers, body}."""
    tracker, provider = connect(session=session, owner=owner, tracker_id=tracker_id)
    provider.require(Capability.PASSTHROUGH, "The passthrough")
    relative = check_path(path, encoded_slash=provider.passthrough_encoded_slash)
    config = current_app.config
    limit, seconds = config["PASSTHROUGH_MAX_BYTES"], config["PASSTHROUGH_TIMEOUT_SECONDS"]

    def call() -> dict[str, Any]:
        root, auth_headers, auth_params = provider.passthrough_root()
        url = _join(root, relative)
        params = {**(query or {}), **auth_params}  # the stored credentials win over a caller's parameter of that name
        headers = {"Accept": "application/json", **auth_headers}
        deadline = time.monotonic() + seconds
        with transport_errors():
            response = shared_session(seconds, 0).request(
                method,
                url,
                params=params,
                json=json if method in ("POST", "PUT", "PATCH") else None,
                headers=headers,
                timeout=seconds,
                allow_redirects=False,
                stream=True,
            )
            try:
                raw = _read_capped(response, limit=limit, deadline=deadline)
            finally:
                response.close()
        return {"status": response.status_code, "headers": _headers(response), "body": _body(response, raw)}

    status = "failed"
    try:
        result = call_provider(tracker, "passthrough", call)
        status = result["status"]
        return result
    finally:
        log.info(
            "passthrough %s %s -> %s",
            method,
            "/" + relative,
            status,
            extra={
                "tracker_id": tracker.id,
                "provider": tracker.provider,
                "user": owner.username,
                "method": method,
                "path": "/" + relative,
                "status": status,
            },
        )

"""The HTTP edge: bounded JSON parsing, chunked request bodies under uwsgi, one URL convention, Retry-After hygiene."""

import functools
import io
import json

from flask import has_request_context, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge

# Deeper than any body the API documents; far below the depth at which the C parser or a recursive
# consumer (marshmallow, jsonb) would exhaust the stack.
MAX_JSON_DEPTH = 64

# Retry-After means "wait before retrying": flask-limiter adds it to every response of a limited
# endpoint (a successful login included), where it only tells a client to slow down for nothing.
RETRY_AFTER_STATUSES = frozenset({429, 502, 503, 504})


class JsonTooDeep(ValueError):
    """A JSON document nested deeper than MAX_JSON_DEPTH; a ValueError, so werkzeug answers it as a 400."""


def json_depth_exceeds(value, limit=MAX_JSON_DEPTH):
    """Whether a parsed JSON value nests arrays/objects deeper than `limit` (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def loads_bounded(data, **kwargs):
    """json.loads that refuses documents nested deeper than MAX_JSON_DEPTH with a ValueError, never a RecursionError."""
    text = data.decode() if isinstance(data, (bytes, bytearray)) else data
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:  # cannot be too deep: skip the walk
        return json.loads(text, **kwargs)
    try:
        value = json.loads(text, **kwargs)
    except RecursionError:
        raise JsonTooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.") from None
    if json_depth_exceeds(value):
        raise JsonTooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
    return value


def json_failure_message(exc):
    """The message for a request body werkzeug could not parse: says so when the nesting limit refused it."""
    seen = exc
    while seen is not None:
        if isinstance(seen, JsonTooDeep):
            return f"The request body is nested deeper than {MAX_JSON_DEPTH} levels."
        seen = seen.__cause__ or seen.__context__
    return "The request body is not valid JSON."


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with a nesting limit on everything it parses (request.get_json included)."""

    def loads(self, s, **kwargs):
        return loads_bounded(s, **kwargs)


class _ChunkedInput(io.RawIOBase):
    """A de-chunked request body read part by part, refused with 413 as soon as it grows past `limit()`.

    werkzeug caps such a stream at MAX_CONTENT_LENGTH but then stops reading quietly, so an oversized body
    would be parsed truncated (a 400 "not valid JSON"); counting here tells "too large" from "ends here".
    The limit is asked as the body is read: a route that allows more (an attachment upload) raises it first.
    """

    def __init__(self, read_part, limit):
        self._read_part = read_part
        self._limit = limit
        self._received = 0
        self._pending = b""
        self._done = False

    def readable(self):
        return True

    def _next_part(self):
        part = self._read_part()  # OSError on a broken or oversized part: werkzeug reports the disconnect
        if not part:
            self._done = True
            return
        self._received += len(part)
        limit = self._limit()
        if limit is not None and self._received > limit:
            raise RequestEntityTooLarge()
        self._pending = part
        if self._received == limit:  # exactly at the limit: only an empty next part ends the body here
            if self._read_part():
                raise RequestEntityTooLarge()
            self._done = True

    def readinto(self, buffer):
        while not self._pending and not self._done:
            self._next_part()
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


class ChunkedInputMiddleware:
    """Hand chunked request bodies to the app as a terminated stream under the app's size limit.

    uwsgi (with `http-chunked-input`) passes a chunked body without CONTENT_LENGTH and werkzeug would read it as
    empty; it is read with uwsgi.chunked_read instead. Servers that de-chunk themselves (werkzeug's) mark the
    stream terminated already. Either way the body is counted against the request's limit (MAX_CONTENT_LENGTH
    unless the route raised `request.max_content_length`, as an attachment upload does): over it is a 413.
    """

    def __init__(self, wsgi_app, config):
        self.wsgi_app = wsgi_app
        self.config = config

    def _limit(self):
        return request.max_content_length if has_request_context() else self.config.get("MAX_CONTENT_LENGTH")

    def __call__(self, environ, start_response):
        if not environ.get("CONTENT_LENGTH") and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            if "uwsgi.version" in environ and "wsgi.input_terminated" not in environ:
                import uwsgi  # only importable inside a uwsgi worker

                read_part = uwsgi.chunked_read
            else:
                read_part = functools.partial(environ["wsgi.input"].read, 65536)
            if "uwsgi.version" in environ or environ.get("wsgi.input_terminated"):
                environ["wsgi.input"] = _ChunkedInput(read_part, self._limit)
                environ["wsgi.input_terminated"] = True
        return self.wsgi_app(environ, start_response)


def drop_stray_retry_after(response):
    """Keep Retry-After only where it asks the client to wait: 429, the upstream/unavailable 5xx, or an error that set it."""
    if response.status_code not in RETRY_AFTER_STATUSES and not getattr(response, "retry_after_meant", False):
        response.headers.pop("Retry-After", None)
    return response


def api_index():
    """What /api/v1 serves: where the documentation and the spec are, as JSON."""
    root = request.script_root + "/api/v1"
    return {"name": "Ticket Gateway API", "version": "1.0", "docs": f"{root}/docs", "spec": f"{root}/swagger.json"}


def init_http(app):
    """Install the JSON provider, the chunked-body adapter and the URL convention; call before any route is added."""
    app.json = BoundedJSONProvider(app)
    app.wsgi_app = ChunkedInputMiddleware(app.wsgi_app, app.config)
    # One convention for every route: with or without the trailing slash, the same resource answers (no HTML 308).
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False

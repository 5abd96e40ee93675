"""The HTTP edge: bounded JSON parsing, chunked request bodies under uwsgi, one URL convention, Retry-After hygiene."""

import io
import json

from flask import request
from flask.json.provider import DefaultJSONProvider

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


class _UwsgiChunkedInput(io.RawIOBase):
    """The body of a chunked request under uwsgi's `http-chunked-input`, read part by part with uwsgi.chunked_read."""

    def __init__(self, read_part):
        self._read_part = read_part
        self._pending = b""
        self._done = False

    def readable(self):
        return True

    def readinto(self, buffer):
        while not self._pending and not self._done:
            part = self._read_part()  # OSError on a broken or oversized part: werkzeug reports the disconnect
            if part:
                self._pending = part
            else:
                self._done = True
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


class ChunkedInputMiddleware:
    """Hand uwsgi's de-chunked request bodies to the app as a terminated stream.

    uwsgi (with `http-chunked-input`) passes a chunked body without CONTENT_LENGTH; werkzeug then reads an
    empty body unless the server marks the stream terminated. Marking it lets werkzeug apply
    MAX_CONTENT_LENGTH to the stream itself, so an oversized chunked body is a 413 like any other.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        if ("uwsgi.version" in environ and "wsgi.input_terminated" not in environ and not environ.get("CONTENT_LENGTH")
                and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()):
            import uwsgi  # only importable inside a uwsgi worker

            environ["wsgi.input"] = _UwsgiChunkedInput(uwsgi.chunked_read)
            environ["wsgi.input_terminated"] = True
        return self.wsgi_app(environ, start_response)


def drop_stray_retry_after(response):
    """Keep Retry-After only where it asks the client to wait: 429 and the upstream/unavailable 5xx."""
    if response.status_code not in RETRY_AFTER_STATUSES:
        response.headers.pop("Retry-After", None)
    return response


def api_index():
    """What /api/v1 serves: where the documentation and the spec are, as JSON."""
    root = request.script_root + "/api/v1"
    return {"name": "Ticket Gateway API", "version": "1.0", "docs": f"{root}/docs", "spec": f"{root}/swagger.json"}


def init_http(app):
    """Install the JSON provider, the chunked-body adapter and the URL convention; call before any route is added."""
    app.json = BoundedJSONProvider(app)
    app.wsgi_app = ChunkedInputMiddleware(app.wsgi_app)
    # One convention for every route: with or without the trailing slash, the same resource answers (no HTML 308).
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False

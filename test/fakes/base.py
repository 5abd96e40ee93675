"""Shared machinery of the provider fakes: threaded HTTP server, routing, fault knobs, request log, injected-failure
bodies, id counters, page parsing and Link headers."""

from __future__ import annotations

import itertools
import json
import math
import re
import socket
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Literal, Self
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from werkzeug.datastructures import MultiDict
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

CONTROL_PREFIX = "/_fake/"

# Request headers worth keeping in the log: auth, conditional requests, content negotiation.
LOGGED_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "if-modified-since",
    "if-none-match",
    "private-token",
    "user-agent",
    "x-github-api-version",
)

Handler = Callable[..., Response]


class HTTPError(Exception):
    """Raised by a handler to answer with an already formatted provider error response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class ControlError(ValueError):
    """A malformed knob or seed request sent to the `/_fake/*` control endpoints."""


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it (control endpoints excluded)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    form: dict[str, str]


@dataclass
class Fault:
    """A pending injected failure consumed by the next `count` matching requests."""

    kind: Literal["fail", "rate_limit", "drop", "hang"]
    count: int
    match: str | None = None
    status: int | None = None
    body: Any = None
    headers: dict[str, str] | None = None
    retry_after: float = 1.0
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to `METHOD /path`."""
        return self.match is None or re.search(self.match, f"{method} {path}") is not None


@dataclass
class Call:
    """Everything a route handler needs about the current request."""

    request: Request
    method: str
    path: str
    body: Any
    form: dict[str, str]
    principal: Any = None

    @property
    def query(self) -> MultiDict[str, str]:
        """Query string arguments."""
        return self.request.args

    def header(self, name: str) -> str | None:
        """A request header, or None."""
        return self.request.headers.get(name)

    def merged_params(self) -> dict[str, Any]:
        """Query, form and JSON-object body parameters, later sources winning (GitLab/Trello style)."""
        merged: dict[str, Any] = dict(self.query.items())
        merged.update(self.form)
        if isinstance(self.body, dict):
            merged.update(self.body)
        return merged


@dataclass(frozen=True)
class _Route:
    method: str
    regex: re.Pattern[str]
    converters: dict[str, Callable[[str], Any]]
    handler: str


@dataclass(frozen=True)
class Page:
    """One page of a paginated collection."""

    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def last_page(self) -> int:
        """Number of the last page (1 for an empty collection)."""
        return max(1, math.ceil(self.total / self.per_page))


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Register a handler for `pattern` (`{name}`, `{name:int}`, `{name:path}` placeholders)."""

    def decorate(handler: Handler) -> Handler:
        handler.__dict__.setdefault("_fake_routes", []).append((method, pattern))
        return handler

    return decorate


def _compile(pattern: str) -> tuple[re.Pattern[str], dict[str, Callable[[str], Any]]]:
    converters: dict[str, Callable[[str], Any]] = {}
    parts: list[str] = []
    position = 0
    for placeholder in re.finditer(r"\{(\w+)(?::(int|path))?\}", pattern):
        parts.append(re.escape(pattern[position : placeholder.start()]))
        name, kind = placeholder.group(1), placeholder.group(2)
        parts.append({"int": rf"(?P<{name}>\d+)", "path": rf"(?P<{name}>.+?)"}.get(kind or "", rf"(?P<{name}>[^/]+)"))
        converters[name] = int if kind == "int" else unquote
        position = placeholder.end()
    parts.append(re.escape(pattern[position:].rstrip("/")))
    return re.compile("^" + "".join(parts) + "/?$"), converters


def paginate(items: Sequence[Any], page: int, per_page: int) -> Page:
    """Slice `items` into the 1-based `page` of size `per_page`."""
    start = (page - 1) * per_page
    return Page(items=list(items[start : start + per_page]), page=page, per_page=per_page, total=len(items))


def page_of(call: Call, items: Sequence[Any], size: str, default: int, maximum: int) -> Page:
    """The page a request asks for with `page` and the page-size parameter `size` (junk means default, capped)."""
    return paginate(items, positive_int(call.query.get("page"), 1), min(positive_int(call.query.get(size), default), maximum))


@dataclass
class Counters:
    """Base of a fake's state whose ids count up from 1 per kind of object, plus its users and API tokens."""

    counters: defaultdict[str, itertools.count[int]] = field(default_factory=lambda: defaultdict(lambda: itertools.count(1)))
    users: dict[int, Any] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)

    def next_id(self, kind: str) -> int:
        return next(self.counters[kind])


def positive_int(value: Any, default: int) -> int:
    """Parse a positive integer query value the lenient way the providers do (junk means default)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def parse_timestamp(value: Any) -> datetime | None:
    """Parse an ISO 8601 date or date-time into an aware UTC datetime, or None if it is not one."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """Current time, aware UTC."""
    return datetime.now(UTC)


def iso_z(moment: datetime | None) -> str | None:
    """A time as `2024-01-31T12:00:00Z` (UTC, whole seconds); None stays None."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def iso_millis(moment: datetime | None, zone: str = "Z") -> str | None:
    """A time as `2024-01-31T12:00:00.123Z` (milliseconds, its zone written as `zone`); None stays None."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}{zone}" if moment else None


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response the way the providers send them."""
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return Response(body, status=status, headers=dict(headers or {}), content_type="application/json; charset=utf-8")


def text_response(text: str, status: int, headers: Mapping[str, str] | None = None) -> Response:
    """A plain-text response."""
    return Response(text, status=status, headers=dict(headers or {}), content_type="text/plain; charset=utf-8")


def split_list(value: Any) -> list[str]:
    """A list given either as a JSON array or as a comma-separated string, blanks dropped."""
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


class _QuietRequestHandler(WSGIRequestHandler):
    """Request handler that keeps werkzeug's per-request access log out of test output."""

    def log(self, type: str, message: str, *args: Any) -> None:
        if type == "error":
            super().log(type, message, *args)


class FakeServer:
    """Base of the stateful provider fakes, served over real HTTP on 127.0.0.1.

    Subclasses register handlers (named `_api_*` by convention) with `@route`, keep their state in
    `self.state` (a new `state_type` on reset) and override the provider hooks (`_authenticate`,
    `_not_found`, `_failure_body`, `_rate_limited_response`, ...). Handlers run under `self.lock`.
    """

    name: ClassVar[str] = "fake"
    api_prefix: ClassVar[str] = ""  # where the provider's REST API lives below base_url, e.g. `/api/v4`
    # `POST /_fake/control` body key -> method called with its value: object = kwargs, list = args,
    # true = no arguments, anything else = the single argument.
    control_knobs: ClassVar[dict[str, str]] = {
        "latency": "set_latency",
        **{knob: knob for knob in ("fail_next", "rate_limit_next", "drop_next", "hang_next", "clear_faults")},
    }
    seed_operations: ClassVar[tuple[str, ...]] = ()
    state_type: ClassVar[type] = dict  # the provider's state dataclass
    _routes: ClassVar[list[_Route]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        routes: list[_Route] = []
        for klass in reversed(cls.__mro__):
            for attribute, member in vars(klass).items():
                for method, pattern in getattr(member, "_fake_routes", ()):
                    regex, converters = _compile(pattern)
                    routes.append(_Route(method, regex, converters, attribute))
        cls._routes = routes

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.lock = threading.RLock()
        self._server: BaseWSGIServer = make_server(host, port, self._wsgi, threaded=True, request_handler=_QuietRequestHandler)
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._latency = 0.0
        self.state = self._new_state()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Root URL of the fake, e.g. `http://127.0.0.1:53117`."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        """Root of the provider's REST API, `{base_url}{api_prefix}`."""
        return f"{self.base_url}{self.api_prefix}"

    def start(self) -> Self:
        """Serve requests on a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{self.name}-fake", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Release hung requests, stop serving and close the socket."""
        self._wake.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Drop all state, knobs and the request log; requests still hanging are released."""
        with self.lock:
            self.state = self._new_state()
            self._requests.clear()
            self._faults.clear()
            self._latency = 0.0
            self._wake.set()
            self._wake = threading.Event()

    # -- knobs -------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of the provider requests received so far, oldest first."""
        with self.lock:
            return list(self._requests)

    def set_latency(self, seconds: float) -> None:
        """Add `seconds` of delay before every provider request is handled."""
        if float(seconds) < 0:
            raise ControlError("latency must be >= 0")
        with self.lock:
            self._latency = float(seconds)

    def fail_next(
        self, status: int, count: int = 1, body: Any = None, headers: Mapping[str, str] | None = None, match: str | None = None
    ) -> None:
        """Answer the next `count` requests (matching regex `match` on `METHOD /path`) with `status`."""
        if not 400 <= int(status) <= 599:
            raise ControlError("fail_next status must be a 4xx or 5xx code")
        self._add_fault(Fault("fail", count, match, status=int(status), body=body, headers=dict(headers or {})))

    def rate_limit_next(
        self, count: int = 1, retry_after: float = 1.0, status: int | None = None, match: str | None = None
    ) -> None:
        """Answer the next `count` requests with the provider's own rate-limit response."""
        self._add_fault(Fault("rate_limit", count, match, status=status, retry_after=float(retry_after)))

    def drop_next(self, count: int = 1, match: str | None = None) -> None:
        """Close the connection of the next `count` requests without sending any response."""
        self._add_fault(Fault("drop", count, match))

    def hang_next(self, count: int = 1, seconds: float = 30.0, match: str | None = None) -> None:
        """Stall the next `count` requests for `seconds` (released early by reset/stop), then answer."""
        self._add_fault(Fault("hang", count, match, seconds=float(seconds)))

    def clear_faults(self) -> None:
        """Forget pending injected faults."""
        with self.lock:
            self._faults.clear()

    def knobs(self) -> dict[str, Any]:
        """Current knob settings, as served by `GET /_fake/control`."""
        with self.lock:
            return {"latency": self._latency, "faults": [asdict(fault) for fault in self._faults]}

    def _add_fault(self, fault: Fault) -> None:
        if fault.count < 1:
            raise ControlError("count must be >= 1")
        if fault.match is not None:
            re.compile(fault.match)
        with self.lock:
            self._faults.append(fault)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- provider hooks ------------------------------------------------------------------------

    def _new_state(self) -> Any:
        """Fresh, empty provider state: a new `state_type`."""
        return self.state_type()

    def _seed_user(self, name: str) -> Any:
        """The user called `name`, created first (the subclass's `add_user`) if missing."""
        self.add_user(name)
        return self._user_named(name)

    def _user_named(self, name: str) -> Any:
        """The user called `name` (case-insensitively), or None."""
        raise NotImplementedError

    def _authenticate(self, call: Call) -> Any:
        """Resolve the caller's identity, raising HTTPError for bad credentials."""
        raise NotImplementedError

    def _not_found(self, call: Call) -> Response:
        """The provider's answer to an unknown route."""
        raise NotImplementedError

    def _failure_response(self, status: int, body: Any, headers: Mapping[str, str]) -> Response:
        """The response injected by `fail_next`: `body` as text or JSON, None meaning the provider's default body."""
        if body is None:
            body = self._failure_body(status)
        if isinstance(body, str):
            return text_response(body, status, headers)
        return json_response(body, status, headers)

    def _failure_body(self, status: int) -> Any:
        """The provider's own body for an injected failure with `status`."""
        raise NotImplementedError

    def _rate_limited_response(self, call: Call, retry_after: float, status: int | None) -> Response:
        """The provider's own rate-limit response."""
        raise NotImplementedError

    def _bad_json(self, call: Call) -> Response:
        """The provider's answer to an unparseable JSON body."""
        raise NotImplementedError

    def _before_dispatch(self, call: Call) -> Response | None:
        """Short-circuit a request before routing (e.g. exhausted quota); None to proceed."""
        return None

    def _after_dispatch(self, call: Call, response: Response) -> Response:
        """Post-process a handled response (headers, conditional requests, quota accounting)."""
        return response

    # -- WSGI ----------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        # PATH_INFO is already percent-decoded; routing needs the raw path so that `group%2Fproject`
        # and URL-encoded file paths stay single segments.
        raw_path = urlsplit(environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.path).path or "/"
        if raw_path.startswith(CONTROL_PREFIX):
            response = self._control(request, raw_path)
        else:
            response = self._serve(request, raw_path, environ)
        return response(environ, start_response)

    def _serve(self, request: Request, raw_path: str, environ: dict[str, Any]) -> Response:
        method = request.method.upper()
        raw_body = request.get_data(cache=True)
        body, body_ok = self._parse_body(request, raw_body)
        form = self._parse_form(request, raw_body)
        call = Call(request=request, method=method, path=raw_path, body=body, form=form)
        with self.lock:
            headers = {name: request.headers[name] for name in LOGGED_HEADERS if name in request.headers}
            self._requests.append(RecordedRequest(method, raw_path, request.args.to_dict(flat=True), headers, body, form))
            latency, wake = self._latency, self._wake
        if latency:
            wake.wait(latency)
        fault = self._take_fault(method, raw_path)
        if fault is not None and fault.kind == "drop":
            self._drop_connection(environ)
        elif fault is not None and fault.kind == "rate_limit":
            with self.lock:
                return self._rate_limited_response(call, fault.retry_after, fault.status)
        elif fault is not None and fault.kind == "fail":
            return self._failure_response(int(fault.status or 500), fault.body, fault.headers or {})
        elif fault is not None and fault.kind == "hang":
            wake.wait(fault.seconds)
        with self.lock:
            try:
                if not body_ok:
                    raise HTTPError(self._bad_json(call))
                call.principal = self._authenticate(call)
                early = self._before_dispatch(call)
                response = early if early is not None else self._dispatch(call)
            except HTTPError as error:
                response = error.response
            return self._after_dispatch(call, response)

    def _dispatch(self, call: Call) -> Response:
        lookup_method = "GET" if call.method == "HEAD" else call.method
        for candidate in self._routes:
            if candidate.method != lookup_method:
                continue
            found = candidate.regex.match(call.path)
            if found:
                arguments = {name: candidate.converters[name](value) for name, value in found.groupdict().items()}
                return getattr(self, candidate.handler)(call, **arguments)
        return self._not_found(call)

    def _route_exists(self, path: str) -> bool:
        """Whether some method is routed at `path` (to tell 405 from 404)."""
        return any(candidate.regex.match(path) for candidate in self._routes)

    @staticmethod
    def _parse_body(request: Request, raw_body: bytes) -> tuple[Any, bool]:
        if not raw_body.strip() or "json" not in (request.mimetype or ""):
            return None, True
        try:
            return json.loads(raw_body), True
        except ValueError:
            return None, False

    @staticmethod
    def _parse_form(request: Request, raw_body: bytes) -> dict[str, str]:
        if request.mimetype != "application/x-www-form-urlencoded":
            return {}
        return dict(parse_qsl(raw_body.decode("utf-8", "replace"), keep_blank_values=True))

    @staticmethod
    def _drop_connection(environ: dict[str, Any]) -> None:
        connection: socket.socket = environ["werkzeug.socket"]
        connection.shutdown(socket.SHUT_RDWR)
        # werkzeug treats ConnectionError from the app as a client disconnect: no response is written.
        raise ConnectionAbortedError("connection dropped by fake")

    # -- helpers for subclasses ----------------------------------------------------------------

    def page_url(self, call: Call, **overrides: Any) -> str:
        """Absolute URL of the current request with some query parameters replaced."""
        query = call.query.to_dict(flat=True)
        query.update({key: str(value) for key, value in overrides.items()})
        return f"{self.base_url}{call.path}?{urlencode(query)}"

    def link_header(self, call: Call, page: Page, always_bounds: bool) -> str:
        """RFC 5988 `Link` header for `page`: prev/next when they exist; first/last always or only when not current."""
        links: list[tuple[str, int]] = []
        if page.page > 1:
            links.append(("prev", min(page.page - 1, page.last_page)))
        if page.page < page.last_page:
            links.append(("next", page.page + 1))
        if always_bounds or page.page > 1:
            links.append(("first", 1))
        if always_bounds or page.page < page.last_page:
            links.append(("last", page.last_page))
        return ", ".join(f'<{self.page_url(call, page=number)}>; rel="{rel}"' for rel, number in links)

    def linked_json(self, call: Call, page: Page, data: Any, link: bool = True) -> Response:
        """`data` as JSON with `page`'s `Link` header (prev/next, first/last when not current) when it has a relation."""
        response = json_response(data)
        links = self.link_header(call, page, always_bounds=False) if link else ""
        if links:
            response.headers["Link"] = links
        return response

    # -- control endpoints ---------------------------------------------------------------------

    def _control(self, request: Request, raw_path: str) -> Response:
        action = raw_path[len(CONTROL_PREFIX) :].strip("/")
        try:
            payload = request.get_json(silent=True) if request.method == "POST" else None
            if action == "control" and request.method == "GET":
                return json_response(self.knobs())
            if action == "control" and request.method == "POST":
                self._apply_controls(payload)
                return json_response(self.knobs())
            if action == "reset" and request.method == "POST":
                self.reset()
                return json_response({"reset": True})
            if action == "seed" and request.method == "POST":
                return json_response(self._apply_seed(payload))
            if action == "requests" and request.method == "GET":
                return json_response([asdict(entry) for entry in self.requests])
        except (ControlError, TypeError, ValueError, LookupError) as error:
            return json_response({"error": str(error)}, status=400)
        return json_response({"error": f"unknown control endpoint {request.method} {raw_path}"}, status=404)

    def _apply_controls(self, payload: Any) -> None:
        if not isinstance(payload, dict):
            raise ControlError("control body must be a JSON object of knob settings")
        unknown = set(payload) - set(self.control_knobs)
        if unknown:
            raise ControlError(f"unknown knobs {sorted(unknown)}; known: {sorted(self.control_knobs)}")
        for knob, value in payload.items():
            _invoke(getattr(self, self.control_knobs[knob]), value)

    def _apply_seed(self, payload: Any) -> Any:
        operations = payload if isinstance(payload, list) else [payload]
        results = []
        for operation in operations:
            if not isinstance(operation, dict) or operation.get("op") not in self.seed_operations:
                raise ControlError(f"seed needs {{'op': one of {list(self.seed_operations)}, 'args': {{...}}}}")
            results.append(_invoke(getattr(self, operation["op"]), operation.get("args")))
        return results if isinstance(payload, list) else results[0]


def _invoke(function: Callable[..., Any], value: Any) -> Any:
    if isinstance(value, dict):
        return function(**value)
    if isinstance(value, list):
        return function(*value)
    if value is None or value is True:
        return function()
    return function(value)

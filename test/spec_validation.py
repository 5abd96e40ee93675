"""Pytest plugin: every /api/v1 JSON response the suite sees is checked against the live Swagger spec by a real
Swagger 2.0 client library (bravado-core, response validation on), the way a generated validating client would.

Responses are recorded as the app sends them (Flask's `request_finished` signal, so the test client, the fuzz
test's live server and every app a test builds are all covered), deduplicated by operation, status and the
body's shape, and validated once at the end of the run. A status the operation does not document is a mismatch
too. Any mismatch fails the run and is listed with the first test that produced it. A test that provokes an
undocumented answer on purpose (an injected crash) says so with `@pytest.mark.spec_exempt("why")`.
"""

import json
import re
import threading
import time
import warnings

import pytest
from flask import request, request_finished
from jsonschema.exceptions import ValidationError

# bravado-core still resolves $refs with jsonschema's deprecated RefResolver; that is its business, not a finding.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from bravado_core.exception import MatchingResponseNotFound, SwaggerMappingError
    from bravado_core.response import OutgoingResponse, get_response_spec, validate_response
    from bravado_core.spec import Spec
    from bravado_core.validate import validate_schema_object

BASE_PATH = "/api/v1"
SPEC_PATH = f"{BASE_PATH}/swagger.json"
SKIPPED_METHODS = {"HEAD", "OPTIONS"}  # not operations of the spec: HEAD mirrors GET, OPTIONS is CORS preflight


def swagger_path(rule):
    """The spec's path for a Flask URL rule: /api/v1/trackers/<int:tracker_id> -> /trackers/{tracker_id}."""
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule[len(BASE_PATH) :])


def shape(value):
    """A hashable outline of a JSON value (keys and types, not values): responses of one shape validate alike."""
    if isinstance(value, dict):
        return frozenset((key, shape(item)) for key, item in value.items())
    if isinstance(value, list):
        return ("list", frozenset(shape(item) for item in value))
    return type(value).__name__


class _Response(OutgoingResponse):
    def __init__(self, *, content_type, text, headers):
        self.content_type = content_type
        self.text = text
        self.headers = headers
        self.raw_bytes = text.encode()

    def json(self, **kwargs):
        return json.loads(self.text, **kwargs)


class _OfflineSpec(Spec):
    """A bravado-core Spec that never downloads a $ref.

    The gateway's spec has no remote $ref. jsonschema's resolver store, however, also holds every meta-schema other
    libraries registered (openapi-schema-validator adds the OAS 3.1 dialect), and bravado-core's model discovery walks
    the store; their own remote $refs would otherwise be fetched over the network.
    """

    def get_ref_handlers(self):
        def refuse(uri):
            if uri.startswith("https://spec.openapis.org/"):
                return {}  # a meta-schema of another dialect: irrelevant to a Swagger 2.0 document
            raise ValueError(f"remote $ref {uri!r} in the gateway's spec")

        return {"http": refuse, "https": refuse, "file": refuse}


class ResponseChecker:
    """Validates recorded responses against one Swagger 2.0 document with bravado-core."""

    def __init__(self, spec_dict):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.spec = _OfflineSpec.from_dict(
                spec_dict,
                origin_url="http://gateway.test" + SPEC_PATH,
                config={
                    "validate_swagger_spec": True,
                    "validate_requests": True,
                    "validate_responses": True,
                    "use_models": False,
                },
            )

    def check(self, *, method, path, status, content_type, text, headers=None):
        """The mismatch (a message) between one response and the spec, or None; `path` is the spec's path or None."""
        op = self.spec.get_op_for_request(method, BASE_PATH + path) if path is not None else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return self._check(op, status=status, content_type=content_type, text=text, headers=headers)

    def _check(self, op, *, status, content_type, text, headers):
        try:
            if op is None:
                if content_type != "application/json":
                    return None  # not an operation and not an API answer: Swagger UI's page
                # Not an operation (no route, wrong method): the body must still be the one error shape.
                validate_schema_object(self.spec, self.spec.spec_dict["definitions"]["Error"], json.loads(text))
                return None
            response_spec = get_response_spec(status, op)
            validate_response(response_spec, op, _Response(content_type=content_type, text=text, headers=headers or {}))
        except MatchingResponseNotFound:
            return f"status {status} is not documented for this operation"
        except (ValidationError, SwaggerMappingError, ValueError) as exc:
            return getattr(exc, "message", None) or str(exc)
        return None


class _Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.samples = {}
        self.app = None
        self.current_test = "(outside a test)"
        self.paused = False
        self.seconds = 0.0

    def record(self, sender, response, **kwargs):
        started = time.perf_counter()
        try:
            self._record(sender, response)
        finally:
            self.seconds += time.perf_counter() - started

    def _record(self, sender, response):
        if self.paused or request.method in SKIPPED_METHODS or not request.path.startswith(BASE_PATH):
            return
        if request.path.rstrip("/") in (BASE_PATH, SPEC_PATH) or response.is_streamed:
            return  # the API's index and the spec itself are documents, not operations of the spec
        rule = request.url_rule.rule if request.url_rule is not None else None
        text = response.get_data(as_text=True)
        try:
            key_shape = shape(json.loads(text)) if response.mimetype == "application/json" else text[:200]
        except ValueError:
            key_shape = text[:200]
        path = swagger_path(rule) if rule is not None else None
        key = (request.method, path or request.path, response.status_code, key_shape)
        with self.lock:
            if self.app is None:
                self.app = sender
            if key not in self.samples:
                self.samples[key] = {
                    "method": request.method,
                    "path": path,
                    "url": request.path,
                    "status": response.status_code,
                    "content_type": response.mimetype,
                    "text": text,
                    "headers": dict(response.headers),
                    "test": self.current_test,
                }

    def mismatches(self):
        if self.app is None:
            return []
        started = time.perf_counter()
        try:
            return self._mismatches()
        finally:
            self.seconds += time.perf_counter() - started

    def _mismatches(self):
        self.paused = True
        spec_dict = self.app.test_client().get(SPEC_PATH).get_json()
        checker = ResponseChecker(spec_dict)
        found = []
        for sample in self.samples.values():
            problem = checker.check(
                method=sample["method"],
                path=sample["path"],
                status=sample["status"],
                content_type=sample["content_type"],
                text=sample["text"],
                headers=sample["headers"],
            )
            if problem:
                found.append(
                    f"{sample['method']} {sample['url']} -> {sample['status']} (first seen in {sample['test']}): "
                    f"{problem.splitlines()[0][:300]}"
                )
        return sorted(found)


_recorder = _Recorder()
_mismatches = []


def pytest_configure(config):
    config.addinivalue_line("markers", "spec_exempt(reason): this test's responses are not checked against the spec")
    request_finished.connect(_recorder.record, weak=False)


def pytest_runtest_setup(item):
    _recorder.current_test = item.nodeid
    _recorder.paused = item.get_closest_marker("spec_exempt") is not None


def pytest_runtest_teardown(item):
    _recorder.paused = False


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    request_finished.disconnect(_recorder.record)
    _mismatches.extend(_recorder.mismatches())
    if _mismatches:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if not _recorder.samples:
        return
    if _mismatches:
        terminalreporter.section("responses that do not match the Swagger spec (bravado-core)", red=True)
        for line in _mismatches:
            terminalreporter.line(line)
    else:
        terminalreporter.write_line(
            f"spec validation: {len(_recorder.samples)} distinct responses match the Swagger spec "
            f"({_recorder.seconds:.1f} s recording and validating)"
        )

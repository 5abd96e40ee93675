"""JSON logs with a request id, one access line per request, and Sentry with secrets scrubbed."""

import json
import logging
import re
import sys
import time
import uuid

from flask import g, request

from api.logcontext import ContextFilter
from api.trackers.registry import all_providers

SENSITIVE_KEY = re.compile(
    r"pass(word)?|secret|token|authori[sz]ation|cookie|credential|api[_-]?key|private[_-]?key|signature|dsn",
    re.IGNORECASE,
)
REDACTED = "[redacted]"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
QUIET_LOGGERS = ("alembic", "sqlalchemy.engine", "werkzeug", "urllib3", "procrastinate")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and any `extra` fields."""

    _standard = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record):
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in self._standard and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


JsonFormatter.converter = time.gmtime


def configure_logging(level):
    root = logging.getLogger()
    if not any(getattr(handler, "_gateway", False) for handler in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        handler.addFilter(ContextFilter())
        handler._gateway = True
        root.addHandler(handler)
    root.setLevel(level)
    # Migration and pool chatter is not operational news. urllib3 logs request URLs at debug level (some providers
    # carry credentials in the query string), and providers name their client libraries' loggers that do the same.
    for name in (*QUIET_LOGGERS, *provider_quiet_loggers()):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def provider_quiet_loggers():
    """The client-library loggers every registered provider asks to keep at WARNING."""
    return sorted({name for cls in all_providers() for name in cls.quiet_loggers})


def scrub(value):
    """Replace the values of secret-looking keys, recursively, in dicts and lists."""
    if isinstance(value, dict):
        return {
            key: (REDACTED if isinstance(key, str) and SENSITIVE_KEY.search(key) else scrub(item)) for key, item in value.items()
        }
    if isinstance(value, list):
        return [scrub(item) for item in value]
    return value


def scrub_event(event, hint=None):
    """Sentry before_send: drop secrets from headers, bodies, query strings, breadcrumbs and frame vars."""
    request_data = event.get("request")
    if isinstance(request_data, dict):
        if isinstance(request_data.get("query_string"), str) and request_data["query_string"]:
            request_data["query_string"] = REDACTED
        request_data.pop("cookies", None)
    return scrub(event)


def init_sentry(app):
    dsn = app.config.get("SENTRY_DSN")
    if not dsn:
        return
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=app.config.get("SENTRY_ENVIRONMENT") or app.config["ENV_NAME"],
        integrations=[FlaskIntegration()],
        # No send_default_pii (deprecated): unset is "off", and setting data_collection instead would turn the SDK's
        # own event scrubber off. test_sentry_sends_no_personal_data_and_keeps_its_own_scrubber pins what this resolves to.
        traces_sample_rate=app.config.get("SENTRY_TRACES_SAMPLE_RATE", 0.0),
        # Tracker and subscriber hosts are user-chosen: no sentry-trace or baggage header may reach them.
        trace_propagation_targets=[],
        before_send=scrub_event,
        before_breadcrumb=lambda crumb, hint: scrub(crumb),
    )


def init_observability(app):
    """Logging, request ids, the access log and Sentry."""
    configure_logging(app.config["LOG_LEVEL"])
    init_sentry(app)
    access_log = logging.getLogger("api.access")

    @app.before_request
    def _start_request():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish_request(response):
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
        if app.config.get("LOG_REQUESTS") and "request_started" in g:
            access_log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - g.request_started) * 1000, 2),
                    "request_id": request_id,
                },
            )
        return response

"""The one error shape, the ApiError tree, and the handlers that produce it for every failure."""

import contextlib
import logging

from flask import current_app, got_request_exception, jsonify
from marshmallow import ValidationError
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the API reports on purpose; subclasses fix the status and the machine-readable slug."""

    code = 500
    error = "internal_error"
    message = "Internal server error."

    def __init__(self, message=None, *, errors=None, error=None, headers=None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.errors = errors
        if error:
            self.error = error
        self.headers = dict(headers or {})


class BadRequest(ApiError):
    code, error, message = 400, "bad_request", "The request could not be understood."


class ValidationFailed(ApiError):
    code, error, message = 400, "validation_failed", "The request body or query has invalid fields."


class Unauthorized(ApiError):
    code, error, message = 401, "unauthorized", "Authentication required."

    def __init__(self, message=None, **kwargs):
        super().__init__(message, **kwargs)
        self.headers.setdefault("WWW-Authenticate", 'Bearer realm="api"')


class Forbidden(ApiError):
    code, error, message = 403, "forbidden", "You are not allowed to do this."


class NotFound(ApiError):
    code, error, message = 404, "not_found", "Not found."


class Conflict(ApiError):
    code, error, message = 409, "conflict", "Conflicts with the current state."


class UnsupportedMediaType(ApiError):
    code, error, message = 415, "unsupported_media_type", "The request body must be JSON (Content-Type: application/json)."


class Unprocessable(ApiError):
    code, error, message = 422, "unprocessable", "The request is well formed but cannot be processed."


class ServiceUnavailable(ApiError):
    code, error, message = 503, "service_unavailable", "The service is temporarily unavailable."


_HTTP_SLUGS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
}


def _string_keys(errors):
    # marshmallow keys list-item errors by index (int) beside "_schema"; JSON keys are strings, and mixed
    # key types would also break sorted JSON encoding.
    if isinstance(errors, dict):
        return {str(key): _string_keys(value) for key, value in errors.items()}
    if isinstance(errors, list):
        return [_string_keys(item) for item in errors]
    return errors


def error_body(code, message, *, error=None, errors=None):
    """Build the one error body: {"code", "error", "message"[, "errors"]}."""
    body = {"code": code, "error": error or _HTTP_SLUGS.get(code, "error"), "message": message}
    if errors:
        body["errors"] = _string_keys(errors)
    return body


def _respond(code, message, *, error=None, errors=None, headers=None):
    response = jsonify(error_body(code, message, error=error, errors=errors))
    response.status_code = code
    for name, value in (headers or {}).items():
        response.headers[name] = value
    response.retry_after_meant = "Retry-After" in (headers or {})  # kept by api.http.drop_stray_retry_after
    return response


def _http_exception_message(exc):
    if exc.code == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        return f"The request body is larger than the limit of {limit} bytes."
    if exc.code == 404:
        return "The requested URL was not found."
    if exc.code == 405:
        return "The method is not allowed for the requested URL."
    return exc.description or exc.name


def _database_unavailable(exc):
    from api.extensions import db

    # The connection is already gone; a failing rollback has nothing more to undo.
    with contextlib.suppress(Exception):
        db.session.rollback()
    log.warning("database unavailable: %s", type(exc).__name__)
    return _respond(
        503, "The database is temporarily unavailable; retry shortly.", error="database_unavailable", headers={"Retry-After": "5"}
    )


def handle_exception(exc):
    """Turn any exception into the one error shape; unexpected ones are logged and reported as 500."""
    if isinstance(exc, ApiError):
        return _respond(exc.code, exc.message, error=exc.error, errors=exc.errors, headers=exc.headers)
    if isinstance(exc, ValidationError):
        return _respond(400, ValidationFailed.message, error=ValidationFailed.error, errors=exc.messages)
    if isinstance(exc, HTTPException) and exc.code:
        headers = {}
        if exc.code == 405 and getattr(exc, "valid_methods", None):
            headers["Allow"] = ", ".join(exc.valid_methods)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            headers["Retry-After"] = str(retry_after)
        return _respond(exc.code, _http_exception_message(exc), headers=headers)
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError)):
        return _database_unavailable(exc)
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return _database_unavailable(exc)
    got_request_exception.send(current_app._get_current_object(), exception=exc)
    log.exception("unhandled error")
    return _respond(500, ApiError.message, error=ApiError.error)


def register_error_handlers(app):
    """Route every error outside the RESTX Api (routing 404/405, other blueprints) to the same shape."""
    app.register_error_handler(HTTPException, handle_exception)
    app.register_error_handler(Exception, handle_exception)

"""Glue between marshmallow schemas and RESTX: Swagger models, query docs, request parsing."""

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import request
from werkzeug.exceptions import BadRequest as WerkzeugBadRequest

from api.errors import BadRequest, UnsupportedMediaType
from api.schemas.base import ErrorSchema

# Nested schemas are inlined (resolver returns None), so each Swagger model is self-contained.
_plugin = MarshmallowPlugin(schema_name_resolver=lambda schema: None)
APISpec(title="schema-converter", version="1", openapi_version="2.0", plugins=[_plugin])

_ERROR_DESCRIPTIONS = {
    400: "Invalid input (malformed JSON, unknown or invalid fields)",
    401: "Missing, invalid or expired token",
    403: "Authenticated but not allowed",
    404: "Not found",
    409: "Conflict",
    413: "Request body too large",
    415: "Request body is not JSON",
    422: "Semantically invalid",
    429: "Rate limited",
    502: "Tracker upstream failed",
    503: "Temporarily unavailable",
    504: "Tracker upstream timed out",
}


def to_jsonschema(schema):
    """The JSON Schema (Swagger 2.0 dialect) of a marshmallow schema."""
    return _plugin.converter.schema2jsonschema(schema)


def schema_model(ns, name, schema, *, min_properties=None):
    """Register a Swagger model on a namespace, derived from a marshmallow schema."""
    definition = to_jsonschema(schema)
    if min_properties is not None:
        definition["minProperties"] = min_properties  # an update must change something
    return ns.schema_model(name, definition)


def query_params(schema):
    """RESTX `params` documentation for a marshmallow query schema."""
    params = {}
    for param in _plugin.converter.schema2parameters(schema, location="query"):
        name = param.pop("name")
        params[name] = param
    return params


def error_responses(ns, *codes):
    """Document error statuses on a resource method, all with the one error model."""
    model = ns.models.get("Error") or schema_model(ns, "Error", ErrorSchema)

    def decorator(func):
        for code in codes:
            func = ns.response(code, _ERROR_DESCRIPTIONS[code], model)(func)
        return func

    return decorator


def load_json(schema, *, partial=None):
    """Parse the request body as a JSON object and validate it with `schema`."""
    if not request.is_json:
        raise UnsupportedMediaType()
    try:
        data = request.get_json()
    except WerkzeugBadRequest:
        raise BadRequest("The request body is not valid JSON.", error="malformed_json") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.", error="malformed_json")
    return schema.load(data, partial=partial)


def load_query(schema):
    """Validate the query string with `schema`."""
    return schema.load(request.args)


IDEMPOTENCY_PARAM = {"Idempotency-Key": {"in": "header", "type": "string", "required": False,
                                         "description": "a retry with the same key and body returns the first response"}}


def idempotent(payload, action):
    """Run a creating POST under the request's Idempotency-Key; returns a RESTX (body, status, headers)."""
    from api.auth import current_user
    from api.extensions import db
    from api.services import idempotency

    body, status, replayed = idempotency.run(
        session=db.session, user_id=current_user().id, key=request.headers.get("Idempotency-Key"),
        scope=f"{request.method} {request.path}", payload=payload, action=action,
    )
    return body, status, ({"Idempotent-Replayed": "true"} if replayed else {})

"""Glue between marshmallow schemas and RESTX: Swagger models, query docs, request parsing."""

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import request
from werkzeug.exceptions import BadRequest as WerkzeugBadRequest

from api.errors import BadRequest, UnsupportedMediaType
from api.http import json_failure_message
from api.schemas.base import NO_NUL_PATTERN, NOT_BLANK_PATTERN, ErrorSchema, Text, not_blank

# Nested schemas are inlined (resolver returns None), so each Swagger model is self-contained.
_plugin = MarshmallowPlugin(schema_name_resolver=lambda schema: None)
APISpec(title="schema-converter", version="1", openapi_version="2.0", plugins=[_plugin])

# Swagger 2.0 has no writeOnly: load-only fields are marked while converting, then kept out of output models.
_WRITE_ONLY = "x-write-only"


def _marshmallow_extras(self, field, **kwargs):
    """Spec attributes apispec cannot see: write-only fields, Text's NUL rule and `not_blank`."""
    attributes = {_WRITE_ONLY: True} if field.load_only else {}
    ret = kwargs["ret"]
    if isinstance(field, Text) and not {"pattern", "enum"} & (set(ret) | set(field.metadata)):
        attributes["pattern"] = NOT_BLANK_PATTERN if not_blank in field.validators else NO_NUL_PATTERN
    if "additionalProperties" in field.metadata:  # a Dict's known keys: apispec would put its value schema back
        attributes["additionalProperties"] = field.metadata["additionalProperties"]
    return attributes


_plugin.converter.add_attribute_function(_marshmallow_extras)

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


def _for_direction(node, direction):
    """Drop what does not travel this way: write-only properties from responses, read-only ones from requests."""
    if isinstance(node, list):
        return [_for_direction(item, direction) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if isinstance(node.get("properties"), dict) and direction:
        marker = {"input": "readOnly", "output": _WRITE_ONLY}[direction]
        dropped = {name for name, prop in node["properties"].items() if prop.get(marker)}
        node["properties"] = {name: prop for name, prop in node["properties"].items() if name not in dropped}
        if "required" in node:
            node["required"] = [name for name in node["required"] if name not in dropped]
            if not node["required"]:
                del node["required"]
    return {key: _for_direction(value, direction) for key, value in node.items() if key != _WRITE_ONLY}


def to_jsonschema(schema, *, direction=None):
    """The JSON Schema (Swagger 2.0 dialect) of a marshmallow schema.

    `direction="input"` leaves out dump-only fields (a request model), `"output"` load-only ones (a response model).
    """
    raw = _plugin.converter.schema2jsonschema(schema)
    return _for_direction(raw, direction)


def schema_model(ns, name, schema, *, min_properties=None, direction=None):
    """Register a Swagger model on a namespace, derived from a marshmallow schema (see to_jsonschema)."""
    definition = to_jsonschema(schema, direction=direction)
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


def error_responses(ns, *codes, descriptions=None):
    """Document error statuses on a resource method, all with the one error model; `descriptions` overrides wording."""
    model = ns.models.get("Error") or schema_model(ns, "Error", ErrorSchema)
    wording = {**_ERROR_DESCRIPTIONS, **(descriptions or {})}

    def decorator(func):
        for code in codes:
            func = ns.response(code, wording[code], model)(func)
        return func

    return decorator


def load_json(schema, *, partial=None):
    """Parse the request body as a JSON object and validate it with `schema`."""
    if not request.is_json:
        raise UnsupportedMediaType()
    try:
        data = request.get_json()
    except WerkzeugBadRequest as exc:
        raise BadRequest(json_failure_message(exc), error="malformed_json") from None
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

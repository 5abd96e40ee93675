"""The resource kit: marshmallow schemas give the Swagger models, load requests and dump answers on RESTX.

A resource names each schema once: `@ns.body(schema)` documents and loads the JSON body, `@ns.returns(schema)`
documents and dumps the answer, `@ns.paginated(item_schema, key)` documents and loads the page query and dumps the
list envelope generated from the item schema, `@ns.errors(...)` documents error statuses. An ApiNamespace's
resources require a JWT unless it (or the route) is public. `ns.owned(schema, service, noun=...)` declares a
collection of the caller's own things and its item; `for_caller(function, ...)` calls a service for the caller.
"""

import functools
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import request
from flask_restx import Namespace, Resource
from flask_restx.utils import merge
from marshmallow import Schema
from werkzeug.exceptions import BadRequest as WerkzeugBadRequest

from api.auth import auth_required, current_user
from api.errors import BadRequest, UnsupportedMediaType
from api.extensions import db
from api.http import json_failure_message
from api.schemas.base import (
    NO_NUL_PATTERN,
    NOT_BLANK_PATTERN,
    ErrorSchema,
    Text,
    list_of,
    message_schema,
    not_blank,
    page_query_schema,
    partial_of,
)
from api.schemas.fastdump import fast_dump
from api.services import idempotency
from api.services.pagination import Page

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


def model_name(schema, direction):
    """A schema's Swagger model name: its class name less `Schema`, `...Update` when partial, `...Create` for the
    request model of a schema with read-only fields."""
    name = type(schema).__name__.removesuffix("Schema")
    if schema.partial:
        return name if name.endswith("Update") else f"{name}Update"
    if direction == "input" and any(field.dump_only for field in schema.fields.values()):
        return f"{name}Create"
    return name


def query_params(schema):
    """RESTX `params` documentation for a marshmallow query schema."""
    return {param.pop("name"): param for param in _plugin.converter.schema2parameters(schema, location="query")}


def load_json(schema):
    """Parse the request body as a JSON object and validate it with `schema`."""
    if not request.is_json:
        raise UnsupportedMediaType()
    try:
        data = request.get_json()
    except WerkzeugBadRequest as exc:
        raise BadRequest(json_failure_message(exc), error="malformed_json") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.", error="malformed_json")
    return schema.load(data)


def load_query(schema):
    """Validate the query string with `schema`."""
    return schema.load(request.args)


IDEMPOTENCY_PARAM = {
    "Idempotency-Key": {
        "in": "header",
        "type": "string",
        "required": False,
        "description": "a retry with the same key and body returns the first response",
    }
}


def _split_headers(result):
    """A method answers `result` or `(result, headers)`."""
    return result if isinstance(result, tuple) else (result, {})


class ApiNamespace(Namespace):
    """A Namespace whose resources need a JWT unless public, with decorators that name each schema once.

    `path_params` describes the URL variables; each route documents the ones it has.
    """

    def __init__(self, name, *, public=False, path_params=None, **kwargs):
        super().__init__(name, **kwargs)
        self.public = public
        self.path_params = path_params or {}

    def route(self, *urls, public=None, **kwargs):
        """Register a resource; unless public, each of its methods requires a JWT and documents it (security, 401)."""
        register = super().route(*urls, **kwargs)

        def wrapper(cls):
            names = {name for url in urls for name in re.findall(r"<(?:[^:>]+:)?([^>]+)>", url)}
            params = {name: {"description": text} for name, text in self.path_params.items() if name in names}
            cls.__apidoc__ = merge({"params": params} if params else {}, getattr(cls, "__apidoc__", {}))
            if not (self.public if public is None else public):
                cls.method_decorators = [auth_required, *cls.method_decorators]
                self.doc(security="jwt", responses={401: (_ERROR_DESCRIPTIONS[401], self.error_model)})(cls)
            return register(cls)

        return wrapper

    @property
    def error_model(self):
        return self.models.get("Error") or self.schema_model("Error", to_jsonschema(ErrorSchema))

    def model_for(self, schema, direction, *, name=None):
        """The Swagger model of a schema (registered once per name); an update model must change something."""
        name = name or model_name(schema, direction)
        if name not in self.models:
            definition = to_jsonschema(schema, direction=direction)
            if schema.partial:
                definition["minProperties"] = 1
            self.schema_model(name, definition)
        return self.models[name]

    def errors(self, *codes, descriptions=None, default=False):
        """Document error statuses (and those `descriptions` words otherwise), all with the one error model.

        With `default`, only the statuses not yet documented: the kit's own (400 for a query, 413/415 for a body)
        never override a resource's wording.
        """
        wording = {**_ERROR_DESCRIPTIONS, **(descriptions or {})}

        def decorator(func):
            documented = (getattr(func, "__apidoc__", None) or {}).get("responses", {}) if default else {}
            for code in sorted({*codes, *(descriptions or {})}):
                if str(code) not in documented:
                    func = self.response(code, wording[code], self.error_model)(func)
            return func

        return decorator

    def query(self, schema):
        """Document `schema` as the query parameters and pass the loaded query as `query`."""

        def decorator(func):
            @functools.wraps(func)
            def wrapper(*args, **kwargs):
                return func(*args, query=load_query(schema), **kwargs)

            return self.errors(400, default=True)(self.doc(params=query_params(schema))(wrapper))

        return decorator

    def body(self, schema, *, first=None, optional=False, idempotent=False):
        """Document `schema` as the JSON body and pass the loaded body as `data`.

        `first(**path_args)` runs before the body is read (a 404 before a 415) and may return the schema to load with;
        `optional`: an empty body loads as {}; `idempotent`: the call runs under the request's Idempotency-Key.
        """
        model = self.model_for(schema, "input")

        def decorator(func):
            @functools.wraps(func)
            def wrapper(resource, *args, **kwargs):
                checked = first(**kwargs) if first else None
                loader = checked if isinstance(checked, Schema) else schema
                data = load_json(loader) if request.content_length or not optional else loader.load({})
                if idempotent:
                    return _run_idempotent(schema.dump(data), lambda: func(resource, *args, data=data, **kwargs))
                return func(resource, *args, data=data, **kwargs)

            if idempotent:
                wrapper = self.doc(params=IDEMPOTENCY_PARAM)(wrapper)
            return self.errors(400, 413, 415, default=True)(self.expect(model)(wrapper))

        return decorator

    def returns(self, schema, status=200, description=None, *, name=None):
        """Document the success answer with `schema`'s model and dump what the method returns (or (result, headers))."""
        model = self.model_for(schema, "output", name=name)

        def decorator(func):
            @functools.wraps(func)
            def wrapper(*args, **kwargs):
                result, headers = _split_headers(func(*args, **kwargs))
                return fast_dump(schema, result), status, headers

            return self.response(status, description, model)(wrapper)

        return decorator

    def paginated(self, item_schema, key, description, *, query=page_query_schema, name=None, envelope=None, **extra):
        """Load the page `query` (see `query`) and answer {key: [items], next_cursor} (+ `extra` fields), the list
        envelope generated from the item schema (or `envelope`, one list_of made); the method returns a Page, that
        mapping, or either with headers."""
        envelope = envelope or list_of(item_schema, key, name=name, **extra)

        def decorator(func):
            @functools.wraps(func)
            def wrapper(*args, **kwargs):
                result, headers = _split_headers(func(*args, **kwargs))
                if isinstance(result, Page):
                    result = {key: result.items, "next_cursor": result.next_cursor, "count": result.count}
                return result, headers

            return self.query(query)(self.returns(envelope, 200, description)(wrapper))

        return decorator

    def owned(self, schema, service, *, noun, word=None, errors=(), docs):
        """Declare the caller's collection `/` (list, create) and one item `/<int:<noun>_id>` (get, change, delete).

        They call `service`'s keyword-only list_<noun>s, create_<noun>, get_<noun>, update_<noun> and delete_<noun>
        with the session and the owner; a change loads with the schema made partial (`partial_of`). `word` names an
        item in the answers' descriptions, `errors` are create's and change's own statuses, `docs` the list, create,
        change and delete summaries. Returns (<Noun>List, <Noun>).
        """
        word, update_schema = word or noun, partial_of(type(schema))

        def call(name, **kwargs):
            return for_caller(getattr(service, name), **kwargs)

        @self.paginated(schema, f"{noun}s", f"Your {word}s, oldest first")
        def get_list(resource, query):
            return call(f"list_{noun}s", **query)

        @self.body(schema)
        @self.returns(schema, 201, f"{word.capitalize()} created")
        @self.errors(*errors)
        def post(resource, data):
            return call(f"create_{noun}", data=data)

        @self.returns(schema, 200, f"The {word}")
        @self.errors(404)
        def get(resource, **ids):
            return call(f"get_{noun}", **ids)

        @self.body(update_schema)
        @self.returns(schema, 200, f"{word.capitalize()} updated")
        @self.errors(404, *errors)
        def patch(resource, data, **ids):
            return call(f"update_{noun}", data=data, **ids)

        @self.returns(message_schema, 200, f"{word.capitalize()} deleted")
        @self.errors(404)
        def delete(resource, **ids):
            call(f"delete_{noun}", **ids)
            return {"message": f"{noun} deleted {ids[f'{noun}_id']}"}

        for func, doc in zip((get_list, post, patch, delete), docs, strict=True):
            func.__doc__ = doc
        get.__doc__ = f"Get one of your {word}s."
        name = noun.capitalize()
        collection = self.route("/")(type(f"{name}List", (Resource,), {"get": get_list, "post": post}))
        item = self.route(f"/<int:{noun}_id>")(type(name, (Resource,), {"get": get, "patch": patch, "delete": delete}))
        return collection, item


def for_caller(service_function, **kwargs):
    """Call a keyword-only service function in the request's session with the authenticated caller as the owner."""
    return service_function(session=db.session, owner=current_user(), **kwargs)


def _run_idempotent(payload, action):
    """Run a creating POST under the request's Idempotency-Key; `action` answers (body, status, headers) as `returns`
    does, the answer adds Idempotent-Replayed on a replay."""
    body, status, replayed = idempotency.run(
        session=db.session,
        user_id=current_user().id,
        key=request.headers.get("Idempotency-Key"),
        scope=f"{request.method} {request.path}",
        payload=payload,
        action=lambda: action()[:2],
    )
    return body, status, ({"Idempotent-Replayed": "true"} if replayed else {})

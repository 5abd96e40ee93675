"""JSON responses written by orjson (several times faster than the json module), parsing unchanged.

Both response paths use it: Flask's JSON provider (jsonify: errors, health) and Flask-RESTX's representation
(every resource). Whatever orjson cannot write the way the json module would (integers beyond 64 bits, values
only a `default` function knows, nesting deeper than orjson's limit) is written by the json module instead, so
the output stays the same document; orjson emits UTF-8 where json would escape non-ASCII characters.
"""

import json

import orjson
from flask import current_app, make_response

from api.http import BoundedJSONProvider

# Datetimes and dataclasses go to `default` (Flask's: HTTP dates, asdict) as they would with the json module.
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps_bytes(obj, *, default=None, sort_keys=False):
    """obj as JSON bytes, by orjson when it can write it as json.dumps would, else by json.dumps."""
    try:
        return orjson.dumps(obj, default=default, option=_OPTIONS | orjson.OPT_SORT_KEYS if sort_keys else _OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(obj, default=default, sort_keys=sort_keys).encode()


class FastJSONProvider(BoundedJSONProvider):
    """The bounded parser (api/http.py) with responses written by orjson (unless pretty-printing)."""

    def response(self, *args, **kwargs):
        obj = self._prepare_response_obj(args, kwargs)
        if self.compact is False or (self.compact is None and self._app.debug):
            return super().response(obj)
        return self._app.response_class(
            dumps_bytes(obj, default=self.default, sort_keys=self.sort_keys) + b"\n", mimetype=self.mimetype
        )


def output_json(data, code, headers=None):
    """Flask-RESTX's JSON representation (flask_restx.representations.output_json) written by orjson."""
    settings = current_app.config.get("RESTX_JSON")
    if settings or current_app.debug:
        from flask_restx.representations import output_json as restx_output_json

        return restx_output_json(data, code, headers)
    response = make_response(dumps_bytes(data) + b"\n", code)
    response.headers.extend(headers or {})
    return response


def init_json(app, api):
    """Install the orjson writers on the app (after api.http.init_http) and on the RESTX Api."""
    app.json = FastJSONProvider(app)
    api.representations["application/json"] = output_json

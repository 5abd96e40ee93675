"""Gitea's Swagger 2.0 description (test/data/specs/gitea) as a validator of requests and responses."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from test.fakes.specs import _escape

_DOCUMENT_URI = "urn:gateway:swagger"
PARAMETER_KEYWORDS = ("type", "format", "enum", "items", "minimum", "maximum", "pattern", "default")


def admit_null(node: Any) -> Any:
    """Let object references and date-times be null, as Gitea sends them (`assignee`, `milestone`, `pull_request`,
    `closed_at`, `due_date`, ...): Swagger 2.0 cannot say `nullable`, and Go's nil pointers serialize as null."""
    if isinstance(node, list):
        return [admit_null(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: admit_null(value) for key, value in node.items()}
    properties = node.get("properties")
    if isinstance(properties, dict):
        for name, schema in properties.items():
            if "$ref" in schema or schema.get("format") == "date-time":
                properties[name] = {"anyOf": [schema, {"type": "null"}]}
    return node


class SwaggerSpec:
    """A Swagger 2.0 document: body, query and response validation with `$ref`s resolved document-wide."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        patched = copy.deepcopy(dict(document))
        patched["definitions"] = admit_null(patched["definitions"])
        self.document = patched
        self._registry = Registry().with_resource(_DOCUMENT_URI, Resource.from_contents(patched, DRAFT4))

    def _operation(self, path: str, method: str) -> dict[str, Any]:
        operation = self.document["paths"].get(path, {}).get(method.lower())
        if operation is None:
            raise KeyError(f"{method.upper()} {path} is not described")
        return operation

    def errors(self, instance: Any, schema: Mapping[str, Any]) -> list[str]:
        validator = Draft4Validator(schema, registry=self._registry, format_checker=FormatChecker())
        found = sorted(validator.iter_errors(instance), key=lambda e: -len(e.absolute_path))
        return [f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}" for error in found]

    def request_errors(self, path: str, method: str, body: Any) -> list[str]:
        """Errors of a JSON body against the operation's `in: body` parameter."""
        parameters = self._operation(path, method).get("parameters", [])
        index = next((i for i, p in enumerate(parameters) if p.get("in") == "body"), None)
        if index is None:
            return [] if body is None else ["<root>: the operation takes no body"]
        pointer = f"/paths/{_escape(path)}/{method.lower()}/parameters/{index}/schema"
        return self.errors(body, {"$ref": f"{_DOCUMENT_URI}#{pointer}"})

    def query_errors(self, path: str, method: str, params: Mapping[str, Any], ignore: Sequence[str] = ()) -> list[str]:
        """Errors of query parameters as sent on the wire (strings) against the documented ones."""
        declared = {p["name"]: p for p in self._operation(path, method).get("parameters", []) if p.get("in") == "query"}
        errors = [
            f"{name}: required parameter missing" for name, p in declared.items() if p.get("required") and name not in params
        ]
        for name, value in params.items():
            if name in ignore:
                continue
            parameter = declared.get(name)
            if parameter is None:
                errors.append(f"{name}: not a documented parameter")
                continue
            schema = {key: parameter[key] for key in PARAMETER_KEYWORDS if key in parameter}
            candidate: Any = value
            if parameter.get("type") == "integer":
                try:
                    candidate = int(value)
                except ValueError:
                    errors.append(f"{name}: {value!r} is not an integer")
                    continue
            errors += [f"{name}: {message}" for message in self.errors(candidate, schema)]
        return errors

    def response_errors(self, path: str, method: str, status: int, body: Any) -> list[str]:
        """Errors of a response against the documented response for `status` (which must be documented)."""
        responses = self._operation(path, method)["responses"]
        if str(status) not in responses:
            return [f"{status} is not a documented response of {method.upper()} {path}"]
        response = responses[str(status)]
        pointer = f"/paths/{_escape(path)}/{method.lower()}/responses/{status}"
        if "$ref" in response:
            pointer = response["$ref"].lstrip("#")
            response = self.document["responses"][pointer.rsplit("/", 1)[-1]]
        if "schema" not in response:
            return []  # an empty or header-only response (204, Gitea's error responses)
        return self.errors(body, {"$ref": f"{_DOCUMENT_URI}#{pointer}/schema"})


def gitea_spec(root: Path) -> SwaggerSpec:
    """Gitea's REST description (1.27, trimmed to the issue-related operations)."""
    return SwaggerSpec(json.loads((root / "gitea" / "gitea-openapi.json").read_text(encoding="utf-8")))

"""Loading the providers' API descriptions and checking payloads against them (used by the contract tests)."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from jsonschema.protocols import Validator
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPECS_ENV = "GATEWAY_SPECS_DIR"
_DOCUMENT_URI = "urn:gateway:openapi"


BUNDLED_SPECS = Path(__file__).resolve().parents[1] / "data" / "specs"


def specs_dir() -> Path:
    """The provider specs folder: `$GATEWAY_SPECS_DIR` if set, else the copy in test/data/specs (see its README)."""
    override = os.environ.get(SPECS_ENV)
    return Path(override) if override else BUNDLED_SPECS


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _walk(document: Any, pointer: str) -> Any:
    node = document
    for token in pointer.lstrip("#/").split("/") if pointer.strip("#/") else []:
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


@dataclass(frozen=True)
class Parameter:
    """A documented request parameter with a `$ref` schema to its own schema."""

    name: str
    required: bool
    schema: dict[str, Any]


@dataclass(frozen=True)
class Erratum:
    """A documented correction to a provider's description where the live API (and its clients) disagree."""

    pointer: str
    value: Any
    reason: str


def honour_nullable(node: Any) -> Any:
    """Let `nullable: true` admit null where the author wrote it but OpenAPI 3.0 validation would not.

    Under 3.0 rules keywords beside a `$ref` are ignored and `nullable` does not add null to an `enum`,
    so `{"$ref": ..., "nullable": true}` and nullable enums reject the nulls both descriptions mean to allow.
    """
    if isinstance(node, list):
        return [honour_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: honour_nullable(value) for key, value in node.items()}
    if node.get("nullable") is True and "$ref" in node:
        return {"anyOf": [{"$ref": node["$ref"]}, {"enum": [None]}]}
    if node.get("nullable") is True and "enum" in node and None not in node["enum"]:
        node["enum"] = [*node["enum"], None]
    return node


class OpenAPISpec:
    """An OpenAPI 3.0 document with nullable intent honoured, errata applied and `$ref`s resolved document-wide."""

    def __init__(self, document: Mapping[str, Any], errata: Sequence[Erratum] = ()) -> None:
        self.raw = document
        patched = honour_nullable(copy.deepcopy(dict(document)))
        for erratum in errata:
            parent_pointer, _, last = erratum.pointer.rpartition("/")
            _walk(patched, parent_pointer)[last.replace("~1", "/").replace("~0", "~")] = erratum.value
        self.document = patched

    @classmethod
    def load(cls, path: Path, errata: Sequence[Erratum] = ()) -> OpenAPISpec:
        """Read a JSON OpenAPI document."""
        return cls(json.loads(path.read_text(encoding="utf-8")), errata)

    @cached_property
    def _registry(self) -> Registry:
        return Registry().with_resource(_DOCUMENT_URI, Resource.from_contents(self.document, DRAFT4))

    def _resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in node:
            node = _walk(self.document, node["$ref"])
        return node

    def operation_pointer(self, path: str, method: str) -> str:
        """JSON pointer of an operation, e.g. `/paths/~1user/get`."""
        if method.lower() not in self.document["paths"].get(path, {}):
            raise KeyError(f"{method.upper()} {path} is not described")
        return f"/paths/{_escape(path)}/{method.lower()}"

    def response_schema(self, path: str, method: str, status: str = "200") -> dict[str, Any]:
        """A `$ref` schema to the JSON body of a documented response."""
        pointer = f"{self.operation_pointer(path, method)}/responses/{status}"
        response = _walk(self.document, pointer)
        if "$ref" in response:
            pointer = response["$ref"].lstrip("#")
            response = self._resolve(response)
        if "schema" not in response.get("content", {}).get("application/json", {}):
            raise KeyError(f"{method.upper()} {path} {status} documents no JSON body")
        return {"$ref": f"{_DOCUMENT_URI}#{pointer}/content/application~1json/schema"}

    def request_schema(self, path: str, method: str) -> dict[str, Any]:
        """A `$ref` schema to the JSON request body of an operation."""
        pointer = f"{self.operation_pointer(path, method)}/requestBody/content/application~1json/schema"
        _walk(self.document, pointer)
        return {"$ref": f"{_DOCUMENT_URI}#{pointer}"}

    def component_schema(self, name: str) -> dict[str, Any]:
        """A `$ref` schema to `#/components/schemas/{name}`."""
        _walk(self.document, f"/components/schemas/{_escape(name)}")
        return {"$ref": f"{_DOCUMENT_URI}#/components/schemas/{_escape(name)}"}

    def parameters(self, path: str, method: str, location: str = "query") -> dict[str, Parameter]:
        """Parameters of an operation (path-level ones included) found in `location`."""
        found: dict[str, Parameter] = {}
        for scope in (f"/paths/{_escape(path)}", self.operation_pointer(path, method)):
            for index, parameter in enumerate(_walk(self.document, scope).get("parameters", [])):
                pointer = f"{scope}/parameters/{index}"
                if "$ref" in parameter:
                    pointer = parameter["$ref"].lstrip("#")
                    parameter = self._resolve(parameter)
                if parameter.get("in") == location:
                    schema = {"$ref": f"{_DOCUMENT_URI}#{pointer}/schema"} if "schema" in parameter else {}
                    found[parameter["name"]] = Parameter(parameter["name"], bool(parameter.get("required")), schema)
        return found

    def _validator(self, schema: Mapping[str, Any], write: bool) -> Validator:
        cls = OAS30WriteValidator if write else OAS30ReadValidator
        return cls(schema, registry=self._registry, format_checker=oas30_format_checker)

    def errors(self, instance: Any, schema: Mapping[str, Any], write: bool = False) -> list[str]:
        """Validation errors of `instance` against `schema` (a request when `write`), most specific first."""
        found = sorted(self._validator(schema, write).iter_errors(instance), key=lambda e: -len(e.absolute_path))
        return [f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}" for error in found]

    def response_errors(self, path: str, method: str, body: Any, status: str = "200") -> list[str]:
        """Errors of a response body against the documented response schema."""
        return self.errors(body, self.response_schema(path, method, status))

    def request_errors(self, path: str, method: str, body: Any) -> list[str]:
        """Errors of a JSON request body against the documented request schema."""
        return self.errors(body, self.request_schema(path, method), write=True)

    def query_errors(self, path: str, method: str, params: Mapping[str, Any], ignore: Sequence[str] = ()) -> list[str]:
        """Errors of request parameters (as a client put them on the wire) against the query parameters.

        Values are first rendered as a query string would carry them (None is not representable and is
        dropped, lists are comma-joined, booleans lower-cased); a value is valid when some deserialization
        of that text (string, number, boolean, comma-separated array) satisfies the parameter's schema.
        """
        declared = self.parameters(path, method)
        errors = [
            f"{name}: required parameter missing"
            for name, parameter in declared.items()
            if parameter.required and params.get(name) is None
        ]
        for name, value in params.items():
            if value is None or name in ignore:
                continue
            parameter = declared.get(name)
            if parameter is None:
                errors.append(f"{name}: not a documented parameter")
                continue
            text = _wire(value)
            validator = self._validator(parameter.schema, write=True)
            if not any(validator.is_valid(candidate) for candidate in _deserializations(text)):
                detail = next(iter(validator.iter_errors(text)), None)
                errors.append(f"{name}: {text!r} is invalid ({detail.message if detail else 'no reading fits'})")
        return errors


def _wire(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_wire(item) for item in value)
    return str(value)


def _deserializations(text: str) -> list[Any]:
    candidates: list[Any] = [text, text.split(",") if text else []]
    if text in ("true", "false"):
        candidates.append(text == "true")
    for number in (int, float):
        try:
            candidates.append(number(text))
        except ValueError:
            continue
    return candidates


def shape_mismatches(example: Any, actual: Any, where: str = "$") -> list[str]:
    """Keys of a documented example missing from `actual`, or present with an incompatible JSON type.

    A null in the example admits any value; arrays are compared item by item against the example's first item.
    """
    if example is None:
        return []
    kinds = {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}
    expected, got = kinds[type(example)], kinds.get(type(actual), "null")
    if expected != got:
        return [f"{where}: {got} where the example has {expected}"]
    problems: list[str] = []
    if isinstance(example, dict):
        for key, value in example.items():
            if key not in actual:
                problems.append(f"{where}.{key}: missing")
            else:
                problems += shape_mismatches(value, actual[key], f"{where}.{key}")
    elif isinstance(example, list) and example:
        for index, item in enumerate(actual):
            problems += shape_mismatches(example[0], item, f"{where}[{index}]")
    return problems


# Where the published Trello description contradicts the live API that py-trello is written against.
TRELLO_ERRATA = tuple(
    Erratum(f"/components/schemas/{pointer}", value, reason)
    for pointer, value, reason in (
        (
            "Card/properties/labels/items",
            {"$ref": "#/components/schemas/Label"},
            "Cards embed full label objects (py-trello's Card.from_json reads label id, name and color).",
        ),
        ("Card/properties/due/format", "date-time", "Due dates are full timestamps such as 2016-01-04T15:31:51.081Z, not dates."),
        ("Card/properties/badges/properties/due/format", "date-time", "The due badge repeats the card's due timestamp."),
        ("Card/properties/badges/properties/start/format", "date-time", "The start badge is a timestamp like due."),
        ("TrelloList/properties/softLimit/nullable", True, "Lists without a card limit report softLimit null."),
        (
            "Prefs/properties/permissionLevel/enum",
            ["private", "org", "public", "enterprise"],
            "Board visibility is private/org/public/enterprise (the description lists org and board).",
        ),
    )
)


def github_spec(root: Path) -> OpenAPISpec:
    """GitHub's REST description (trimmed to the issue-related paths)."""
    return OpenAPISpec.load(root / "github" / "issues-openapi.json")


def trello_spec(root: Path) -> OpenAPISpec:
    """Trello's REST description with `TRELLO_ERRATA` applied."""
    return OpenAPISpec.load(root / "trello" / "trello-openapi.json", TRELLO_ERRATA)


def gitlab_example(root: Path, name: str) -> Any:
    """A documented GitLab example response, e.g. `issue` for gitlab/api/issue.json."""
    return json.loads((root / "gitlab" / "api" / f"{name}.json").read_text(encoding="utf-8"))

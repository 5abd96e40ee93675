"""Atlassian's Jira descriptions (Cloud REST v3, Data Center REST v2) as validators, with the errata Jira needs."""

from __future__ import annotations

import re
from pathlib import Path

from test.fakes.kit import path_template as documented_template
from test.fakes.specs import Erratum, OpenAPISpec

# Admin webhooks (Data Center) are not in either description (see test/data/specs/README.md, "How Jira signs webhooks"),
# nor is the file itself on Data Center: an attachment's `content` URL, outside the REST API.
CONTENT_URL = "/secure/attachment/{id}/{filename}"
UNDOCUMENTED = {"/rest/webhooks/1.0/webhook", "/rest/webhooks/1.0/webhook/{id}", CONTENT_URL}
JIRA_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}$")
DC_ERRATA = (
    Erratum(
        "/components/schemas/IssueUpdateBean/properties/fields/additionalProperties",
        {},
        "Field values are strings, arrays, dates and null as well as objects (the Cloud description's "
        "IssueUpdateDetails and this file's own IssueBean fix say so); only objects are allowed as written.",
    ),
    Erratum(
        "/paths/~1api~12~1search/get/parameters/4/schema",
        {"type": "array", "items": {"type": "string"}},
        "`fields` is a comma-separated list of field names on the wire; the items name the server's StringList bean (an object).",
    ),
)
FILES = {"cloud": ("jira-cloud-openapi.json", ()), "dc": ("jira-dc-openapi.json", DC_ERRATA)}


def _date_time_pointers(node, pointer=""):
    if isinstance(node, dict):
        if node.get("format") == "date-time":
            yield f"{pointer}/format"
        for key, value in node.items():
            yield from _date_time_pointers(value, f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _date_time_pointers(value, f"{pointer}/{index}")


def flavour_spec(root: Path, flavour: str) -> OpenAPISpec:
    """The description of one flavour, `cloud` or `dc`, with its errata: Jira writes times as 2024-01-31T12:00:00.000+0000
    (an ISO 8601 offset without a colon) where the descriptions say RFC 3339 date-time; `JIRA_STAMP` checks those."""
    name, extra = FILES[flavour]
    document = OpenAPISpec.load(root / "jira" / name).raw
    errata = [
        Erratum(pointer, "jira-date-time", "Jira's +0000 offsets are not RFC 3339 (checked by JIRA_STAMP).")
        for pointer in _date_time_pointers(document["components"], "/components")
    ]
    return OpenAPISpec(document, [*errata, *extra])


def path_template(spec: OpenAPISpec, path: str, flavour: str) -> str:
    """The documented path template of a request path (DC documents paths below its /rest server URL)."""
    prefix = "/rest" if flavour == "dc" and path.startswith("/rest/api/") else ""
    return documented_template(path, [*spec.document["paths"], *UNDOCUMENTED], prefix)

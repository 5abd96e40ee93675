"""The Jira fake answers what Atlassian documents (Cloud REST v3 and Data Center REST v2 OpenAPI descriptions), and
every request the gateway's Jira adapter makes while driving the API is one those descriptions allow."""

from __future__ import annotations

import re

import pytest
import requests

from test.fakes.specs import Erratum, OpenAPISpec, specs_dir
from test.test_trackers import TRACKERS, make_tracker

SPECS = specs_dir()
EMAIL, API_TOKEN, PAT = "me@example.com", "cloud-api-token", "dc-pat"
# Admin webhooks (Data Center) are not in either description (see test/data/specs/README.md, "How Jira signs webhooks").
UNDOCUMENTED = {"/rest/webhooks/1.0/webhook", "/rest/webhooks/1.0/webhook/{id}"}


JIRA_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}$")


def _date_time_pointers(node, pointer=""):
    if isinstance(node, dict):
        if node.get("format") == "date-time":
            yield f"{pointer}/format"
        for key, value in node.items():
            yield from _date_time_pointers(value, f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _date_time_pointers(value, f"{pointer}/{index}")


def jira_spec(name, extra=()):
    """A Jira description with its errata: Jira writes times as 2024-01-31T12:00:00.000+0000 (an ISO 8601 offset
    without a colon) where the descriptions say RFC 3339 date-time; `JIRA_STAMP` checks those strings instead."""
    path = SPECS / "jira" / name
    document = OpenAPISpec.load(path).raw
    errata = [Erratum(pointer, "jira-date-time", "Jira's +0000 offsets are not RFC 3339 (checked by JIRA_STAMP).")
              for pointer in _date_time_pointers(document["components"], "/components")]
    return OpenAPISpec(document, [*errata, *extra])


@pytest.fixture(scope="module")
def cloud_spec():
    return jira_spec("jira-cloud-openapi.json")


@pytest.fixture(scope="module")
def dc_spec():
    return jira_spec("jira-dc-openapi.json", [Erratum(
        "/components/schemas/IssueUpdateBean/properties/fields/additionalProperties", {},
        "Field values are strings, arrays, dates and null as well as objects (the Cloud description's IssueUpdateDetails "
        "and this file's own IssueBean fix say so); only objects are allowed as written."), Erratum(
        "/paths/~1api~12~1search/get/parameters/4/schema", {"type": "array", "items": {"type": "string"}},
        "`fields` is a comma-separated list of field names on the wire; the items name the server's StringList bean "
        "(an object).")])


def _flavour(request, flavour):
    fake = request.getfixturevalue(f"jira_{flavour}_fake")
    spec = request.getfixturevalue(f"{flavour}_spec")
    if flavour == "cloud":
        fake.add_basic_auth(EMAIL, API_TOKEN, name="alice")
        auth = {"auth": (EMAIL, API_TOKEN)}
    else:
        fake.add_token(PAT, name="alice")
        auth = {"headers": {"Authorization": f"Bearer {PAT}"}}
    fake.add_project("APP", members=["alice", "bob"])
    return fake, spec, auth


def _template(spec, path, flavour):
    """The documented path template of a request path (DC documents paths below its /rest server URL)."""
    documented = path[len("/rest"):] if flavour == "dc" and path.startswith("/rest/api/") else path
    for template in [*spec.document["paths"], *UNDOCUMENTED]:
        pattern = "^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, documented):
            return template
    raise AssertionError(f"not a documented path: {path}")


@pytest.mark.parametrize("flavour", ["cloud", "dc"])
def test_jira_fake_responses_match_the_openapi_description(request, flavour):
    fake, spec, auth = _flavour(request, flavour)
    version = "3" if flavour == "cloud" else "2"
    api = f"{fake.base_url}/rest/api/{version}"
    prefix = f"/rest/api/{version}" if flavour == "cloud" else f"/api/{version}"
    description = ({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": "hi"}]}]} if flavour == "cloud" else "h1. hi")
    checked = []

    def check(method, path, status, body=None, params=None, template=None):
        response = requests.request(method, f"{api}{path}", json=body, params=params, timeout=5, **auth)
        assert response.status_code == status, (method, path, response.text)
        template = template or f"{prefix}{re.sub(r'APP-1', '{issueIdOrKey}', path)}"
        if response.content:
            try:
                errors = spec.response_errors(template, method.lower(), response.json(), str(status))
            except KeyError:  # the Data Center description documents no body for its error answers
                assert status >= 400 and set(response.json()) == {"errorMessages", "errors"}
                errors = []
            assert errors == [], (method, path, errors[:5])
            stamps = re.findall(r'"(?:created|updated|serverTime|buildDate)":"([^"]+)"', response.text)
            assert all(JIRA_STAMP.match(stamp) for stamp in stamps), stamps
        checked.append((method, template))
        return response.json() if response.content else None

    check("GET", "/serverInfo", 200)
    check("GET", "/project/APP", 200, template=f"{prefix}/project/{{projectIdOrKey}}")
    check("GET", "/issue/createmeta/APP/issuetypes", 200, template=f"{prefix}/issue/createmeta/{{projectIdOrKey}}/issuetypes")
    assignee = {"accountId": fake.add_user("bob")["accountId"]} if flavour == "cloud" else {"name": "bob"}
    created = check("POST", "/issue", 201, body={"fields": {
        "project": {"key": "APP"}, "summary": "Contract", "issuetype": {"id": "10002"}, "description": description,
        "labels": ["bug"], "assignee": assignee, "duedate": "2031-01-02"}})
    assert created["key"] == "APP-1"
    check("GET", "/issue/APP-1", 200)
    check("PUT", "/issue/APP-1", 204, body={"fields": {"summary": "Renamed", "labels": ["ui"]}})
    transitions = check("GET", "/issue/APP-1/transitions", 200)
    done = next(t for t in transitions["transitions"] if t["to"]["statusCategory"]["key"] == "done")
    check("POST", "/issue/APP-1/transitions", 204, body={"transition": {"id": done["id"]}})
    check("POST", "/issue/APP-1/comment", 201, body={"body": description})
    check("GET", "/issue/APP-1/comment", 200, params={"startAt": 0, "maxResults": 10, "orderBy": "created"})
    check("GET", "/user/assignable/search", 200, params={"project": "APP", "maxResults": 50})
    if flavour == "cloud":
        check("GET", "/search/jql", 200, params={"jql": 'project = "APP" ORDER BY updated DESC', "maxResults": 1,
                                                  "fields": "summary,status"})
        check("GET", "/label", 200, params={"startAt": 0, "maxResults": 100})
    else:
        check("GET", "/search", 200, params={"jql": 'project = "APP"', "startAt": 0, "maxResults": 1,
                                             "fields": "summary"})
    # Error answers have Jira's one shape wherever the description documents a body for them.
    check("POST", "/issue", 400, body={"fields": {"project": {"key": "APP"}, "issuetype": {"id": "10002"}}})
    assert len(checked) >= 12


def test_cloud_answers_410_on_the_removed_search_and_errors_have_the_jira_shape(jira_cloud_fake):
    jira_cloud_fake.add_basic_auth(EMAIL, API_TOKEN)
    gone = requests.get(f"{jira_cloud_fake.base_url}/rest/api/3/search", params={"jql": "project = APP"},
                        auth=(EMAIL, API_TOKEN), timeout=5)
    assert gone.status_code == 410 and "search/jql" in gone.json()["errorMessages"][0]
    denied = requests.get(f"{jira_cloud_fake.base_url}/rest/api/3/serverInfo", auth=(EMAIL, "wrong"), timeout=5)
    assert denied.status_code == 401 and set(denied.json()) == {"errorMessages", "errors"}
    missing = requests.get(f"{jira_cloud_fake.base_url}/rest/api/3/issue/APP-9", auth=(EMAIL, API_TOKEN), timeout=5)
    assert missing.status_code == 404 and missing.json()["errors"] == {}
    jira_cloud_fake.rate_limit_next(retry_after=30)
    limited = requests.get(f"{jira_cloud_fake.base_url}/rest/api/3/serverInfo", auth=(EMAIL, API_TOKEN), timeout=5)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "30"


def _drive(client, user, tracker, member):
    base = f"{TRACKERS}{tracker['id']}"
    issue = client.post(f"{base}/issues", json={"title": "T", "description": "# D\n\n- a\n- b", "labels": ["bug"],
                                                 "assignees": [member], "due_date": "2031-02-03"},
                        headers=user.headers)
    assert issue.status_code == 201, issue.get_json()
    issue = issue.get_json()
    for change in ({"title": "T2"}, {"description": "D2 `code`"}, {"labels": ["bug", "ui"]}, {"assignees": []},
                   {"assignees": [member]}, {"due_date": None}, {"status": "closed"}, {"status": "open"}):
        response = client.patch(f"{base}/issues/{issue['id']}", json=change, headers=user.headers)
        assert response.status_code == 200, (change, response.get_json())
    assert client.post(f"{base}/issues/{issue['id']}/comments", json={"body": "c **b**"},
                       headers=user.headers).status_code == 201
    for query in ({}, {"status": "open", "labels": "bug", "assignee": member, "updated_since": "2020-01-01T00:00:00Z"},
                  {"q": 'T2 " OR project = OTHER'}, {"limit": 1}):
        assert client.get(f"{base}/issues", query_string=query, headers=user.headers).status_code == 200
    assert client.get(f"{base}/issues/{issue['id']}/comments", headers=user.headers).status_code == 200
    assert client.get(f"{base}/labels", headers=user.headers).status_code == 200
    assert client.get(f"{base}/members", headers=user.headers).status_code == 200
    return base


@pytest.mark.parametrize("flavour", ["cloud", "dc"])
def test_jira_adapter_requests_match_the_openapi_description(request, client, auth, flavour):
    fake, spec, _ = _flavour(request, flavour)
    user = auth.register()
    credentials = {"email": EMAIL, "api_token": API_TOKEN} if flavour == "cloud" else {"token": PAT}
    # Cloud is named explicitly (the fake is not on *.atlassian.net); DC is found from serverInfo.
    options = {"deployment": "cloud"} if flavour == "cloud" else {}
    tracker = make_tracker(client, user, name=f"jira-{flavour}", provider="jira", target="APP",
                           base_url=fake.base_url, credentials=credentials, options=options)
    member = fake.add_user("bob").get("accountId") or "bob"
    base = _drive(client, user, tracker, member)
    if flavour == "dc":
        assert client.post(f"{base}/webhook", headers=user.headers).status_code == 201
        assert client.delete(f"{base}/webhook", headers=user.headers).status_code == 200
    checked = set()
    for recorded in fake.requests:
        template = _template(spec, recorded.path, flavour)
        method = recorded.method.lower()
        checked.add((recorded.method, template))
        if template in UNDOCUMENTED:
            continue
        if recorded.json is not None:
            assert spec.request_errors(template, method, recorded.json) == [], (recorded.method, recorded.path,
                                                                                recorded.json)
        assert spec.query_errors(template, method, recorded.query) == [], (recorded.method, recorded.path,
                                                                          recorded.query)
    prefix = "/rest/api/3" if flavour == "cloud" else "/api/2"
    expected = {("POST", f"{prefix}/issue"), ("PUT", f"{prefix}/issue/{{issueIdOrKey}}"),
                ("POST", f"{prefix}/issue/{{issueIdOrKey}}/transitions"),
                ("POST", f"{prefix}/issue/{{issueIdOrKey}}/comment"),
                ("GET", f"{prefix}/search/jql" if flavour == "cloud" else f"{prefix}/search")}
    assert expected <= checked, expected - checked
    if flavour == "cloud":
        assert not any(r.path in ("/rest/api/2/search", "/rest/api/3/search") for r in fake.requests), \
            "Cloud must not call the removed search"
        assert all(r.headers.get("authorization", "").startswith("Basic ") for r in fake.requests)
    else:
        assert all(r.headers.get("authorization", "").startswith("Bearer ") for r in fake.requests)

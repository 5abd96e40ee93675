"""The Jira fake answers what Atlassian documents (Cloud REST v3 and Data Center REST v2 OpenAPI descriptions). The
requests the gateway's Jira adapter makes are checked by test_adapter_requests.py (test/fakes/jira.py REQUEST_CHECKS)."""

from __future__ import annotations

import re

import pytest
import requests

from test.fakes.jira_spec import JIRA_STAMP, flavour_spec
from test.fakes.specs import specs_dir

SPECS = specs_dir()
EMAIL, API_TOKEN, PAT = "me@example.com", "cloud-api-token", "dc-pat"


@pytest.fixture(scope="module")
def cloud_spec():
    return flavour_spec(SPECS, "cloud")


@pytest.fixture(scope="module")
def dc_spec():
    return flavour_spec(SPECS, "dc")


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


def _roots(fake, flavour):
    """The flavour's REST root URL and the prefix its description documents paths under."""
    version = "3" if flavour == "cloud" else "2"
    return f"{fake.base_url}/rest/api/{version}", f"/rest/api/{version}" if flavour == "cloud" else f"/api/{version}"


def _text(flavour, text, dc=None):
    """A description or comment body as the flavour takes it: ADF on Cloud, wiki markup on Data Center."""
    if flavour == "cloud":
        return {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]}
    return dc or text


@pytest.mark.parametrize("flavour", ["cloud", "dc"])
def test_jira_fake_responses_match_the_openapi_description(request, flavour):
    fake, spec, auth = _flavour(request, flavour)
    api, prefix = _roots(fake, flavour)
    description = _text(flavour, "hi", dc="h1. hi")
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


@pytest.mark.parametrize("flavour", ["cloud", "dc"])
def test_jira_fake_answers_attachment_comment_and_delete_calls_as_described(request, flavour):
    fake, spec, auth = _flavour(request, flavour)
    api, prefix = _roots(fake, flavour)
    body = _text(flavour, "x")
    headers = auth.get("headers", {})
    kwargs = {key: value for key, value in auth.items() if key != "headers"}
    checked = []

    def check(method, path, status, template, json_body=None, **extra):
        response = requests.request(method, f"{api}{path}", json=json_body, timeout=5,
                                    headers={**headers, **extra.pop("headers", {})}, **kwargs, **extra)
        assert response.status_code == status, (method, path, response.text)
        documented = spec.document["paths"][f"{prefix}{template}"][method.lower()]["responses"]
        assert str(status) in documented, (method, template, status, sorted(documented))
        if response.content and "json" in response.headers.get("Content-Type", ""):
            assert spec.response_errors(f"{prefix}{template}", method.lower(), response.json(), str(status)) == []
        checked.append((method, template))
        return response

    issue = requests.post(f"{api}/issue", json={"fields": {"project": {"key": "APP"}, "summary": "A",
                                                           "issuetype": {"id": "10002"}}}, timeout=5, **auth).json()
    key = issue["key"]
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
    refused = requests.post(f"{api}/issue/{key}/attachments", files={"file": ("a.png", png, "image/png")}, timeout=5, **auth)
    assert refused.status_code == 403  # no X-Atlassian-Token: Jira's XSRF check
    added = check("POST", f"/issue/{key}/attachments", 200, "/issue/{issueIdOrKey}/attachments",
                  files={"file": ("a.png", png, "image/png")}, headers={"X-Atlassian-Token": "no-check"}).json()
    attachment = added[0]
    if flavour == "cloud":
        moved = check("GET", f"/attachment/content/{attachment['id']}", 303, "/attachment/content/{id}",
                      allow_redirects=False)
        assert moved.headers["Location"].startswith("https://")
        assert check("GET", f"/attachment/content/{attachment['id']}", 200, "/attachment/content/{id}",
                     params={"redirect": "false"}).content == png
        assert spec.query_errors(f"{prefix}/attachment/content/{{id}}", "get", {"redirect": "false"}) == []
    else:  # Data Center serves the file at the attachment's `content` URL (not a REST path: see the specs README)
        assert requests.get(attachment["content"], timeout=5, **auth).content == png
    check("DELETE", f"/attachment/{attachment['id']}", 204, "/attachment/{id}")
    comment = requests.post(f"{api}/issue/{key}/comment", json={"body": body}, timeout=5, **auth).json()
    template = "/issue/{issueIdOrKey}/comment/{id}"
    assert spec.request_errors(f"{prefix}{template}", "put", {"body": body}) == []
    check("PUT", f"/issue/{key}/comment/{comment['id']}", 200, template, json_body={"body": body})
    check("DELETE", f"/issue/{key}/comment/{comment['id']}", 204, template)
    check("DELETE", f"/issue/{key}", 204, "/issue/{issueIdOrKey}")
    assert len(set(checked)) == (6 if flavour == "cloud" else 5)


def test_jira_cloud_refuses_someone_elses_comment_with_its_documented_400(request):
    fake, spec, auth = _flavour(request, "cloud")
    fake.add_basic_auth("bob@example.com", "bob-token", name="bob")
    api = f"{fake.base_url}/rest/api/3"
    key = requests.post(f"{api}/issue", json={"fields": {"project": {"key": "APP"}, "summary": "A",
                                                         "issuetype": {"id": "10002"}}}, timeout=5, **auth).json()["key"]
    body = _text("cloud", "x")
    theirs = requests.post(f"{api}/issue/{key}/comment", json={"body": body}, auth=("bob@example.com", "bob-token"),
                           timeout=5).json()
    documented = spec.document["paths"]["/rest/api/3/issue/{issueIdOrKey}/comment/{id}"]
    for method in ("put", "delete"):
        response = requests.request(method, f"{api}/issue/{key}/comment/{theirs['id']}", json={"body": body}, timeout=5,
                                    **auth)
        assert response.status_code == 400 and "permission" in documented[method]["responses"]["400"]["description"]
        assert "permission" in response.json()["errorMessages"][0]

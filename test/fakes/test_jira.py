"""The Jira fake answers what Atlassian documents (Cloud REST v3 and Data Center REST v2 OpenAPI descriptions). The
requests the gateway's Jira adapter makes are checked by test_adapter_requests.py (test/fakes/jira.py REQUEST_CHECKS)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from test.fakes.conftest import PNG, SPECS
from test.fakes.jira import API_TOKEN, EMAIL, PAT
from test.fakes.jira_spec import JIRA_STAMP, flavour_spec

spec_of = functools.cache(lambda flavour: flavour_spec(SPECS, flavour))


@dataclass
class Site:
    """A fake of one flavour with alice (whose credentials `auth` carries) and bob in project APP, and its description."""

    fake: Any
    spec: Any
    auth: dict  # requests' keyword arguments carrying alice's credentials
    api: str
    prefix: str  # where the flavour's description documents the paths (DC: below its /rest server URL)
    cloud: bool
    checked: list = field(default_factory=list)

    def text(self, text: str, dc: str | None = None) -> Any:
        """A description or comment body as the flavour takes it: ADF on Cloud, wiki markup on Data Center."""
        if self.cloud:
            return {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]}
        return dc or text

    def new_issue(self) -> str:
        fields = {"project": {"key": "APP"}, "summary": "A", "issuetype": {"id": "10002"}}
        return requests.post(f"{self.api}/issue", json={"fields": fields}, timeout=5, **self.auth).json()["key"]

    def check(self, method: str, path: str, status: int, template: str | None = None, **kwargs: Any) -> requests.Response:
        """A call answered with a documented `status` whose JSON body matches the description, its times Jira's own."""
        headers = {**self.auth.get("headers", {}), **kwargs.pop("headers", {})}
        response = requests.request(method, f"{self.api}{path}", timeout=5, auth=self.auth.get("auth"), headers=headers, **kwargs)
        assert response.status_code == status, (method, path, response.text)
        template = f"{self.prefix}{template or re.sub(r'APP-1', '{issueIdOrKey}', path)}"
        documented = self.spec.document["paths"][template][method.lower()]["responses"]
        assert str(status) in documented, (method, template, status, sorted(documented))
        if response.content and "json" in response.headers.get("Content-Type", ""):
            try:
                errors = self.spec.response_errors(template, method.lower(), response.json(), str(status))
            except KeyError:  # the Data Center description documents no body for its error answers
                assert status >= 400 and set(response.json()) == {"errorMessages", "errors"}
                errors = []
            assert errors == [], (method, path, errors[:5])
            stamps = re.findall(r'"(?:created|updated|serverTime|buildDate)":"([^"]+)"', response.text)
            assert all(JIRA_STAMP.match(stamp) for stamp in stamps), stamps
        self.checked.append((method, template))
        return response


def _site(request, flavour: str) -> Site:
    fake = request.getfixturevalue(f"jira_{flavour}_fake")
    if flavour == "cloud":
        fake.add_basic_auth(EMAIL, API_TOKEN, name="alice")
        auth = {"auth": (EMAIL, API_TOKEN)}
    else:
        fake.add_token(PAT, name="alice")
        auth = {"headers": {"Authorization": f"Bearer {PAT}"}}
    fake.add_project("APP", members=["alice", "bob"])
    version = "3" if flavour == "cloud" else "2"
    prefix = f"/rest/api/{version}" if flavour == "cloud" else f"/api/{version}"
    return Site(fake, spec_of(flavour), auth, f"{fake.base_url}/rest/api/{version}", prefix, flavour == "cloud")


@pytest.mark.parametrize("flavour", ["cloud", "dc"])
def test_jira_fake_responses_match_the_openapi_description(request, flavour):
    site = _site(request, flavour)
    check, description = site.check, site.text("hi", dc="h1. hi")
    check("GET", "/serverInfo", 200)
    check("GET", "/project/APP", 200, template="/project/{projectIdOrKey}")
    check("GET", "/issue/createmeta/APP/issuetypes", 200, template="/issue/createmeta/{projectIdOrKey}/issuetypes")
    assignee = {"accountId": site.fake.add_user("bob")["accountId"]} if site.cloud else {"name": "bob"}
    created = check(
        "POST",
        "/issue",
        201,
        json={
            "fields": {
                "project": {"key": "APP"},
                "summary": "Contract",
                "issuetype": {"id": "10002"},
                "description": description,
                "labels": ["bug"],
                "assignee": assignee,
                "duedate": "2031-01-02",
            }
        },
    ).json()
    assert created["key"] == "APP-1"
    check("GET", "/issue/APP-1", 200)
    check("PUT", "/issue/APP-1", 204, json={"fields": {"summary": "Renamed", "labels": ["ui"]}})
    transitions = check("GET", "/issue/APP-1/transitions", 200).json()
    done = next(t for t in transitions["transitions"] if t["to"]["statusCategory"]["key"] == "done")
    check("POST", "/issue/APP-1/transitions", 204, json={"transition": {"id": done["id"]}})
    check("POST", "/issue/APP-1/comment", 201, json={"body": description})
    check("GET", "/issue/APP-1/comment", 200, params={"startAt": 0, "maxResults": 10, "orderBy": "created"})
    check("GET", "/user/assignable/search", 200, params={"project": "APP", "maxResults": 50})
    if site.cloud:
        check(
            "GET",
            "/search/jql",
            200,
            params={"jql": 'project = "APP" ORDER BY updated DESC', "maxResults": 1, "fields": "summary,status"},
        )
        check("GET", "/label", 200, params={"startAt": 0, "maxResults": 100})
    else:
        check("GET", "/search", 200, params={"jql": 'project = "APP"', "startAt": 0, "maxResults": 1, "fields": "summary"})
    # Error answers have Jira's one shape wherever the description documents a body for them.
    check("POST", "/issue", 400, json={"fields": {"project": {"key": "APP"}, "issuetype": {"id": "10002"}}})
    assert len(site.checked) >= 12


def test_cloud_answers_410_on_the_removed_search_and_errors_have_the_jira_shape(request):
    site = _site(request, "cloud")
    gone = requests.get(f"{site.api}/search", params={"jql": "project = APP"}, timeout=5, **site.auth)
    assert gone.status_code == 410 and "search/jql" in gone.json()["errorMessages"][0]
    denied = requests.get(f"{site.api}/serverInfo", auth=(EMAIL, "wrong"), timeout=5)
    assert denied.status_code == 401 and set(denied.json()) == {"errorMessages", "errors"}
    missing = requests.get(f"{site.api}/issue/APP-9", timeout=5, **site.auth)
    assert missing.status_code == 404 and missing.json()["errors"] == {}
    site.fake.rate_limit_next(retry_after=30)
    limited = requests.get(f"{site.api}/serverInfo", timeout=5, **site.auth)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "30"


@pytest.mark.parametrize("flavour", ["cloud", "dc"])
def test_jira_fake_answers_attachment_comment_and_delete_calls_as_described(request, flavour):
    site = _site(request, flavour)
    key, body, upload = site.new_issue(), site.text("x"), {"file": ("a.png", PNG, "image/png")}
    refused = requests.post(f"{site.api}/issue/{key}/attachments", files=upload, timeout=5, **site.auth)
    assert refused.status_code == 403  # no X-Atlassian-Token: Jira's XSRF check
    added = site.check(
        "POST",
        f"/issue/{key}/attachments",
        200,
        "/issue/{issueIdOrKey}/attachments",
        files=upload,
        headers={"X-Atlassian-Token": "no-check"},
    ).json()
    attachment = added[0]
    if site.cloud:
        content = f"/attachment/content/{attachment['id']}"
        moved = site.check("GET", content, 303, "/attachment/content/{id}", allow_redirects=False)
        assert moved.headers["Location"].startswith("https://")
        assert site.check("GET", content, 200, "/attachment/content/{id}", params={"redirect": "false"}).content == PNG
        assert site.spec.query_errors(f"{site.prefix}/attachment/content/{{id}}", "get", {"redirect": "false"}) == []
    else:  # Data Center serves the file at the attachment's `content` URL (not a REST path: see the specs README)
        assert requests.get(attachment["content"], timeout=5, **site.auth).content == PNG
    site.check("DELETE", f"/attachment/{attachment['id']}", 204, "/attachment/{id}")
    comment = requests.post(f"{site.api}/issue/{key}/comment", json={"body": body}, timeout=5, **site.auth).json()
    template = "/issue/{issueIdOrKey}/comment/{id}"
    assert site.spec.request_errors(f"{site.prefix}{template}", "put", {"body": body}) == []
    site.check("PUT", f"/issue/{key}/comment/{comment['id']}", 200, template, json={"body": body})
    site.check("DELETE", f"/issue/{key}/comment/{comment['id']}", 204, template)
    site.check("DELETE", f"/issue/{key}", 204, "/issue/{issueIdOrKey}")
    assert len(set(site.checked)) == (6 if site.cloud else 5)


def test_jira_cloud_refuses_someone_elses_comment_with_its_documented_400(request):
    site = _site(request, "cloud")
    site.fake.add_basic_auth("bob@example.com", "bob-token", name="bob")
    key, body = site.new_issue(), site.text("x")
    theirs = requests.post(
        f"{site.api}/issue/{key}/comment", json={"body": body}, auth=("bob@example.com", "bob-token"), timeout=5
    ).json()
    documented = site.spec.document["paths"]["/rest/api/3/issue/{issueIdOrKey}/comment/{id}"]
    for method in ("put", "delete"):
        response = requests.request(
            method, f"{site.api}/issue/{key}/comment/{theirs['id']}", json={"body": body}, timeout=5, **site.auth
        )
        assert response.status_code == 400 and "permission" in documented[method]["responses"]["400"]["description"]
        assert "permission" in response.json()["errorMessages"][0]

"""What the gateway's adapters send is what the providers document: every request our GitHub and Trello adapters
made while driving the gateway's API is checked against the providers' OpenAPI descriptions."""

import re

from test.fakes.gitea_spec import gitea_spec
from test.fakes.specs import github_spec, specs_dir, trello_spec
from test.test_trackers import TRACKERS, make_tracker

ROOT = specs_dir()

GITHUB_TEMPLATES = [
    "/repos/{owner}/{repo}/issues", "/repos/{owner}/{repo}/issues/{issue_number}",
    "/repos/{owner}/{repo}/issues/{issue_number}/comments", "/repos/{owner}/{repo}/hooks",
    "/repos/{owner}/{repo}/hooks/{hook_id}", "/repos/{owner}/{repo}/labels", "/repos/{owner}/{repo}/assignees",
    "/repos/{owner}/{repo}", "/search/issues",
]
GITEA_TEMPLATES = [
    "/repos/{owner}/{repo}/issues", "/repos/{owner}/{repo}/issues/{index}", "/repos/{owner}/{repo}/issues/{index}/labels",
    "/repos/{owner}/{repo}/issues/{index}/comments", "/repos/{owner}/{repo}/hooks", "/repos/{owner}/{repo}/hooks/{id}",
    "/repos/{owner}/{repo}/labels", "/repos/{owner}/{repo}/assignees", "/repos/{owner}/{repo}/issue_templates",
    "/repos/{owner}/{repo}",
]
TRELLO_TEMPLATES = ["/cards", "/cards/{id}", "/cards/{id}/actions/comments", "/cards/{id}/actions", "/webhooks/",
                    "/webhooks/{id}",
                    "/boards/{id}", "/boards/{id}/lists", "/boards/{id}/members", "/boards/{id}/labels",
                    "/boards/{id}/cards/{filter}"]


def _template(path, templates, prefix=""):
    for template in templates:
        pattern = "^" + re.escape(prefix) + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            return template
    raise AssertionError(f"the adapter called an undocumented path: {path}")


def _drive(client, user, tracker, member):
    base = f"{TRACKERS}{tracker['id']}"
    issue = client.post(f"{base}/issues", json={"title": "T", "description": "D", "labels": ["bug"], "assignees": [member]},
                        headers=user.headers).get_json()
    for change in ({"title": "T2"}, {"description": "D2"}, {"labels": ["bug"]}, {"assignees": [member]},
                   {"status": "closed"}, {"status": "open"}):
        assert client.patch(f"{base}/issues/{issue['id']}", json=change, headers=user.headers).status_code == 200
    assert client.post(f"{base}/issues/{issue['id']}/comments", json={"body": "c"}, headers=user.headers).status_code == 201
    for query in ({}, {"status": "open", "labels": "bug", "assignee": member, "updated_since": "2020-01-01T00:00:00Z"},
                  {"q": "T2"}):
        assert client.get(f"{base}/issues", query_string=query, headers=user.headers).status_code == 200
    client.get(f"{base}/issues/{issue['id']}/comments", headers=user.headers)
    client.get(f"{base}/labels", headers=user.headers)
    client.get(f"{base}/members", headers=user.headers)
    assert client.post(f"{base}/webhook", headers=user.headers).status_code == 201
    assert client.delete(f"{base}/webhook", headers=user.headers).status_code == 200


def test_github_adapter_requests_match_the_openapi_description(client, auth, github_fake):
    spec = github_spec(ROOT)
    user = auth.register()
    github_fake.add_token("gh-token", login="octocat")
    github_fake.add_repo("octo/spec")
    github_fake.add_member("octo/spec", "octocat", permission="admin")
    github_fake.add_label("octo/spec", "bug")
    tracker = make_tracker(client, user, name="gh", provider="github", target="octo/spec", base_url=github_fake.base_url,
                           credentials={"token": "gh-token"})
    _drive(client, user, tracker, "octocat")
    checked = set()
    for request in github_fake.requests:
        template = _template(request.path, GITHUB_TEMPLATES)
        method = request.method.lower()
        if request.json is not None:
            assert spec.request_errors(template, method, request.json) == [], (request.method, request.path, request.json)
        assert spec.query_errors(template, method, request.query) == [], (request.method, request.path, request.query)
        checked.add((request.method, template))
    assert {("POST", "/repos/{owner}/{repo}/issues"), ("PATCH", "/repos/{owner}/{repo}/issues/{issue_number}"),
            ("GET", "/repos/{owner}/{repo}/issues"), ("GET", "/search/issues"),
            ("POST", "/repos/{owner}/{repo}/hooks")} <= checked


def test_trello_adapter_requests_match_the_openapi_description(client, auth, trello_fake):
    spec = trello_spec(ROOT)
    user = auth.register()
    trello_fake.add_token("tr-token", key="tr-key", username="alice")
    board = trello_fake.add_board("Board", members=["alice"])
    trello_fake.add_list(board["id"], "To do")
    trello_fake.add_list(board["id"], "Done")
    trello_fake.add_label(board["id"], "bug")
    tracker = make_tracker(client, user, name="tr", provider="trello", target=board["id"], base_url=trello_fake.base_url,
                           credentials={"api_key": "tr-key", "token": "tr-token", "api_secret": "app-secret"})
    _drive(client, user, tracker, "alice")
    checked = set()
    for request in trello_fake.requests:
        path = request.path if request.path.rstrip("/") != "/1/webhooks" else "/1/webhooks/"
        template = _template(path, TRELLO_TEMPLATES, prefix="/1")
        method = request.method.lower()
        params = {**request.query, **(request.json or {}), **request.form}
        assert spec.query_errors(template, method, params, ignore=("key", "token")) == [], (request.method, request.path, params)
        checked.add((request.method, template))
    assert {("POST", "/cards"), ("PUT", "/cards/{id}"), ("POST", "/cards/{id}/actions/comments"),
            ("POST", "/webhooks/"), ("DELETE", "/webhooks/{id}")} <= checked


def test_gitea_adapter_requests_match_the_swagger_description(client, auth, gitea_fake):
    spec = gitea_spec(ROOT)
    user = auth.register()
    gitea_fake.add_token("gt-token", login="gitea_admin")
    gitea_fake.add_repo("gitea_admin/spec")
    gitea_fake.add_label("gitea_admin/spec", "bug")
    tracker = make_tracker(client, user, name="gt", provider="gitea", target="gitea_admin/spec", base_url=gitea_fake.base_url,
                           credentials={"token": "gt-token"})
    _drive(client, user, tracker, "gitea_admin")
    assert client.patch(f"{TRACKERS}{tracker['id']}/issues/1", json={"due_date": "2031-05-06"},
                        headers=user.headers).status_code == 200
    assert client.post("/api/v1/templates/import", json={"tracker_id": tracker["id"]}, headers=user.headers).status_code == 200
    checked = set()
    for request in gitea_fake.requests:
        template = _template(request.path, GITEA_TEMPLATES, prefix="/api/v1")
        method = request.method.lower()
        assert spec.request_errors(template, method, request.json) == [], (request.method, request.path, request.json)
        assert spec.query_errors(template, method, request.query) == [], (request.method, request.path, request.query)
        assert request.headers["authorization"] == "token gt-token"
        checked.add((request.method, template))
    assert {("POST", "/repos/{owner}/{repo}/issues"), ("PATCH", "/repos/{owner}/{repo}/issues/{index}"),
            ("PUT", "/repos/{owner}/{repo}/issues/{index}/labels"), ("GET", "/repos/{owner}/{repo}/issues"),
            ("POST", "/repos/{owner}/{repo}/hooks"), ("DELETE", "/repos/{owner}/{repo}/hooks/{id}"),
            ("GET", "/repos/{owner}/{repo}/issue_templates")} <= checked

"""The GitHub fake: driven through PyGithub, and its answers and accepted requests checked against GitHub's OpenAPI
description."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from github import GithubException, GithubRetry
from github.GithubException import BadCredentialsException, RateLimitExceededException, UnknownObjectException

from test.fakes import GitHubFake
from test.fakes.conftest import GH_REPO, GH_TOKEN, foreign_urls, github_client, link_relations, login_of
from test.fakes.kit import path_template
from test.fakes.specs import OpenAPISpec, honour_nullable


def test_github_user_repo_and_self_urls(gh: GitHubFake) -> None:
    client = github_client(gh)
    assert client.get_user().login == "octocat"
    repo = client.get_repo(GH_REPO)
    assert (repo.full_name, repo.description, repo.owner.login, repo.private) == (GH_REPO, "demo", "octocat", False)
    assert repo.url == f"{gh.base_url}/repos/{GH_REPO}"
    assert repo.html_url.startswith(gh.base_url)
    assert repo.permissions.admin is True


def test_github_create_issue_with_every_field(gh: GitHubFake) -> None:
    gh.add_label(GH_REPO, "bug", "d73a4a")
    repo = github_client(gh).get_repo(GH_REPO)

    issue = repo.create_issue("Crash on start", body="Steps...", labels=["bug", "triage"], assignees=["hubot"])

    assert (issue.number, issue.title, issue.body, issue.state) == (1, "Crash on start", "Steps...", "open")
    assert [label.name for label in issue.labels] == ["bug", "triage"]
    assert [user.login for user in issue.assignees] == ["hubot"]
    assert issue.user.login == "octocat"
    assert issue.closed_at is None
    assert issue.url == f"{gh.base_url}/repos/{GH_REPO}/issues/1"
    assert issue.comments_url.startswith(gh.base_url) and issue.html_url.startswith(gh.base_url)
    sent = gh.requests[-1]
    assert (sent.method, sent.path) == ("POST", f"/repos/{GH_REPO}/issues")
    assert sent.json == {"title": "Crash on start", "body": "Steps...", "labels": ["bug", "triage"], "assignees": ["hubot"]}
    assert sent.headers["authorization"] == f"token {GH_TOKEN}"
    assert {label.name for label in repo.get_labels()} == {"bug", "triage"}, "unknown labels are created"
    assert repo.create_issue("Second").number == 2


def test_github_rejects_unassignable_assignee_and_unknown_milestone(gh: GitHubFake) -> None:
    repo = github_client(gh).get_repo(GH_REPO)
    with pytest.raises(GithubException) as raised:
        repo.create_issue("x", assignees=["stranger"])
    assert raised.value.status == 422
    assert raised.value.data["errors"] == [{"value": "stranger", "resource": "Issue", "field": "assignees", "code": "invalid"}]
    auth = {"Authorization": f"token {GH_TOKEN}"}
    unknown = requests.post(f"{gh.base_url}/repos/{GH_REPO}/issues", json={"title": "x", "milestone": 7}, headers=auth, timeout=5)
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [{"value": "7", "resource": "Issue", "field": "milestone", "code": "invalid"}]


def test_github_validation_errors_have_githubs_shape(gh: GitHubFake) -> None:
    url = f"{gh.base_url}/repos/{GH_REPO}/issues"
    auth = {"Authorization": f"Bearer {GH_TOKEN}"}

    missing = requests.post(url, json={"body": "no title"}, headers=auth, timeout=5)
    assert missing.status_code == 422
    assert missing.json()["message"] == "Validation Failed"
    assert missing.json()["errors"] == [{"resource": "Issue", "code": "missing_field", "field": "title"}]
    assert missing.json()["documentation_url"].startswith("https://docs.github.com/")

    not_a_list = requests.post(url, json={"title": "x", "labels": "bug"}, headers=auth, timeout=5)
    assert not_a_list.status_code == 422 and "labels" in not_a_list.json()["message"]
    gh.add_issue(GH_REPO, "t")
    bad_state = requests.patch(f"{url}/1", json={"state": "bogus"}, headers=auth, timeout=5)
    assert bad_state.status_code == 422 and "state" in bad_state.json()["message"]
    bad_json = requests.post(url, data="{", headers={**auth, "Content-Type": "application/json"}, timeout=5)
    assert (bad_json.status_code, bad_json.json()["message"]) == (400, "Problems parsing JSON")
    bad_filter = requests.get(url, params={"state": "opened"}, headers=auth, timeout=5)
    assert bad_filter.json()["errors"] == [{"resource": "Issue", "field": "state", "code": "invalid", "value": "opened"}]
    for listing, resource in ((url, "Issue"), (f"{url}/1/comments", "IssueComment"), (f"{url}/comments", "IssueComment")):
        bad_since = requests.get(listing, params={"since": "yesterday"}, headers=auth, timeout=5)
        assert bad_since.status_code == 422
        assert bad_since.json()["errors"] == [{"resource": resource, "field": "since", "code": "invalid"}]
    assert requests.get(f"{url}/99", headers=auth, timeout=5).json()["message"] == "Not Found"


def test_github_list_filters_and_sorting(gh: GitHubFake) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    gh.add_issue(GH_REPO, "old bug", labels=["bug"], created_at=now - timedelta(days=3), updated_at=now - timedelta(days=3))
    ui_bug = {"labels": ["bug", "ui"], "assignees": ["hubot"], "created_at": now - timedelta(days=2)}
    gh.add_issue(GH_REPO, "ui bug", **ui_bug, updated_at=now - timedelta(hours=1))
    gh.add_issue(GH_REPO, "done", state="closed", created_at=now - timedelta(days=1), user="hubot")
    gh.add_comment(GH_REPO, 1, "first")
    gh.add_comment(GH_REPO, 1, "second")
    repo = github_client(gh).get_repo(GH_REPO)

    def numbers(**filters: Any) -> list[int]:
        return [issue.number for issue in repo.get_issues(**filters)]

    assert numbers() == [2, 1], "default: open issues, newest first"
    assert numbers(state="closed") == [3]
    assert numbers(state="all") == [3, 2, 1]
    assert numbers(labels=["bug"]) == [2, 1]
    assert numbers(labels=["bug", "ui"]) == [2], "labels are ANDed"
    assert numbers(assignee="hubot") == [2]
    assert numbers(assignee="none") == [1]
    assert numbers(assignee="*") == [2]
    assert numbers(since=now - timedelta(hours=2)) == [2]
    assert numbers(sort="updated", direction="asc") == [1, 2]
    assert numbers(sort="comments") == [1, 2]
    assert numbers(direction="asc") == [1, 2]
    done = repo.get_issue(3)
    assert (done.state_reason, done.closed_by.login, done.closed_at) == ("completed", "octocat", done.created_at), "seeded closed"


def test_github_paginates_with_link_headers(gh: GitHubFake) -> None:
    for number in range(1, 121):
        gh.add_issue(GH_REPO, f"issue {number}")
    client = github_client(gh, per_page=50)

    issues = list(client.get_repo(GH_REPO).get_issues(state="all", direction="asc"))

    assert [issue.number for issue in issues] == list(range(1, 121))
    pages = [r.query for r in gh.requests if r.path.endswith("/issues")]
    assert [page.get("page", "1") for page in pages] == ["1", "2", "3"]
    assert client.get_repo(GH_REPO).get_issues().totalCount == 120

    url = f"{gh.base_url}/repos/{GH_REPO}/issues"
    first = requests.get(url, params={"per_page": 3, "state": "all"}, headers={"Authorization": f"token {GH_TOKEN}"}, timeout=5)
    relations = link_relations(first.headers["Link"])
    assert set(relations) == {"next", "last"}
    assert relations["next"] == {"per_page": ["3"], "state": ["all"], "page": ["2"]}
    assert relations["last"]["page"] == ["40"]
    assert first.headers["Link"].startswith(f"<{gh.base_url}/repos/")
    last = requests.get(url, params={"per_page": 3, "page": 40}, headers={"Authorization": f"token {GH_TOKEN}"}, timeout=5)
    assert set(link_relations(last.headers["Link"])) == {"prev", "first"}
    capped = requests.get(url, params={"per_page": 500}, headers={"Authorization": f"token {GH_TOKEN}"}, timeout=5)
    assert len(capped.json()) == 100, "per_page is capped at 100"
    beyond = requests.get(url, params={"page": 99}, headers={"Authorization": f"token {GH_TOKEN}"}, timeout=5)
    assert beyond.json() == []


def test_github_update_each_field_close_and_reopen(gh: GitHubFake) -> None:
    gh.add_issue(GH_REPO, "Title", body="Body", labels=["a"])
    issue = github_client(gh).get_repo(GH_REPO).get_issue(1)

    issue.edit(title="New title", body="New body", labels=["b", "c"], assignees=["hubot", "octocat"])
    assert (issue.title, issue.body) == ("New title", "New body")
    assert [label.name for label in issue.labels] == ["b", "c"]
    assert [user.login for user in issue.assignees] == ["hubot", "octocat"]

    issue.edit(state="closed", state_reason="not_planned")
    assert (issue.state, issue.state_reason, issue.closed_by.login) == ("closed", "not_planned", "octocat")
    assert issue.closed_at is not None and issue.updated_at >= issue.created_at

    issue.edit(state="open")
    assert (issue.state, issue.state_reason, issue.closed_at, issue.closed_by) == ("open", "reopened", None, None)

    issue.edit(labels=[], assignees=[], body="")
    refreshed = github_client(gh).get_repo(GH_REPO).get_issue(1)
    assert (refreshed.labels, refreshed.assignees, refreshed.body) == ([], [], "")


def test_github_comments(gh: GitHubFake) -> None:
    gh.add_issue(GH_REPO, "x")
    issue = github_client(gh).get_repo(GH_REPO).get_issue(1)

    first = issue.create_comment("first")
    issue.create_comment("second")

    assert (first.body, first.user.login) == ("first", "octocat")
    assert first.issue_url == f"{gh.base_url}/repos/{GH_REPO}/issues/1"
    assert [comment.body for comment in issue.get_comments()] == ["first", "second"]
    assert github_client(gh).get_repo(GH_REPO).get_issue(1).comments == 2
    first.edit("edited")
    assert github_client(gh).get_repo(GH_REPO).get_issue(1).get_comment(first.id).body == "edited"
    first.delete()
    assert [comment.body for comment in issue.get_comments()] == ["second"]
    with pytest.raises(GithubException) as raised:
        issue.create_comment("   ")
    assert raised.value.status == 422


def test_github_hooks(gh: GitHubFake) -> None:
    repo = github_client(gh).get_repo(GH_REPO)

    config = {"url": "https://gateway.example/hooks/github", "content_type": "json", "secret": "s3cret"}
    hook = repo.create_hook("web", config, ["issues", "issue_comment"], active=True)

    assert hook.config == {**config, "secret": "********", "insecure_ssl": "0"}
    assert hook.events == ["issues", "issue_comment"] and hook.active
    assert hook.url == f"{gh.base_url}/repos/{GH_REPO}/hooks/{hook.id}"
    with pytest.raises(GithubException) as raised:
        repo.create_hook("web", {"url": "https://gateway.example/hooks/github"}, ["issues"])
    assert raised.value.status == 422, "duplicate hook URL"
    with pytest.raises(GithubException) as raised:
        repo.create_hook("web", {"content_type": "json"}, ["issues"])
    assert raised.value.data["errors"][0]["message"] == "Config must contain URL for webhooks"
    with pytest.raises(GithubException) as raised:
        repo.create_hook("email", {"url": "https://gateway.example/other"}, ["issues"])
    assert (raised.value.status, raised.value.data["errors"][0]["field"]) == (422, "name")
    hook.delete()
    with pytest.raises(UnknownObjectException):
        hook.delete()

    gh.add_token("hubot-token", "hubot")
    with pytest.raises(UnknownObjectException):
        github_client(gh, "hubot-token").get_repo(GH_REPO).create_hook("web", {"url": "https://gateway.example/x"}, ["issues"])


def test_github_search_issues(gh: GitHubFake) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    gh.add_repo("octocat/other")
    login_fails = {"body": "The LOGIN page crashes", "labels": ["help wanted"], "assignees": ["hubot"]}
    gh.add_issue(GH_REPO, "Login fails", **login_fails, created_at=now - timedelta(days=10))  # updated when created
    gh.add_issue(GH_REPO, "Logout slow", body="nothing to see", created_at=now - timedelta(days=1))
    gh.add_issue(GH_REPO, "Old login bug", state="closed", created_at=now - timedelta(days=30))
    gh.add_issue("octocat/other", "login elsewhere")
    client = github_client(gh)

    def found(query: str, **options: Any) -> list[str]:
        return [issue.title for issue in client.search_issues(query, **options)]

    assert sorted(found(f"login repo:{GH_REPO}")) == ["Login fails", "Old login bug"]
    assert found(f"login repo:{GH_REPO} is:issue is:open") == ["Login fails"]
    assert found(f"repo:{GH_REPO} is:closed") == ["Old login bug"]
    assert found(f'repo:{GH_REPO} label:"help wanted"') == ["Login fails"]
    assert found(f"repo:{GH_REPO} assignee:hubot") == ["Login fails"]
    assert found(f"repo:{GH_REPO} is:open updated:>={(now - timedelta(days=2)).date()}") == ["Logout slow"]
    assert found(f"repo:{GH_REPO}", sort="created", order="asc") == ["Old login bug", "Login fails", "Logout slow"]
    assert sorted(found("LOGIN")) == ["Login fails", "Old login bug", "login elsewhere"]
    result = client.search_issues(f"repo:{GH_REPO}")
    assert result.totalCount == 3
    assert gh.requests[-1].headers["authorization"] == f"token {GH_TOKEN}"
    with pytest.raises(GithubException) as raised:
        list(client.search_issues("repo:octocat/missing"))
    assert raised.value.status == 422
    no_query = requests.get(f"{gh.base_url}/search/issues", timeout=5)
    assert no_query.status_code == 422 and no_query.headers["x-ratelimit-resource"] == "search"


def test_github_repository_contents(gh: GitHubFake) -> None:
    gh.add_file(GH_REPO, ".github/ISSUE_TEMPLATE/bug_report.md", "---\nname: Bug report\n---\nDescribe it")
    gh.add_file(GH_REPO, ".github/ISSUE_TEMPLATE/feature.md", "---\nname: Feature\n---\n")
    gh.add_file(GH_REPO, "README.md", "# hello")
    repo = github_client(gh).get_repo(GH_REPO)

    listing = repo.get_contents(".github/ISSUE_TEMPLATE")
    assert [(entry.type, entry.path) for entry in listing] == [
        ("file", ".github/ISSUE_TEMPLATE/bug_report.md"),
        ("file", ".github/ISSUE_TEMPLATE/feature.md"),
    ]
    assert listing[0].decoded_content == b"---\nname: Bug report\n---\nDescribe it"
    assert [(entry.type, entry.name) for entry in repo.get_contents("")] == [("dir", ".github"), ("file", "README.md")]
    readme = repo.get_contents("README.md")
    assert (readme.encoding, base64.b64decode(readme.content), readme.size) == ("base64", b"# hello", 7)
    with pytest.raises(UnknownObjectException):
        repo.get_contents(".github/ISSUE_TEMPLATE/missing.md")


def test_github_authentication_and_visibility(gh: GitHubFake) -> None:
    with pytest.raises(BadCredentialsException) as raised:
        login_of(github_client(gh, "wrong-token"))
    assert raised.value.status == 401
    assert raised.value.data["message"] == "Bad credentials"
    assert "documentation_url" in raised.value.data

    anonymous = requests.get(f"{gh.base_url}/user", timeout=5)
    assert (anonymous.status_code, anonymous.json()["message"]) == (401, "Requires authentication")
    assert anonymous.headers["x-ratelimit-limit"] == "60"

    gh.add_repo("octocat/secret", private=True)
    gh.add_token("stranger-token", "stranger")
    with pytest.raises(UnknownObjectException):
        github_client(gh, "stranger-token").get_repo("octocat/secret")
    with pytest.raises(UnknownObjectException):
        github_client(gh, None).get_repo("octocat/secret")
    assert github_client(gh, None).get_repo(GH_REPO).name == "hello", "public repos are readable anonymously"
    with pytest.raises(GithubException) as raised:
        github_client(gh, None, lazy=True).get_repo(GH_REPO).create_issue("anonymous")
    assert raised.value.status == 401


def test_github_rate_limit_headers_and_endpoint(gh: GitHubFake) -> None:
    client = github_client(gh)
    client.get_repo(GH_REPO)
    remaining_before = client.rate_limiting[0]
    assert login_of(client) == "octocat"
    assert client.rate_limiting == (remaining_before - 1, 5000)

    response = requests.get(f"{gh.base_url}/user", headers={"Authorization": f"token {GH_TOKEN}"}, timeout=5)
    for header in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "x-ratelimit-used", "x-ratelimit-resource"):
        assert header in response.headers
    assert int(response.headers["x-ratelimit-reset"]) > time.time()

    overview = client.get_rate_limit()
    assert overview.resources.core.remaining == int(response.headers["x-ratelimit-remaining"])
    assert client.get_rate_limit().resources.core.remaining == overview.resources.core.remaining, "/rate_limit is free"
    assert overview.resources.search.limit == 30


def test_github_conditional_requests_are_free(gh: GitHubFake) -> None:
    gh.add_issue(GH_REPO, "cached")
    url = f"{gh.base_url}/repos/{GH_REPO}/issues/1"
    auth = {"Authorization": f"token {GH_TOKEN}"}

    first = requests.get(url, headers=auth, timeout=5)
    etag = first.headers["ETag"]
    assert etag.startswith('W/"') and "Last-Modified" in first.headers
    again = requests.get(url, headers={**auth, "If-None-Match": etag}, timeout=5)
    assert (again.status_code, again.content, again.headers["ETag"]) == (304, b"", etag)
    assert again.headers["x-ratelimit-remaining"] == first.headers["x-ratelimit-remaining"]
    by_date = requests.get(url, headers={**auth, "If-Modified-Since": first.headers["Last-Modified"]}, timeout=5)
    assert by_date.status_code == 304

    issue = github_client(gh).get_repo(GH_REPO).get_issue(1)
    assert issue.update() is False, "PyGithub's conditional refresh sees 304"
    requests.patch(url, json={"title": "changed"}, headers=auth, timeout=5)
    assert issue.update() is True and issue.title == "changed"
    changed = requests.get(url, headers={**auth, "If-None-Match": etag}, timeout=5)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_github_quota_exhaustion_gives_primary_rate_limit(gh: GitHubFake) -> None:
    gh.set_rate_limit(limit=10, remaining=2)
    client = github_client(gh)
    assert login_of(client) == "octocat"
    client.get_repo(GH_REPO)

    with pytest.raises(RateLimitExceededException) as raised:
        client.get_repo(GH_REPO)
    assert raised.value.status == 403
    assert raised.value.headers["x-ratelimit-remaining"] == "0"
    assert raised.value.data["message"].startswith("API rate limit exceeded")


def test_github_rate_limit_next_primary_and_secondary(gh: GitHubFake) -> None:
    gh.rate_limit_next(retry_after=30)
    with pytest.raises(RateLimitExceededException) as raised:
        login_of(github_client(gh))
    headers = raised.value.headers
    assert raised.value.status == 403 and headers["x-ratelimit-remaining"] == "0"
    assert 25 <= int(headers["x-ratelimit-reset"]) - time.time() <= 35

    gh.rate_limit_next(status=429, retry_after=7)
    with pytest.raises(GithubException) as raised:
        login_of(github_client(gh))
    assert (raised.value.status, raised.value.headers["retry-after"]) == (429, "7")
    assert "secondary rate limit" in raised.value.data["message"]

    gh.rate_limit_next(status=429, retry_after=1)
    started = time.perf_counter()
    assert login_of(github_client(gh, retry=GithubRetry(total=2))) == "octocat"
    assert time.perf_counter() - started >= 0.9, "PyGithub's retry honours Retry-After"


def test_github_retry_recovers_from_injected_server_errors(gh: GitHubFake) -> None:
    gh.fail_next(502, count=2)
    assert login_of(github_client(gh, retry=GithubRetry(total=3, backoff_factor=0))) == "octocat"
    assert [r.path for r in gh.requests] == ["/user"] * 3


@dataclass
class GitHubWorld:
    fake: GitHubFake
    comment_id: int

    def path(self, url: str) -> str:
        """`url` with its `{repo}` and `{comment}` filled in."""
        return url.format(repo=GH_REPO, comment=self.comment_id)

    def call(self, method: str, url: str, body: Any = None, token: str | None = GH_TOKEN) -> requests.Response:
        headers = {"Authorization": f"token {token}"} if token else {}
        return requests.request(method, self.fake.base_url + self.path(url), json=body, headers=headers, timeout=5)


@pytest.fixture
def github_world(gh: GitHubFake) -> GitHubWorld:
    gh.add_label(GH_REPO, "bug", "d73a4a", "Something isn't working")
    gh.add_issue(GH_REPO, "Found a bug", body="It crashes", labels=["bug"], assignees=["hubot"])
    gh.add_issue(GH_REPO, "No body at all")
    gh.add_issue(GH_REPO, "Done", body="fixed", state="closed", user="hubot")
    return GitHubWorld(gh, gh.add_comment(GH_REPO, 1, "Me too", user="hubot")["id"])


ISSUES, HOOKS = "/repos/{owner}/{repo}/issues", "/repos/{owner}/{repo}/hooks"
ISSUE = ISSUES + "/{issue_number}"
COMMENTS = ISSUE + "/comments"
NEW_ISSUE = {"title": "New", "body": "b", "labels": ["bug", "new"], "assignees": ["hubot"]}
HOOK_CONFIG = {"url": "https://gateway.example/x", "content_type": "json", "secret": "s"}
NEW_HOOK = {"name": "web", "config": HOOK_CONFIG, "events": ["issues", "issue_comment"], "active": True}
CLOSE_AND_CLEAR = {"state": "closed", "state_reason": "not_planned", "labels": [], "assignees": []}
GITHUB_RESPONSES = [
    # request method, URL, JSON body, token, status
    ("GET", "/user", None, GH_TOKEN, 200),
    ("GET", "/user", None, "bad-token", 401),
    ("GET", "/repos/{repo}", None, GH_TOKEN, 200),
    ("GET", "/repos/{repo}/labels", None, GH_TOKEN, 200),
    ("GET", "/repos/{repo}/assignees", None, GH_TOKEN, 200),
    ("GET", "/repos/octocat/missing", None, GH_TOKEN, 404),
    ("GET", "/repos/{repo}/issues?state=all", None, GH_TOKEN, 200),
    ("POST", "/repos/{repo}/issues", NEW_ISSUE, GH_TOKEN, 201),
    ("POST", "/repos/{repo}/issues", {"body": "untitled"}, GH_TOKEN, 422),
    ("GET", "/repos/{repo}/issues/1", None, GH_TOKEN, 200),
    ("GET", "/repos/{repo}/issues/3", None, GH_TOKEN, 200),
    ("GET", "/repos/{repo}/issues/99", None, GH_TOKEN, 404),
    ("PATCH", "/repos/{repo}/issues/1", CLOSE_AND_CLEAR, GH_TOKEN, 200),
    ("PATCH", "/repos/{repo}/issues/1", {"state": "bogus"}, GH_TOKEN, 422),
    ("GET", "/repos/{repo}/issues/1/comments", None, GH_TOKEN, 200),
    ("POST", "/repos/{repo}/issues/1/comments", {"body": "+1"}, GH_TOKEN, 201),
    ("GET", "/repos/{repo}/issues/comments/{comment}", None, GH_TOKEN, 200),
    ("PATCH", "/repos/{repo}/issues/comments/{comment}", {"body": "ho"}, GH_TOKEN, 200),
    ("DELETE", "/repos/{repo}/issues/comments/{comment}", None, GH_TOKEN, 204),
    ("POST", "/repos/{repo}/hooks", NEW_HOOK, GH_TOKEN, 201),
    ("POST", "/repos/{repo}/hooks", {"config": {}}, GH_TOKEN, 422),
    ("GET", "/search/issues?q=repo:octocat/hello+is:issue", None, GH_TOKEN, 200),
    ("GET", "/search/issues", None, GH_TOKEN, 422),
    ("GET", "/rate_limit", None, GH_TOKEN, 200),
]


@pytest.mark.parametrize(
    ("method", "url", "body", "token", "status"), GITHUB_RESPONSES, ids=[f"{c[0]} {c[1]} -> {c[4]}" for c in GITHUB_RESPONSES]
)
def test_github_responses_match_the_openapi_description(github_world, github_openapi, method, url, body, token, status):
    response = github_world.call(method, url, body, token)
    assert response.status_code == status, response.text
    if status == 204:
        return
    # The described operation: the first template matching the path, a literal segment winning over a placeholder.
    by_literals = sorted(github_openapi.document["paths"], key=lambda template: template.count("{"))
    template = path_template(urlsplit(github_world.path(url)).path, by_literals)
    assert github_openapi.response_errors(template, method.lower(), response.json(), str(status)) == []
    assert foreign_urls(response.json(), github_world.fake.base_url) == []


GITHUB_REQUESTS = [
    # spec path, spec method, URL, body the fake receives
    (ISSUES, "post", "/repos/{repo}/issues", {}),
    (ISSUES, "post", "/repos/{repo}/issues", {"title": "plain"}),
    (ISSUES, "post", "/repos/{repo}/issues", {"title": 42}),
    (ISSUES, "post", "/repos/{repo}/issues", {"title": ["x"]}),
    (ISSUES, "post", "/repos/{repo}/issues", {"title": "x", "body": 5}),
    (ISSUES, "post", "/repos/{repo}/issues", {"title": "x", "milestone": None}),
    (ISSUES, "post", "/repos/{repo}/issues", {"title": "x", "milestone": True}),
    (ISSUES, "post", "/repos/{repo}/issues", {"title": "x", "labels": "bug"}),
    (ISSUES, "post", "/repos/{repo}/issues", {"title": "x", "labels": ["bug", {"name": "ui"}]}),
    (ISSUES, "post", "/repos/{repo}/issues", {"title": "x", "assignees": "hubot"}),
    (ISSUES, "post", "/repos/{repo}/issues", {"title": "x", "assignees": ["hubot"]}),
    (ISSUE, "patch", "/repos/{repo}/issues/1", {"state": "bogus"}),
    (ISSUE, "patch", "/repos/{repo}/issues/1", {"state": "closed", "state_reason": "duplicate"}),
    (ISSUE, "patch", "/repos/{repo}/issues/1", {"state_reason": "bogus"}),
    (ISSUE, "patch", "/repos/{repo}/issues/1", {"milestone": None, "title": None}),
    (ISSUE, "patch", "/repos/{repo}/issues/1", {"body": None, "labels": []}),
    (ISSUE, "patch", "/repos/{repo}/issues/1", {"assignees": [1]}),
    (COMMENTS, "post", "/repos/{repo}/issues/1/comments", {}),
    (COMMENTS, "post", "/repos/{repo}/issues/1/comments", {"body": "hello"}),
    (COMMENTS, "post", "/repos/{repo}/issues/1/comments", {"body": ["x"]}),
    (HOOKS, "post", "/repos/{repo}/hooks", {"config": "nope"}),
    (HOOKS, "post", "/repos/{repo}/hooks", {"config": {"url": "https://example.org/a"}, "events": ["issues"]}),
    (HOOKS, "post", "/repos/{repo}/hooks", {"config": {"url": "https://example.org/b"}, "surprise": True}),
    (HOOKS, "post", "/repos/{repo}/hooks", {"config": {"url": "https://example.org/c"}, "active": "yes"}),
]


@pytest.mark.parametrize(
    ("spec_path", "spec_method", "url", "body"), GITHUB_REQUESTS, ids=[f"{c[1]} {c[2]} {c[3]}" for c in GITHUB_REQUESTS]
)
def test_github_accepts_exactly_what_the_request_schema_accepts(github_world, github_openapi, spec_path, spec_method, url, body):
    spec_errors = github_openapi.request_errors(spec_path, spec_method, body)
    response = github_world.call(spec_method.upper(), url, body)
    fake_accepted = response.status_code < 400
    assert fake_accepted == (not spec_errors), f"fake answered {response.status_code} {response.text}; spec: {spec_errors}"
    if not fake_accepted:
        assert response.status_code == 422
        assert github_openapi.response_errors(spec_path, spec_method, response.json(), "422") == []


def test_pygithub_request_bodies_match_the_request_schemas(github_world: GitHubWorld, github_openapi: OpenAPISpec) -> None:
    fake = github_world.fake
    repo = github_client(fake).get_repo(GH_REPO)

    issue = repo.create_issue("From PyGithub", body="text", labels=["bug"], assignees=["hubot"])
    issue.edit(title="Edited", body="more", state="closed", state_reason="completed", labels=["bug"], assignees=[])
    issue.create_comment("comment")
    repo.create_hook("web", {"url": "https://gateway.example/py", "content_type": "json"}, ["issues"], True)

    sent = {(r.method, r.path): r.json for r in fake.requests if r.method != "GET"}
    checks = {
        (ISSUES, "post"): sent[("POST", f"/repos/{GH_REPO}/issues")],
        (ISSUE, "patch"): sent[("PATCH", f"/repos/{GH_REPO}/issues/4")],
        (COMMENTS, "post"): sent[("POST", f"/repos/{GH_REPO}/issues/4/comments")],
        (HOOKS, "post"): sent[("POST", f"/repos/{GH_REPO}/hooks")],
    }
    for (path, method), body in checks.items():
        assert github_openapi.request_errors(path, method, body) == [], (path, method, body)


def test_the_validator_is_not_vacuous(github_world: GitHubWorld, github_openapi: OpenAPISpec) -> None:
    issue = github_world.call("GET", "/repos/{repo}/issues/1").json()
    del issue["number"]
    issue["state_reason"] = "bored"
    errors = github_openapi.response_errors(ISSUE, "get", issue)
    assert any("'number' is a required property" in error for error in errors)
    assert any(error.startswith("state_reason:") for error in errors)


def test_honour_nullable_only_admits_null() -> None:
    ref, choice, plain = {"$ref": "#/x", "nullable": True}, {"type": "string", "enum": ["a"], "nullable": True}, {"enum": ["a"]}
    schema = honour_nullable({"properties": {"ref": ref, "choice": choice, "plain": plain}})["properties"]
    assert schema["ref"] == {"anyOf": [{"$ref": "#/x"}, {"enum": [None]}]}
    assert schema["choice"]["enum"] == ["a", None]
    assert schema["plain"]["enum"] == ["a"]


def test_github_fake_answers_sub_issue_and_type_calls_as_described(gh: GitHubFake, github_openapi: OpenAPISpec) -> None:
    auth, repo = {"Authorization": f"token {GH_TOKEN}"}, f"{gh.base_url}/repos/{GH_REPO}"

    def check(method, template, url, status, **kwargs):
        response = requests.request(method, url, headers=auth, timeout=5, **kwargs)
        assert response.status_code == status, response.text
        assert github_openapi.response_errors(template, method.lower(), response.json(), str(status)) == [], response.json()
        return response.json()

    parent = check("POST", ISSUES, f"{repo}/issues", 201, json={"title": "epic", "type": "feature"})
    assert parent["type"]["name"] == "Feature"
    child = check("POST", ISSUES, f"{repo}/issues", 201, json={"title": "child"})
    unknown_type = requests.post(f"{repo}/issues", json={"title": "x", "type": "Incident"}, headers=auth, timeout=5)
    assert unknown_type.status_code == 422
    sub = f"{ISSUE}/sub_issues"
    added = check("POST", sub, f"{repo}/issues/1/sub_issues", 201, json={"sub_issue_id": child["id"]})
    assert added["number"] == 1 and added["sub_issues_summary"]["total"] == 1
    listed = check("GET", sub, f"{repo}/issues/1/sub_issues", 200)
    assert [item["number"] for item in listed] == [2] and listed[0]["parent_issue_url"].endswith("/issues/1")
    # A sub-issue with a parent moves only with replace_parent; a parent cannot go below its own sub-issue.
    again = requests.post(f"{repo}/issues/2/sub_issues", json={"sub_issue_id": parent["id"]}, headers=auth, timeout=5)
    assert again.status_code == 422
    check("DELETE", f"{ISSUE}/sub_issue", f"{repo}/issues/1/sub_issue", 200, json={"sub_issue_id": child["id"]})
    assert check("GET", sub, f"{repo}/issues/1/sub_issues", 200) == []

"""The provider fakes, driven through the real client libraries (PyGithub, python-gitlab, py-trello) over HTTP."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import gitlab
import pytest
import requests
from github import Auth, Github, GithubException, GithubRetry
from github.GithubException import BadCredentialsException, RateLimitExceededException, UnknownObjectException
from trello import ResourceUnavailable, Unauthorized
from trello.card import Card
from trello.trellolist import List

from test.fakes import GitHubFake, GitLabFake, TrelloFake, trello_client

GH_TOKEN, GH_REPO = "ghp_fake_token", "octocat/hello"
GL_TOKEN, GL_PROJECT = "glpat-fake-token", "acme/widgets"
TR_KEY, TR_TOKEN = "trello-key", "trello-token"


def github_client(fake: GitHubFake, token: str | None = GH_TOKEN, **options: Any) -> Github:
    """PyGithub against the fake, without its client-side throttling and (by default) without retries."""
    options = {"retry": None, "seconds_between_requests": None, "seconds_between_writes": None, "timeout": 5, **options}
    return Github(base_url=fake.base_url, auth=Auth.Token(token) if token else None, **options)


def gitlab_client(fake: GitLabFake, token: str = GL_TOKEN, **options: Any) -> gitlab.Gitlab:
    """python-gitlab against the fake."""
    return gitlab.Gitlab(url=fake.base_url, private_token=token, **{"timeout": 5, **options})


def login_of(client: Github) -> str:
    """The authenticated user's login (one `GET /user`)."""
    return client.get_user().login


def link_relations(header: str) -> dict[str, dict[str, list[str]]]:
    """`rel -> query parameters` of an RFC 5988 Link header."""
    relations = {}
    for part in header.split(","):
        url, rel = part.split(";")
        relations[rel.strip().removeprefix('rel="').rstrip('"')] = parse_qs(urlsplit(url.strip(" <>")).query)
    return relations


@pytest.fixture
def gh(github_fake: GitHubFake) -> GitHubFake:
    """GitHub fake with user octocat (token GH_TOKEN), repo octocat/hello and collaborator hubot."""
    github_fake.add_token(GH_TOKEN, "octocat")
    github_fake.add_repo(GH_REPO, description="demo")
    github_fake.add_member(GH_REPO, "hubot")
    return github_fake


@pytest.fixture
def gl(gitlab_fake: GitLabFake) -> GitLabFake:
    """GitLab fake with user alice (token GL_TOKEN) owning acme/widgets, developer bob, reporter carol."""
    gitlab_fake.add_token(GL_TOKEN, "alice")
    gitlab_fake.add_project(GL_PROJECT, description="widgets")
    gitlab_fake.add_member(GL_PROJECT, "alice", 50)
    gitlab_fake.add_member(GL_PROJECT, "bob", 30)
    gitlab_fake.add_member(GL_PROJECT, "carol", 20)
    return gitlab_fake


@dataclass
class TrelloWorld:
    """Seeded Trello data: a board of alice (admin) and bob with To Do / Done lists and a `bug` label."""

    fake: TrelloFake
    board: dict[str, Any]
    todo: dict[str, Any]
    done: dict[str, Any]
    bug: dict[str, Any]
    bob: dict[str, Any]

    def client(self, token: str = TR_TOKEN, timeout: float | None = 5) -> Any:
        return trello_client(self.fake.base_url, TR_KEY, token, timeout=timeout)


@pytest.fixture
def tr(trello_fake: TrelloFake) -> TrelloWorld:
    trello_fake.add_token(TR_TOKEN, key=TR_KEY, username="alice")
    bob = trello_fake.add_member("bob", "Bob Builder")
    board = trello_fake.add_board("Roadmap", members=["alice", "bob"])
    todo = trello_fake.add_list(board["id"], "To Do")
    done = trello_fake.add_list(board["id"], "Done")
    bug = trello_fake.add_label(board["id"], "bug", "red")
    return TrelloWorld(trello_fake, board, todo, done, bug, bob)


# -- GitHub ------------------------------------------------------------------------------------


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
    unknown = requests.post(
        f"{gh.base_url}/repos/{GH_REPO}/issues",
        json={"title": "x", "milestone": 7},
        headers={"Authorization": f"token {GH_TOKEN}"},
        timeout=5,
    )
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
    assert bad_filter.status_code == 422
    assert requests.get(f"{url}/99", headers=auth, timeout=5).json()["message"] == "Not Found"


def test_github_list_filters_and_sorting(gh: GitHubFake) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    gh.add_issue(GH_REPO, "old bug", labels=["bug"], created_at=now - timedelta(days=3), updated_at=now - timedelta(days=3))
    gh.add_issue(
        GH_REPO,
        "ui bug",
        labels=["bug", "ui"],
        assignees=["hubot"],
        created_at=now - timedelta(days=2),
        updated_at=now - timedelta(hours=1),
    )
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

    hook = repo.create_hook(
        "web",
        {"url": "https://gateway.example/hooks/github", "content_type": "json", "secret": "s3cret"},
        ["issues", "issue_comment"],
        active=True,
    )

    assert hook.config == {
        "url": "https://gateway.example/hooks/github",
        "content_type": "json",
        "secret": "********",
        "insecure_ssl": "0",
    }
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
    gh.add_issue(GH_REPO, "Login fails", body="The LOGIN page crashes", labels=["help wanted"], assignees=["hubot"],
                 created_at=now - timedelta(days=10), updated_at=now - timedelta(days=10))
    gh.add_issue(GH_REPO, "Logout slow", body="nothing to see", created_at=now - timedelta(days=1))
    gh.add_issue(GH_REPO, "Old login bug", state="closed", created_at=now - timedelta(days=30))
    gh.add_issue("octocat/other", "login elsewhere")
    client = github_client(gh)

    def found(query: str, **options: Any) -> list[str]:
        return [issue.title for issue in client.search_issues(query, **options)]

    assert sorted(found(f"login repo:{GH_REPO}")) == ["Login fails", "Old login bug"]
    assert found(f"login repo:{GH_REPO} is:issue is:open") == ["Login fails"]
    assert found(f"repo:{GH_REPO} state:closed") == ["Old login bug"]
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
    with pytest.raises(GithubException) as raised:
        repo.get_contents("README.md", ref="no-such-branch")
    assert (raised.value.status, raised.value.data["message"]) == (404, "No commit found for the ref no-such-branch")


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


# -- GitLab ------------------------------------------------------------------------------------


def test_gitlab_user_and_project_lookup(gl: GitLabFake) -> None:
    client = gitlab_client(gl)
    client.auth()
    assert client.user.username == "alice"
    by_path = client.projects.get(GL_PROJECT)
    assert gl.requests[-1].path == f"/api/v4/projects/{quote(GL_PROJECT, safe='')}"
    by_id = client.projects.get(by_path.id)
    assert (by_path.id, by_path.path_with_namespace, by_id.name) == (by_id.id, GL_PROJECT, "Widgets")
    assert by_path.web_url == f"{gl.base_url}/{GL_PROJECT}"
    assert by_path._links["issues"] == f"{gl.api_url}/projects/{by_path.id}/issues"
    with pytest.raises(gitlab.GitlabGetError) as raised:
        client.projects.get("acme/missing")
    assert (raised.value.response_code, raised.value.error_message) == (404, "404 Project Not Found")


def test_gitlab_create_issue_with_every_field(gl: GitLabFake) -> None:
    project = gitlab_client(gl).projects.get(GL_PROJECT)
    bob = gl.add_user("bob")
    stranger = gl.add_user("stranger")
    milestone = gl.add_milestone(GL_PROJECT, "v1")

    issue = project.issues.create(
        {
            "title": "Broken",
            "description": "Details",
            "labels": ["bug", "p1"],
            "assignee_ids": [bob["id"], stranger["id"]],
            "due_date": "2030-01-31",
            "milestone_id": milestone["id"],
        }
    )

    assert (issue.iid, issue.title, issue.description, issue.state) == (1, "Broken", "Details", "opened")
    assert issue.labels == ["bug", "p1"]
    assert [user["username"] for user in issue.assignees] == ["bob"], "non-members are dropped"
    assert (issue.due_date, issue.milestone["title"], issue.author["username"]) == ("2030-01-31", "v1", "alice")
    assert issue.web_url == f"{gl.base_url}/{GL_PROJECT}/-/issues/1"
    assert issue._links["self"] == f"{gl.api_url}/projects/{project.id}/issues/1"
    assert issue.references["full"] == f"{GL_PROJECT}#1"
    sent = gl.requests[-1]
    assert (sent.method, sent.headers["private-token"]) == ("POST", GL_TOKEN)
    assert sent.json["title"] == "Broken" and sent.json["labels"] == ["bug", "p1"]
    assert {label.name for label in project.labels.list(get_all=True)} == {"bug", "p1"}
    assert project.issues.create({"title": "next"}).iid == 2
    assert project.issues.get(2).id != issue.id


def test_gitlab_validation_errors(gl: GitLabFake) -> None:
    client = gitlab_client(gl)
    project_id = client.projects.get(GL_PROJECT).id
    with pytest.raises(gitlab.GitlabHttpError) as raised:
        client.http_post(f"/projects/{project_id}/issues", post_data={"description": "no title"})
    assert (raised.value.response_code, raised.value.error_message) == (400, "title is missing")
    blank = requests.post(
        f"{gl.api_url}/projects/{project_id}/issues", json={"title": " "}, headers={"PRIVATE-TOKEN": GL_TOKEN}, timeout=5
    )
    assert (blank.status_code, blank.json()) == (400, {"message": {"title": ["can't be blank"]}})
    gl.add_issue(GL_PROJECT, "x")
    issue = client.projects.get(project_id, lazy=True).issues.get(1)
    issue.state_event = "destroy"
    with pytest.raises(gitlab.GitlabUpdateError) as raised:
        issue.save()
    assert raised.value.error_message == "state_event does not have a valid value"
    with pytest.raises(gitlab.GitlabListError) as raised:
        client.projects.get(project_id, lazy=True).issues.list(state="open")
    assert raised.value.error_message == "state does not have a valid value"
    unknown = requests.get(f"{gl.api_url}/nope", headers={"PRIVATE-TOKEN": GL_TOKEN}, timeout=5)
    assert (unknown.status_code, unknown.json()) == (404, {"error": "404 Not Found"})


def test_gitlab_list_filters_search_and_ordering(gl: GitLabFake) -> None:
    now = datetime.now(UTC)
    gl.add_issue(
        GL_PROJECT,
        "Login broken",
        description="SSO fails",
        labels=["bug", "auth"],
        assignees=["bob"],
        created_at=now - timedelta(days=3),
        updated_at=now - timedelta(hours=1),
    )
    gl.add_issue(
        GL_PROJECT, "Add dark mode", labels=["feature"], created_at=now - timedelta(days=2), updated_at=now - timedelta(days=2)
    )
    gl.add_issue(
        GL_PROJECT,
        "Old crash",
        description="login page",
        state="closed",
        created_at=now - timedelta(days=1),
        updated_at=now - timedelta(days=1),
    )
    gl.add_issue(GL_PROJECT, "Unlabelled", created_at=now, updated_at=now - timedelta(days=5))
    issues = gitlab_client(gl).projects.get(GL_PROJECT).issues

    def iids(**filters: Any) -> list[int]:
        return [issue.iid for issue in issues.list(get_all=True, **filters)]

    assert iids() == [4, 3, 2, 1], "all states, newest first"
    assert iids(state="opened") == [4, 2, 1]
    assert iids(state="closed") == [3]
    assert iids(labels=["bug", "auth"]) == [1]
    assert iids(labels="None") == [4, 3]
    assert iids(labels="Any") == [2, 1]
    assert iids(assignee_username="bob") == [1]
    assert iids(search="LOGIN") == [3, 1], "title and description, case-insensitive"
    assert iids(search="login", state="opened") == [1]
    assert iids(updated_after=(now - timedelta(hours=2)).isoformat()) == [1]
    assert iids(order_by="updated_at") == [1, 3, 2, 4]
    assert iids(order_by="updated_at", sort="asc") == [4, 2, 3, 1]


def test_gitlab_paginates_with_headers(gl: GitLabFake) -> None:
    for number in range(8):
        gl.add_issue(GL_PROJECT, f"issue {number}")
    project = gitlab_client(gl).projects.get(GL_PROJECT)

    pages = project.issues.list(per_page=3, iterator=True)
    assert (pages.total, pages.total_pages, pages.per_page) == (8, 3, 3)
    assert sorted(issue.iid for issue in pages) == list(range(1, 9))
    assert [r.query.get("page", "1") for r in gl.requests if r.path.endswith("/issues")] == ["1", "2", "3"]

    url = f"{gl.api_url}/projects/{project.id}/issues"
    middle = requests.get(url, params={"per_page": 3, "page": 2}, headers={"PRIVATE-TOKEN": GL_TOKEN}, timeout=5)
    headers = middle.headers
    assert (headers["X-Page"], headers["X-Per-Page"], headers["X-Prev-Page"], headers["X-Next-Page"]) == ("2", "3", "1", "3")
    assert (headers["X-Total"], headers["X-Total-Pages"]) == ("8", "3")
    assert {rel: query["page"] for rel, query in link_relations(headers["Link"]).items()} == {
        "prev": ["1"],
        "next": ["3"],
        "first": ["1"],
        "last": ["3"],
    }
    last = requests.get(url, params={"per_page": 3, "page": 3}, headers={"PRIVATE-TOKEN": GL_TOKEN}, timeout=5)
    assert last.headers["X-Next-Page"] == "" and len(last.json()) == 2
    capped = requests.get(url, params={"per_page": 1000}, headers={"PRIVATE-TOKEN": GL_TOKEN}, timeout=5)
    assert capped.headers["X-Per-Page"] == "100"


def test_gitlab_update_each_field_close_and_reopen(gl: GitLabFake) -> None:
    gl.add_issue(GL_PROJECT, "Title", description="Body", labels=["a", "b"])
    carol = gl.add_user("carol")
    issue = gitlab_client(gl).projects.get(GL_PROJECT).issues.get(1)

    issue.title, issue.description, issue.due_date = "New", "New body", "2031-02-03"
    issue.assignee_ids = [carol["id"]]
    issue.save()
    assert (issue.title, issue.description, issue.due_date) == ("New", "New body", "2031-02-03")
    assert [user["username"] for user in issue.assignees] == ["carol"]

    issue.labels = ["c"]
    issue.save()
    assert issue.labels == ["c"]
    issue.add_labels, issue.remove_labels = "d,e", "c"
    issue.save()
    assert issue.labels == ["d", "e"]

    issue.state_event = "close"
    issue.save()
    assert (issue.state, issue.attributes["closed_by"]["username"]) == ("closed", "alice") and issue.closed_at
    issue.state_event = "reopen"
    issue.save()
    assert (issue.state, issue.closed_at, issue.attributes["closed_by"]) == ("opened", None, None)

    issue.due_date, issue.assignee_ids = None, [0]
    issue.save()
    assert (issue.due_date, issue.assignees) == (None, [])
    system_notes = [note.body for note in issue.notes.list(get_all=True, sort="asc") if note.system]
    assert "closed" in system_notes and "reopened" in system_notes
    assert issue.user_notes_count == 0, "system notes are not user notes"


def test_gitlab_notes(gl: GitLabFake) -> None:
    gl.add_issue(GL_PROJECT, "x")
    issue = gitlab_client(gl).projects.get(GL_PROJECT).issues.get(1)

    first = issue.notes.create({"body": "first"})
    issue.notes.create({"body": "second"})

    assert (first.body, first.system, first.author["username"], first.noteable_iid) == ("first", False, "alice", 1)
    assert [note.body for note in issue.notes.list(get_all=True)] == ["second", "first"]
    assert [note.body for note in issue.notes.list(get_all=True, sort="asc")] == ["first", "second"]
    assert gitlab_client(gl).projects.get(GL_PROJECT).issues.get(1).user_notes_count == 2
    first.body = "edited"
    first.save()
    assert [note.body for note in issue.notes.list(get_all=True)] == ["second", "edited"]
    with pytest.raises(gitlab.GitlabHttpError) as raised:
        gitlab_client(gl).http_post(f"/projects/{issue.project_id}/issues/1/notes", post_data={})
    assert (raised.value.response_code, raised.value.error_message) == (400, "body is missing")


def test_gitlab_labels_members_and_users(gl: GitLabFake) -> None:
    gl.add_label(GL_PROJECT, "bug", "#d9534f", "Bug reported by user", priority=10)
    gl.add_issue(GL_PROJECT, "x", labels=["bug"])
    project = gitlab_client(gl).projects.get(GL_PROJECT)

    [label] = [label for label in project.labels.list(get_all=True, with_counts=True) if label.name == "bug"]
    assert (label.color, label.description, label.priority, label.open_issues_count) == ("#d9534f", "Bug reported by user", 10, 1)
    assert "open_issues_count" not in project.labels.list(get_all=True)[0].attributes
    members = {member.username: member.access_level for member in project.members_all.list(get_all=True)}
    assert members == {"alice": 50, "bob": 30, "carol": 20}


def test_gitlab_hooks(gl: GitLabFake) -> None:
    project = gitlab_client(gl).projects.get(GL_PROJECT)

    hook = project.hooks.create(
        {
            "url": "https://gateway.example/hooks/gitlab",
            "token": "s3cret",
            "issues_events": True,
            "note_events": True,
            "push_events": False,
            "enable_ssl_verification": False,
        }
    )

    assert (hook.issues_events, hook.note_events, hook.push_events, hook.enable_ssl_verification) == (True, True, False, False)
    assert "token" not in hook.attributes, "the secret token is never returned"
    assert hook.url == "https://gateway.example/hooks/gitlab"
    hook.delete()
    with pytest.raises(gitlab.GitlabDeleteError):
        hook.delete()

    gl.add_token("bob-token", "bob")
    with pytest.raises(gitlab.GitlabCreateError) as raised:
        gitlab_client(gl, "bob-token").projects.get(GL_PROJECT, lazy=True).hooks.create({"url": "https://gateway.example/x"})
    assert raised.value.response_code == 403, "hooks need maintainer access"


def test_gitlab_repository_tree_and_files(gl: GitLabFake) -> None:
    gl.add_file(GL_PROJECT, ".gitlab/issue_templates/Bug.md", "## Bug\n\nSteps")
    gl.add_file(GL_PROJECT, ".gitlab/issue_templates/Feature.md", "## Feature")
    gl.add_file(GL_PROJECT, "README.md", "# widgets")
    project = gitlab_client(gl).projects.get(GL_PROJECT)

    tree = project.repository_tree(path=".gitlab/issue_templates", ref="main", get_all=True)
    assert [(entry["type"], entry["name"]) for entry in tree] == [("blob", "Bug.md"), ("blob", "Feature.md")]
    assert [(e["type"], e["path"]) for e in project.repository_tree(get_all=True)] == [("tree", ".gitlab"), ("blob", "README.md")]
    assert project.files.raw(file_path=".gitlab/issue_templates/Bug.md", ref="main") == b"## Bug\n\nSteps"
    assert "%2F" in gl.requests[-1].path, "python-gitlab URL-encodes the file path"
    with pytest.raises(gitlab.GitlabGetError) as raised:
        project.files.raw(file_path="missing.md", ref="main")
    assert raised.value.error_message == "404 File Not Found"
    with pytest.raises(gitlab.GitlabGetError) as raised:
        project.repository_tree(path="nowhere", get_all=True)
    assert raised.value.error_message == "404 Tree Not Found"


def test_gitlab_authentication(gl: GitLabFake) -> None:
    with pytest.raises(gitlab.GitlabAuthenticationError) as raised:
        gitlab_client(gl, "wrong").auth()
    assert (raised.value.response_code, raised.value.error_message) == (401, "401 Unauthorized")
    bearer = gitlab.Gitlab(url=gl.base_url, oauth_token=GL_TOKEN, timeout=5)
    bearer.auth()
    assert bearer.user.username == "alice"
    assert gl.requests[-1].headers["authorization"] == f"Bearer {GL_TOKEN}"
    with pytest.raises(gitlab.GitlabGetError) as raised:
        gitlab.Gitlab(url=gl.base_url, timeout=5).projects.get(GL_PROJECT)
    assert raised.value.response_code == 404, "private projects are hidden from anonymous users"


def test_gitlab_rate_limit_next(gl: GitLabFake) -> None:
    gl.rate_limit_next(retry_after=1)
    started = time.perf_counter()
    assert gitlab_client(gl).projects.get(GL_PROJECT).path == "widgets"
    assert time.perf_counter() - started >= 0.9, "python-gitlab waited Retry-After before retrying"
    assert len(gl.requests) == 2

    gl.rate_limit_next(retry_after=5)
    with pytest.raises(gitlab.GitlabGetError) as raised:
        gitlab_client(gl).projects.get(GL_PROJECT, obey_rate_limit=False)
    assert raised.value.response_code == 429
    gl.rate_limit_next(retry_after=5)
    response = requests.get(f"{gl.api_url}/user", headers={"PRIVATE-TOKEN": GL_TOKEN}, timeout=5)
    assert (response.status_code, response.text) == (429, "Retry later\n")
    assert response.headers["Retry-After"] == "5" and response.headers["RateLimit-Remaining"] == "0"
    assert 3 <= int(response.headers["RateLimit-Reset"]) - time.time() <= 6
    assert "RateLimit-ResetTime" in response.headers and "RateLimit-Limit" in response.headers


# -- Trello ------------------------------------------------------------------------------------


def test_trello_member_board_lists_labels_members(tr: TrelloWorld) -> None:
    client = tr.client()
    me = client.get_member("me")
    assert (me.username, me.email) == ("alice", "alice@example.com")
    board = client.get_board(tr.board["id"])
    assert (board.name, board.closed) == ("Roadmap", False)
    assert board.url.startswith(f"{tr.fake.base_url}/b/")
    assert [lst.name for lst in board.list_lists()] == ["To Do", "Done"]
    assert {(label.name, label.color) for label in board.get_labels()} >= {("bug", "red"), ("", "green")}
    assert [member.username for member in board.get_members()] == ["alice", "bob"]
    assert [member.full_name for member in board.all_members()] == ["Alice", "Bob Builder"]
    assert tr.fake.requests[-1].query == {"filter": "all", "fields": "all"}


def test_trello_create_card_with_every_field(tr: TrelloWorld) -> None:
    client = tr.client()
    board = client.get_board(tr.board["id"])
    todo = List(board, tr.todo["id"], name="To Do")
    bug = next(label for label in board.get_labels() if label.name == "bug")
    bob = next(member for member in board.get_members() if member.username == "bob")

    card = todo.add_card("Fix login", desc="SSO broken", labels=[bug], due="2030-01-31T12:00:00Z", assign=[bob])

    assert (card.name, card.description, card.closed, card.idShort) == ("Fix login", "SSO broken", False, 1)
    assert [label.name for label in card.labels] == ["bug"] and card.idLabels == [bug.id]
    assert card.member_ids == [bob.id]
    assert card.due == "2030-01-31T12:00:00.000Z"
    assert (card.idList, card.idBoard) == (tr.todo["id"], tr.board["id"])
    assert len(card.id) == 24 and int(card.id, 16)
    assert card.short_url == f"{tr.fake.base_url}/c/{card._json_obj['shortLink']}"
    assert card.url.startswith(card.short_url + "/1-fix-login")
    sent = tr.fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/1/cards")
    assert sent.json["idList"] == tr.todo["id"] and sent.json["idLabels"] == bug.id
    assert sent.headers["authorization"].startswith("OAuth ") and f'oauth_token="{TR_TOKEN}"' in sent.headers["authorization"]
    assert client.fetch_json(f"/cards/{card.id}")["name"] == "Fix login"
    assert client.fetch_json(f"/cards/{card._json_obj['shortLink']}")["id"] == card.id, "short links work as ids"


def test_trello_validation_and_not_found(tr: TrelloWorld) -> None:
    client = tr.client()
    with pytest.raises(ResourceUnavailable) as raised:
        client.fetch_json("/cards", http_method="POST", post_args={"name": "orphan"})
    assert (raised.value._status, raised.value._msg.split(" at ")[0]) == (400, "invalid value for idList")
    with pytest.raises(ResourceUnavailable) as raised:
        client.fetch_json("/cards", http_method="POST", post_args={"idList": tr.todo["id"], "idLabels": "nope"})
    assert raised.value._msg.startswith("invalid value for idLabels")
    with pytest.raises(ResourceUnavailable) as raised:
        client.fetch_json("/cards/123")
    assert (raised.value._status, raised.value._msg.split(" at ")[0]) == (400, "invalid id")
    with pytest.raises(ResourceUnavailable) as raised:
        client.fetch_json("/cards/" + "a" * 24)
    assert (raised.value._status, raised.value._msg.split(" at ")[0]) == (404, "The requested resource was not found.")
    unknown = requests.get(f"{tr.fake.api_url}/nope", params={"key": TR_KEY, "token": TR_TOKEN}, timeout=5)
    assert (unknown.status_code, unknown.text) == (404, "Cannot GET /1/nope")


def test_trello_card_filters_and_paging(tr: TrelloWorld) -> None:
    for number in range(5):
        tr.fake.add_card(tr.todo["id"], f"card {number}")
    archived = tr.fake.add_card(tr.done["id"], "archived", closed=True)
    board = tr.client().get_board(tr.board["id"])

    assert len(board.open_cards()) == 5 and len(board.all_cards()) == 6
    assert [card.id for card in board.closed_cards()] == [archived["id"]]
    assert tr.fake.requests[-1].path == f"/1/boards/{tr.board['id']}/cards/"
    assert len(tr.client().fetch_json(f"/boards/{tr.board['id']}/labels", query_params={"limit": 2})) == 2


def test_trello_lazy_card_fetch(tr: TrelloWorld) -> None:
    created = tr.fake.add_card(tr.todo["id"], "plain", desc="text")
    card = Card(tr.client().get_board(tr.board["id"]), created["id"])
    card.fetch(eager=False)
    assert (card.name, card.desc, card.idShort, card.badges["comments"]) == ("plain", "text", 1, 0)


def test_trello_update_each_field(tr: TrelloWorld) -> None:
    created = tr.fake.add_card(tr.todo["id"], "Card", desc="old")
    client = tr.client()
    card = Card(client.get_board(tr.board["id"]), created["id"])
    client.fetch_json(f"/cards/{card.id}", http_method="PUT", post_args={"idList": tr.done["id"], "dueComplete": True})
    card.fetch(eager=False)
    assert card.idList == tr.done["id"] and client.fetch_json(f"/cards/{card.id}")["dueComplete"] is True
    assert [(m["source"]["name"], m["destination"]["name"]) for m in card.list_movements()] == [("To Do", "Done")]

    updated = client.fetch_json(
        f"/cards/{card.id}",
        http_method="PUT",
        post_args={
            "name": "Via PUT",
            "desc": "",
            "closed": False,
            "idList": tr.todo["id"],
            "due": None,
            "idLabels": tr.bug["id"],
            "idMembers": tr.bob["id"],
        },
    )
    assert (updated["name"], updated["desc"], updated["closed"], updated["idList"], updated["due"]) == (
        "Via PUT",
        "",
        False,
        tr.todo["id"],
        None,
    )
    assert (updated["idLabels"], updated["idMembers"]) == ([tr.bug["id"]], [tr.bob["id"]])
    assert updated["labels"][0]["name"] == "bug" and updated["badges"]["due"] is None
    with pytest.raises(ResourceUnavailable) as raised:
        client.fetch_json(f"/cards/{card.id}", http_method="PUT", post_args={"closed": "maybe"})
    assert raised.value._msg.startswith("invalid value for closed")


def test_trello_comments(tr: TrelloWorld) -> None:
    created = tr.fake.add_card(tr.todo["id"], "Card")
    card = Card(tr.client().get_board(tr.board["id"]), created["id"])

    action = card.comment("First!")
    card.comment("Second")

    assert (action["type"], action["data"]["text"], action["memberCreator"]["username"]) == ("commentCard", "First!", "alice")
    assert [comment["data"]["text"] for comment in card.get_comments()] == ["First!", "Second"]
    assert tr.fake.requests[-1].query["filter"] == "commentCard,copyCommentCard"
    card.fetch(eager=False)
    assert card.badges["comments"] == 2
    card.update_comment(action["id"], "Edited")
    card.delete_comment({"id": card.get_comments()[1]["id"]})
    assert [comment["data"]["text"] for comment in card.get_comments()] == ["Edited"]
    with pytest.raises(ResourceUnavailable) as raised:
        card.comment("")
    assert raised.value._msg.startswith("invalid value for text")


def test_trello_webhooks(tr: TrelloWorld) -> None:
    client = tr.client()

    hook = client.create_hook("https://gateway.example/hooks/trello", tr.board["id"], desc="gateway")
    assert tr.fake.requests[-1].path == f"/1/tokens/{TR_TOKEN}/webhooks/"
    assert tr.fake.requests[-1].form["callbackURL"] == "https://gateway.example/hooks/trello"
    assert (hook.id_model, hook.callback_url, hook.active) == (tr.board["id"], "https://gateway.example/hooks/trello", True)
    with pytest.raises(Exception, match="A webhook with that callback, model, and token already exists"):
        client.create_hook("https://gateway.example/hooks/trello", tr.board["id"])
    hook.delete()
    assert tr.fake.state.webhooks == {}

    created = client.fetch_json(
        "/webhooks",
        http_method="POST",
        post_args={"callbackURL": "https://gateway.example/t", "idModel": tr.board["id"], "description": "second"},
    )
    assert (created["idModel"], created["active"]) == (tr.board["id"], True)
    with pytest.raises(ResourceUnavailable) as raised:
        client.fetch_json("/webhooks", http_method="POST", post_args={"callbackURL": "https://x.example", "idModel": "f" * 24})
    assert raised.value._msg.startswith("invalid value for idModel")


def test_trello_authentication_forms(tr: TrelloWorld) -> None:
    with pytest.raises(Unauthorized) as raised:
        tr.client("wrong-token").get_member("me")
    assert raised.value._msg.startswith("invalid token")
    by_query = requests.get(f"{tr.fake.api_url}/members/me", params={"key": TR_KEY, "token": TR_TOKEN}, timeout=5)
    assert by_query.json()["username"] == "alice"
    bad_key = requests.get(f"{tr.fake.api_url}/members/me", params={"key": "nope", "token": TR_TOKEN}, timeout=5)
    assert (bad_key.status_code, bad_key.text) == (401, "invalid key")
    no_token = requests.get(f"{tr.fake.api_url}/members/me", params={"key": TR_KEY}, timeout=5)
    assert (no_token.status_code, no_token.text) == (401, "unauthorized permission requested")
    tr.fake.add_token("other-apps-token", key="other-key", username="bob")
    foreign = requests.get(f"{tr.fake.api_url}/members/me", params={"key": TR_KEY, "token": "other-apps-token"}, timeout=5)
    assert (foreign.status_code, foreign.text) == (401, "invalid token"), "a token only works with its own key"
    private = tr.fake.add_board("Private", members=["bob"])
    with pytest.raises(Unauthorized):
        tr.client().get_board(private["id"])


def test_trello_rate_limits(tr: TrelloWorld) -> None:
    tr.fake.rate_limit_next(retry_after=2)
    with pytest.raises(ResourceUnavailable) as raised:
        tr.client().get_member("me")
    assert raised.value._status == 429

    tr.fake.rate_limit_next()
    limited = requests.get(f"{tr.fake.api_url}/members/me", params={"key": TR_KEY, "token": TR_TOKEN}, timeout=5)
    assert limited.status_code == 429 and limited.json()["error"] == "API_TOKEN_LIMIT_EXCEEDED"

    tr.fake.set_rate_limit(limit=3, interval_ms=60_000)
    client = tr.client()
    assert [client.fetch_json("/members/me")["username"] for _ in range(3)] == ["alice"] * 3
    exhausted = requests.get(f"{tr.fake.api_url}/members/me", params={"key": TR_KEY, "token": TR_TOKEN}, timeout=5)
    assert exhausted.status_code == 429
    assert exhausted.headers["x-rate-limit-api-token-remaining"] == "0"
    assert exhausted.headers["x-rate-limit-api-token-max"] == "3"


# -- knobs common to all fakes -----------------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    """How to seed one fake and perform one single-request read with its real client library."""

    fixture: str
    seed: Callable[[Any], Any]
    read: Callable[[Any, Any, int], str]
    status_of: Callable[[Exception], int]
    error: type[Exception]


def _seed_github(fake: GitHubFake) -> None:
    fake.add_token(GH_TOKEN, "octocat")
    fake.add_repo(GH_REPO)
    fake.add_issue(GH_REPO, "knob target")


def _seed_gitlab(fake: GitLabFake) -> None:
    fake.add_token(GL_TOKEN, "alice")
    fake.add_project(GL_PROJECT)
    fake.add_member(GL_PROJECT, "alice", 50)
    fake.add_issue(GL_PROJECT, "knob target")


def _seed_trello(fake: TrelloFake) -> str:
    fake.add_token(TR_TOKEN, key=TR_KEY, username="alice")
    board = fake.add_board("Board", members=["alice"])
    return fake.add_card(fake.add_list(board["id"], "List")["id"], "knob target")["id"]


PROVIDERS = [
    pytest.param(
        Provider(
            "github_fake",
            _seed_github,
            lambda fake, _, timeout: github_client(fake, timeout=timeout, lazy=True).get_repo(GH_REPO).get_issue(1).title,
            lambda error: error.status,
            GithubException,
        ),
        id="github",
    ),
    pytest.param(
        Provider(
            "gitlab_fake",
            _seed_gitlab,
            lambda fake, _, timeout: gitlab_client(fake, timeout=timeout).projects.get(GL_PROJECT, lazy=True).issues.get(1).title,
            lambda error: error.response_code,
            gitlab.GitlabError,
        ),
        id="gitlab",
    ),
    pytest.param(
        Provider(
            "trello_fake",
            _seed_trello,
            lambda fake, card_id, timeout: trello_client(fake.base_url, TR_KEY, TR_TOKEN, timeout=timeout).fetch_json(
                f"/cards/{card_id}"
            )["name"],
            lambda error: error._status,
            ResourceUnavailable,
        ),
        id="trello",
    ),
]


@pytest.fixture
def provider_fake(request: pytest.FixtureRequest) -> tuple[Provider, Any, Any]:
    provider: Provider = request.param
    fake = request.getfixturevalue(provider.fixture)
    return provider, fake, provider.seed(fake)


@pytest.mark.parametrize("provider_fake", PROVIDERS, indirect=True)
def test_latency_is_added_to_every_request(provider_fake: tuple[Provider, Any, Any]) -> None:
    provider, fake, context = provider_fake
    fake.latency = 2.0
    started = time.perf_counter()
    assert provider.read(fake, context, 10) == "knob target"
    assert time.perf_counter() - started >= 2.0
    fake.latency = 0
    started = time.perf_counter()
    provider.read(fake, context, 10)
    assert time.perf_counter() - started < 2.0, "latency 0 adds no delay"


@pytest.mark.parametrize("provider_fake", PROVIDERS, indirect=True)
def test_fail_next_reaches_the_library(provider_fake: tuple[Provider, Any, Any]) -> None:
    provider, fake, context = provider_fake
    fake.fail_next(503, count=2)
    for _ in range(2):
        with pytest.raises(provider.error) as raised:
            provider.read(fake, context, 5)
        assert provider.status_of(raised.value) == 503
    assert provider.read(fake, context, 5) == "knob target"

    fake.fail_next(418, body={"message": "teapot"}, match=r"^POST ")
    assert provider.read(fake, context, 5) == "knob target", "the fault only matches POSTs"
    assert fake.knobs()["faults"][0]["status"] == 418
    assert len(fake.requests) == 4


@pytest.mark.parametrize("provider_fake", PROVIDERS, indirect=True)
def test_drop_next_closes_the_connection(provider_fake: tuple[Provider, Any, Any]) -> None:
    provider, fake, context = provider_fake
    fake.drop_next()
    with pytest.raises(requests.exceptions.ConnectionError):
        provider.read(fake, context, 5)
    assert provider.read(fake, context, 5) == "knob target"


@pytest.mark.parametrize("provider_fake", PROVIDERS, indirect=True)
def test_hang_next_stalls_until_the_client_gives_up(provider_fake: tuple[Provider, Any, Any]) -> None:
    provider, fake, context = provider_fake
    fake.hang_next(seconds=10)
    started = time.perf_counter()
    with pytest.raises(requests.exceptions.Timeout):
        provider.read(fake, context, 1)
    assert 0.9 <= time.perf_counter() - started < 3
    assert provider.read(fake, context, 5) == "knob target"


@pytest.mark.parametrize("provider_fake", PROVIDERS, indirect=True)
def test_knobs_over_http_control_endpoints(provider_fake: tuple[Provider, Any, Any]) -> None:
    provider, fake, context = provider_fake
    control = f"{fake.base_url}/_fake/control"

    knobs = requests.post(control, json={"latency": 0.05, "fail_next": {"status": 502, "count": 1}}, timeout=5)
    assert knobs.status_code == 200 and knobs.json()["latency"] == 0.05
    assert requests.get(control, timeout=5).json()["faults"][0]["status"] == 502
    with pytest.raises(provider.error) as raised:
        provider.read(fake, context, 5)
    assert provider.status_of(raised.value) == 502
    assert requests.get(f"{fake.base_url}/_fake/requests", timeout=5).json()[-1]["method"] == "GET"

    assert requests.post(control, json={"warp_drive": 1}, timeout=5).status_code == 400
    assert requests.post(control, json={"fail_next": {"status": 200}}, timeout=5).status_code == 400
    assert requests.post(f"{fake.base_url}/_fake/reset", timeout=5).json() == {"reset": True}
    assert fake.knobs() == {"latency": 0.0, "faults": []} and fake.requests == []
    with pytest.raises(provider.error) as raised:
        provider.read(fake, context, 5)
    assert provider.status_of(raised.value) in (401, 404), "reset also dropped the seeded state"


@pytest.mark.parametrize(("fixture", "body"), [
    ("github_fake", {"message": "Server Error", "documentation_url": "https://docs.github.com/rest"}),
    ("gitlab_fake", {"message": "503 Service Unavailable"}),
    ("trello_fake", "Internal Server Error"),
    ("gitea_fake", {"message": "Service Unavailable", "url": "{base_url}/api/swagger"}),
    ("jira_cloud_fake", {"errorMessages": ["Internal server error"], "errors": {}}),
])
def test_fail_next_without_a_body_answers_in_the_provider_s_own_error_shape(request, fixture: str, body: Any) -> None:
    fake = request.getfixturevalue(fixture)
    fake.fail_next(503)
    response = requests.get(f"{fake.base_url}/anything", timeout=5)
    assert response.status_code == 503
    if isinstance(body, str):
        assert response.text == body
    else:
        assert response.json() == {key: value.format(base_url=fake.base_url) if isinstance(value, str) else value
                                   for key, value in body.items()}


def test_seed_over_http_for_out_of_process_use(github_fake: GitHubFake) -> None:
    seed = f"{github_fake.base_url}/_fake/seed"
    created = requests.post(
        seed,
        json=[
            {"op": "add_token", "args": {"token": GH_TOKEN, "login": "octocat"}},
            {"op": "add_repo", "args": {"full_name": GH_REPO}},
            {"op": "add_issue", "args": {"full_name": GH_REPO, "title": "seeded", "labels": ["bug"]}},
        ],
        timeout=5,
    )
    assert created.status_code == 200 and created.json()[2]["number"] == 1
    assert github_client(github_fake).get_repo(GH_REPO).get_issue(1).title == "seeded"
    assert requests.post(seed, json={"op": "stop", "args": {}}, timeout=5).status_code == 400
    assert github_fake.requests[0].path == f"/repos/{GH_REPO}", "control calls stay out of the request log"


def test_reset_releases_hanging_requests(github_fake: GitHubFake) -> None:
    _seed_github(github_fake)
    github_fake.hang_next(seconds=30)
    started = time.perf_counter()
    with pytest.raises(requests.exceptions.Timeout):
        login_of(github_client(github_fake, timeout=1))
    github_fake.reset()
    _seed_github(github_fake)
    assert login_of(github_client(github_fake)) == "octocat"
    assert time.perf_counter() - started < 3

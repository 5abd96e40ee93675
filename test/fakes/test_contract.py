"""Contract tests: the fakes' responses and the client libraries' requests, checked against the providers' own
API descriptions (GitHub and Trello OpenAPI documents, GitLab's documented example responses), the deeper issue
operations (comment edit/delete, issue delete, attachments) included; Gitea's are in test_gitea.py, Jira's in
test_jira.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gitlab
import pytest
import requests
from github import Auth, Github
from trello.trellolist import List

from test.fakes import GitHubFake, GitLabFake, TrelloFake, trello_client
from test.fakes.specs import (
    TRELLO_ERRATA,
    OpenAPISpec,
    github_spec,
    gitlab_example,
    honour_nullable,
    shape_mismatches,
    specs_dir,
    trello_spec,
)

SPECS = specs_dir()
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))

GH_TOKEN, GH_REPO = "ghp_contract", "octocat/hello"
GL_TOKEN, GL_PROJECT = "glpat-contract", "acme/widgets"
TR_KEY, TR_TOKEN = "contract-key", "contract-token"
# URL-valued fields that legitimately point elsewhere: webhook callback targets and GitHub's documentation links.
EXTERNAL_URL_FIELDS = frozenset({"config.url", "callbackURL", "documentation_url"})


@pytest.fixture(scope="module")
def github_openapi() -> OpenAPISpec:
    return github_spec(SPECS)


@pytest.fixture(scope="module")
def trello_openapi() -> OpenAPISpec:
    return trello_spec(SPECS)


def foreign_urls(node: Any, base_url: str, where: str = "") -> list[str]:
    """http(s) values of `*url`/`*Url`/`_links` fields that do not point at the fake itself."""
    found: list[str] = []
    if isinstance(node, list):
        for index, item in enumerate(node):
            found += foreign_urls(item, base_url, f"{where}[{index}]")
    elif isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}.{key}" if where else key
            is_url_field = key.lower().endswith("url") or "_links" in path
            if isinstance(value, str) and is_url_field and value.startswith("http"):
                if not value.startswith(base_url) and not any(path.endswith(f) for f in EXTERNAL_URL_FIELDS):
                    found.append(f"{path}={value}")
            else:
                found += foreign_urls(value, base_url, path)
    return found


# -- GitHub ------------------------------------------------------------------------------------


@dataclass
class GitHubWorld:
    fake: GitHubFake
    comment_id: int
    hook_id: int

    def call(self, method: str, url: str, body: Any = None, token: str | None = GH_TOKEN) -> requests.Response:
        headers = {"Authorization": f"token {token}"} if token else {}
        return requests.request(
            method,
            self.fake.base_url + url.format(repo=GH_REPO, comment=self.comment_id, hook=self.hook_id),
            json=body,
            headers=headers,
            timeout=5,
        )


@pytest.fixture
def github_world(github_fake: GitHubFake) -> GitHubWorld:
    fake = github_fake
    fake.add_token(GH_TOKEN, "octocat")
    fake.add_repo(GH_REPO, description="demo")
    fake.add_member(GH_REPO, "hubot")
    fake.add_label(GH_REPO, "bug", "d73a4a", "Something isn't working")
    fake.add_issue(GH_REPO, "Found a bug", body="It crashes", labels=["bug"], assignees=["hubot"])
    fake.add_issue(GH_REPO, "No body at all")
    fake.add_issue(GH_REPO, "Done", body="fixed", state="closed", user="hubot")
    comment = fake.add_comment(GH_REPO, 1, "Me too", user="hubot")
    hook = GitHubWorld(fake, comment["id"], 0).call(
        "POST", "/repos/{repo}/hooks", {"config": {"url": "https://gateway.example/gh"}, "events": ["issues"]}
    )
    return GitHubWorld(fake, comment["id"], hook.json()["id"])


ISSUES, HOOKS = "/repos/{owner}/{repo}/issues", "/repos/{owner}/{repo}/hooks"
ISSUE = ISSUES + "/{issue_number}"
COMMENTS = ISSUE + "/comments"
GITHUB_RESPONSES = [
    # spec path, spec method, status, request method, URL, JSON body, token
    ("/user", "get", "200", "GET", "/user", None, GH_TOKEN),
    ("/user", "get", "401", "GET", "/user", None, "bad-token"),
    ("/repos/{owner}/{repo}", "get", "200", "GET", "/repos/{repo}", None, GH_TOKEN),
    ("/repos/{owner}/{repo}", "get", "404", "GET", "/repos/octocat/missing", None, GH_TOKEN),
    (ISSUES, "get", "200", "GET", "/repos/{repo}/issues?state=all", None, GH_TOKEN),
    (
        ISSUES,
        "post",
        "201",
        "POST",
        "/repos/{repo}/issues",
        {"title": "New", "body": "b", "labels": ["bug", "new"], "assignees": ["hubot"]},
        GH_TOKEN,
    ),
    (ISSUES, "post", "422", "POST", "/repos/{repo}/issues", {"body": "untitled"}, GH_TOKEN),
    (ISSUE, "get", "200", "GET", "/repos/{repo}/issues/1", None, GH_TOKEN),
    (ISSUE, "get", "200", "GET", "/repos/{repo}/issues/3", None, GH_TOKEN),
    (ISSUE, "get", "404", "GET", "/repos/{repo}/issues/99", None, GH_TOKEN),
    (
        ISSUE,
        "patch",
        "200",
        "PATCH",
        "/repos/{repo}/issues/1",
        {"state": "closed", "state_reason": "not_planned", "labels": [], "assignees": []},
        GH_TOKEN,
    ),
    (ISSUE, "patch", "422", "PATCH", "/repos/{repo}/issues/1", {"state": "bogus"}, GH_TOKEN),
    (COMMENTS, "get", "200", "GET", "/repos/{repo}/issues/1/comments", None, GH_TOKEN),
    (COMMENTS, "post", "201", "POST", "/repos/{repo}/issues/1/comments", {"body": "+1"}, GH_TOKEN),
    (
        "/repos/{owner}/{repo}/issues/comments/{comment_id}",
        "get",
        "200",
        "GET",
        "/repos/{repo}/issues/comments/{comment}",
        None,
        GH_TOKEN,
    ),
    ("/repos/{owner}/{repo}/labels", "get", "200", "GET", "/repos/{repo}/labels", None, GH_TOKEN),
    ("/repos/{owner}/{repo}/assignees", "get", "200", "GET", "/repos/{repo}/assignees", None, GH_TOKEN),
    (
        HOOKS,
        "post",
        "201",
        "POST",
        "/repos/{repo}/hooks",
        {
            "name": "web",
            "config": {"url": "https://gateway.example/x", "content_type": "json", "secret": "s"},
            "events": ["issues", "issue_comment"],
            "active": True,
        },
        GH_TOKEN,
    ),
    (HOOKS, "post", "422", "POST", "/repos/{repo}/hooks", {"config": {}}, GH_TOKEN),
    ("/search/issues", "get", "200", "GET", "/search/issues?q=repo:octocat/hello+is:issue", None, GH_TOKEN),
    ("/search/issues", "get", "422", "GET", "/search/issues", None, GH_TOKEN),
    ("/rate_limit", "get", "200", "GET", "/rate_limit", None, GH_TOKEN),
]


@pytest.mark.parametrize(
    ("spec_path", "spec_method", "status", "method", "url", "body", "token"),
    GITHUB_RESPONSES,
    ids=[f"{case[3]} {case[4]} -> {case[2]}" for case in GITHUB_RESPONSES],
)
def test_github_responses_match_the_openapi_description(
    github_world: GitHubWorld,
    github_openapi: OpenAPISpec,
    spec_path: str,
    spec_method: str,
    status: str,
    method: str,
    url: str,
    body: Any,
    token: str,
) -> None:
    response = github_world.call(method, url, body, token)
    assert str(response.status_code) == status, response.text
    assert github_openapi.response_errors(spec_path, spec_method, response.json(), status) == []
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
    ("spec_path", "spec_method", "url", "body"),
    GITHUB_REQUESTS,
    ids=[f"{case[1]} {case[2]} {case[3]}" for case in GITHUB_REQUESTS],
)
def test_github_accepts_exactly_what_the_request_schema_accepts(
    github_world: GitHubWorld,
    github_openapi: OpenAPISpec,
    spec_path: str,
    spec_method: str,
    url: str,
    body: Any,
) -> None:
    spec_errors = github_openapi.request_errors(spec_path, spec_method, body)
    response = github_world.call(spec_method.upper(), url, body)
    fake_accepted = response.status_code < 400
    assert fake_accepted == (not spec_errors), f"fake answered {response.status_code} {response.text}; spec: {spec_errors}"
    if not fake_accepted:
        assert response.status_code == 422
        assert github_openapi.response_errors(spec_path, spec_method, response.json(), "422") == []


def test_pygithub_request_bodies_match_the_request_schemas(github_world: GitHubWorld, github_openapi: OpenAPISpec) -> None:
    fake = github_world.fake
    client = Github(
        base_url=fake.base_url, auth=Auth.Token(GH_TOKEN), retry=None, seconds_between_requests=None, seconds_between_writes=None
    )
    repo = client.get_repo(GH_REPO)

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
    schema = honour_nullable(
        {
            "properties": {
                "ref": {"$ref": "#/x", "nullable": True},
                "choice": {"type": "string", "enum": ["a"], "nullable": True},
                "plain": {"type": "string", "enum": ["a"]},
            }
        }
    )["properties"]
    assert schema["ref"] == {"anyOf": [{"$ref": "#/x"}, {"enum": [None]}]}
    assert schema["choice"]["enum"] == ["a", None]
    assert schema["plain"]["enum"] == ["a"]


# -- Trello ------------------------------------------------------------------------------------


@dataclass
class TrelloWorld:
    fake: TrelloFake
    ids: dict[str, str]

    def call(self, method: str, url: str, params: dict[str, Any] | None = None) -> requests.Response:
        filled = {key: value.format(**self.ids) if isinstance(value, str) else value for key, value in (params or {}).items()}
        return requests.request(
            method, self.fake.api_url + url.format(**self.ids), params={"key": TR_KEY, "token": TR_TOKEN, **filled}, timeout=5
        )


@pytest.fixture
def trello_world(trello_fake: TrelloFake) -> TrelloWorld:
    fake = trello_fake
    fake.add_token(TR_TOKEN, key=TR_KEY, username="alice")
    bob = fake.add_member("bob", "Bob Builder")
    board = fake.add_board("Roadmap", members=["alice", "bob"], permission_level="private")
    todo = fake.add_list(board["id"], "To Do")
    label = fake.add_label(board["id"], "bug", "red")
    card = fake.add_card(todo["id"], "Crash", desc="details", labels=[label["id"]], members=["bob"], due="2030-01-31T12:00:00Z")
    fake.add_comment(card["id"], "Seen it too")
    world = TrelloWorld(
        fake,
        {"board": board["id"], "list": todo["id"], "card": card["id"], "label": label["id"], "bob": bob["id"], "token": TR_TOKEN},
    )
    hook = world.call("POST", "/webhooks", {"callbackURL": "https://gateway.example/tr", "idModel": board["id"]})
    world.ids["hook"] = hook.json()["id"]
    world.call("PUT", "/cards/{card}", {"start": "2030-01-01T00:00:00.000Z"})
    return world


TRELLO_RESPONSES = [
    # spec path, method, URL, query parameters
    ("/members/{id}", "get", "/members/me", None),
    ("/boards/{id}", "get", "/boards/{board}", None),
    ("/boards/{id}", "get", "/boards/{board}", {"fields": "all"}),
    ("/boards/{id}/lists", "get", "/boards/{board}/lists", None),
    ("/cards", "post", "/cards", {"idList": "{list}", "name": "New", "idLabels": "{label}", "idMembers": "{bob}"}),
    ("/cards/{id}", "get", "/cards/{card}", None),
    ("/cards/{id}", "put", "/cards/{card}", {"name": "Renamed", "closed": "true", "due": "null"}),
    ("/cards/{id}/actions", "get", "/cards/{card}/actions", None),
    ("/cards/{id}/actions/comments", "post", "/cards/{card}/actions/comments", {"text": "hi"}),
    (
        "/tokens/{token}/webhooks",
        "post",
        "/tokens/{token}/webhooks",
        {"callbackURL": "https://gateway.example/other", "idModel": "{board}", "description": "d"},
    ),
]


@pytest.mark.parametrize(
    ("spec_path", "method", "url", "params"), TRELLO_RESPONSES, ids=[f"{case[1].upper()} {case[2]}" for case in TRELLO_RESPONSES]
)
def test_trello_responses_match_the_openapi_description(
    trello_world: TrelloWorld,
    trello_openapi: OpenAPISpec,
    spec_path: str,
    method: str,
    url: str,
    params: Any,
) -> None:
    response = trello_world.call(method.upper(), url, params)
    assert response.status_code == 200, response.text
    assert trello_openapi.response_errors(spec_path, method, response.json()) == []
    assert foreign_urls(response.json(), trello_world.fake.base_url) == []


TRELLO_UNDOCUMENTED_BODIES = [
    # endpoints whose description documents no response body: check items against the component schema
    ("Label", "/boards/{board}/labels"),
    ("Member", "/boards/{board}/members"),
    ("Card", "/boards/{board}/cards"),
    ("Card", "/boards/{board}/cards/all"),
]


@pytest.mark.parametrize(("schema", "url"), TRELLO_UNDOCUMENTED_BODIES, ids=[c[1] for c in TRELLO_UNDOCUMENTED_BODIES])
def test_trello_bodies_match_the_component_schemas(
    trello_world: TrelloWorld, trello_openapi: OpenAPISpec, schema: str, url: str
) -> None:
    body = trello_world.call("GET", url).json()
    items = body if isinstance(body, list) else [body]
    assert items
    for item in items:
        assert trello_openapi.errors(item, trello_openapi.component_schema(schema)) == []


TRELLO_CARD_PARAMS = [
    {},
    {"idList": "not-an-id"},
    {"idList": "{list}"},
    {"idList": "{list}", "pos": "middle"},
    {"idList": "{list}", "pos": "-5"},
    {"idList": "{list}", "pos": "top", "due": "2030-01-01"},
    {"idList": "{list}", "due": "tomorrow"},
    {"idList": "{list}", "idLabels": "zz"},
    {"idList": "{list}", "idLabels": "{label}", "idMembers": "{bob}"},
    {"idList": "{list}", "dueComplete": "maybe"},
    {"idList": "{list}", "dueComplete": "true", "pos": "12.5"},
    {"idList": "{list}", "keepFromSource": "everything"},
]


@pytest.mark.parametrize("params", TRELLO_CARD_PARAMS, ids=[str(p) for p in TRELLO_CARD_PARAMS])
def test_trello_accepts_exactly_what_the_card_parameters_accept(
    trello_world: TrelloWorld, trello_openapi: OpenAPISpec, params: dict[str, str]
) -> None:
    filled = {key: value.format(**trello_world.ids) for key, value in params.items()}
    spec_errors = trello_openapi.query_errors("/cards", "post", filled)
    response = trello_world.call("POST", "/cards", filled)
    fake_accepted = response.status_code == 200
    assert fake_accepted == (not spec_errors), f"fake answered {response.status_code} {response.text}; spec: {spec_errors}"
    if not fake_accepted:
        assert response.status_code == 400 and response.text.startswith("invalid value for ")


def test_py_trello_requests_match_the_documented_parameters(trello_world: TrelloWorld, trello_openapi: OpenAPISpec) -> None:
    client = trello_client(trello_world.fake.base_url, TR_KEY, TR_TOKEN)
    board = client.get_board(trello_world.ids["board"])
    label = next(label for label in board.get_labels() if label.name == "bug")
    bob = next(member for member in board.get_members() if member.username == "bob")

    card = List(board, trello_world.ids["list"]).add_card(
        "From py-trello", desc="d", labels=[label], due="2030-02-01", assign=[bob]
    )
    card.comment("hello")
    client.create_hook("https://gateway.example/py-trello", trello_world.ids["board"], desc="gateway")

    sent = {(r.method, r.path.rstrip("/")): r for r in trello_world.fake.requests if r.method == "POST"}
    created = sent[("POST", "/1/cards")].json
    assert trello_openapi.query_errors("/cards", "post", created) == [], created
    comment = sent[("POST", f"/1/cards/{card.id}/actions/comments")].json
    assert trello_openapi.query_errors("/cards/{id}/actions/comments", "post", comment) == []
    hook = sent[("POST", f"/1/tokens/{TR_TOKEN}/webhooks")].form
    assert trello_openapi.query_errors("/tokens/{token}/webhooks", "post", hook, ignore=("key",)) == []


@pytest.mark.parametrize("erratum", TRELLO_ERRATA, ids=[e.pointer.split("/schemas/")[1] for e in TRELLO_ERRATA])
def test_each_trello_erratum_is_still_needed(trello_world: TrelloWorld, erratum: Any) -> None:
    others = [e for e in TRELLO_ERRATA if e is not erratum]
    spec = OpenAPISpec(trello_spec(SPECS).raw, others)
    samples = {
        "Card": ("Card", trello_world.call("GET", "/cards/{card}").json()),
        "TrelloList": ("TrelloList", trello_world.call("GET", "/boards/{board}/lists").json()[0]),
        "Prefs": ("Board", trello_world.call("GET", "/boards/{board}").json()),
    }
    schema, sample = samples[erratum.pointer.split("/")[3]]
    assert spec.errors(sample, spec.component_schema(schema)) != [], f"{erratum.pointer} no longer needed"


# -- GitLab ------------------------------------------------------------------------------------


@pytest.fixture
def gitlab_world(gitlab_fake: GitLabFake) -> tuple[GitLabFake, gitlab.Gitlab]:
    fake = gitlab_fake
    fake.add_token(GL_TOKEN, "alice")
    fake.add_project(GL_PROJECT)
    fake.add_member(GL_PROJECT, "alice", 50)
    fake.add_member(GL_PROJECT, "lennie", 30)
    fake.add_label(GL_PROJECT, "bug", "#d9534f", "Bug reported by user", priority=10)
    # Like the documented examples: a closed issue in a closed milestone, assigned, labelled, with a due date,
    # closed as a duplicate of another issue.
    fake.add_issue(GL_PROJECT, "Original")
    milestone = fake.add_milestone(GL_PROJECT, "v3.0", description="Rerum est", due_date="2030-01-01", state="closed")
    fake.add_issue(GL_PROJECT, "Ut commodi", description="Omnis vero", labels=["bug"], assignees=["lennie"],
                   milestone_id=milestone["id"], due_date="2030-02-01", state="closed", duplicate_of=1)
    fake.add_note(GL_PROJECT, 2, "first note", author="lennie")
    return fake, gitlab.Gitlab(url=fake.base_url, private_token=GL_TOKEN, timeout=5)


def _gitlab_bodies(fake: GitLabFake, client: gitlab.Gitlab) -> dict[str, Any]:
    project = client.projects.get(GL_PROJECT)
    issue = project.issues.get(2)
    note = issue.notes.create({"body": "from python-gitlab"})
    return {
        "issue": issue.attributes,
        "issues": [item.attributes for item in project.issues.list(get_all=True, state="closed")],
        "issue-note": note.attributes,
        "issue-notes": [item.attributes for item in issue.notes.list(get_all=True)],
        "label": next(label for label in project.labels.list(get_all=True, with_counts=True) if label.name == "bug").attributes,
        "labels": [item.attributes for item in project.labels.list(get_all=True, with_counts=True)],
    }


@pytest.mark.parametrize("example", ["issue", "issues", "issue-note", "issue-notes", "label", "labels"])
def test_gitlab_objects_have_the_documented_shape(gitlab_world: tuple[GitLabFake, gitlab.Gitlab], example: str) -> None:
    fake, client = gitlab_world
    documented = gitlab_example(SPECS, example)
    actual = _gitlab_bodies(fake, client)[example]
    if isinstance(documented, list):
        assert actual
        problems = [p for item in actual for p in shape_mismatches(documented[0], item)]
    else:
        problems = shape_mismatches(documented, actual)
    assert problems == []
    assert foreign_urls(actual, fake.base_url) == []


def test_shape_check_is_not_vacuous() -> None:
    documented = {"id": 1, "author": {"username": "root"}, "labels": ["x"], "closed_at": None}
    assert shape_mismatches(documented, {"id": "1", "author": {}, "labels": [3], "closed_at": "2020"}) == [
        "$.id: string where the example has number",
        "$.author.username: missing",
        "$.labels[0]: number where the example has string",
    ]


# -- deeper operations -------------------------------------------------------------------------


def test_trello_fake_answers_attachment_and_comment_calls_as_described():
    spec = trello_spec(SPECS)
    with TrelloFake() as fake:
        fake.add_token("tr", key="k", username="alice")
        board = fake.add_board("B", members=["alice"])
        todo = fake.add_list(board["id"], "To do")
        card = None
        oauth = {"Authorization": 'OAuth oauth_consumer_key="k", oauth_token="tr"'}
        api = f"{fake.base_url}/1"
        if card is None:
            card = requests.post(f"{api}/cards", params={"idList": todo["id"], "name": "card"}, headers=oauth, timeout=5).json()
        created = requests.post(f"{api}/cards/{card['id']}/attachments", headers=oauth, timeout=5,
                                files={"file": ("a.png", PNG, "image/png")}, data={"name": "a.png", "mimeType": "image/png"})
        assert created.status_code == 200
        # Trello's description says an array here; Trello answers one attachment. Its Attachment schema also types
        # `bytes` as a string and `date` as a day, where Trello sends a number and a timestamp (as py-trello reads).
        def problems(item):
            found = spec.errors(item, spec.component_schema("Attachment"))
            assert len(found) == 2, found  # the two errata: still needed
            return [p for p in found if not p.startswith(("bytes: ", "date: "))]

        assert problems(created.json()) == []
        listed = requests.get(f"{api}/cards/{card['id']}/attachments", headers=oauth, timeout=5).json()
        assert len(listed) == 1 and problems(listed[0]) == []
        one = requests.get(f"{api}/cards/{card['id']}/attachments/{created.json()['id']}", headers=oauth, timeout=5)
        assert problems(one.json()) == []
        assert requests.get(one.json()["url"], headers=oauth, timeout=5).content == PNG
        assert requests.get(one.json()["url"], params={"key": "k", "token": "tr"}, timeout=5).status_code == 401
        comment = requests.post(f"{api}/cards/{card['id']}/actions/comments", params={"text": "hi"}, headers=oauth,
                                timeout=5).json()
        edited = requests.put(f"{api}/cards/{card['id']}/actions/{comment['id']}/comments", params={"text": "ho"},
                              headers=oauth, timeout=5)
        assert edited.status_code == 200 and edited.json()["data"]["text"] == "ho"  # the spec documents no body here
        assert spec.query_errors("/cards/{id}/actions/{idAction}/comments", "put", {"text": "ho"}) == []
        gone = requests.delete(f"{api}/cards/{card['id']}/attachments/{created.json()['id']}", headers=oauth, timeout=5)
        assert gone.status_code == 200  # the spec documents no body
        assert requests.get(f"{api}/cards/{card['id']}/attachments", headers=oauth, timeout=5).json() == []


def test_github_fake_answers_comment_edit_and_delete_as_described():
    spec = github_spec(SPECS)
    with GitHubFake() as fake:
        fake.add_token("gh", login="octocat")
        fake.add_repo("octocat/hello")
        fake.add_issue("octocat/hello", "one")
        comment = fake.add_comment("octocat/hello", 1, "hi")
        auth = {"Authorization": "token gh"}
        url = f"{fake.base_url}/repos/octocat/hello/issues/comments/{comment['id']}"
        edited = requests.patch(url, json={"body": "ho"}, headers=auth, timeout=5)
        assert edited.status_code == 200
        assert spec.response_errors("/repos/{owner}/{repo}/issues/comments/{comment_id}", "patch", edited.json()) == []
        assert requests.delete(url, headers=auth, timeout=5).status_code == 204


def test_github_fake_answers_sub_issue_and_type_calls_as_described():
    spec = github_spec(SPECS)
    with GitHubFake() as fake:
        fake.add_token("gh", login="octocat")
        fake.add_repo("octocat/hello")
        auth = {"Authorization": "token gh"}
        repo = f"{fake.base_url}/repos/octocat/hello"
        issues = "/repos/{owner}/{repo}/issues"

        def check(method, template, url, status, **kwargs):
            response = requests.request(method, url, headers=auth, timeout=5, **kwargs)
            assert response.status_code == status, response.text
            assert spec.response_errors(template, method.lower(), response.json(), status=str(status)) == [], response.json()
            return response.json()

        parent = check("POST", issues, f"{repo}/issues", 201, json={"title": "epic", "type": "feature"})
        assert parent["type"]["name"] == "Feature"
        child = check("POST", issues, f"{repo}/issues", 201, json={"title": "child"})
        unknown_type = requests.post(f"{repo}/issues", json={"title": "x", "type": "Incident"}, headers=auth, timeout=5)
        assert unknown_type.status_code == 422
        sub = f"{issues}/{{issue_number}}/sub_issues"
        added = check("POST", sub, f"{repo}/issues/1/sub_issues", 201, json={"sub_issue_id": child["id"]})
        assert added["number"] == 1 and added["sub_issues_summary"]["total"] == 1
        listed = check("GET", sub, f"{repo}/issues/1/sub_issues", 200)
        assert [item["number"] for item in listed] == [2] and listed[0]["parent_issue_url"].endswith("/issues/1")
        # A sub-issue with a parent moves only with replace_parent; a parent cannot go below its own sub-issue.
        assert requests.post(f"{repo}/issues/2/sub_issues", json={"sub_issue_id": parent["id"]}, headers=auth,
                             timeout=5).status_code == 422
        check("DELETE", f"{issues}/{{issue_number}}/sub_issue", f"{repo}/issues/1/sub_issue", 200,
              json={"sub_issue_id": child["id"]})
        assert check("GET", sub, f"{repo}/issues/1/sub_issues", 200) == []


def test_gitlab_fake_answers_note_edit_note_and_issue_delete_as_documented():
    documented = gitlab_example(SPECS, "issue-note")
    with GitLabFake() as fake:
        fake.add_token("gl", username="root")
        fake.add_token("dev", username="dev")
        project = fake.add_project("group/app")
        fake.add_member(project["id"], "root", access_level=50)
        fake.add_member(project["id"], "dev", access_level=30)
        fake.add_issue(project["id"], "one")
        api = f"{fake.base_url}/api/v4/projects/{project['id']}/issues/1"
        root, dev = {"PRIVATE-TOKEN": "gl"}, {"PRIVATE-TOKEN": "dev"}
        note = requests.post(f"{api}/notes", data={"body": "hi"}, headers=root, timeout=5).json()
        edited = requests.put(f"{api}/notes/{note['id']}", data={"body": "ho"}, headers=root, timeout=5)
        assert edited.status_code == 200 and edited.json()["body"] == "ho"
        assert shape_mismatches(documented, edited.json()) == []  # notes.md: "Modify existing issue note" answers the note
        # notes.md and issues.md: a refusal is 403 and a delete answers 204 without a body.
        assert requests.put(f"{api}/notes/{note['id']}", data={"body": "x"}, headers=dev, timeout=5).status_code == 403
        assert requests.delete(f"{api}/notes/{note['id']}", headers=dev, timeout=5).status_code == 403
        gone = requests.delete(f"{api}/notes/{note['id']}", headers=root, timeout=5)
        assert gone.status_code == 204 and gone.content == b""
        assert requests.delete(api, headers=dev, timeout=5).status_code == 403  # only owners delete issues
        deleted = requests.delete(api, headers=root, timeout=5)
        assert deleted.status_code == 204 and deleted.content == b""
        assert requests.get(api, headers=root, timeout=5).status_code == 404
    # Not vacuous: a note missing its author is caught.
    assert shape_mismatches(documented, {k: v for k, v in documented.items() if k != "author"})


def test_trello_fake_answers_card_and_comment_deletes_as_described():
    spec = trello_spec(SPECS)
    with TrelloFake() as fake:
        fake.add_token("tr", key="k", username="alice")
        board = fake.add_board("B", members=["alice"])
        card = fake.add_card(fake.add_list(board["id"], "To do")["id"], "card")
        comment = fake.add_comment(card["id"], "hi", username="alice")
        auth = {"key": "k", "token": "tr"}
        api = f"{fake.base_url}/1"
        for method, template, url in (
                ("delete", "/cards/{id}/actions/{idAction}/comments",
                 f"{api}/cards/{card['id']}/actions/{comment['id']}/comments"),
                ("delete", "/cards/{id}", f"{api}/cards/{card['id']}")):
            response = requests.request(method, url, params=auth, timeout=5)
            assert str(response.status_code) in spec.document["paths"][template][method]["responses"], (template, response.text)
            assert spec.query_errors(template, method, {}) == []
        assert requests.get(f"{api}/cards/{card['id']}", params=auth, timeout=5).status_code == 404
        assert requests.get(f"{api}/actions/{comment['id']}", params=auth, timeout=5).status_code == 404

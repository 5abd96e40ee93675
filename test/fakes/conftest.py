"""What the fakes' own tests share: tokens, client libraries pointed at a fake, seeded fakes, spec fixtures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import gitlab
import pytest
from github import Auth, Github

from test.fakes import GitHubFake, GitLabFake, TrelloFake, trello_client
from test.fakes.specs import OpenAPISpec, github_spec, specs_dir, trello_spec

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


SPECS = specs_dir()
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))

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

"""pytest fixtures for the provider fakes: one server per session, state and knobs reset for every test.

Enable with `-p test.fakes.conftest_plugin` or `pytest_plugins = ["test.fakes.conftest_plugin"]`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from test.fakes.gitea import GiteaFake
from test.fakes.github import GitHubFake
from test.fakes.gitlab import GitLabFake
from test.fakes.jira import JiraFake
from test.fakes.trello import TrelloFake


@pytest.fixture(scope="session")
def github_fake_server() -> Iterator[GitHubFake]:
    """The session's GitHub fake server (prefer `github_fake`, which is reset per test)."""
    with GitHubFake() as fake:
        yield fake


@pytest.fixture(scope="session")
def gitlab_fake_server() -> Iterator[GitLabFake]:
    """The session's GitLab fake server (prefer `gitlab_fake`, which is reset per test)."""
    with GitLabFake() as fake:
        yield fake


@pytest.fixture(scope="session")
def gitea_fake_server() -> Iterator[GiteaFake]:
    """The session's Gitea fake server (prefer `gitea_fake`, which is reset per test)."""
    with GiteaFake() as fake:
        yield fake


@pytest.fixture(scope="session")
def trello_fake_server() -> Iterator[TrelloFake]:
    """The session's Trello fake server (prefer `trello_fake`, which is reset per test)."""
    with TrelloFake() as fake:
        yield fake


@pytest.fixture
def github_fake(github_fake_server: GitHubFake) -> Iterator[GitHubFake]:
    """A running GitHub fake with empty state, default knobs and an empty request log."""
    github_fake_server.reset()
    yield github_fake_server
    github_fake_server.reset()


@pytest.fixture
def gitlab_fake(gitlab_fake_server: GitLabFake) -> Iterator[GitLabFake]:
    """A running GitLab fake with empty state, default knobs and an empty request log."""
    gitlab_fake_server.reset()
    yield gitlab_fake_server
    gitlab_fake_server.reset()


@pytest.fixture
def gitea_fake(gitea_fake_server: GiteaFake) -> Iterator[GiteaFake]:
    """A running Gitea fake with empty state, default knobs and an empty request log."""
    gitea_fake_server.reset()
    yield gitea_fake_server
    gitea_fake_server.reset()


@pytest.fixture
def trello_fake(trello_fake_server: TrelloFake) -> Iterator[TrelloFake]:
    """A running Trello fake with empty state, default knobs and an empty request log."""
    trello_fake_server.reset()
    yield trello_fake_server
    trello_fake_server.reset()


@pytest.fixture(scope="session")
def jira_cloud_fake_server() -> Iterator[JiraFake]:
    """The session's Jira Cloud fake server (prefer `jira_cloud_fake`, which is reset per test)."""
    with JiraFake(flavour="cloud") as fake:
        yield fake


@pytest.fixture(scope="session")
def jira_dc_fake_server() -> Iterator[JiraFake]:
    """The session's Jira Data Center fake server (prefer `jira_dc_fake`, which is reset per test)."""
    with JiraFake(flavour="data_center") as fake:
        yield fake


@pytest.fixture
def jira_cloud_fake(jira_cloud_fake_server: JiraFake) -> Iterator[JiraFake]:
    """A running Jira Cloud fake with empty state, default knobs and an empty request log."""
    jira_cloud_fake_server.reset()
    yield jira_cloud_fake_server
    jira_cloud_fake_server.reset()


@pytest.fixture
def jira_dc_fake(jira_dc_fake_server: JiraFake) -> Iterator[JiraFake]:
    """A running Jira Data Center fake with empty state, default knobs and an empty request log."""
    jira_dc_fake_server.reset()
    yield jira_dc_fake_server
    jira_dc_fake_server.reset()

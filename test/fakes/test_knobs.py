"""What every fake shares (test/fakes/base.py): latency, injected failures, dropped and hung connections, the control
endpoints."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gitlab
import pytest
import requests
from github import GithubException
from trello import ResourceUnavailable

from test.fakes import GitHubFake, GitLabFake, TrelloFake, trello_client
from test.fakes.conftest import GH_REPO, GH_TOKEN, GL_PROJECT, GL_TOKEN, TR_KEY, TR_TOKEN, github_client, gitlab_client, login_of


@dataclass(frozen=True)
class Provider:
    """How to seed one fake (returning a single-request read, `read(timeout)`, with its real client library)."""

    fixture: str
    seed: Callable[[Any], Callable[[float], str]]
    status_of: Callable[[Exception], int]
    error: type[Exception]


def _seed_github(fake: GitHubFake) -> Callable[[float], str]:
    fake.add_token(GH_TOKEN, "octocat")
    fake.add_repo(GH_REPO)
    fake.add_issue(GH_REPO, "knob target")
    return lambda timeout: github_client(fake, timeout=timeout, lazy=True).get_repo(GH_REPO).get_issue(1).title


def _seed_gitlab(fake: GitLabFake) -> Callable[[float], str]:
    fake.add_token(GL_TOKEN, "alice")
    fake.add_project(GL_PROJECT)
    fake.add_member(GL_PROJECT, "alice", 50)
    fake.add_issue(GL_PROJECT, "knob target")
    return lambda timeout: gitlab_client(fake, timeout=timeout).projects.get(GL_PROJECT, lazy=True).issues.get(1).title


def _seed_trello(fake: TrelloFake) -> Callable[[float], str]:
    fake.add_token(TR_TOKEN, key=TR_KEY, username="alice")
    board = fake.add_board("Board", members=["alice"])
    card = fake.add_card(fake.add_list(board["id"], "List")["id"], "knob target")["id"]
    return lambda timeout: trello_client(fake.base_url, TR_KEY, TR_TOKEN, timeout=timeout).fetch_json(f"/cards/{card}")["name"]


PROVIDERS = [
    pytest.param(Provider("github_fake", _seed_github, lambda error: error.status, GithubException), id="github"),
    pytest.param(Provider("gitlab_fake", _seed_gitlab, lambda error: error.response_code, gitlab.GitlabError), id="gitlab"),
    pytest.param(Provider("trello_fake", _seed_trello, lambda error: error._status, ResourceUnavailable), id="trello"),
]
Seeded = tuple[Provider, Any, Callable[[float], str]]  # the provider, its seeded fake, a read


@pytest.fixture
def provider_fake(request: pytest.FixtureRequest) -> Seeded:
    provider: Provider = request.param
    fake = request.getfixturevalue(provider.fixture)
    return provider, fake, provider.seed(fake)


@pytest.mark.parametrize("provider_fake", PROVIDERS, indirect=True)
def test_latency_is_added_to_every_request(provider_fake: Seeded) -> None:
    _, fake, read = provider_fake
    fake.set_latency(2.0)
    started = time.perf_counter()
    assert read(10) == "knob target"
    assert time.perf_counter() - started >= 2.0
    fake.set_latency(0)
    started = time.perf_counter()
    read(10)
    assert time.perf_counter() - started < 2.0, "latency 0 adds no delay"


@pytest.mark.parametrize("provider_fake", PROVIDERS, indirect=True)
def test_fail_next_reaches_the_library(provider_fake: Seeded) -> None:
    provider, fake, read = provider_fake
    fake.fail_next(503, count=2)
    for _ in range(2):
        with pytest.raises(provider.error) as raised:
            read(5)
        assert provider.status_of(raised.value) == 503
    assert read(5) == "knob target"

    fake.fail_next(418, body={"message": "teapot"}, match=r"^POST ")
    assert read(5) == "knob target", "the fault only matches POSTs"
    assert fake.knobs()["faults"][0]["status"] == 418
    assert len(fake.requests) == 4


@pytest.mark.parametrize("provider_fake", PROVIDERS, indirect=True)
def test_drop_next_closes_the_connection(provider_fake: Seeded) -> None:
    _, fake, read = provider_fake
    fake.drop_next()
    with pytest.raises(requests.exceptions.ConnectionError):
        read(5)
    assert read(5) == "knob target"


@pytest.mark.parametrize("provider_fake", PROVIDERS, indirect=True)
def test_hang_next_stalls_until_the_client_gives_up(provider_fake: Seeded) -> None:
    _, fake, read = provider_fake
    fake.hang_next(seconds=10)
    started = time.perf_counter()
    with pytest.raises(requests.exceptions.Timeout):
        read(1)
    assert 0.9 <= time.perf_counter() - started < 3
    assert read(5) == "knob target"


@pytest.mark.parametrize("provider_fake", PROVIDERS, indirect=True)
def test_knobs_over_http_control_endpoints(provider_fake: Seeded) -> None:
    provider, fake, read = provider_fake
    control = f"{fake.base_url}/_fake/control"

    knobs = requests.post(control, json={"latency": 0.05, "fail_next": {"status": 502, "count": 1}}, timeout=5)
    assert knobs.status_code == 200 and knobs.json()["latency"] == 0.05
    assert requests.get(control, timeout=5).json()["faults"][0]["status"] == 502
    with pytest.raises(provider.error) as raised:
        read(5)
    assert provider.status_of(raised.value) == 502
    assert requests.get(f"{fake.base_url}/_fake/requests", timeout=5).json()[-1]["method"] == "GET"

    assert requests.post(control, json={"warp_drive": 1}, timeout=5).status_code == 400
    assert requests.post(control, json={"fail_next": {"status": 200}}, timeout=5).status_code == 400
    assert requests.post(f"{fake.base_url}/_fake/reset", timeout=5).json() == {"reset": True}
    assert fake.knobs() == {"latency": 0.0, "faults": []} and fake.requests == []
    with pytest.raises(provider.error) as raised:
        read(5)
    assert provider.status_of(raised.value) in (401, 404), "reset also dropped the seeded state"


@pytest.mark.parametrize(
    ("fixture", "body"),
    [
        ("github_fake", {"message": "Server Error", "documentation_url": "https://docs.github.com/rest"}),
        ("gitlab_fake", {"message": "503 Service Unavailable"}),
        ("trello_fake", "Internal Server Error"),
        ("gitea_fake", {"message": "Service Unavailable", "url": "{base_url}/api/swagger"}),
        ("jira_cloud_fake", {"errorMessages": ["Internal server error"], "errors": {}}),
    ],
)
def test_fail_next_without_a_body_answers_in_the_provider_s_own_error_shape(request, fixture: str, body: Any) -> None:
    fake = request.getfixturevalue(fixture)
    fake.fail_next(503)
    response = requests.get(f"{fake.base_url}/anything", timeout=5)
    assert response.status_code == 503
    if isinstance(body, str):
        assert response.text == body
    else:
        assert response.json() == {
            key: value.format(base_url=fake.base_url) if isinstance(value, str) else value for key, value in body.items()
        }


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

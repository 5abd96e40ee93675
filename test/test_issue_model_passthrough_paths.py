"""The passthrough's path rules per provider: GitLab's url-encoded project path (`group%2Fproject`) is the one
percent-encoding let through, and only there (the escapes refused everywhere: test_provider_contract_deeper.py)."""

import pytest

from api.errors import ValidationFailed
from api.services.passthrough import check_path
from test.test_provider_contract import env as env


def passthrough(client, env, **body):
    return client.post(env.url("/passthrough"), json={"method": "GET", **body}, headers=env.user.headers)


@pytest.mark.parametrize("env", ["gitlab"], indirect=True)
def test_gitlab_passthrough_reaches_a_project_named_by_its_encoded_path(client, env):
    for path in ("projects/group%2Fapp/issues", "projects/group%2fapp"):
        response = passthrough(client, env, path=path)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["status"] == 200, response.get_json()
    assert any("group%2Fapp" in request.path or "group%2fapp" in request.path for request in env.fake.requests)


@pytest.mark.parametrize("env", ["github", "gitea"], indirect=True)
def test_encoded_slash_stays_refused_for_providers_whose_ids_hold_no_slash(client, env):
    before = len(env.fake.requests)
    for path in ("repos/octo-org%2Fsite/issues", "a%2Fb"):
        response = passthrough(client, env, path=path)
        assert response.status_code == 400 and "path" in response.get_json()["errors"]
    assert len(env.fake.requests) == before


def test_check_path_allows_the_encoded_slash_only_when_the_provider_asks_for_it():
    assert check_path("projects/group%2Fsub%2Fapp/issues", encoded_slash=True) == "projects/group%2Fsub%2Fapp/issues"
    with pytest.raises(ValidationFailed):
        check_path("projects/group%2Fapp/issues")

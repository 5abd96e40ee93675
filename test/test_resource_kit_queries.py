"""Query strings of the single-issue operations: one issue takes only include_remote_data, a delete takes none."""

import pytest

from test.test_issues_api import create_issue, issues_url
from test.test_trackers import make_tracker


@pytest.fixture
def issue_url(client, auth):
    owner = auth.register()
    tracker = make_tracker(client, owner)
    create_issue(client, owner, tracker)
    return issues_url(tracker, "/1"), owner.headers


def test_one_issue_refuses_the_list_query_parameters_it_does_not_take(client, issue_url):
    url, headers = issue_url
    for name, value in (("limit", "5"), ("cursor", "x"), ("status", "open"), ("nope", "1")):
        response = client.get(url, query_string={name: value}, headers=headers)
        assert response.status_code == 400 and list(response.get_json()["errors"]) == [name], name
    assert client.get(url, query_string={"include_remote_data": "maybe"}, headers=headers).status_code == 400
    assert "remote_data" in client.get(url, query_string={"include_remote_data": "true"}, headers=headers).get_json()


def test_deleting_an_issue_refuses_any_query_parameter_and_keeps_the_issue(client, issue_url):
    url, headers = issue_url
    response = client.delete(url, query_string={"force": "1"}, headers=headers)
    assert response.status_code == 400 and list(response.get_json()["errors"]) == ["force"]
    assert client.get(url, headers=headers).status_code == 200

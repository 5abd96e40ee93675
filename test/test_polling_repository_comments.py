"""The repository's comments listed by update time (what a poll reads for comment edits on quiet issues): the Gitea
adapter's listing and the fake's answer to it, checked against Gitea's Swagger description."""

from datetime import timedelta

import requests

from api.models.base import utcnow
from api.trackers.base import TrackerConfig, TrackerProvider
from api.trackers.providers.gitea import GiteaProvider
from test.fakes.gitea_spec import gitea_spec
from test.fakes.specs import specs_dir

REPO = "gitea_admin/app"
TEMPLATE = "/repos/{owner}/{repo}/issues/comments"


def _seeded(fake):
    fake.add_token("gt-token", login="gitea_admin")
    fake.add_repo(REPO)
    fake.add_issue(REPO, "issue")
    fake.add_pull(REPO, "pull")
    return [
        fake.add_comment(REPO, 1, "on the issue"),
        fake.add_comment(REPO, 2, "on the pull"),
        fake.add_comment(REPO, 1, "again on the issue"),
    ]


def test_the_gitea_fake_lists_the_repository_s_comments_as_described(gitea_fake):
    spec = gitea_spec(specs_dir())
    on_issue, on_pull, _ = _seeded(gitea_fake)
    url = f"{gitea_fake.api_url}/repos/{REPO}/issues/comments"
    auth = {"Authorization": "token gt-token"}
    response = requests.get(url, params={"since": "2000-01-01T00:00:00Z", "limit": 2}, headers=auth, timeout=5)
    assert response.status_code == 200 and response.headers["X-Total-Count"] == "3"
    assert spec.response_errors(TEMPLATE, "GET", 200, response.json()) == []
    assert spec.query_errors(TEMPLATE, "get", {"since": "2000-01-01T00:00:00Z", "limit": "2", "page": "1"}) == []
    first, second = response.json()
    assert (first["id"], first["issue_url"].rsplit("/", 1)[-1], first["pull_request_url"]) == (on_issue["id"], "1", "")
    assert (second["id"], second["issue_url"]) == (on_pull["id"], "")  # a pull request's comment has no issue_url
    assert second["pull_request_url"].endswith(f"/{REPO}/pulls/2")
    later = (utcnow() + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert requests.get(url, params={"since": later}, headers=auth, timeout=5).json() == []
    refused = requests.get(url, params={"since": "yesterday"}, headers=auth, timeout=5)
    assert refused.status_code == 422 and "RFC3339" in refused.json()["message"]


def test_gitea_lists_comments_by_update_time_without_pull_requests_page_by_page(app, gitea_fake):
    on_issue, _, again = _seeded(gitea_fake)
    provider = GiteaProvider(
        TrackerConfig(tracker_id=1, target=REPO, base_url=gitea_fake.base_url, credentials={"token": "gt-token"})
    )
    since = utcnow() - timedelta(minutes=5)
    with app.app_context():
        first = provider.list_comments_updated_since(since, limit=2, cursor=None)
        second = provider.list_comments_updated_since(since, limit=2, cursor=first.next_cursor)
    assert [(issue_id, comment.id) for issue_id, comment in first.items] == [("1", str(on_issue["id"]))]
    assert [(issue_id, comment.body) for issue_id, comment in second.items] == [("1", "again on the issue")]
    assert first.next_cursor and second.next_cursor is None
    asked = [r.query for r in gitea_fake.requests if r.path.endswith("/issues/comments")]
    assert [q["page"] for q in asked] == ["1", "2"] and {q["limit"] for q in asked} == {"2"}
    assert {q["since"] for q in asked} == {since.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert str(again["id"]) == second.items[0][1].id


def test_a_provider_without_the_listing_says_so_and_polls_skip_it():
    class Plain(TrackerProvider):
        pass

    assert Plain.lists_comments_by_update_time() is False
    assert GiteaProvider.lists_comments_by_update_time() is True
    assert TrackerProvider.list_comments_updated_since(None, None) is None

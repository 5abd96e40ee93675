"""The Gitea fake itself: pull requests beside issues, Gitea's pagination and error shapes, and its answers (issues,
comments, assets, hooks) checked against Gitea's Swagger description (the adapter's side is in test/test_gitea_provider.py)."""

import pytest
import requests

from test.fakes.gitea_spec import gitea_spec
from test.fakes.specs import specs_dir

REPO = "gitea_admin/app"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


@pytest.fixture(autouse=True)
def _seeded(gitea_fake):
    """A token of gitea_admin, who owns REPO with the labels bug and ui."""
    gitea_fake.add_token("gt-token", login="gitea_admin")
    gitea_fake.add_repo(REPO)
    for name in ("bug", "ui"):
        gitea_fake.add_label(REPO, name)


def test_the_fake_lists_pull_requests_unless_asked_for_issues(gitea_fake):
    fake = gitea_fake
    fake.add_issue(REPO, "issue")
    fake.add_pull(REPO, "pull")
    url, auth = f"{fake.api_url}/repos/{REPO}/issues", {"Authorization": "token gt-token"}
    assert len(requests.get(url, headers=auth, timeout=5).json()) == 2
    assert [i["title"] for i in requests.get(url, params={"type": "issues"}, headers=auth, timeout=5).json()] == ["issue"]


def test_the_fake_paginates_like_gitea(gitea_fake):
    fake = gitea_fake
    for n in range(3):
        fake.add_issue(REPO, f"Issue {n}")
    response = requests.get(
        f"{fake.api_url}/repos/{REPO}/issues",
        params={"limit": 2, "page": 1},
        headers={"Authorization": "token gt-token"},
        timeout=5,
    )
    assert response.headers["X-Total-Count"] == "3" and 'rel="next"' in response.headers["Link"]
    assert 'rel="last"' in response.headers["Link"] and 'rel="prev"' not in response.headers["Link"]
    labels = requests.get(f"{fake.api_url}/repos/{REPO}/labels", headers={"Authorization": "token gt-token"}, timeout=5)
    assert labels.headers["X-Total-Count"] == "2" and "Link" not in labels.headers


def test_the_fake_refuses_a_bad_token_with_gitea_s_error_shape(gitea_fake):
    response = requests.get(f"{gitea_fake.api_url}/repos/{REPO}", headers={"Authorization": "token wrong"}, timeout=5)
    assert response.status_code == 401 and set(response.json()) == {"message", "url"}
    missing = requests.get(f"{gitea_fake.api_url}/repos/{REPO}/issues/99", timeout=5, headers={"Authorization": "token gt-token"})
    assert missing.status_code == 404 and {"message", "url", "errors"} == set(missing.json())


HOOK = {"type": "gitea", "config": {"url": "https://x.example/h", "content_type": "json"}, "events": ["issues"], "active": True}
SWAGGER_CALLS = [  # method, path template below /repos/{owner}/{repo}, URL below the repository, status, request keywords
    ("GET", "", "", 200, {}),
    ("GET", "/issues", "/issues?state=all", 200, {}),
    ("POST", "/issues", "/issues", 201, {"json": {"title": "new", "labels": [1], "due_date": "2031-01-01T23:59:59Z"}}),
    ("GET", "/issues/{index}", "/issues/1", 200, {}),
    ("PATCH", "/issues/{index}", "/issues/1", 201, {"json": {"state": "open", "assignees": []}}),
    ("PUT", "/issues/{index}/labels", "/issues/1/labels", 200, {"json": {"labels": [2]}}),
    ("GET", "/issues/{index}/comments", "/issues/1/comments", 200, {}),
    ("POST", "/issues/{index}/comments", "/issues/1/comments", 201, {"json": {"body": "c"}}),
    ("GET", "/labels", "/labels", 200, {}),
    ("GET", "/assignees", "/assignees", 200, {}),
    ("GET", "/issue_templates", "/issue_templates", 200, {}),
    ("POST", "/hooks", "/hooks", 201, {"json": HOOK}),
    ("DELETE", "/hooks/{id}", "/hooks/1", 204, {}),
    ("GET", "/issues/{index}", "/issues/99", 404, {}),
    ("GET", "/issues/comments/{id}", "/issues/comments/{comment}", 200, {}),
    ("PATCH", "/issues/comments/{id}", "/issues/comments/{comment}", 200, {"json": {"body": "x"}}),
    ("POST", "/issues/{index}/assets", "/issues/1/assets", 201, {"files": {"attachment": ("a.png", PNG, "image/png")}}),
    ("GET", "/issues/{index}/assets", "/issues/1/assets", 200, {}),
    ("GET", "/issues/{index}/assets/{attachment_id}", "/issues/1/assets/{asset}", 200, {}),
    ("DELETE", "/issues/{index}/assets/{attachment_id}", "/issues/1/assets/{asset}", 204, {}),
    ("DELETE", "/issues/comments/{id}", "/issues/comments/{comment}", 204, {}),
    ("DELETE", "/issues/{index}", "/issues/1", 204, {}),
]


def test_the_fake_s_responses_match_the_swagger_description(gitea_fake):
    spec, fake = gitea_spec(specs_dir()), gitea_fake
    fake.add_issue(REPO, "closed one", labels=["bug"], assignees=["gitea_admin"], state="closed")
    fake.add_pull(REPO, "pull")
    ids = {"comment": fake.add_comment(REPO, 1, "hello")["id"], "asset": None}
    fake.add_issue_template(REPO, ".gitea/ISSUE_TEMPLATE/bug.md", "Bug", about="A bug", labels=["bug"], content="Steps")
    fake.add_issue_template(REPO, ".gitea/ISSUE_TEMPLATE/form.yml", "Form")
    for method, template, url, status, keywords in SWAGGER_CALLS:
        url = f"{fake.api_url}/repos/{REPO}{url.format(**ids)}"
        response = requests.request(method, url, headers={"Authorization": "token gt-token"}, timeout=5, **keywords)
        assert response.status_code == status, (method, url, response.text)
        payload = response.json() if response.content else None
        assert spec.response_errors(f"/repos/{{owner}}/{{repo}}{template}", method, status, payload) == [], (method, url, payload)
        if template.endswith("/assets") and method == "POST":
            ids["asset"] = payload["id"]
            assert requests.get(payload["browser_download_url"], timeout=5).content == PNG
    # Not vacuous: a wrong shape is caught.
    assert spec.response_errors("/repos/{owner}/{repo}/issues/{index}", "GET", 200, {"number": "one"})
    assert spec.response_errors("/repos/{owner}/{repo}/issues/{index}/assets", "GET", 200, [{"id": "one"}])
    assert spec.request_errors("/repos/{owner}/{repo}/issues", "POST", {"title": "x", "labels": ["bug"]})


def test_the_fake_wants_a_token_to_write_to_a_public_repository(gitea_fake):
    gitea_fake.add_repo("gitea_admin/open", private=False)
    gitea_fake.add_issue("gitea_admin/open", "one")
    url = f"{gitea_fake.api_url}/repos/gitea_admin/open/issues"
    for method, suffix in (("POST", ""), ("PATCH", "/1"), ("POST", "/1/comments")):
        response = requests.request(method, url + suffix, json={"title": "x", "body": "y"}, timeout=5)
        assert (response.status_code, response.json()["message"]) == (401, "token is required"), (method, suffix)
    assert requests.get(url, params={"since": "yesterday"}, timeout=5).status_code == 422


def test_the_fake_answers_422_to_what_gitea_refuses(gitea_fake):
    url, auth = f"{gitea_fake.api_url}/repos/{REPO}", {"Authorization": "token gt-token"}
    assert requests.post(f"{url}/issues", json={}, headers=auth, timeout=5).status_code == 422
    assert requests.post(f"{url}/issues", json={"title": "x", "labels": [999]}, headers=auth, timeout=5).status_code == 422
    assert (
        requests.post(
            f"{url}/hooks",
            json={"type": "nope", "config": {"url": "https://x.example", "content_type": "json"}},
            headers=auth,
            timeout=5,
        ).status_code
        == 422
    )

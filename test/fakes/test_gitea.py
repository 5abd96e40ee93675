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
    response = requests.get(f"{fake.api_url}/repos/{REPO}/issues", params={"limit": 2, "page": 1},
                            headers={"Authorization": "token gt-token"}, timeout=5)
    assert response.headers["X-Total-Count"] == "3" and 'rel="next"' in response.headers["Link"]
    assert 'rel="last"' in response.headers["Link"] and 'rel="prev"' not in response.headers["Link"]
    labels = requests.get(f"{fake.api_url}/repos/{REPO}/labels", headers={"Authorization": "token gt-token"}, timeout=5)
    assert labels.headers["X-Total-Count"] == "2" and "Link" not in labels.headers


def test_the_fake_refuses_a_bad_token_with_gitea_s_error_shape(gitea_fake):
    response = requests.get(f"{gitea_fake.api_url}/repos/{REPO}", headers={"Authorization": "token wrong"}, timeout=5)
    assert response.status_code == 401 and set(response.json()) == {"message", "url"}
    missing = requests.get(f"{gitea_fake.api_url}/repos/{REPO}/issues/99", timeout=5,
                           headers={"Authorization": "token gt-token"})
    assert missing.status_code == 404 and {"message", "url", "errors"} == set(missing.json())


def test_the_fake_s_responses_match_the_swagger_description(gitea_fake):
    spec, fake = gitea_spec(specs_dir()), gitea_fake
    fake.add_issue(REPO, "closed one", labels=["bug"], assignees=["gitea_admin"], state="closed")
    fake.add_pull(REPO, "pull")
    fake.add_comment(REPO, 1, "hello")
    fake.add_issue_template(REPO, ".gitea/ISSUE_TEMPLATE/bug.md", "Bug", about="A bug", labels=["bug"], content="Steps")
    fake.add_issue_template(REPO, ".gitea/ISSUE_TEMPLATE/form.yml", "Form")
    auth = {"Authorization": "token gt-token"}
    repo = "/repos/{owner}/{repo}"
    calls = [
        ("GET", repo, "", None), ("GET", f"{repo}/issues", "/issues?state=all", None),
        ("POST", f"{repo}/issues", "/issues", {"title": "new", "labels": [1], "due_date": "2031-01-01T23:59:59Z"}),
        ("GET", f"{repo}/issues/{{index}}", "/issues/1", None),
        ("PATCH", f"{repo}/issues/{{index}}", "/issues/1", {"state": "open", "assignees": []}),
        ("PUT", f"{repo}/issues/{{index}}/labels", "/issues/1/labels", {"labels": [2]}),
        ("GET", f"{repo}/issues/{{index}}/comments", "/issues/1/comments", None),
        ("POST", f"{repo}/issues/{{index}}/comments", "/issues/1/comments", {"body": "c"}),
        ("GET", f"{repo}/labels", "/labels", None), ("GET", f"{repo}/assignees", "/assignees", None),
        ("GET", f"{repo}/issue_templates", "/issue_templates", None),
        ("POST", f"{repo}/hooks", "/hooks", {"type": "gitea", "config": {"url": "https://x.example/h", "content_type": "json"},
                                            "events": ["issues"], "active": True}),
        ("GET", f"{repo}/hooks", "/hooks", None), ("DELETE", f"{repo}/hooks/{{id}}", "/hooks/1", None),
        ("GET", f"{repo}/issues/{{index}}", "/issues/99", None),
    ]
    for method, template, suffix, body in calls:
        response = requests.request(method, f"{fake.api_url}/repos/{REPO}{suffix}", json=body, headers=auth, timeout=5)
        payload = response.json() if response.content else None
        assert spec.response_errors(template, method, response.status_code, payload) == [], (method, suffix, payload)
    # Not vacuous: a wrong shape is caught.
    assert spec.response_errors(f"{repo}/issues/{{index}}", "GET", 200, {"number": "one"})
    assert spec.request_errors(f"{repo}/issues", "POST", {"title": "x", "labels": ["bug"]})


def test_the_fake_answers_422_to_what_gitea_refuses(gitea_fake):
    url, auth = f"{gitea_fake.api_url}/repos/{REPO}", {"Authorization": "token gt-token"}
    assert requests.post(f"{url}/issues", json={}, headers=auth, timeout=5).status_code == 422
    assert requests.post(f"{url}/issues", json={"title": "x", "labels": [999]}, headers=auth, timeout=5).status_code == 422
    assert requests.post(f"{url}/hooks", json={"type": "nope", "config": {"url": "https://x.example", "content_type": "json"}},
                         headers=auth, timeout=5).status_code == 422


def test_the_fake_answers_comment_issue_and_asset_calls_as_described(gitea_fake):
    spec, fake = gitea_spec(specs_dir()), gitea_fake
    fake.add_issue(REPO, "one")
    comment = fake.add_comment(REPO, 1, "hello")
    auth = {"Authorization": "token gt-token"}
    base = f"{fake.api_url}/repos/{REPO}"
    repo = "/repos/{owner}/{repo}"
    checked = []

    def check(method, template, url, status, **kwargs):
        response = requests.request(method, url, headers=auth, timeout=5, **kwargs)
        assert response.status_code == status, response.text
        payload = response.json() if response.content else None
        assert spec.response_errors(template, method, response.status_code, payload) == [], (method, url, payload)
        checked.append(template)
        return payload

    check("GET", f"{repo}/issues/comments/{{id}}", f"{base}/issues/comments/{comment['id']}", 200)
    check("PATCH", f"{repo}/issues/comments/{{id}}", f"{base}/issues/comments/{comment['id']}", 200, json={"body": "x"})
    asset = check("POST", f"{repo}/issues/{{index}}/assets", f"{base}/issues/1/assets", 201,
                  files={"attachment": ("a.png", PNG, "image/png")})
    check("GET", f"{repo}/issues/{{index}}/assets", f"{base}/issues/1/assets", 200)
    check("GET", f"{repo}/issues/{{index}}/assets/{{attachment_id}}", f"{base}/issues/1/assets/{asset['id']}", 200)
    assert requests.get(asset["browser_download_url"], headers=auth, timeout=5).content == PNG
    check("DELETE", f"{repo}/issues/{{index}}/assets/{{attachment_id}}", f"{base}/issues/1/assets/{asset['id']}", 204)
    check("DELETE", f"{repo}/issues/comments/{{id}}", f"{base}/issues/comments/{comment['id']}", 204)
    check("DELETE", f"{repo}/issues/{{index}}", f"{base}/issues/1", 204)
    assert len(checked) == 8
    # Not vacuous: a wrong asset shape is caught.
    assert spec.response_errors(f"{repo}/issues/{{index}}/assets", "GET", 200, [{"id": "one"}])

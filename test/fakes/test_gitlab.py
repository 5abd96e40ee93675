"""The GitLab fake: driven through python-gitlab, and its objects checked against GitLab's documented examples."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import gitlab
import pytest
import requests

from test.fakes import GitLabFake
from test.fakes.conftest import GL_PROJECT, GL_TOKEN, SPECS, foreign_urls, gitlab_client, link_relations
from test.fakes.specs import gitlab_example, shape_mismatches


def _call(fake: GitLabFake, method: str, path: str, **kwargs: Any) -> requests.Response:
    """A raw request to the fake's API as alice (GL_TOKEN)."""
    return requests.request(method, f"{fake.api_url}{path}", headers={"PRIVATE-TOKEN": GL_TOKEN}, timeout=5, **kwargs)


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

    fields = {"description": "Details", "labels": ["bug", "p1"], "due_date": "2030-01-31", "milestone_id": milestone["id"]}
    issue = project.issues.create({"title": "Broken", "assignee_ids": [bob["id"], stranger["id"]], **fields})

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
    blank = _call(gl, "POST", f"/projects/{project_id}/issues", json={"title": " "})
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
    unknown = _call(gl, "GET", "/nope")
    assert (unknown.status_code, unknown.json()) == (404, {"error": "404 Not Found"})


def test_gitlab_list_filters_search_and_ordering(gl: GitLabFake) -> None:
    now, hour = datetime.now(UTC), timedelta(hours=1)
    seeded = [  # title, created and last updated that many hours ago, other fields
        ("Login broken", 72, 1, {"description": "SSO fails", "labels": ["bug", "auth"], "assignees": ["bob"]}),
        ("Add dark mode", 48, 48, {"labels": ["feature"]}),
        ("Old crash", 24, 24, {"description": "login page", "state": "closed"}),
        ("Unlabelled", 0, 120, {}),
    ]
    for title, created, updated, fields in seeded:
        gl.add_issue(GL_PROJECT, title, created_at=now - created * hour, updated_at=now - updated * hour, **fields)
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

    url = f"/projects/{project.id}/issues"
    headers = _call(gl, "GET", url, params={"per_page": 3, "page": 2}).headers
    assert (headers["X-Page"], headers["X-Per-Page"], headers["X-Prev-Page"], headers["X-Next-Page"]) == ("2", "3", "1", "3")
    assert (headers["X-Total"], headers["X-Total-Pages"]) == ("8", "3")
    links = {rel: query["page"] for rel, query in link_relations(headers["Link"]).items()}
    assert links == {"prev": ["1"], "next": ["3"], "first": ["1"], "last": ["3"]}
    last = _call(gl, "GET", url, params={"per_page": 3, "page": 3})
    assert last.headers["X-Next-Page"] == "" and len(last.json()) == 2
    assert _call(gl, "GET", url, params={"per_page": 1000}).headers["X-Per-Page"] == "100"


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
    unapplied = _call(gl, "PUT", f"/projects/{quote(GL_PROJECT, safe='')}/issues/1", data={"add_labels": "x"})
    assert (unapplied.status_code, unapplied.json()) == (400, {"error": "the stand-in does not apply add_labels"})


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

    events = {"issues_events": True, "note_events": True, "push_events": False, "enable_ssl_verification": False}
    hook = project.hooks.create({"url": "https://gateway.example/hooks/gitlab", "token": "s3cret", **events})

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
    response = _call(gl, "GET", "/user")
    assert (response.status_code, response.text) == (429, "Retry later\n")
    assert response.headers["Retry-After"] == "5" and response.headers["RateLimit-Remaining"] == "0"
    assert 3 <= int(response.headers["RateLimit-Reset"]) - time.time() <= 6
    assert "RateLimit-ResetTime" in response.headers and "RateLimit-Limit" in response.headers


@pytest.fixture
def gitlab_world(gl: GitLabFake) -> tuple[GitLabFake, gitlab.Gitlab]:
    gl.add_label(GL_PROJECT, "bug", "#d9534f", "Bug reported by user", priority=10)
    # Like the documented examples: a closed issue in a closed milestone, assigned, labelled, with a due date,
    # closed as a duplicate of another issue.
    gl.add_issue(GL_PROJECT, "Original")
    milestone = gl.add_milestone(GL_PROJECT, "v3.0", description="Rerum est", due_date="2030-01-01", state="closed")
    gl.add_issue(
        GL_PROJECT,
        "Ut commodi",
        description="Omnis vero",
        labels=["bug"],
        assignees=["bob"],
        milestone_id=milestone["id"],
        due_date="2030-02-01",
        state="closed",
        duplicate_of=1,
    )
    gl.add_note(GL_PROJECT, 2, "first note", author="bob")
    return gl, gitlab_client(gl)


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


def test_gitlab_fake_answers_note_edit_note_and_issue_delete_as_documented(gl: GitLabFake) -> None:
    documented = gitlab_example(SPECS, "issue-note")
    gl.add_token("bob-token", "bob")  # a developer
    gl.add_issue(GL_PROJECT, "one")
    api = f"{gl.api_url}/projects/{quote(GL_PROJECT, safe='')}/issues/1"
    owner, dev = {"PRIVATE-TOKEN": GL_TOKEN}, {"PRIVATE-TOKEN": "bob-token"}
    note = requests.post(f"{api}/notes", data={"body": "hi"}, headers=owner, timeout=5).json()
    edited = requests.put(f"{api}/notes/{note['id']}", data={"body": "ho"}, headers=owner, timeout=5)
    assert edited.status_code == 200 and edited.json()["body"] == "ho"
    assert shape_mismatches(documented, edited.json()) == []  # notes.md: "Modify existing issue note" answers the note
    # notes.md and issues.md: a refusal is 403 and a delete answers 204 without a body.
    assert requests.put(f"{api}/notes/{note['id']}", data={"body": "x"}, headers=dev, timeout=5).status_code == 403
    assert requests.delete(f"{api}/notes/{note['id']}", headers=dev, timeout=5).status_code == 403
    gone = requests.delete(f"{api}/notes/{note['id']}", headers=owner, timeout=5)
    assert gone.status_code == 204 and gone.content == b""
    assert requests.delete(api, headers=dev, timeout=5).status_code == 403  # only owners delete issues
    deleted = requests.delete(api, headers=owner, timeout=5)
    assert deleted.status_code == 204 and deleted.content == b""
    assert requests.get(api, headers=owner, timeout=5).status_code == 404
    # Not vacuous: a note missing its author is caught.
    assert shape_mismatches(documented, {k: v for k, v in documented.items() if k != "author"})

"""Issue templates against the remote providers: import the repository's own templates (GitHub, GitLab) through the
fakes, and create issues from a template on every provider."""

from test.test_provider_contract import env as env
from test.test_provider_contract import parametrize_env
from test.test_trackers import TRACKERS, make_tracker

GOOD = """---
name: Crash report
about: Something is broken
title: "[Bug] "
labels: bug, triage
assignees: ''
---
**Describe the bug**
"""
NO_TITLE = """---
name: Question
about: Ask us
labels: [question]
---
What do you want to know?
"""
BROKEN_YAML = """---
name: [unclosed
---
body
"""
NO_FRONT_MATTER = "Just text, no front matter.\n"


def test_import_github_templates_reports_imported_and_skipped(client, auth, github_fake):
    user = auth.register()
    github_fake.add_token("gh-token")
    github_fake.add_repo("octo/templates")
    starter_name = GOOD.replace("Crash report", "Bug report")  # every new user already has a "Bug report"
    for name, text in (
        ("crash.md", GOOD),
        ("bug.md", starter_name),
        ("question.md", NO_TITLE),
        ("broken.md", BROKEN_YAML),
        ("plain.md", NO_FRONT_MATTER),
        ("form.yml", "name: Form\nbody: []\n"),
        ("config.yml", "blank_issues_enabled: false\n"),
    ):
        github_fake.add_file("octo/templates", f".github/ISSUE_TEMPLATE/{name}", text)
    tracker = make_tracker(
        client,
        user,
        name="gh",
        provider="github",
        target="octo/templates",
        base_url=github_fake.base_url,
        credentials={"token": "gh-token"},
    )
    response = client.post("/api/v1/templates/import", json={"tracker_id": tracker["id"]}, headers=user.headers)
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    imported = {t["name"]: t for t in result["imported"]}
    assert set(imported) == {"Crash report", "Question"}, result["skipped"]
    bug = imported["Crash report"]
    assert bug["title"] == "[Bug] " and bug["labels"] == ["bug", "triage"] and bug["assignees"] == []
    assert bug["description"] == "Something is broken" and "Describe the bug" in bug["body"]
    assert bug["tracker_id"] == tracker["id"]
    question = imported["Question"]
    assert question["title"] == "{{ title }}" and question["variables"][0]["name"] == "title"
    assert question["labels"] == ["question"]
    skipped = {s["file"]: s["reason"] for s in result["skipped"]}
    assert set(skipped) == {"bug.md", "broken.md", "plain.md", "form.yml", "config.yml"}
    assert "'Bug report' already exists" in skipped["bug.md"]
    assert "YAML" in skipped["broken.md"] and "front matter" in skipped["plain.md"] and ".yml" in skipped["form.yml"]
    again = client.post("/api/v1/templates/import", json={"tracker_id": tracker["id"]}, headers=user.headers).get_json()
    assert again["imported"] == []
    assert {s["file"] for s in again["skipped"] if "already exists" in s["reason"]} == {"crash.md", "bug.md", "question.md"}
    rendered = client.post(
        f"/api/v1/templates/{question['id']}/render", json={"variables": {"title": "Why?"}}, headers=user.headers
    )
    assert rendered.get_json()["title"] == "Why?"


def test_import_gitlab_templates(client, auth, gitlab_fake):
    user = auth.register()
    gitlab_fake.add_token("gl-token")
    project = gitlab_fake.add_project("grp/templates")
    gitlab_fake.add_member(project["id"], "root")
    gitlab_fake.add_file(project["id"], ".gitlab/issue_templates/Bug.md", "## Steps\n\n## Expected\n")
    gitlab_fake.add_file(project["id"], ".gitlab/issue_templates/Broken.md", "{% if %}")
    tracker = make_tracker(
        client,
        user,
        name="gl",
        provider="gitlab",
        target="grp/templates",
        base_url=gitlab_fake.base_url,
        credentials={"token": "gl-token"},
    )
    result = client.post("/api/v1/templates/import", json={"tracker_id": tracker["id"]}, headers=user.headers).get_json()
    assert [t["name"] for t in result["imported"]] == ["Bug"]
    assert result["imported"][0]["body"] == "## Steps\n\n## Expected\n"
    assert [s["file"] for s in result["skipped"]] == ["Broken.md"] and "not a valid template" in result["skipped"][0]["reason"]


def test_import_from_a_repository_without_templates_imports_nothing(client, auth, github_fake):
    user = auth.register()
    github_fake.add_token("gh-token")
    github_fake.add_repo("octo/empty")
    tracker = make_tracker(
        client,
        user,
        name="gh",
        provider="github",
        target="octo/empty",
        base_url=github_fake.base_url,
        credentials={"token": "gh-token"},
    )
    response = client.post("/api/v1/templates/import", json={"tracker_id": tracker["id"]}, headers=user.headers)
    assert response.status_code == 200 and response.get_json() == {"imported": [], "skipped": []}


def test_import_is_not_supported_on_trello(client, auth):
    user = auth.register()
    tracker = make_tracker(
        client,
        user,
        name="tr",
        provider="trello",
        target="5f4fbbc5250c34138444068d",
        base_url="http://127.0.0.1:9",
        credentials={"api_key": "k", "token": "t"},
    )
    response = client.post("/api/v1/templates/import", json={"tracker_id": tracker["id"]}, headers=user.headers)
    assert response.status_code == 400 and response.get_json()["error"] == "not_supported"


@parametrize_env()
def test_create_an_issue_from_a_template_on_every_provider(client, env):
    template = client.post(
        "/api/v1/templates/",
        json={
            "name": "Crash",
            "title": "[Crash] {{ component }}",
            "body": "In {{ component }}",
            "labels": ["bug"],
            "variables": [{"name": "component", "required": True}],
        },
        headers=env.user.headers,
    ).get_json()
    response = client.post(
        f"/api/v1/templates/{template['id']}/issues",
        json={"tracker_id": env.tracker["id"], "variables": {"component": "login"}},
        headers=env.user.headers,
    )
    assert response.status_code == 201, response.get_json()
    issue = response.get_json()
    assert issue["title"] == "[Crash] login" and issue["description"] == "In login" and issue["labels"] == ["bug"]
    fetched = client.get(f"{TRACKERS}{env.tracker['id']}/issues/{issue['id']}", headers=env.user.headers).get_json()
    assert fetched["title"] == "[Crash] login"
    created = client.get(f"/api/v1/templates/{template['id']}/issues", headers=env.user.headers).get_json()["issues"]
    assert [c["issue_id"] for c in created] == [issue["id"]]

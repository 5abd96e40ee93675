"""The fakes' answers to the deeper issue operations (comment edit/delete, issue delete, attachments) checked against
the providers' own API descriptions in test/data/specs (Trello and GitHub OpenAPI, GitLab's documented examples;
Gitea's are in test_gitea.py, Jira's in test_jira.py)."""

from __future__ import annotations

import requests

from test.fakes import GitHubFake, GitLabFake, TrelloFake
from test.fakes.specs import github_spec, gitlab_example, shape_mismatches, specs_dir, trello_spec

SPECS = specs_dir()
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


def test_trello_fake_answers_attachment_and_comment_calls_as_described():
    spec = trello_spec(SPECS)
    with TrelloFake() as fake:
        fake.add_token("tr", key="k", username="alice")
        board = fake.add_board("B", members=["alice"])
        todo = fake.add_list(board["id"], "To do")
        card = None
        oauth = {"Authorization": 'OAuth oauth_consumer_key="k", oauth_token="tr"'}
        api = f"{fake.base_url}/1"
        if card is None:
            card = requests.post(f"{api}/cards", params={"idList": todo["id"], "name": "card"}, headers=oauth, timeout=5).json()
        created = requests.post(f"{api}/cards/{card['id']}/attachments", headers=oauth, timeout=5,
                                files={"file": ("a.png", PNG, "image/png")}, data={"name": "a.png", "mimeType": "image/png"})
        assert created.status_code == 200
        # Trello's description says an array here; Trello answers one attachment. Its Attachment schema also types
        # `bytes` as a string and `date` as a day, where Trello sends a number and a timestamp (as py-trello reads).
        def problems(item):
            found = spec.errors(item, spec.component_schema("Attachment"))
            assert len(found) == 2, found  # the two errata: still needed
            return [p for p in found if not p.startswith(("bytes: ", "date: "))]

        assert problems(created.json()) == []
        listed = requests.get(f"{api}/cards/{card['id']}/attachments", headers=oauth, timeout=5).json()
        assert len(listed) == 1 and problems(listed[0]) == []
        one = requests.get(f"{api}/cards/{card['id']}/attachments/{created.json()['id']}", headers=oauth, timeout=5)
        assert problems(one.json()) == []
        assert requests.get(one.json()["url"], headers=oauth, timeout=5).content == PNG
        assert requests.get(one.json()["url"], params={"key": "k", "token": "tr"}, timeout=5).status_code == 401
        comment = requests.post(f"{api}/cards/{card['id']}/actions/comments", params={"text": "hi"}, headers=oauth,
                                timeout=5).json()
        edited = requests.put(f"{api}/cards/{card['id']}/actions/{comment['id']}/comments", params={"text": "ho"},
                              headers=oauth, timeout=5)
        assert edited.status_code == 200 and edited.json()["data"]["text"] == "ho"  # the spec documents no body here
        assert spec.query_errors("/cards/{id}/actions/{idAction}/comments", "put", {"text": "ho"}) == []
        gone = requests.delete(f"{api}/cards/{card['id']}/attachments/{created.json()['id']}", headers=oauth, timeout=5)
        assert gone.status_code == 200  # the spec documents no body
        assert requests.get(f"{api}/cards/{card['id']}/attachments", headers=oauth, timeout=5).json() == []


def test_github_fake_answers_comment_edit_and_delete_as_described():
    spec = github_spec(SPECS)
    with GitHubFake() as fake:
        fake.add_token("gh", login="octocat")
        fake.add_repo("octocat/hello")
        fake.add_issue("octocat/hello", "one")
        comment = fake.add_comment("octocat/hello", 1, "hi")
        auth = {"Authorization": "token gh"}
        url = f"{fake.base_url}/repos/octocat/hello/issues/comments/{comment['id']}"
        edited = requests.patch(url, json={"body": "ho"}, headers=auth, timeout=5)
        assert edited.status_code == 200
        assert spec.response_errors("/repos/{owner}/{repo}/issues/comments/{comment_id}", "patch", edited.json()) == []
        assert requests.delete(url, headers=auth, timeout=5).status_code == 204


def test_github_fake_answers_sub_issue_and_type_calls_as_described():
    spec = github_spec(SPECS)
    with GitHubFake() as fake:
        fake.add_token("gh", login="octocat")
        fake.add_repo("octocat/hello")
        auth = {"Authorization": "token gh"}
        repo = f"{fake.base_url}/repos/octocat/hello"
        issues = "/repos/{owner}/{repo}/issues"

        def check(method, template, url, status, **kwargs):
            response = requests.request(method, url, headers=auth, timeout=5, **kwargs)
            assert response.status_code == status, response.text
            assert spec.response_errors(template, method.lower(), response.json(), status=str(status)) == [], response.json()
            return response.json()

        parent = check("POST", issues, f"{repo}/issues", 201, json={"title": "epic", "type": "feature"})
        assert parent["type"]["name"] == "Feature"
        child = check("POST", issues, f"{repo}/issues", 201, json={"title": "child"})
        unknown_type = requests.post(f"{repo}/issues", json={"title": "x", "type": "Incident"}, headers=auth, timeout=5)
        assert unknown_type.status_code == 422
        sub = f"{issues}/{{issue_number}}/sub_issues"
        added = check("POST", sub, f"{repo}/issues/1/sub_issues", 201, json={"sub_issue_id": child["id"]})
        assert added["number"] == 1 and added["sub_issues_summary"]["total"] == 1
        listed = check("GET", sub, f"{repo}/issues/1/sub_issues", 200)
        assert [item["number"] for item in listed] == [2] and listed[0]["parent_issue_url"].endswith("/issues/1")
        # A sub-issue with a parent moves only with replace_parent; a parent cannot go below its own sub-issue.
        assert requests.post(f"{repo}/issues/2/sub_issues", json={"sub_issue_id": parent["id"]}, headers=auth,
                             timeout=5).status_code == 422
        check("DELETE", f"{issues}/{{issue_number}}/sub_issue", f"{repo}/issues/1/sub_issue", 200,
              json={"sub_issue_id": child["id"]})
        assert check("GET", sub, f"{repo}/issues/1/sub_issues", 200) == []


def test_gitlab_fake_answers_note_edit_note_and_issue_delete_as_documented():
    documented = gitlab_example(SPECS, "issue-note")
    with GitLabFake() as fake:
        fake.add_token("gl", username="root")
        fake.add_token("dev", username="dev")
        project = fake.add_project("group/app")
        fake.add_member(project["id"], "root", access_level=50)
        fake.add_member(project["id"], "dev", access_level=30)
        fake.add_issue(project["id"], "one")
        api = f"{fake.base_url}/api/v4/projects/{project['id']}/issues/1"
        root, dev = {"PRIVATE-TOKEN": "gl"}, {"PRIVATE-TOKEN": "dev"}
        note = requests.post(f"{api}/notes", data={"body": "hi"}, headers=root, timeout=5).json()
        edited = requests.put(f"{api}/notes/{note['id']}", data={"body": "ho"}, headers=root, timeout=5)
        assert edited.status_code == 200 and edited.json()["body"] == "ho"
        assert shape_mismatches(documented, edited.json()) == []  # notes.md: "Modify existing issue note" answers the note
        # notes.md and issues.md: a refusal is 403 and a delete answers 204 without a body.
        assert requests.put(f"{api}/notes/{note['id']}", data={"body": "x"}, headers=dev, timeout=5).status_code == 403
        assert requests.delete(f"{api}/notes/{note['id']}", headers=dev, timeout=5).status_code == 403
        gone = requests.delete(f"{api}/notes/{note['id']}", headers=root, timeout=5)
        assert gone.status_code == 204 and gone.content == b""
        assert requests.delete(api, headers=dev, timeout=5).status_code == 403  # only owners delete issues
        deleted = requests.delete(api, headers=root, timeout=5)
        assert deleted.status_code == 204 and deleted.content == b""
        assert requests.get(api, headers=root, timeout=5).status_code == 404
    # Not vacuous: a note missing its author is caught.
    assert shape_mismatches(documented, {k: v for k, v in documented.items() if k != "author"})


def test_trello_fake_answers_card_and_comment_deletes_as_described():
    spec = trello_spec(SPECS)
    with TrelloFake() as fake:
        fake.add_token("tr", key="k", username="alice")
        board = fake.add_board("B", members=["alice"])
        card = fake.add_card(fake.add_list(board["id"], "To do")["id"], "card")
        comment = fake.add_comment(card["id"], "hi", username="alice")
        auth = {"key": "k", "token": "tr"}
        api = f"{fake.base_url}/1"
        for method, template, url in (
                ("delete", "/cards/{id}/actions/{idAction}/comments",
                 f"{api}/cards/{card['id']}/actions/{comment['id']}/comments"),
                ("delete", "/cards/{id}", f"{api}/cards/{card['id']}")):
            response = requests.request(method, url, params=auth, timeout=5)
            assert str(response.status_code) in spec.document["paths"][template][method]["responses"], (template, response.text)
            assert spec.query_errors(template, method, {}) == []
        assert requests.get(f"{api}/cards/{card['id']}", params=auth, timeout=5).status_code == 404
        assert requests.get(f"{api}/actions/{comment['id']}", params=auth, timeout=5).status_code == 404

"""Gitea/Forgejo specifics beyond the shared contract: pull requests kept out, label ids, due dates, pagination,
template import, webhook registration and signed deliveries (Gitea and Forgejo headers); the fake's own tests are in
test/fakes/test_gitea.py."""

import hashlib
import hmac
import json
from datetime import date

import pytest
import requests

from api.trackers.base import TrackerConfig, WebhookRegistration
from api.trackers.providers.gitea import GiteaProvider, _due_date
from test.conftest import registration
from test.fakes.specs import specs_dir
from test.test_trackers import TRACKERS, make_tracker

REPO = "gitea_admin/app"


def _sign(secret, body):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def gitea(client, auth, gitea_fake):
    user = auth.register()
    gitea_fake.add_token("gt-token", login="gitea_admin")
    gitea_fake.add_repo(REPO)
    for name in ("bug", "ui"):
        gitea_fake.add_label(REPO, name)
    tracker = make_tracker(
        client, user, name="gt", provider="gitea", target=REPO, base_url=gitea_fake.base_url, credentials={"token": "gt-token"}
    )
    return {"user": user, "tracker": tracker, "fake": gitea_fake, "url": f"{TRACKERS}{tracker['id']}"}


def test_pull_requests_are_left_out_of_the_issue_list_and_are_not_issues(client, gitea):
    fake, headers = gitea["fake"], gitea["user"].headers
    fake.add_issue(REPO, "A real issue")
    fake.add_pull(REPO, "A pull request")
    listed = client.get(f"{gitea['url']}/issues", headers=headers).get_json()["issues"]
    assert [issue["title"] for issue in listed] == ["A real issue"]
    assert [r.query.get("type") for r in fake.requests if r.path.endswith("/issues")] == ["issues"]
    assert client.get(f"{gitea['url']}/issues/2", headers=headers).status_code == 404


def test_labels_are_sent_as_gitea_label_ids(client, gitea):
    fake, headers = gitea["fake"], gitea["user"].headers
    ids = {
        label["name"]: label["id"]
        for label in requests.get(
            f"{fake.api_url}/repos/{REPO}/labels", timeout=5, headers={"Authorization": "token gt-token"}
        ).json()
    }
    issue = client.post(f"{gitea['url']}/issues", json={"title": "t", "labels": ["UI", "bug"]}, headers=headers).get_json()
    assert sorted(issue["labels"]) == ["bug", "ui"]
    created = next(r for r in fake.requests if r.method == "POST" and r.path.endswith("/issues"))
    assert created.json["labels"] == [ids["ui"], ids["bug"]]
    client.patch(f"{gitea['url']}/issues/{issue['id']}", json={"labels": []}, headers=headers)
    replaced = [r for r in fake.requests if r.method == "PUT" and r.path.endswith("/labels")]
    assert replaced[-1].json == {"labels": []}


def test_an_unknown_label_is_422_naming_it_and_nothing_is_created(client, gitea):
    response = client.post(
        f"{gitea['url']}/issues", json={"title": "t", "labels": ["bug", "nope"]}, headers=gitea["user"].headers
    )
    assert response.status_code == 422 and "nope" in json.dumps(response.get_json())
    assert not [r for r in gitea["fake"].requests if r.method == "POST"]


def test_a_label_filter_naming_an_unknown_label_matches_nothing(client, gitea):
    # Gitea drops unknown names from its filter and would answer every issue.
    gitea["fake"].add_issue(REPO, "labelled", labels=["bug"])
    listed = client.get(f"{gitea['url']}/issues", query_string={"labels": "bug,nope"}, headers=gitea["user"].headers)
    assert listed.status_code == 200 and listed.get_json()["issues"] == []


def test_an_assignee_filter_naming_an_unknown_user_is_an_empty_page_not_a_404(client, gitea):
    gitea["fake"].add_issue(REPO, "x")
    listed = client.get(f"{gitea['url']}/issues", query_string={"assignee": "ghost"}, headers=gitea["user"].headers)
    assert listed.status_code == 200 and listed.get_json() == {"issues": [], "next_cursor": None}


def test_due_date_round_trips_as_the_same_calendar_day_and_can_be_cleared(client, gitea):
    headers = gitea["user"].headers
    issue = client.post(f"{gitea['url']}/issues", json={"title": "t", "due_date": "2031-05-06"}, headers=headers).get_json()
    assert issue["due_date"] == "2031-05-06" and gitea["fake"].due_date(REPO, int(issue["id"])) == date(2031, 5, 6)
    cleared = client.patch(f"{gitea['url']}/issues/{issue['id']}", json={"due_date": None}, headers=headers).get_json()
    assert cleared["due_date"] is None


def test_deadlines_are_read_in_utc_when_ours_and_as_written_when_set_in_gitea():
    assert _due_date("2031-05-07T01:59:59+02:00") == date(2031, 5, 6)  # our 23:59:59 UTC, shown by a server at +02:00
    assert _due_date("2031-05-06T23:59:59-05:00") == date(2031, 5, 6)  # set in Gitea's UI at -05:00
    assert _due_date(None) is None


def test_pages_keep_their_size_when_gitea_caps_the_limit(client, gitea):
    fake, headers = gitea["fake"], gitea["user"].headers
    for n in range(55):
        fake.add_issue(REPO, f"Issue {n}", created_at=f"2024-01-01T00:{n:02d}:00Z")
    first = client.get(f"{gitea['url']}/issues", query_string={"limit": 100}, headers=headers).get_json()
    assert len(first["issues"]) == 50 and first["next_cursor"]
    # A caller that changes `limit` between pages still gets the rest, not a page counted in another size.
    second = client.get(
        f"{gitea['url']}/issues", query_string={"limit": 20, "cursor": first["next_cursor"]}, headers=headers
    ).get_json()
    titles = [i["title"] for i in first["issues"] + second["issues"]]
    assert len(titles) == 55 == len(set(titles)) and second["next_cursor"] is None


def test_templates_import_from_the_issue_templates_api_with_their_front_matter(client, gitea):
    fake = gitea["fake"]
    fake.add_issue_template(
        REPO,
        ".gitea/ISSUE_TEMPLATE/bug.md",
        "Crash report",
        about="Something broke",
        title="[Bug] ",
        labels=["bug"],
        assignees=["gitea_admin"],
        content="## Steps\n",
    )
    fake.add_issue_template(REPO, ".github/ISSUE_TEMPLATE/idea.md", "Idea: yes", content="What?")
    fake.add_issue_template(REPO, ".gitea/ISSUE_TEMPLATE/form.yml", "A form")
    result = client.post(
        "/api/v1/templates/import", json={"tracker_id": gitea["tracker"]["id"]}, headers=gitea["user"].headers
    ).get_json()
    imported = {t["name"]: t for t in result["imported"]}
    assert set(imported) == {"Crash report", "Idea: yes"}, result
    bug = imported["Crash report"]
    assert (bug["title"], bug["labels"], bug["assignees"], bug["body"], bug["description"]) == (
        "[Bug] ",
        ["bug"],
        ["gitea_admin"],
        "## Steps\n",
        "Something broke",
    )
    assert [s["file"] for s in result["skipped"]] == ["form.yml"]


def test_parse_issue_template_file_reads_github_style_front_matter():
    data = GiteaProvider.parse_issue_template_file("bug.md", "---\nname: Bug\nabout: A\nlabels: bug, ui\n---\nBody")
    assert data == {"name": "Bug", "description": "A", "title": "", "body": "Body", "labels": ["bug", "ui"], "assignees": []}


def test_registering_creates_a_gitea_hook_for_issue_events_and_removing_deletes_it(client, db, gitea):
    headers, fake = gitea["user"].headers, gitea["fake"]
    assert client.post(f"{gitea['url']}/webhook", headers=headers).status_code == 201
    (hook,) = fake.hooks(REPO)
    secret = registration(db, gitea["tracker"]["id"]).secret
    assert hook["type"] == "gitea" and hook["active"] is True and len(secret) >= 32
    assert (hook["config"]["content_type"], hook["config"]["secret"]) == ("json", secret)
    assert hook["config"]["url"].endswith(f"/api/v1/webhooks/{gitea['tracker']['id']}")
    assert {"issues", "issue_comment", "issue_label", "issue_assign"} <= set(hook["events"])
    assert client.delete(f"{gitea['url']}/webhook", headers=headers).status_code == 200
    assert fake.hooks(REPO) == []


@pytest.mark.parametrize("flavour", ["Gitea", "Forgejo"])
def test_signed_deliveries_are_accepted_once_and_tampered_ones_refused(client, app, db, gitea, flavour):
    from api.jobs import run_worker

    headers = gitea["user"].headers
    assert client.post(f"{gitea['url']}/webhook", headers=headers).status_code == 201
    secret = registration(db, gitea["tracker"]["id"]).secret
    body = (specs_dir() / "gitea" / "webhooks" / "issues.opened.json").read_bytes()
    url = f"/api/v1/webhooks/{gitea['tracker']['id']}"

    def deliver(data, signature, delivery):
        return client.post(
            url,
            data=data,
            headers={
                f"X-{flavour}-Event": "issues",
                f"X-{flavour}-Delivery": delivery,
                f"X-{flavour}-Signature": signature,
                "Content-Type": "application/json",
            },
        )

    assert deliver(body, _sign("wrong", body), "d1").status_code == 401
    assert deliver(body + b" ", _sign(secret, body), "d1").status_code == 401
    assert deliver(body, _sign(secret, body), "d1").get_json()["status"] == "accepted"
    assert deliver(body, _sign(secret, body), "d1").get_json()["status"] == "duplicate"
    assert deliver(body, _sign(secret, body), "d2").get_json()["status"] == "duplicate"  # same body, new id: a replay
    run_worker(app, concurrency=1, wait=False)
    events = client.get(f"{gitea['url']}/events", headers=headers).get_json()["events"]
    assert [(e["type"], e["issue_id"]) for e in events] == [("issue.created", "3")]


def test_signature_check_is_the_hex_hmac_of_the_body_and_needs_a_header():
    provider = GiteaProvider(TrackerConfig(tracker_id=1, target="o/r"))
    hook = WebhookRegistration("1", "s3cret", "https://gw.example/api/v1/webhooks/1")
    body = b'{"action":"opened"}'
    assert provider.verify_webhook({"X-Gitea-Signature": _sign("s3cret", body)}, body, hook)
    assert provider.verify_webhook({"X-Forgejo-Signature": _sign("s3cret", body)}, body, hook)
    assert not provider.verify_webhook({"X-Gitea-Signature": ""}, body, hook)
    assert not provider.verify_webhook({}, body, hook)
    assert provider.webhook_delivery({"X-Gitea-Delivery": "u", "X-Gitea-Event": "issues"}, {}) == ("u", "issues")


def test_label_changes_and_pull_request_events_normalize(gitea):
    provider = GiteaProvider(TrackerConfig(tracker_id=1, target=REPO))
    opened = json.loads((specs_dir() / "gitea" / "webhooks" / "issues.opened.json").read_text())
    labelled = {**opened, "action": "label_updated", "issue": {**opened["issue"], "labels": [{"id": 1, "name": "bug"}]}}
    assert [(e.type, e.changes["labels"]) for e in provider.normalize_webhook("issues", labelled)] == [("issue.labeled", ["bug"])]
    cleared = {**opened, "action": "label_cleared"}
    assert [e.type for e in provider.normalize_webhook("issues", cleared)] == ["issue.unlabeled"]
    pull = {**opened, "issue": {**opened["issue"], "pull_request": {"merged": False}}}
    assert provider.normalize_webhook("issues", pull) == []
    assert provider.normalize_webhook("push", {"ref": "refs/heads/main"}) == []

"""Inbound webhooks: verification, durable storage, exactly-once processing, normalization of the providers'
real example payloads, registration on each provider, and automation rules (including loop protection)."""

import base64
import hashlib
import hmac
import json

import pytest
from sqlalchemy import func, select

from api.jobs import run_worker
from api.models.automations import AutomationRun
from api.models.events import Event
from api.models.webhooks import WebhookDelivery
from api.trackers.base import TrackerConfig, WebhookRegistration
from api.trackers.providers.github import GithubProvider
from api.trackers.registry import provider_class
from test.fakes import kit_items
from test.fakes.specs import specs_dir
from test.test_trackers import TRACKERS, make_tracker

SPECS = specs_dir()


def github_signature(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def trello_signature(secret, body, callback_url):
    return base64.b64encode(hmac.new(secret.encode(), body + callback_url.encode(), hashlib.sha1).digest()).decode()


from test.conftest import registration  # noqa: E402


def gitlab_with_webhook(client, db, user, gitlab_fake):
    """A GitLab tracker on the fake with the gateway's webhook registered: its delivery URL and the token GitLab sends."""
    gitlab_fake.add_token("gl-token")
    project = gitlab_fake.add_project("diaspora/project")
    gitlab_fake.add_member(project["id"], "root", access_level=40)  # hooks need Maintainer
    gitlab = make_tracker(
        client,
        user,
        name="gl",
        provider="gitlab",
        target="diaspora/project",
        base_url=gitlab_fake.base_url,
        credentials={"token": "gl-token"},
    )
    assert client.post(f"{TRACKERS}{gitlab['id']}/webhook", headers=user.headers).status_code == 201
    return f"/api/v1/webhooks/{gitlab['id']}", registration(db, gitlab["id"]).secret


def trello_tracker(client, user, trello_fake, board, name="tr", options=None, **credentials):
    """A Trello tracker on a board of the fake, with the fake's API key and token plus `credentials`."""
    return make_tracker(
        client,
        user,
        name=name,
        provider="trello",
        target=board["id"],
        base_url=trello_fake.base_url,
        credentials={"api_key": "tr-key", "token": "tr-token", **credentials},
        options=options or {},
    )


def trello_with_webhook(client, db, user, trello_fake, lists=(), **options):
    """A Trello tracker on a fake board with these lists and the gateway's webhook registered: URL, signer, board."""
    trello_fake.add_token("tr-token", key="tr-key")
    board = trello_fake.add_board("B", members=["me"])
    for name in lists:
        trello_fake.add_list(board["id"], name)
    trello = trello_tracker(client, user, trello_fake, board, options=options, api_secret="app-secret")
    assert client.post(f"{TRACKERS}{trello['id']}/webhook", headers=user.headers).status_code == 201
    callback = registration(db, trello["id"]).callback_url

    def sign(body, signed_with="app-secret"):
        return {"X-Trello-Webhook": trello_signature(signed_with, body, callback)}

    return f"/api/v1/webhooks/{trello['id']}", sign, board


def process(app):
    run_worker(app, concurrency=1, wait=False)


def deliver_github(client, env, event, payload, delivery="d-1", secret=None, body=None):
    body = body if body is not None else json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "Content-Type": "application/json",
        "X-Hub-Signature-256": github_signature(secret or env["secret"], body),
    }
    return client.post(f"/api/v1/webhooks/{env['tracker']['id']}", data=body, headers=headers)


def example(provider, name):
    return json.loads((SPECS / provider / "webhooks" / name).read_text())


def test_github_documented_signature_test_vector():
    # https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
    provider = GithubProvider(TrackerConfig(tracker_id=None, target="o/r"))
    secret = "It's a Secret to Everybody"
    signed = {"X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}
    assert provider.verify_webhook(signed, b"Hello, World!", WebhookRegistration("1", secret, "u"))
    assert not provider.verify_webhook(signed, b"Hello, World?", WebhookRegistration("1", secret, "u"))
    assert not provider.verify_webhook({}, b"Hello, World!", WebhookRegistration("1", secret, "u"))


def test_registering_creates_a_signed_hook_on_github_and_delete_removes_it(client, github):
    hooks = [r for r in github["fake"].requests if r.method == "POST" and r.path.endswith("/hooks")]
    config = hooks[-1].json["config"]
    assert config["url"].endswith(f"/api/v1/webhooks/{github['tracker']['id']}")
    assert config["secret"] == github["secret"] and len(github["secret"]) >= 32
    assert set(hooks[-1].json["events"]) == {"issues", "issue_comment"}
    response = client.delete(f"{TRACKERS}{github['tracker']['id']}/webhook", headers=github["user"].headers)
    assert response.status_code == 200
    assert any(r.method == "DELETE" and "/hooks/" in r.path for r in github["fake"].requests)
    assert client.delete(f"{TRACKERS}{github['tracker']['id']}/webhook", headers=github["user"].headers).status_code == 404


def test_verified_delivery_is_stored_202_and_processed_once_into_a_unified_event(client, app, db, github):
    response = deliver_github(client, github, "issues", example("github", "issues.opened.json"))
    assert response.status_code == 202 and response.get_json()["status"] == "accepted"
    again = deliver_github(client, github, "issues", example("github", "issues.opened.json"))
    assert again.status_code == 202 and again.get_json()["status"] == "duplicate"
    process(app)
    process(app)
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
    events = client.get(f"{TRACKERS}{github['tracker']['id']}/events", headers=github["user"].headers).get_json()["events"]
    assert [e["type"] for e in events] == ["issue.created"]
    assert events[0]["issue"]["title"] == "Spelling error in the README file" and events[0]["issue_id"] == "1"
    assert events[0]["issue"]["author"]["username"] == "Codertocat"


@pytest.mark.parametrize("tamper", ["wrong_secret", "tampered_body", "missing_header"])
def test_unverified_delivery_is_401_and_nothing_is_stored(client, db, github, tamper):
    payload = {"action": "opened", "issue": {"number": 1}}
    body = json.dumps(payload).encode()
    if tamper == "wrong_secret":
        response = deliver_github(client, github, "issues", payload, secret="not-the-secret")
    elif tamper == "tampered_body":
        headers = {
            "X-GitHub-Event": "issues",
            "X-GitHub-Delivery": "x",
            "X-Hub-Signature-256": github_signature(github["secret"], body),
        }
        response = client.post(f"/api/v1/webhooks/{github['tracker']['id']}", data=body + b" ", headers=headers)
    else:
        response = client.post(f"/api/v1/webhooks/{github['tracker']['id']}", data=body, headers={"X-GitHub-Event": "issues"})
    assert response.status_code == 401
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


def test_unknown_or_unregistered_trackers_are_refused(client, auth):
    assert client.post("/api/v1/webhooks/999999", data=b"{}").status_code == 401
    user = auth.register()
    builtin = make_tracker(client, user)
    assert client.post(f"/api/v1/webhooks/{builtin['id']}", data=b"{}").status_code == 401
    github = make_tracker(
        client, user, name="gh", provider="github", target="o/r", base_url="http://127.0.0.1:9", credentials={"token": "t"}
    )
    assert (
        client.post(f"/api/v1/webhooks/{github['id']}", data=b"{}", headers={"X-Hub-Signature-256": "sha256=00"}).status_code
        == 401
    )


def test_delivery_over_the_body_limit_is_413(client, github, make_app):
    small = make_app(MAX_CONTENT_LENGTH=1024)
    body = json.dumps({"padding": "x" * 2048}).encode()
    response = small.test_client().post(
        f"/api/v1/webhooks/{github['tracker']['id']}",
        data=body,
        headers={"X-Hub-Signature-256": github_signature(github["secret"], body)},
    )
    assert response.status_code == 413


# Every real payload file of every registered provider, with the events its fake module expects
# (test/fakes/<slug>.py WEBHOOK_EXPECTATIONS); test_provider_meta checks no payload file is left out.
EXPECTATIONS = [
    pytest.param(slug, expectation, id=f"{slug}:{expectation.name}") for slug, expectation in kit_items("WEBHOOK_EXPECTATIONS")
]


@pytest.mark.parametrize(("slug", "expectation"), EXPECTATIONS)
def test_real_example_payloads_normalize_to_unified_events(slug, expectation):
    provider = provider_class(slug)(TrackerConfig(tracker_id=1, target=expectation.target))
    payload = example(slug, expectation.name)
    events = provider.normalize_webhook(expectation.event, payload)
    assert [e.type for e in events] == list(expectation.types)
    if expectation.check is not None:
        expectation.check(payload, events, provider)


def test_gitlab_and_trello_deliveries_verify_with_their_own_schemes(client, auth, db, app, gitlab_fake, trello_fake):
    user = auth.register()
    url, token = gitlab_with_webhook(client, db, user, gitlab_fake)
    body = json.dumps(example("gitlab", "issue-hook.json")).encode()
    assert client.post(url, data=body, headers={"X-Gitlab-Event": "Issue Hook", "X-Gitlab-Token": "wrong"}).status_code == 401
    ok = client.post(
        url, data=body, headers={"X-Gitlab-Event": "Issue Hook", "X-Gitlab-Token": token, "X-Gitlab-Event-UUID": "uuid-1"}
    )
    assert ok.status_code == 202

    url, sign, board = trello_with_webhook(client, db, user, trello_fake, lists=["todos"])
    no_secret = trello_tracker(client, user, trello_fake, board, name="tr0")
    response = client.post(f"{TRACKERS}{no_secret['id']}/webhook", headers=user.headers)
    assert response.status_code == 422 and "credentials.api_secret" in response.get_json()["errors"]
    assert client.head(url).status_code == 200
    body = json.dumps(example("trello", "createCard.json")).encode()
    assert client.post(url, data=body, headers=sign(body, signed_with="wrong")).status_code == 401
    assert client.post(url, data=body, headers=sign(body)).status_code == 202
    process(app)
    types = {e.type for e in db.session.scalars(select(Event))}
    assert types == {"issue.created"}
    assert db.session.scalar(select(func.count()).select_from(Event)) == 2


def _rule(client, user, **body):
    response = client.post("/api/v1/automations/", json=body, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_mirror_github_issues_into_gitlab(client, app, db, github, gitlab_fake):
    user = github["user"]
    gitlab_fake.add_token("gl-token")
    project = gitlab_fake.add_project("mirror/issues")
    gitlab_fake.add_member(project["id"], "root")
    gitlab = make_tracker(
        client,
        user,
        name="gl",
        provider="gitlab",
        target="mirror/issues",
        base_url=gitlab_fake.base_url,
        credentials={"token": "gl-token"},
    )
    template = client.post(
        "/api/v1/templates/",
        json={
            "name": "Mirror",
            "title": "[GitHub] {{ title }}",
            "body": "Mirrored from {{ url }}\n\n{{ description }}",
            "tracker_id": gitlab["id"],
            "variables": [{"name": "title", "required": True}, {"name": "url"}, {"name": "description", "default": ""}],
        },
        headers=user.headers,
    ).get_json()
    rule = _rule(
        client,
        user,
        name="mirror",
        tracker_id=github["tracker"]["id"],
        event_types=["issue.created"],
        actions=[
            {
                "type": "create_issue_from_template",
                "template_id": template["id"],
                "variables": {"title": "{{ issue.title }}", "url": "{{ issue.url }}", "description": "{{ issue.description }}"},
            }
        ],
    )
    assert deliver_github(client, github, "issues", example("github", "issues.opened.json")).status_code == 202
    process(app)
    runs = client.get(f"/api/v1/automations/{rule['id']}/runs", headers=user.headers).get_json()["runs"]
    assert [r["status"] for r in runs] == ["succeeded"], runs
    mirrored = client.get(f"{TRACKERS}{gitlab['id']}/issues", headers=user.headers).get_json()["issues"]
    assert [i["title"] for i in mirrored] == ["[GitHub] Spelling error in the README file"]
    assert "Mirrored from https://github.com/Codertocat/Hello-World/issues/1" in mirrored[0]["description"]
    assert project["id"]


def test_a_rule_does_not_retrigger_on_the_echo_of_its_own_change(client, app, db, github):
    user = github["user"]
    rule = _rule(
        client,
        user,
        name="ack",
        event_types=["comment.created"],
        actions=[{"type": "add_comment", "body": "Thanks {{ comment.author.username }}!"}],
    )
    human = example("github", "issue_comment.created.json")
    assert deliver_github(client, github, "issue_comment", human, delivery="human-1").status_code == 202
    process(app)
    posted = [r for r in github["fake"].requests if r.method == "POST" and r.path.endswith("/issues/1/comments")]
    assert [r.json["body"] for r in posted] == ["Thanks Codertocat!"]
    echo = {**human, "comment": {**human["comment"], "id": 999, "body": "Thanks Codertocat!"}}
    assert deliver_github(client, github, "issue_comment", echo, delivery="echo-1").status_code == 202
    process(app)
    runs = client.get(f"/api/v1/automations/{rule['id']}/runs", headers=user.headers).get_json()["runs"]
    assert sorted(r["status"] for r in runs) == ["skipped", "succeeded"]
    assert "own change" in next(r["error"] for r in runs if r["status"] == "skipped")
    events = db.session.scalars(select(Event).order_by(Event.id)).all()
    assert [e.chain_depth for e in events] == [0, 1]
    posted = [r for r in github["fake"].requests if r.method == "POST" and r.path.endswith("/issues/1/comments")]
    assert len(posted) == 1
    # A later human comment is human again and triggers the rule.
    later = {**human, "comment": {**human["comment"], "id": 1000, "body": "Another one"}}
    assert deliver_github(client, github, "issue_comment", later, delivery="human-2").status_code == 202
    process(app)
    assert db.session.scalars(select(Event).order_by(Event.id.desc())).first().chain_depth == 0


def test_chain_depth_cap_stops_rules_that_trigger_each_other(app, db, auth, client):
    from api.models.automations import Automation
    from api.services.automations import match_and_enqueue

    user = auth.register()
    tracker = make_tracker(client, user)
    rule = _rule(client, user, name="any", event_types=["issue.updated"], actions=[{"type": "notify"}])
    deep = Event(
        tracker_id=tracker["id"],
        owner_id=user.id,
        type="issue.updated",
        issue_id="1",
        issue={"labels": []},
        chain_depth=app.config["AUTOMATION_MAX_CHAIN_DEPTH"],
        caused_by_rule_id=None,
    )
    db.session.add(deep)
    db.session.flush()
    match_and_enqueue(session=db.session, event=deep)
    db.session.commit()
    run = db.session.scalar(select(AutomationRun).where(AutomationRun.automation_id == rule["id"]))
    assert run.status == "skipped" and "Chain depth" in run.error
    assert db.session.get(Automation, rule["id"]).enabled


def test_failing_action_is_recorded_retried_and_earlier_actions_are_not_repeated(client, app, db, github):
    from api.services.automations import run_automation

    user = github["user"]
    rule = _rule(
        client,
        user,
        name="triage",
        event_types=["issue.created"],
        actions=[{"type": "add_comment", "body": "Triaging"}, {"type": "add_labels", "labels": ["triage"]}],
    )
    github["fake"].fail_next(500, count=10, match=r"^PATCH ")
    assert deliver_github(client, github, "issues", example("github", "issues.opened.json")).status_code == 202
    process(app)
    run = db.session.scalar(select(AutomationRun).where(AutomationRun.automation_id == rule["id"]))
    assert run.status == "retrying" and "action 2 (add_labels)" in run.error and len(run.results) == 1
    github["fake"].clear_faults()
    with app.app_context():
        run_automation(run.id)
    db.session.expire_all()
    run = db.session.get(AutomationRun, run.id)
    assert run.status == "succeeded" and run.error is None and run.attempts == 2
    comments = [r for r in github["fake"].requests if r.method == "POST" and r.path.endswith("/issues/1/comments")]
    assert len(comments) == 1
    assert "triage" in client.get(f"{TRACKERS}{github['tracker']['id']}/issues/1", headers=user.headers).get_json()["labels"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "event_types": ["issue.exploded"], "actions": [{"type": "notify"}]}, "event_types"),
        ({"name": "x", "event_types": ["issue.created"], "actions": []}, "actions"),
        ({"name": "x", "event_types": ["issue.created"], "actions": [{"type": "add_comment"}]}, "actions"),
        (
            {"name": "x", "event_types": ["issue.created"], "actions": [{"type": "set_status", "status": "closed", "body": "?"}]},
            "actions",
        ),
    ],
)
def test_invalid_automation_is_400(client, auth, body, field):
    user = auth.register()
    response = client.post("/api/v1/automations/", json=body, headers=user.headers)
    assert response.status_code == 400 and field in response.get_json()["errors"]


def test_automation_references_and_regexes_are_checked(client, auth):
    user, other = auth.register(), auth.register()
    theirs = make_tracker(client, other)
    body = {
        "name": "x",
        "event_types": ["issue.created"],
        "tracker_id": theirs["id"],
        "conditions": {"title_regex": "("},
        "actions": [{"type": "create_issue_from_template", "template_id": 999999}],
    }
    response = client.post("/api/v1/automations/", json=body, headers=user.headers)
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert {"tracker_id", "conditions", "actions"} <= set(errors)


def test_other_users_cannot_see_or_change_automations(client, auth):
    owner, intruder = auth.register(), auth.register()
    rule = _rule(client, owner, name="mine", event_types=["issue.created"], actions=[{"type": "notify"}])
    for method, suffix, body in (
        ("get", "", None),
        ("patch", "", {"enabled": False}),
        ("delete", "", None),
        ("get", "/runs", None),
    ):
        kwargs = {"headers": intruder.headers, **({"json": body} if body else {})}
        assert getattr(client, method)(f"/api/v1/automations/{rule['id']}{suffix}", **kwargs).status_code == 404
    assert client.get(f"/api/v1/automations/{rule['id']}", headers=owner.headers).get_json()["enabled"] is True


@pytest.mark.parametrize("value", [0, 1, "true", "yes", None])
def test_booleans_must_be_json_true_or_false(client, auth, value):
    # Found by fuzzing: marshmallow's Boolean took 0 and "yes" as booleans.
    user = auth.register()
    body = {"name": "x", "enabled": value, "event_types": ["issue.created"], "actions": [{"type": "notify"}]}
    response = client.post("/api/v1/automations/", json=body, headers=user.headers)
    assert response.status_code == 400 and "enabled" in response.get_json()["errors"]

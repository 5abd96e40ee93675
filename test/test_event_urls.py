"""Issue URLs are built from PUBLIC_BASE_URL alone: an event the worker records (no request to take a host from)
carries the same absolute URL as one the API records, and so do run results and webhook callback URLs."""

from urllib.parse import urlsplit

from sqlalchemy import select

import config
from api.jobs import run_worker
from api.models.automations import AutomationRun
from test.test_trackers import TRACKERS, make_tracker


def _absolute(url):
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def test_an_event_recorded_by_the_worker_has_the_same_absolute_issue_url_as_one_from_the_api(app, client, auth, db):
    user = auth.register()
    tracker = make_tracker(client, user)
    template = client.post(
        "/api/v1/templates/", json={"name": "t", "title": "Made by the rule", "tracker_id": tracker["id"]}, headers=user.headers
    ).get_json()
    rule = {
        "name": "follow up",
        "tracker_id": tracker["id"],
        "event_types": ["issue.created"],
        "conditions": {"title_regex": "^Human"},
        "actions": [{"type": "create_issue_from_template", "template_id": template["id"]}],
    }
    assert client.post("/api/v1/automations/", json=rule, headers=user.headers).status_code == 201
    # The API request comes in under another host than PUBLIC_BASE_URL: the URL must not follow it.
    made = client.post(
        f"{TRACKERS}{tracker['id']}/issues",
        json={"title": "Human issue"},
        headers=user.headers,
        base_url="http://api.internal:8080",
    )
    assert made.status_code == 201
    run_worker(app, concurrency=1, wait=False)

    events = client.get(f"{TRACKERS}{tracker['id']}/events", headers=user.headers).get_json()["events"]
    by_title = {event["issue"]["title"]: event for event in events if event["type"] == "issue.created"}
    from_api, from_worker = by_title["Human issue"], by_title["Made by the rule"]
    assert (from_api["chain_depth"], from_worker["chain_depth"]) == (0, 1)
    base = app.config["PUBLIC_BASE_URL"]
    assert _absolute(base)
    assert from_api["issue"]["url"] == f"{base}/api/v1/trackers/{tracker['id']}/issues/1" == made.get_json()["url"]
    assert from_worker["issue"]["url"] == f"{base}/api/v1/trackers/{tracker['id']}/issues/2"
    (run,) = db.session.scalars(select(AutomationRun).where(AutomationRun.status == "succeeded")).all()
    assert run.results[0]["url"] == from_worker["issue"]["url"]
    listed = client.get(f"{TRACKERS}{tracker['id']}/issues/2", headers=user.headers).get_json()
    assert listed["url"] == from_worker["issue"]["url"]


def test_webhook_callback_urls_use_public_base_url_not_the_request_host(client, github):
    hooks = [r for r in github["fake"].requests if r.method == "POST" and r.path.endswith("/hooks")]
    base = client.application.config["PUBLIC_BASE_URL"]
    assert hooks[-1].json["config"]["url"] == f"{base}/api/v1/webhooks/{github['tracker']['id']}"


def test_public_base_url_defaults_to_the_served_host_and_port(monkeypatch):
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    monkeypatch.setenv("HOST", "127.0.0.1")
    monkeypatch.setenv("PORT", "5123")
    assert config._public_base_url() == "http://127.0.0.1:5123"
    monkeypatch.setenv("HOST", "0.0.0.0")  # noqa: S104 - a listening address, as the image sets it
    assert config._public_base_url() == "http://localhost:5123"
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://tickets.example.com/")
    assert config._public_base_url() == "https://tickets.example.com"

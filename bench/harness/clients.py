"""Talking to the gateway as a client: users, trackers, webhooks, signed GitHub deliveries, and a gateway set up
with a webhook tracker."""

import contextlib
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import requests

from bench.harness import PASSWORD
from bench.harness.fakes import REPO, TOKEN, fake_processes, seed_github_fake
from bench.harness.load import expect
from bench.harness.server import app_output, migrated_env, uwsgi


def register_and_login(base_url, username, password=PASSWORD):
    """Register a user through the API and log in; returns (user_id, JWT)."""
    api = base_url + "/api/v1/users"
    response = requests.post(f"{api}/register", json={"username": username, "password": password}, timeout=30)
    if response.status_code != 201:
        raise RuntimeError(f"register {username}: {response.status_code} {response.text[:300]}")
    user_id = response.json()["id"]
    response = requests.post(f"{api}/login", json={"username": username, "password": password}, timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"login {username}: {response.status_code} {response.text[:300]}")
    return user_id, response.json()["token"]


def create_tracker(base_url, token, body):
    """Create a tracker through the API; returns its id."""
    response = requests.post(f"{base_url}/api/v1/trackers/", headers={"Authorization": f"Bearer {token}"}, json=body, timeout=30)
    if response.status_code != 201:
        raise RuntimeError(f"create tracker {body['name']}: {response.status_code} {response.text[:300]}")
    return response.json()["id"]


def create_github_tracker(base_url, token, name, fake_url, repo=REPO):
    body = {"name": name, "provider": "github", "target": repo, "base_url": fake_url, "credentials": {"token": TOKEN}}
    return create_tracker(base_url, token, body)


def webhook_secret(env, tracker_id):
    """The tracker's webhook secret, read inside the app context (the API never returns a secret)."""
    code = (
        "import json\nfrom api import crypto\nfrom api.models.trackers import Tracker\n"
        f"print(json.dumps(crypto.decrypt_json(db.session.get(Tracker, {tracker_id}).webhook_secret_encrypted)['secret']))"
    )
    return json.loads(app_output(env, code))


def webhook_tracker(base_url, env, fake_url, username, repo=REPO):
    """A new user's GitHub tracker on the fake with the gateway's webhook registered: (user_id, token, tracker_id,
    secret)."""
    user_id, token = register_and_login(base_url, username)
    tracker_id = create_github_tracker(base_url, token, username, fake_url, repo)
    response = requests.post(
        f"{base_url}/api/v1/trackers/{tracker_id}/webhook", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    if response.status_code not in (200, 201):
        raise RuntimeError(f"register webhook: {response.status_code} {response.text[:300]}")
    return user_id, token, tracker_id, webhook_secret(env, tracker_id)


@contextlib.contextmanager
def gateway_with_webhook(username, log, *, issues=1, stats=None, **settings):
    """A throwaway database, a seeded GitHub fake, uwsgi (its log at LOG-uwsgi.log; rate limits off) and
    `webhook_tracker()` of `username`, yielded as one namespace."""
    with migrated_env(RATELIMIT_ENABLED="false", **settings) as env, fake_processes("github", 1) as (fake_url,):
        seed_github_fake(fake_url, issues=issues)
        with uwsgi(env, log_path=f"{log}-uwsgi.log", stats=stats) as (base_url, _master):
            gateway = SimpleNamespace(database_url=env["DATABASE_URL"], env=env, fake_url=fake_url, base_url=base_url)
            gateway.user_id, gateway.token, gateway.tracker_id, gateway.secret = webhook_tracker(
                base_url, env, fake_url, username
            )
            yield gateway


def post_delivery(http, gateway, payload):
    """Post one signed delivery to `gateway_with_webhook()`'s tracker: (status, ok, detail), ok only when answered 202
    accepted, and the delivery id the gateway accepted (None otherwise)."""
    body, headers = signed_delivery(gateway.secret, payload)
    response = http.post(f"{gateway.base_url}/api/v1/webhooks/{gateway.tracker_id}", data=body, headers=headers, timeout=30)
    status, ok, detail = expect(response, 202)
    if ok and response.json().get("status") != "accepted":
        ok, detail = False, response.json().get("status", "")
    return (status, ok, detail), response.json()["delivery_id"] if ok else None


def issue_opened(number, title, repo=REPO):
    """A GitHub `issues` / `opened` delivery payload (the fields the gateway reads, plus the usual envelope)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    owner, name = repo.split("/")
    user = {"login": "octocat", "id": 583231, "type": "User"}
    return {
        "action": "opened",
        "issue": {
            "id": 1_000_000 + number,
            "number": number,
            "title": title,
            "body": "Opened during a reliability run.",
            "state": "open",
            "labels": [{"id": 1, "name": "bug", "color": "d73a4a"}],
            "assignees": [],
            "user": user,
            "html_url": f"https://github.com/{repo}/issues/{number}",
            "comments": 0,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
        },
        "repository": {"id": 42, "name": name, "full_name": repo, "owner": {"login": owner, "id": 1}},
        "sender": user,
    }


def signed_delivery(secret, payload, event="issues"):
    """(body, headers) of a GitHub delivery signed the way GitHub does, with a unique delivery id."""
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }
    return body, headers

"""Talking to the gateway as a client: users, GitHub trackers, webhooks and signed GitHub deliveries."""

import hashlib
import hmac
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import requests

from bench.harness import ROOT
from bench.harness.fakes import REPO, TOKEN

PASSWORD = "reliability-password-1"

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


def create_github_tracker(base_url, token, name, fake_url, repo=REPO):
    response = requests.post(
        f"{base_url}/api/v1/trackers/", headers={"Authorization": f"Bearer {token}"}, timeout=30,
        json={"name": name, "provider": "github", "target": repo, "base_url": fake_url, "credentials": {"token": TOKEN}})
    if response.status_code != 201:
        raise RuntimeError(f"create tracker {name}: {response.status_code} {response.text[:300]}")
    return response.json()["id"]


def register_webhook(base_url, token, tracker_id):
    response = requests.post(f"{base_url}/api/v1/trackers/{tracker_id}/webhook",
                             headers={"Authorization": f"Bearer {token}"}, timeout=30)
    if response.status_code not in (200, 201):
        raise RuntimeError(f"register webhook: {response.status_code} {response.text[:300]}")


def webhook_secrets(env, tracker_ids):
    """{tracker_id: secret}, read inside the app context (the API never returns a secret)."""
    code = (
        "import json, sys\n"
        "from api import create_app, crypto\n"
        "from api.extensions import db\n"
        "from api.models.trackers import Tracker\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        f"    ids = {list(tracker_ids)!r}\n"
        "    print(json.dumps({i: crypto.decrypt_json(db.session.get(Tracker, i).webhook_secret_encrypted)['secret']"
        " for i in ids}))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True,
                            text=True).stdout
    return {int(key): value for key, value in json.loads(output.strip().splitlines()[-1]).items()}


def issue_opened(number, title, repo=REPO):
    """A GitHub `issues` / `opened` delivery payload (the fields the gateway reads, plus the usual envelope)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    owner, name = repo.split("/")
    user = {"login": "octocat", "id": 583231, "type": "User"}
    return {
        "action": "opened",
        "issue": {"id": 1_000_000 + number, "number": number, "title": title, "body": "Opened during a reliability run.",
                  "state": "open", "labels": [{"id": 1, "name": "bug", "color": "d73a4a"}], "assignees": [],
                  "user": user, "html_url": f"https://github.com/{repo}/issues/{number}", "comments": 0,
                  "created_at": now, "updated_at": now, "closed_at": None},
        "repository": {"id": 42, "name": name, "full_name": repo, "owner": {"login": owner, "id": 1}},
        "sender": user,
    }


def signed_delivery(secret, payload, event="issues"):
    """(body, headers) of a GitHub delivery signed the way GitHub does, with a unique delivery id."""
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": str(uuid.uuid4()),
               "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}
    return body, headers

"""Two-way sync with remote trackers on the fakes: built-in<->GitHub, GitHub<->GitLab, GitLab<->Trello, Gitea<->GitLab
and Jira<->GitHub. A remote side's changes reach the gateway as signed webhook deliveries (as from the real providers);
the sync's own writes come back as echo deliveries too, and the write counts stay flat after the first propagation."""

import hashlib
import hmac
import json
import uuid

import pytest
import requests
from sqlalchemy import func, select, text

from api.models.events import Event
from api.models.sync import SyncLink
from api.services import sync as sync_service
from api.trackers.base import hmac_hex
from test.conftest import registration
from test.test_sync_builtin import SYNCS, links, make_sync, work
from test.test_trackers import TRACKERS, make_tracker
from test.test_webhooks import deliver_github, example, trello_signature

WRITES = ("POST", "PATCH", "PUT", "DELETE")


class Side:
    """One tracker of a sync: how a person changes it, and how its webhook tells the gateway."""

    def __init__(self, client, user, kind, tracker, fake=None, secret=None, callback=None):
        self.client, self.user, self.kind, self.tracker = client, user, kind, tracker
        self.fake, self.secret, self.callback = fake, secret, callback

    @property
    def url(self):
        return f"{TRACKERS}{self.tracker['id']}/issues"

    def writes(self):
        """Write requests the tracker received (built-in: the events its changes recorded)."""
        if self.fake is None:
            from api.extensions import db

            db.session.rollback()
            return db.session.scalar(select(func.count()).select_from(Event).where(Event.tracker_id == self.tracker["id"]))
        return sum(1 for r in self.fake.requests if r.method in WRITES and "/hooks" not in r.path and "webhooks" not in r.path)

    def issues(self):
        response = self.client.get(f"{self.url}?limit=100", headers=self.user.headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["issues"]

    def issue(self, issue_id):
        return self.client.get(f"{self.url}/{issue_id}", headers=self.user.headers).get_json()

    def comments(self, issue_id):
        return self.client.get(f"{self.url}/{issue_id}/comments?limit=100", headers=self.user.headers).get_json()["comments"]

    def create(self, **body):
        response = self.client.post(self.url, json=body, headers=self.user.headers)
        assert response.status_code == 201, response.get_json()
        created = response.get_json()
        self.notify("issue.created", created["id"])
        return created

    def update(self, issue_id, **body):
        response = self.client.patch(f"{self.url}/{issue_id}", json=body, headers=self.user.headers)
        assert response.status_code == 200, response.get_json()
        about = next((name for name in ("status", "assignees", "labels") if name in body), None)
        self.notify("issue.updated", issue_id, about=about)

    def comment(self, issue_id, body):
        response = self.client.post(f"{self.url}/{issue_id}/comments", json={"body": body}, headers=self.user.headers)
        assert response.status_code == 201, response.get_json()
        self.notify("comment.created", issue_id, response.get_json())

    def echo_all(self):
        """The provider's webhooks for every issue (and comment) the sync may have written: they must change nothing."""
        for item in self.issues():
            self.notify("issue.updated", item["id"])
            for comment in self.comments(item["id"]):
                self.notify("comment.created", item["id"], comment)

    def notify(self, event_type, issue_id, comment=None, about=None, nonce=None):
        """Deliver the provider's signed webhook for a change (built-in trackers record their own events); the same
        `nonce` again is the same delivery again."""
        nonce = nonce or uuid.uuid4().hex
        if self.kind == "builtin":
            return
        now = self.issue(issue_id)  # the payload carries the issue as it now is, as the provider's would
        stamp = now["updated_at"].replace("+00:00", "Z")
        if self.kind == "jira":
            response = self._notify_jira(event_type, issue_id, comment, about, nonce)
        else:
            send = {"github": self._notify_hub, "gitea": self._notify_hub, "gitlab": self._notify_gitlab}.get(
                self.kind, self._notify_trello
            )
            response = send(event_type, issue_id, comment, about, nonce, now, stamp)
        assert response.status_code == 202, response.get_json()

    def _notify_hub(self, event_type, issue_id, comment, about, nonce, now, stamp):
        """A GitHub or Gitea webhook (the same payload shapes)."""
        if comment is not None:
            payload = example(self.kind, "issue_comment.created.json")
            payload["comment"] = {**payload["comment"], "id": int(comment["id"]), "body": comment["body"]}
            event = "issue_comment"
        else:
            payload = example(self.kind, "issues.opened.json" if event_type == "issue.created" else "issues.edited.json")
            event = "issues"
        payload["issue"] = {
            **payload["issue"],
            "number": int(issue_id),
            "title": now["title"],
            "body": now["description"],
            "state": now["status"],
            "updated_at": stamp,
            "labels": [{"name": name} for name in now["labels"]],
            "assignees": [{"login": p["username"], "id": int(p["id"])} for p in now["assignees"]],
        }
        if about and comment is None:  # what the provider's action names
            payload["action"] = {
                "status": "closed" if now["status"] == "closed" else "reopened",
                "assignees": "assigned",
                "labels": "labeled",
            }[about]
            if about == "assignees":
                payload["assignee"] = payload["issue"]["assignees"][-1]
            if about == "labels":
                payload["label"] = {"name": now["labels"][-1]}
        payload["nonce"] = nonce
        if self.kind == "github":
            response = deliver_github(
                self.client, {"tracker": self.tracker, "secret": self.secret}, event, payload, delivery=nonce
            )
        else:
            body = json.dumps(payload).encode()
            signature = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            response = self.client.post(
                f"/api/v1/webhooks/{self.tracker['id']}",
                data=body,
                headers={
                    "X-Gitea-Event": event,
                    "X-Gitea-Delivery": nonce,
                    "X-Gitea-Signature": signature,
                    "Content-Type": "application/json",
                },
            )
        return response

    def _notify_gitlab(self, event_type, issue_id, comment, about, nonce, now, stamp):
        """A GitLab issue or note hook."""
        if comment is not None:
            payload = example("gitlab", "note-hook-issue.json")
            payload["issue"] = {**payload["issue"], "iid": int(issue_id), "title": now["title"]}
            payload["object_attributes"] = {**payload["object_attributes"], "id": int(comment["id"]), "note": comment["body"]}
            header = "Note Hook"
        else:
            payload = example("gitlab", "issue-hook.json")
            payload["object_attributes"] = {
                **payload["object_attributes"],
                "iid": int(issue_id),
                "action": "open" if event_type == "issue.created" else "update",
                "title": now["title"],
                "description": now["description"],
                "state": "closed" if now["status"] == "closed" else "opened",
                "updated_at": stamp,
            }
            payload["labels"] = [{"title": name} for name in now["labels"]]
            payload["changes"] = {}
            if about == "status":
                payload["object_attributes"]["action"] = "close" if now["status"] == "closed" else "reopen"
            elif about == "labels":
                payload["changes"] = {"labels": {"previous": [], "current": payload["labels"]}}
            elif about == "assignees":
                people = [{"username": p["username"]} for p in now["assignees"]]
                payload["assignees"] = people
                payload["changes"] = {"assignees": {"previous": [], "current": people}}
            header = "Issue Hook"
        payload["nonce"] = nonce
        response = self.client.post(
            f"/api/v1/webhooks/{self.tracker['id']}",
            data=json.dumps(payload).encode(),
            headers={"X-Gitlab-Event": header, "X-Gitlab-Token": self.secret, "X-Gitlab-Event-UUID": nonce},
        )
        return response

    def _notify_trello(self, event_type, issue_id, comment, about, nonce, now, stamp):
        """A Trello board action."""
        payload = example("trello", "createCard.json")
        action = payload["action"]
        kind = "commentCard" if comment is not None else ("createCard" if event_type == "issue.created" else "updateCard")
        data = {
            **action["data"],
            "card": {
                **action["data"]["card"],
                "id": issue_id,
                "name": now["title"],
                "desc": now["description"],
                "closed": now["status"] == "closed",
            },
        }
        if comment is not None:
            data["text"] = comment["body"]
        if about == "status":
            data["old"] = {"closed": now["status"] != "closed"}
        payload["action"] = {**action, "id": nonce[:24], "type": kind, "data": data, "date": stamp}
        body = json.dumps(payload).encode()
        response = self.client.post(
            f"/api/v1/webhooks/{self.tracker['id']}",
            data=body,
            headers={"X-Trello-Webhook": trello_signature("app-secret", body, self.callback)},
        )
        return response

    def raw(self, issue_id):
        """The issue as Jira's REST API (and so its webhook body) carries it."""
        response = requests.get(
            f"{self.fake.base_url}/rest/api/2/issue/{issue_id}", headers={"Authorization": "Bearer dc-pat"}, timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()

    def _notify_jira(self, event_type, issue_id, comment, about, nonce, raw=None):
        """A Jira Data Center webhook: issue events carry the issue, comment events only the comment (its self link)."""
        raw = raw or self.raw(issue_id)
        user = {"name": "alice", "key": "alice", "displayName": "Alice"}
        if comment is not None:
            payload = {
                "webhookEvent": "comment_created",
                "comment": {
                    "self": f"{self.fake.base_url}/rest/api/2/issue/{raw['id']}/comment/{comment['id']}",
                    "id": comment["id"],
                    "body": comment["body"],
                    "author": user,
                    "created": raw["fields"]["updated"],
                },
            }
        else:
            name = {"issue.created": "jira:issue_created", "issue.deleted": "jira:issue_deleted"}.get(
                event_type, "jira:issue_updated"
            )
            field = {"status": "status", "assignees": "assignee", "labels": "labels"}.get(about, "summary")
            payload = {
                "webhookEvent": name,
                "user": user,
                "issue": raw,
                "changelog": {"items": [{"field": field, "fromString": "", "toString": "x"}]},
            }
        payload["timestamp"], payload["nonce"] = 1565652182025, nonce
        body = json.dumps(payload).encode()
        return self.client.post(
            f"/api/v1/webhooks/{self.tracker['id']}",
            data=body,
            headers={
                "X-Hub-Signature": "sha256=" + hmac_hex(self.secret, body),
                "X-Atlassian-Webhook-Identifier": nonce,
                "Content-Type": "application/json",
            },
        )


def _builtin(client, db, user, name, fakes):
    return Side(client, user, "builtin", make_tracker(client, user, name=name, target=name))


def _hooked(client, db, user, name, fake, provider, target, **tracker_args):
    """A tracker of `provider` on `fake` with the gateway's webhook registered, as one side of a pair."""
    tracker = make_tracker(client, user, name=name, provider=provider, target=target, base_url=fake.base_url, **tracker_args)
    assert client.post(f"{TRACKERS}{tracker['id']}/webhook", headers=user.headers).status_code == 201
    hook = registration(db, tracker["id"])
    return Side(client, user, provider, tracker, fake, hook.secret, hook.callback_url)


def _github(client, db, user, name, fakes):
    fake = fakes["github"]
    fake.add_token("gh-token", login="octocat")
    fake.add_repo(f"octocat/{name}")
    fake.add_member(f"octocat/{name}", "octocat", permission="admin")
    return _hooked(client, db, user, name, fake, "github", f"octocat/{name}", credentials={"token": "gh-token"})


def _gitlab(client, db, user, name, fakes):
    fake = fakes["gitlab"]
    fake.add_token("gl-token")
    project = fake.add_project(f"group/{name}")
    fake.add_member(project["id"], "root", access_level=40)
    return _hooked(client, db, user, name, fake, "gitlab", f"group/{name}", credentials={"token": "gl-token"})


def _trello(client, db, user, name, fakes):
    fake = fakes["trello"]
    fake.add_token("tr-token", key="tr-key")
    board = fake.add_board(name, members=["me"])
    fake.add_list(board["id"], "todos")
    fake.add_label(board["id"], "bug")  # Trello takes only labels the board has
    return _hooked(
        client,
        db,
        user,
        name,
        fake,
        "trello",
        board["id"],
        credentials={"api_key": "tr-key", "token": "tr-token", "api_secret": "app-secret"},
    )


def _gitea(client, db, user, name, fakes):
    fake = fakes["gitea"]
    fake.add_token("gt-token", login="gitea_admin")
    fake.add_repo(f"gitea_admin/{name}")
    for label in ("bug", "nowhere"):
        fake.add_label(f"gitea_admin/{name}", label)
    return _hooked(client, db, user, name, fake, "gitea", f"gitea_admin/{name}", credentials={"token": "gt-token"})


def _jira(client, db, user, name, fakes):
    """Jira Data Center (its webhook is registered through the API; Cloud's is pasted by an administrator)."""
    fake = fakes["jira"]
    fake.add_token("dc-pat", name="alice")
    key = name.upper()
    fake.add_project(key, members=["alice"])
    return _hooked(
        client, db, user, name, fake, "jira", key, credentials={"token": "dc-pat"}, options={"deployment": "data_center"}
    )


BUILD = {"builtin": _builtin, "github": _github, "gitlab": _gitlab, "trello": _trello, "gitea": _gitea, "jira": _jira}
PAIRS = [("builtin", "github"), ("github", "gitlab"), ("gitlab", "trello"), ("gitea", "gitlab"), ("jira", "github")]


@pytest.fixture(params=PAIRS, ids=["-".join(pair) for pair in PAIRS])
def sides(request, client, auth, db, github_fake, gitlab_fake, trello_fake, gitea_fake, jira_dc_fake):
    user = auth.register()
    fakes = {"github": github_fake, "gitlab": gitlab_fake, "trello": trello_fake, "gitea": gitea_fake, "jira": jira_dc_fake}
    left_kind, right_kind = request.param
    return user, BUILD[left_kind](client, db, user, "left", fakes), BUILD[right_kind](client, db, user, "right", fakes)


def settle(app, *sides):
    """Run the jobs, then deliver every side's echo webhooks and run again, until no delivery changes anything."""
    work(app)
    for side in sides:
        side.echo_all()
    work(app)


def paired(app, client, user, left, right, sync=None, **issue):
    """A sync (body `sync`) and a new left issue mirrored on the right: (sync, source, mirror)."""
    made = make_sync(client, user, left.tracker, right.tracker, **(sync or {}))
    source = left.create(**issue)
    settle(app, left, right)
    (mirror,) = right.issues()
    return made, source, mirror


def test_new_issue_is_mirrored_once_with_backlinks_and_echoes_change_nothing(app, client, sides):
    user, left, right = sides
    sync = make_sync(client, user, left.tracker, right.tracker)
    source = left.create(title="Crash on save", description="Steps", labels=["bug", "nowhere"])
    settle(app, left, right)
    (mirror,) = right.issues()
    assert mirror["title"] == "Crash on save"
    if right.kind == "trello":  # the board has no "nowhere" label: carried what it could, noted the rest on the link
        assert mirror["labels"] == ["bug"]
        assert "nowhere" in links(client, user, sync)[0]["notes"]["unmapped"]["right_labels"]
    else:
        assert sorted(mirror["labels"]) == ["bug", "nowhere"]
    assert mirror["description"].startswith("Steps") and source["url"] in mirror["description"]
    assert mirror["url"] in left.issue(source["id"])["description"]
    assert len(left.issues()) == 1  # the mirror was not mirrored back
    (link,) = links(client, user, sync)
    assert link["state"] == "ok" and link["right_issue_id"] == mirror["id"]
    before = (left.writes(), right.writes())
    settle(app, left, right)  # more echoes: flat
    assert (left.writes(), right.writes()) == before


def test_a_change_on_either_side_is_exactly_one_write_on_the_other(app, client, sides):
    user, left, right = sides
    make_sync(client, user, left.tracker, right.tracker)
    source = left.create(title="First")
    settle(app, left, right)
    (mirror,) = right.issues()
    before = (left.writes(), right.writes())
    right.update(mirror["id"], title="Renamed on the right")
    settle(app, left, right)
    assert left.issue(source["id"])["title"] == "Renamed on the right"
    assert right.writes() == before[1] + 1  # the person's change (a request, or the built-in tracker's event)
    assert left.writes() == before[0] + 1  # exactly one write carried it over
    flat = (left.writes(), right.writes())
    settle(app, left, right)
    assert (left.writes(), right.writes()) == flat

    left.update(source["id"], status="closed")
    settle(app, left, right)
    assert right.issue(mirror["id"])["status"] == "closed"


def test_comments_are_mirrored_once_and_in_order_with_the_providers_name(app, client, sides):
    user, left, right = sides
    make_sync(client, user, left.tracker, right.tracker)
    source = left.create(title="talk")
    settle(app, left, right)
    (mirror,) = right.issues()
    for body in ("one", "two"):
        left.comment(source["id"], body)
    settle(app, left, right)
    settle(app, left, right)
    mirrored = [c["body"] for c in right.comments(mirror["id"])]
    assert [body.split("\n\n")[0].split("): ", 1)[1] for body in mirrored] == ["one", "two"]
    from api.trackers.registry import provider_class

    title = provider_class(left.tracker["provider"]).title()
    assert all(f"({title}): " in body for body in mirrored)
    assert len(left.comments(source["id"])) == 2  # nothing mirrored back


def test_a_failing_tracker_marks_the_link_error_and_the_retry_recovers(app, client, db, sides):
    user, left, right = sides
    sync = make_sync(client, user, left.tracker, right.tracker)
    source = left.create(title="First")
    settle(app, left, right)
    (mirror,) = right.issues()
    target = right if right.fake is not None else left
    other_side = left if target is right else right
    target.fake.fail_next(503, count=50, match=r"^(PATCH|PUT|POST) ")
    changed_id = source["id"] if target is right else mirror["id"]
    other_side.update(changed_id, title="Needs a retry")
    work(app)
    (link,) = links(client, user, sync)
    assert link["state"] == "error" and link["error"]
    assert db.session.scalar(select(func.count()).select_from(Event).where(Event.type == "sync.failed")) == 1
    target.fake.clear_faults()
    db.session.execute(text("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE status = 'todo'"))
    db.session.commit()
    work(app)
    (link,) = links(client, user, sync)
    assert link["state"] == "ok" and link["error"] is None
    target_id = mirror["id"] if target is right else source["id"]
    assert target.issue(target_id)["title"] == "Needs a retry"


def test_a_worker_killed_after_the_remote_create_leaves_no_duplicate_mirror(app, client, db, sides):
    user, left, right = sides
    sync = make_sync(client, user, left.tracker, right.tracker)
    left.create(title="once")
    db.session.execute(text("DELETE FROM procrastinate_jobs"))
    db.session.commit()
    source_id = left.issues()[0]["id"]
    job = sync_service._Job(db.session, db.session.get(sync_service.Sync, sync["id"]))
    link = sync_service._new_link(db.session, job.sync, "left", source_id, 0)
    link.notes = {"create_attempts": 1}
    db.session.commit()
    # The remote create went through; the worker died before recording the mirror on the link.
    job.create_issue("right", {"title": "once", "description": sync_service._with_footer("", sync["id"], link.op_key, "x")})
    assert client.post(f"{SYNCS}{sync['id']}/resync", headers=user.headers).get_json() == {"queued": 1}
    settle(app, left, right)
    assert len(right.issues()) == 1
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(SyncLink)) == 1
    assert links(client, user, sync)[0]["right_issue_id"] == right.issues()[0]["id"]


def test_an_assignee_missing_on_the_other_side_is_noted_and_never_taken_from_the_source(app, client, auth, db, github_fake):
    user = auth.register("octocat")  # the built-in tracker's one member; the repository also has alice
    left = _builtin(client, db, user, "left", {})
    right = _github(client, db, user, "right", {"github": github_fake})
    github_fake.add_user("alice")
    github_fake.add_member("octocat/right", "alice")
    sync = make_sync(client, user, left.tracker, right.tracker)
    source = right.create(title="Shared work")
    settle(app, left, right)
    (mirror,) = left.issues()
    right.update(source["id"], assignees=["octocat", "alice"])
    settle(app, left, right)
    settle(app, left, right)
    assert [p["username"] for p in left.issue(mirror["id"])["assignees"]] == ["octocat"]
    assert sorted(p["username"] for p in right.issue(source["id"])["assignees"]) == ["alice", "octocat"]
    (link,) = links(client, user, sync)
    assert "alice" in link["notes"]["unmapped"]["left_assignees"]


@pytest.mark.parametrize("policy", ["left", "right"])
def test_both_sides_changed_the_policy_decides_across_providers(app, client, db, sides, policy):
    user, left, right = sides
    sync = make_sync(client, user, left.tracker, right.tracker, conflict_policy=policy)
    source = left.create(title="original")
    settle(app, left, right)
    (mirror,) = right.issues()
    left.update(source["id"], title="from left")
    right.update(mirror["id"], title="from right")
    settle(app, left, right)
    kept = f"from {policy}"
    assert left.issue(source["id"])["title"] == kept and right.issue(mirror["id"])["title"] == kept
    (link,) = links(client, user, sync)
    assert link["state"] == "conflict"
    assert [(c["field"], c["value"]) for c in link["conflicts"]] == [("title", "from right" if policy == "left" else "from left")]
    assert db.session.scalar(select(func.count()).select_from(Event).where(Event.type == "sync.conflict")) == 1


def test_a_refused_write_marks_the_link_error_with_the_trackers_reason_and_the_retry_recovers(app, client, auth, db, github_fake):
    user = auth.register("octocat")
    left, right = _builtin(client, db, user, "left", {}), _github(client, db, user, "right", {"github": github_fake})
    sync, source, mirror = paired(app, client, user, left, right, title="First")
    github_fake.fail_next(
        422,
        count=50,
        match=r"^PATCH ",
        body={"message": "Validation Failed", "errors": [{"resource": "Issue", "code": "invalid"}]},
    )
    left.update(source["id"], title="Refused at first")
    work(app)
    (link,) = links(client, user, sync)
    assert link["state"] == "error" and "Validation Failed" in link["error"]
    github_fake.clear_faults()
    db.session.execute(text("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE status = 'todo'"))
    db.session.commit()
    work(app)
    (link,) = links(client, user, sync)
    assert link["state"] == "ok" and right.issue(mirror["id"])["title"] == "Refused at first"

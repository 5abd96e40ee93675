"""Events without webhooks: polls of every remote provider's fake turn changes made behind the gateway's back into the
same normalized events webhooks produce, exactly once (webhook or poll first), detect deletions, resume from the cursor,
back off on rate limits and failures, and never poll a tracker that records its own events."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from api.models.base import utcnow
from api.models.events import Event
from api.models.index import EventChangeHash, IndexedIssue
from api.models.trackers import Tracker
from api.services import polling
from api.services import trackers as trackers_service
from api.trackers.base import Capability, IssueChanges, NewIssue
from api.trackers.registry import all_providers, provider_class
from test import test_provider_contract as contract
from test.test_provider_contract import PROVIDERS, create, parametrize_env
from test.test_trackers import TRACKERS
from test.test_webhooks import deliver_github, process

env = contract.env  # the contract suite's per-provider environment (a fixture)

# Every provider the registry says is polled, as the contract suite names its environments.
POLLED = [name for name in PROVIDERS if name != "builtin"]
assert {cls.slug for cls in all_providers() if cls.polling_applies()} <= {name.split("_")[0] for name in POLLED}


def behind(db, env):
    """The tracker's provider called directly: changes the gateway neither makes nor sees."""
    return trackers_service.build_provider(session=db.session, tracker=db.session.get(Tracker, env.tracker["id"]))


def poll(db, env, **kwargs):
    result = polling.poll_tracker(session=db.session, tracker_id=env.tracker["id"], **kwargs)
    db.session.remove()
    return result


def events(db, tracker_id):
    db.session.remove()
    return list(db.session.scalars(select(Event).where(Event.tracker_id == tracker_id).order_by(Event.id)))


def kinds(db, env):
    return sorted(event.type for event in events(db, env.tracker["id"]))


def delete_behind(fake, issue_id):
    """Remove an issue from a fake's state, as a user deleting it on the tracker would."""
    state = fake.state
    with fake.lock:
        if hasattr(state, "cards"):
            del state.cards[issue_id]
            return
        owners = [state, *getattr(state, "repos", {}).values(), *getattr(state, "projects", {}).values()]
        for owner in owners:
            issues = getattr(owner, "issues", None)
            for key, issue in list((issues or {}).items()):
                names = {str(key), *(str(getattr(issue, name, "")) for name in ("key", "iid", "number"))}
                if issue_id in names:
                    del issues[key]
                    return
    raise AssertionError(f"issue {issue_id} not in the fake")


@parametrize_env(POLLED)
def test_the_first_poll_is_a_baseline_that_indexes_and_records_nothing(client, db, env):
    first = create(client, env, title="Seen before polling")
    db.session.query(Event).delete()  # whatever the gateway's own write recorded is not the poll's business
    db.session.query(IndexedIssue).delete()
    db.session.commit()
    behind(db, env).create_issue(NewIssue(title="Made on the tracker"))
    result = poll(db, env)
    assert result["outcome"] == "ok" and result["baseline"] and result["events"] == 0
    assert kinds(db, env) == []
    assert db.session.scalar(select(func.count()).select_from(IndexedIssue)) == 2
    tracker = client.get(f"{TRACKERS}{env.tracker['id']}", headers=env.user.headers).get_json()
    assert tracker["last_polled_at"] and tracker["last_poll_error"] is None
    assert tracker["effective_events_mode"] == "poll" and tracker["events_mode"] == "auto"
    assert first["id"] in {row.issue_id for row in db.session.scalars(select(IndexedIssue))}


@parametrize_env(POLLED)
def test_changes_behind_the_gateways_back_become_events_in_one_poll_and_only_once(client, db, env):
    issue = create(client, env, title="Existing")
    poll(db, env)  # baseline
    before = len(events(db, env.tracker["id"]))
    provider = behind(db, env)
    created = provider.create_issue(NewIssue(title="Created behind the back"))
    provider.update_issue(issue["id"], IssueChanges(title="Renamed", labels=[env.labels[0]], assignees=[env.member]))
    provider.update_issue(issue["id"], IssueChanges(status="closed"))
    provider.create_comment(issue["id"], "A comment made on the tracker")
    result = poll(db, env)
    recorded = events(db, env.tracker["id"])[before:]
    by_type = {}
    for event in recorded:
        by_type.setdefault(event.type, []).append(event)
    assert {e.issue_id for e in by_type["issue.created"]} == {created.id}
    for kind in ("issue.closed", "issue.labeled", "issue.assigned", "issue.updated", "comment.created"):
        assert [e.issue_id for e in by_type.get(kind, [])] == [issue["id"]], (kind, sorted(by_type))
    assert by_type["issue.labeled"][0].changes == {"labels": {"added": [env.labels[0]]}}
    assert by_type["comment.created"][0].comment["body"] == "A comment made on the tracker"
    assert all(event.source == "poll" for event in recorded) and result["events"] == len(recorded)
    assert poll(db, env)["events"] == 0  # the overlap re-reads them: nothing twice
    assert len(events(db, env.tracker["id"])) == before + len(recorded)
    listed = client.get(f"{TRACKERS}{env.tracker['id']}/events", headers=env.user.headers).get_json()["events"]
    assert {e["source"] for e in listed[: len(recorded)]} == {"poll"}


@parametrize_env([name for name in POLLED if Capability.COMMENT_EDIT in provider_class(name.split("_")[0]).capabilities])
def test_a_comment_edited_on_a_recently_active_issue_is_a_comment_updated_event(client, db, env):
    issue = create(client, env, title="Commented")
    poll(db, env)
    provider = behind(db, env)
    comment = provider.create_comment(issue["id"], "First words")
    poll(db, env)  # comment.created, and the comment's body is now known
    behind(db, env).update_comment(issue["id"], comment.id, "Second thoughts")
    poll(db, env)
    updated = [(e.comment["body"], e.source) for e in events(db, env.tracker["id"]) if e.type == "comment.updated"]
    assert updated == [("Second thoughts", "poll")]


@parametrize_env(POLLED)
def test_an_issue_deleted_on_the_tracker_is_reported_once_by_the_reconcile(client, db, env):
    kept, gone = create(client, env, title="Kept"), create(client, env, title="Deleted on the tracker")
    poll(db, env)
    delete_behind(env.fake, gone["id"])
    assert polling.reconcile_tracker(session=db.session, tracker_id=env.tracker["id"]) == 1
    deleted = [e for e in events(db, env.tracker["id"]) if e.type == "issue.deleted"]
    assert [(e.issue_id, e.issue["title"], e.source) for e in deleted] == [(gone["id"], "Deleted on the tracker", "poll")]
    assert polling.reconcile_tracker(session=db.session, tracker_id=env.tracker["id"]) == 0
    assert {row.issue_id for row in db.session.scalars(select(IndexedIssue))} == {kept["id"]}


@parametrize_env(POLLED)
def test_a_due_reconcile_runs_inside_the_poll(client, db, env, app, monkeypatch):
    gone = create(client, env, title="Short-lived")
    poll(db, env)
    delete_behind(env.fake, gone["id"])
    monkeypatch.setitem(app.config, "POLL_RECONCILE_SECONDS", 0)
    assert poll(db, env)["events"] == 1
    assert [e.type for e in events(db, env.tracker["id"])][-1] == "issue.deleted"


@parametrize_env(POLLED)
def test_a_restarted_poller_resumes_from_the_stored_cursor_minus_the_overlap(client, db, env, app, monkeypatch):
    issue = create(client, env, title="Old")
    poll(db, env)
    cursor = db.session.get(Tracker, env.tracker["id"]).poll_cursor
    db.session.remove()  # a new worker process knows nothing but the database
    behind(db, env).update_issue(issue["id"], IssueChanges(labels=[env.labels[0]]))  # made while no worker ran
    asked = []
    cls = provider_class(env.variant.name.split("_")[0])
    listing = cls.list_issues_updated_since

    def spy(self, since, **kwargs):  # the real listing, its `since` noted (Trello filters cards on our side)
        asked.append(since)
        return listing(self, since, **kwargs)

    monkeypatch.setattr(cls, "list_issues_updated_since", spy)
    seen = len(env.fake.requests)
    result = poll(db, env)
    assert not result["baseline"] and result["events"] == 1
    assert asked == [cursor - timedelta(seconds=app.config["POLL_OVERLAP_SECONDS"])]
    assert [(e.type, e.issue_id, e.source) for e in events(db, env.tracker["id"]) if e.source == "poll"] == [
        ("issue.labeled", issue["id"], "poll")
    ]
    # GitHub, GitLab and Gitea filter on their side: the bound reaches them (Trello's filter is ours, Jira's relative).
    sent = {
        value
        for r in env.fake.requests[seen:]
        if r.method == "GET" and r.path.rstrip("/").endswith("issues")
        for key, value in r.query.items()
        if key in ("since", "updated_after")
    }
    assert bool(sent) == (env.variant.name in ("github", "gitlab", "gitea"))
    assert all(abs((_parse(value) - asked[0]).total_seconds()) < 1 for value in sent)


def _parse(value):
    from api.trackers.base import parse_time

    return parse_time(value)


def test_an_unchanged_github_poll_is_a_conditional_request(client, db, github):
    for _ in range(2):  # the baseline, then the first incremental poll (a URL with `since`, asked once unconditionally)
        polling.poll_tracker(session=db.session, tracker_id=github["tracker"]["id"])
        db.session.remove()
    seen = len(github["fake"].requests)
    assert polling.poll_tracker(session=db.session, tracker_id=github["tracker"]["id"])["events"] == 0
    lists = [r for r in github["fake"].requests[seen:] if r.path.endswith("/issues")]
    assert lists and all(r.headers.get("if-none-match") for r in lists)  # answered 304: no rate limit spent


@parametrize_env(POLLED)
def test_rate_limiting_defers_the_next_poll_keeps_the_cursor_and_is_no_error(client, db, env):
    create(client, env, title="Before the limit")
    poll(db, env)
    cursor = db.session.get(Tracker, env.tracker["id"]).poll_cursor
    behind(db, env).create_issue(NewIssue(title="Waits for the limit"))
    db.session.remove()
    env.fake.rate_limit_next(count=10, retry_after=600)
    started = utcnow()
    result = poll(db, env)
    assert result["outcome"] == "rate_limited" and result["events"] == 0
    tracker = db.session.get(Tracker, env.tracker["id"])
    assert tracker.poll_cursor == cursor and tracker.last_poll_error is None and tracker.poll_failures == 0
    # Two intervals at least; the provider's Retry-After where it sends one (Trello's fake asks for 1 s).
    wait = 2 * polling.interval_seconds(tracker) if env.provider == "trello" else 600
    assert tracker.next_poll_at >= started + timedelta(seconds=wait - 10)
    assert polling.schedule_due(session=db.session) == []  # not due: the limit is respected
    env.fake.clear_faults()
    db.session.remove()
    assert poll(db, env)["events"] == 1
    assert kinds(db, env).count("issue.created") >= 1


@parametrize_env(["github", "trello"])
def test_a_failing_tracker_keeps_its_cursor_shows_the_error_and_backs_off(client, db, env):
    create(client, env, title="Before the outage")
    poll(db, env)
    cursor = db.session.get(Tracker, env.tracker["id"]).poll_cursor
    db.session.remove()
    env.fake.fail_next(count=10, status=500)
    assert poll(db, env)["outcome"] == "failed"
    assert poll(db, env)["outcome"] == "failed"
    tracker = db.session.get(Tracker, env.tracker["id"])
    assert tracker.poll_cursor == cursor and tracker.poll_failures == 2
    # Backoff doubles per failure in a row: 2 failures -> at least 4 intervals.
    assert tracker.next_poll_at >= utcnow() + timedelta(seconds=3 * polling.interval_seconds(tracker))
    shown = client.get(f"{TRACKERS}{env.tracker['id']}", headers=env.user.headers).get_json()
    assert shown["last_poll_error"] and shown["last_poll_error"].startswith("tracker_") and "500" in shown["last_poll_error"]
    db.session.remove()
    env.fake.clear_faults()
    assert poll(db, env)["outcome"] == "ok"
    shown = client.get(f"{TRACKERS}{env.tracker['id']}", headers=env.user.headers).get_json()
    assert shown["last_poll_error"] is None


# ---- exactly once with webhooks ---------------------------------------------------------------


def _github_labeled(github, db, number, label, later=5):
    """Add a label directly on the fake (`later` seconds after the issue's last update) and build GitHub's webhook of it."""
    fake = github["fake"]
    with fake.lock:
        repo = fake.state.repos["codertocat/hello-world"]
        issue = repo.issues[number]
        issue.labels.append(fake._ensure_label(repo, label).name)
        issue.updated_at = issue.updated_at + timedelta(seconds=later)
        payload = {
            "action": "labeled",
            "issue": fake._issue_json(repo, issue),
            "label": {"name": label},
            "repository": {"full_name": "Codertocat/Hello-World"},
            "sender": {"login": "octocat"},
        }
    return payload


def _poll_mode(client, github):
    response = client.patch(f"{TRACKERS}{github['tracker']['id']}", json={"events_mode": "poll"}, headers=github["user"].headers)
    assert response.status_code == 200 and response.get_json()["effective_events_mode"] == "poll"


# Webhook first and poll first, for a label and a comment, on every provider with webhooks: test_polling_exactly_once.


def test_a_late_webhook_of_a_change_a_poll_already_summarized_is_not_recorded_again(client, app, db, github):
    _poll_mode(client, github)
    db.session.remove()
    polling.poll_tracker(session=db.session, tracker_id=github["tracker"]["id"])
    payload = _github_labeled(github, db, 1, "bug")  # the webhook of this change is delayed ...
    fake = github["fake"]
    with fake.lock:  # ... while a second change lands: the poll sees both at once, newer than the delivery
        issue = fake.state.repos["codertocat/hello-world"].issues[1]
        issue.title, issue.updated_at = "Renamed later", issue.updated_at + timedelta(seconds=5)
    db.session.remove()
    assert polling.poll_tracker(session=db.session, tracker_id=github["tracker"]["id"])["events"] == 2
    assert deliver_github(client, github, "issues", payload, delivery="w-late").status_code == 202
    process(app)
    assert [(e.type, e.source) for e in events(db, github["tracker"]["id"])] == [
        ("issue.labeled", "poll"),
        ("issue.updated", "poll"),
    ]


def test_a_change_in_the_second_a_poll_read_the_issue_is_recorded_by_its_webhook_not_dropped(client, app, db, github):
    """Times have seconds only: a poll that read the issue in the same second as a later change did not see it."""
    _poll_mode(client, github)
    db.session.remove()
    for _ in range(2):  # the baseline, then a poll that records (and so may stand in for a webhook)
        polling.poll_tracker(session=db.session, tracker_id=github["tracker"]["id"])
        db.session.remove()
    payload = _github_labeled(github, db, 1, "bug", later=0)  # updated_at unchanged: the same second as the poll's read
    assert deliver_github(client, github, "issues", payload, delivery="w-same").status_code == 202
    process(app)
    db.session.remove()
    assert polling.poll_tracker(session=db.session, tracker_id=github["tracker"]["id"])["events"] == 0
    labeled = [(e.issue_id, e.source) for e in events(db, github["tracker"]["id"]) if e.type == "issue.labeled"]
    assert labeled == [("1", "webhook")]


# A comment edited on a quiet issue, on every provider that lists comments by update time: test_polling_exactly_once.


def test_a_registered_webhook_makes_auto_mode_silent_but_keeps_the_index_fresh(client, app, db, github):
    tracker = client.get(f"{TRACKERS}{github['tracker']['id']}", headers=github["user"].headers).get_json()
    assert tracker["events_mode"] == "auto" and tracker["effective_events_mode"] == "webhook"
    polling.poll_tracker(session=db.session, tracker_id=github["tracker"]["id"])
    github["fake"].add_issue("Codertocat/Hello-World", "Arrives by webhook only")
    db.session.remove()
    assert polling.poll_tracker(session=db.session, tracker_id=github["tracker"]["id"])["events"] == 0
    assert {row.title for row in db.session.scalars(select(IndexedIssue))} >= {"Arrives by webhook only"}


def test_a_webhook_refreshes_the_index_at_once(client, app, db, github):
    polling.poll_tracker(session=db.session, tracker_id=github["tracker"]["id"])
    payload = _github_labeled(github, db, 1, "urgent")
    assert deliver_github(client, github, "issues", payload, delivery="w-3").status_code == 202
    process(app)
    db.session.remove()
    entry = db.session.get(IndexedIssue, (github["tracker"]["id"], "1"))
    assert "urgent" in entry.labels and entry.data["_indexed_by"] == "webhook"


# ---- the gateway's own writes -----------------------------------------------------------------


@parametrize_env(["github", "gitlab", "trello", "gitea"])
def test_the_gateways_own_writes_update_the_index_at_once_and_are_recorded_once(client, db, env):
    poll(db, env)
    issue = create(client, env, title="Through the gateway")
    response = client.patch(env.url(f"/issues/{issue['id']}"), json={"status": "closed"}, headers=env.user.headers)
    assert response.status_code == 200
    db.session.remove()
    entry = db.session.get(IndexedIssue, (env.tracker["id"], issue["id"]))
    assert entry.status == "closed" and entry.title == "Through the gateway"
    recorded = events(db, env.tracker["id"])
    assert [(e.type, e.source) for e in recorded] == [("issue.created", "gateway"), ("issue.closed", "gateway")]
    assert poll(db, env)["events"] == 0


@parametrize_env(["trello", "gitea"])  # GitLab lets only owners delete, and GitHub not at all
def test_a_delete_through_the_gateway_leaves_the_index_at_once_and_is_recorded_once(client, db, env):
    issue = create(client, env, title="Deleted through the gateway")
    poll(db, env)
    response = client.delete(env.url(f"/issues/{issue['id']}"), headers=env.user.headers)
    assert response.status_code == 200, response.get_json()
    db.session.remove()
    assert db.session.get(IndexedIssue, (env.tracker["id"], issue["id"])) is None
    assert polling.reconcile_tracker(session=db.session, tracker_id=env.tracker["id"]) == 0
    deleted = [(e.issue_id, e.source) for e in events(db, env.tracker["id"]) if e.type == "issue.deleted"]
    assert deleted == [(issue["id"], "gateway")]


def test_change_hashes_past_the_dedupe_window_are_pruned(client, db, github, app):
    _poll_mode(client, github)
    db.session.remove()
    polling.poll_tracker(session=db.session, tracker_id=github["tracker"]["id"])
    _github_labeled(github, db, 1, "bug")
    db.session.remove()
    polling.poll_tracker(session=db.session, tracker_id=github["tracker"]["id"])
    assert db.session.scalar(select(func.count()).select_from(EventChangeHash)) == 1
    later = utcnow() + timedelta(days=app.config["POLL_DEDUPE_DAYS"] - 1)
    assert polling.prune_change_hashes(session=db.session, now=later) == 0
    assert polling.prune_change_hashes(session=db.session, now=later + timedelta(days=2)) == 1


# ---- scheduling -------------------------------------------------------------------------------


def _poll_jobs(db):
    db.session.remove()
    return db.session.execute(
        text("SELECT args, lock FROM procrastinate_jobs WHERE task_name = 'gateway:poll_tracker' ORDER BY id")
    ).all()


def test_the_scheduler_enqueues_one_job_per_due_tracker_within_the_global_cap(client, db, auth, app, monkeypatch, github_fake):
    user = auth.register()
    github_fake.add_token("gh-token", login="octocat")
    ids = []
    for n in range(3):
        github_fake.add_repo(f"octocat/r{n}")
        response = client.post(
            TRACKERS,
            json={
                "name": f"r{n}",
                "provider": "github",
                "target": f"octocat/r{n}",
                "base_url": github_fake.base_url,
                "credentials": {"token": "gh-token"},
            },
            headers=user.headers,
        )
        ids.append(response.get_json()["id"])
    local = client.post(TRACKERS, json={"name": "local", "provider": "builtin", "target": "local"}, headers=user.headers)
    monkeypatch.setitem(app.config, "POLL_MAX_CONCURRENT", 2)
    assert polling.schedule_due(session=db.session) == ids[:2]
    assert polling.schedule_due(session=db.session) == []  # the cap: two are queued
    jobs = _poll_jobs(db)
    assert [(row.args["tracker_id"], row.lock) for row in jobs] == [(i, f"poll:{i}") for i in ids[:2]]
    db.session.execute(text("DELETE FROM procrastinate_jobs"))
    db.session.commit()
    assert polling.schedule_due(session=db.session) == [ids[2]]  # the others are not due again before their interval
    assert local.get_json()["id"] not in [row.args["tracker_id"] for row in _poll_jobs(db)]


def test_the_poll_job_runs_through_the_worker(client, app, db, github):
    _poll_mode(client, github)
    polling.schedule_due(session=db.session)
    process(app)
    db.session.remove()
    assert db.session.get(Tracker, github["tracker"]["id"]).last_polled_at is not None


# ---- settings, resync, trackers that record their own events ----------------------------------


def test_events_mode_and_interval_are_shown_and_settable_with_a_minimum(client, auth):
    user = auth.register()
    tracker = client.post(
        TRACKERS,
        json={"name": "b", "provider": "builtin", "target": "b", "events_mode": "poll", "poll_interval_seconds": 30},
        headers=user.headers,
    ).get_json()
    assert tracker["events_mode"] == "poll" and tracker["poll_interval_seconds"] == 30
    assert tracker["effective_events_mode"] == "gateway"  # the built-in tracker records its own events
    url = f"{TRACKERS}{tracker['id']}"
    too_fast = client.patch(url, json={"poll_interval_seconds": 14}, headers=user.headers)
    assert too_fast.status_code == 400 and "poll_interval_seconds" in too_fast.get_json()["errors"]
    wrong = client.patch(url, json={"events_mode": "sometimes"}, headers=user.headers)
    assert wrong.status_code == 400 and "events_mode" in wrong.get_json()["errors"]
    reset = client.patch(url, json={"poll_interval_seconds": None, "events_mode": "auto"}, headers=user.headers).get_json()
    assert reset["poll_interval_seconds"] == 120 and reset["events_mode"] == "auto"


def test_the_built_in_tracker_is_never_polled_and_refuses_a_resync(client, db, auth):
    user = auth.register()
    tracker = client.post(TRACKERS, json={"name": "b", "provider": "builtin", "target": "b"}, headers=user.headers).get_json()
    assert polling.schedule_due(session=db.session) == []
    assert polling.poll_tracker(session=db.session, tracker_id=tracker["id"]) is None
    response = client.post(f"{TRACKERS}{tracker['id']}/resync", json={}, headers=user.headers)
    assert response.status_code == 400 and response.get_json()["error"] == "not_supported"


@parametrize_env(["github", "gitea"])
def test_resync_with_emit_events_records_every_issue_and_without_it_records_nothing(client, app, db, env, auth):
    create(client, env, title="One")
    create(client, env, title="Two")
    for model in (Event, IndexedIssue, EventChangeHash):  # a tracker the gateway has never seen
        db.session.query(model).delete()
    db.session.commit()
    url = f"{TRACKERS}{env.tracker['id']}/resync"
    other = auth.register()
    assert client.post(url, json={"emit_events": True}, headers=other.headers).status_code == 404
    response = client.post(url, json={"emit_events": True}, headers=env.user.headers)
    assert response.status_code == 202 and response.get_json()["emit_events"] is True
    process(app)
    assert kinds(db, env) == ["issue.created", "issue.created"]
    assert client.post(url, json={}, headers=env.user.headers).status_code == 202
    process(app)
    assert kinds(db, env) == ["issue.created", "issue.created"]
    bad = client.post(url, json={"emit_events": "yes please"}, headers=env.user.headers)
    assert bad.status_code == 400


def test_poll_metrics_are_exported(client, db, github):
    polling.poll_tracker(session=db.session, tracker_id=github["tracker"]["id"])
    body = client.get("/metrics").get_data(as_text=True)
    assert "tracker_polls_total" in body and "tracker_poll_duration_seconds" in body
    assert f'issue_index_size{{provider="github",tracker_id="{github["tracker"]["id"]}"}} 1.0' in body
    assert "issue_index_age_seconds" in body


def test_a_webhook_payload_is_never_trusted_for_the_index(client, app, db, github):
    """The index is refreshed from the tracker, not from the delivery: a forged title in a signed payload stays out."""
    polling.poll_tracker(session=db.session, tracker_id=github["tracker"]["id"])
    payload = _github_labeled(github, db, 1, "bug")
    payload["issue"]["title"] = "Only in the payload"
    deliver_github(client, github, "issues", json.loads(json.dumps(payload)), delivery="w-9")
    process(app)
    db.session.remove()
    assert db.session.get(IndexedIssue, (github["tracker"]["id"], "1")).title == "Spelling error in the README file"


@pytest.fixture(autouse=True)
def _no_leftover_session(db):
    yield
    db.session.remove()

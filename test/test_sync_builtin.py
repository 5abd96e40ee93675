"""Two-way sync between two built-in trackers (the demo: no accounts): mirroring with backlinks, exactly one write per
change, conflicts, comments once and in order, deletes, crash recovery, backfill, and the API's owner isolation."""

import json

import pytest
from sqlalchemy import func, select, text

from api.jobs import run_worker
from api.models.events import Event
from api.models.sync import SyncComment, SyncLink
from api.services import sync as sync_service
from test.receiver import Receiver
from test.test_trackers import TRACKERS, make_tracker

SYNCS = "/api/v1/syncs/"


def work(app):
    run_worker(app, concurrency=1, wait=False)


def make_sync(client, user, left, right, **body):
    response = client.post(
        SYNCS, json={"name": "pair", "left_tracker_id": left["id"], "right_tracker_id": right["id"], **body}, headers=user.headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def pair(client, auth):
    user = auth.register()
    left = make_tracker(client, user, name="left", target="left")
    right = make_tracker(client, user, name="right", target="right")
    return user, left, right


def issues(client, user, tracker):
    response = client.get(f"{TRACKERS}{tracker['id']}/issues?limit=100", headers=user.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["issues"]


def issue(client, user, tracker, number):
    return client.get(f"{TRACKERS}{tracker['id']}/issues/{number}", headers=user.headers).get_json()


def new_issue(client, user, tracker, **body):
    response = client.post(f"{TRACKERS}{tracker['id']}/issues", json=body, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def patch(client, user, tracker, number, **body):
    response = client.patch(f"{TRACKERS}{tracker['id']}/issues/{number}", json=body, headers=user.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def links(client, user, sync):
    response = client.get(f"{SYNCS}{sync['id']}/links", headers=user.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["links"]


def event_count(db, tracker=None):
    db.session.rollback()
    stmt = select(func.count()).select_from(Event)
    if tracker is not None:
        stmt = stmt.where(Event.tracker_id == tracker["id"])
    return db.session.scalar(stmt)


def test_new_issue_is_mirrored_on_the_other_side_with_backlinks_on_both(app, client, pair):
    user, left, right = pair
    sync = make_sync(client, user, left, right)
    source = new_issue(
        client, user, left, title="Crash on save", description="Steps to reproduce", labels=["bug"], assignees=[user.username]
    )
    work(app)
    (mirror,) = issues(client, user, right)
    assert mirror["title"] == "Crash on save" and mirror["labels"] == ["bug"]
    assert [p["username"] for p in mirror["assignees"]] == [user.username]
    assert mirror["description"].startswith("Steps to reproduce") and source["url"] in mirror["description"]
    assert mirror["url"] in issue(client, user, left, 1)["description"]  # the backlink on the source too
    (link,) = links(client, user, sync)
    assert link["state"] == "ok" and link["left_issue_id"] == "1" and link["right_issue_id"] == mirror["id"]
    assert link["left_url"] == source["url"] and link["right_url"] == mirror["url"] and link["last_synced_at"]
    # The mirror's own creation event did not make a mirror of the mirror.
    assert len(issues(client, user, left)) == 1


def test_one_change_makes_exactly_one_write_on_the_other_side_and_then_nothing(app, client, db, pair):
    user, left, right = pair
    make_sync(client, user, left, right)
    new_issue(client, user, left, title="First")
    work(app)
    settled_left, settled_right = event_count(db, left), event_count(db, right)
    work(app)  # nothing is left to do: the counts stay flat
    assert (event_count(db, left), event_count(db, right)) == (settled_left, settled_right)

    patch(client, user, left, 1, title="Renamed", labels=["x"])
    work(app)
    assert issue(client, user, right, 1)["title"] == "Renamed" and issue(client, user, right, 1)["labels"] == ["x"]
    # one update on the right (its events: labeled + updated), none back on the left
    right_events = [e.type for e in db.session.scalars(select(Event).where(Event.tracker_id == right["id"]).order_by(Event.id))][
        settled_right:
    ]
    assert sorted(right_events) == ["issue.labeled", "issue.updated"]
    assert event_count(db, left) == settled_left + 2  # only the human change itself
    before = (event_count(db, left), event_count(db, right))
    work(app)
    assert (event_count(db, left), event_count(db, right)) == before

    patch(client, user, right, 1, status="closed")
    work(app)
    assert issue(client, user, left, 1)["status"] == "closed"
    assert event_count(db, left) == before[0] + 1 and event_count(db, right) == before[1] + 1


def test_filter_and_direction_decide_what_is_mirrored(app, client, pair):
    user, left, right = pair
    make_sync(client, user, left, right, direction="left_to_right", filter={"labels_include": ["sync"]})
    new_issue(client, user, left, title="not tagged")
    new_issue(client, user, right, title="right side is not a source", labels=["sync"])
    work(app)
    assert [i["title"] for i in issues(client, user, right)] == ["right side is not a source"]
    patch(client, user, left, 1, labels=["sync"])  # now it matches
    work(app)
    assert sorted(i["title"] for i in issues(client, user, right)) == ["not tagged", "right side is not a source"]
    assert len(issues(client, user, left)) == 1


@pytest.mark.parametrize(("policy", "kept"), [("left", "from left"), ("right", "from right")])
def test_both_sides_changed_the_policy_decides_and_the_losing_value_is_kept_on_the_link(app, client, db, pair, policy, kept):
    user, left, right = pair
    sync = make_sync(client, user, left, right, conflict_policy=policy)
    new_issue(client, user, left, title="original")
    work(app)
    patch(client, user, left, 1, title="from left")
    patch(client, user, right, 1, title="from right")
    work(app)
    assert issue(client, user, left, 1)["title"] == kept and issue(client, user, right, 1)["title"] == kept
    (link,) = links(client, user, sync)
    lost = "from right" if policy == "left" else "from left"
    assert link["state"] == "conflict"
    assert [(c["field"], c["value"], c["side"]) for c in link["conflicts"]] == [
        ("title", lost, "right" if policy == "left" else "left")
    ]
    conflicts = db.session.scalars(select(Event).where(Event.type == "sync.conflict")).all()
    assert len(conflicts) == 1 and conflicts[0].changes["value"] == lost
    before = (event_count(db, left), event_count(db, right))
    work(app)  # settled: no further writes
    assert (event_count(db, left), event_count(db, right)) == before


def test_latest_policy_keeps_the_most_recent_change(app, client, pair):
    user, left, right = pair
    sync = make_sync(client, user, left, right, conflict_policy="latest")
    new_issue(client, user, left, title="original")
    work(app)
    patch(client, user, right, 1, title="older")
    patch(client, user, left, 1, title="newer")
    work(app)
    assert issue(client, user, right, 1)["title"] == "newer" and issue(client, user, left, 1)["title"] == "newer"
    assert links(client, user, sync)[0]["conflicts"][0]["value"] == "older"


def test_comments_are_mirrored_once_in_order_with_attribution(app, client, db, pair):
    user, left, right = pair
    make_sync(client, user, left, right)
    new_issue(client, user, left, title="talk")
    work(app)
    for body in ("one", "two", "three"):
        client.post(f"{TRACKERS}{left['id']}/issues/1/comments", json={"body": body}, headers=user.headers)
    client.post(f"{TRACKERS}{right['id']}/issues/1/comments", json={"body": "reply"}, headers=user.headers)
    work(app)
    work(app)
    right_comments = client.get(f"{TRACKERS}{right['id']}/issues/1/comments", headers=user.headers).get_json()["comments"]
    left_comments = client.get(f"{TRACKERS}{left['id']}/issues/1/comments", headers=user.headers).get_json()["comments"]
    mirrored = [c["body"].split("\n\n")[0] for c in right_comments if "tg-sync-comment" in c["body"]]
    assert mirrored == [f"**{user.username}** (Built-in tracker): {body}" for body in ("one", "two", "three")]
    assert len(right_comments) == 4 and len(left_comments) == 4
    assert [c["body"].split("\n\n")[0] for c in left_comments][-1] == f"**{user.username}** (Built-in tracker): reply"
    assert db.session.scalar(select(func.count()).select_from(SyncComment)) == 4


@pytest.mark.parametrize("policy", ["close", "delete", "unlink"])
def test_deleting_an_issue_applies_on_delete_to_its_pair(app, client, db, pair, policy):
    user, left, right = pair
    sync = make_sync(client, user, left, right, on_delete=policy)
    new_issue(client, user, left, title="doomed")
    work(app)
    assert client.delete(f"{TRACKERS}{left['id']}/issues/1", headers=user.headers).status_code == 200
    work(app)
    survivor = client.get(f"{TRACKERS}{right['id']}/issues/1", headers=user.headers)
    if policy == "delete":
        assert survivor.status_code == 404
    else:
        assert survivor.get_json()["status"] == ("closed" if policy == "close" else "open")
    assert links(client, user, sync) == []
    assert issues(client, user, left) == []


def test_status_category_and_priority_flow_where_both_sides_have_them(app, client, pair):
    user, left, right = pair
    make_sync(client, user, left, right)
    new_issue(client, user, left, title="ranked", priority="high")
    work(app)
    assert issue(client, user, right, 1)["priority"] == "high"
    patch(client, user, left, 1, status_category="in_progress")
    work(app)
    assert issue(client, user, right, 1)["status_category"] == "in_progress"
    patch(client, user, right, 1, priority="low", status_category="done")
    work(app)
    mirrored = issue(client, user, left, 1)
    assert mirrored["priority"] == "low" and mirrored["status"] == "closed"


def test_a_worker_killed_after_the_create_leaves_no_duplicate_mirror(app, client, db, pair):
    user, left, right = pair
    sync = make_sync(client, user, left, right)
    new_issue(client, user, left, title="once")
    # The first attempt: the link is on record, the mirror was created, then the worker died before recording it.
    job = sync_service._Job(db.session, db.session.get(sync_service.Sync, sync["id"]))
    link = sync_service._new_link(db.session, job.sync, "left", "1", 0)
    link.notes = {"create_attempts": 1}
    db.session.commit()
    job.create_issue(
        "right", {"title": "once", "description": sync_service._with_footer("", sync["id"], link.op_key, "http://left")}
    )
    db.session.execute(text("DELETE FROM procrastinate_jobs"))  # its job is gone with it; resync is the retry
    db.session.commit()
    assert client.post(f"{SYNCS}{sync['id']}/resync", headers=user.headers).get_json() == {"queued": 1}
    work(app)
    assert len(issues(client, user, right)) == 1
    (row,) = links(client, user, sync)
    assert row["right_issue_id"] == "1" and row["state"] == "ok"


def test_the_mirrors_own_event_arriving_before_the_link_records_it_is_adopted_not_mirrored_back(app, client, db, pair):
    user, left, right = pair
    sync = make_sync(client, user, left, right)
    new_issue(client, user, left, title="raced")
    db.session.execute(text("DELETE FROM procrastinate_jobs"))
    db.session.commit()
    job = sync_service._Job(db.session, db.session.get(sync_service.Sync, sync["id"]))
    link = sync_service._new_link(db.session, job.sync, "left", "1", 0)
    link.notes = {"create_attempts": 1}
    db.session.commit()
    # The mirror exists and its creation event is queued; the link does not name it yet (a remote webhook can be
    # this fast, or the worker died here).
    job.create_issue(
        "right", {"title": "raced", "description": sync_service._with_footer("", sync["id"], link.op_key, "http://left")}
    )
    work(app)
    assert len(issues(client, user, left)) == 1 and len(issues(client, user, right)) == 1
    (row,) = links(client, user, sync)
    assert row["right_issue_id"] == "1" and row["state"] == "ok"


def test_backfill_pairs_200_existing_issues_once_and_resumes_from_its_cursor(app, client, db, pair):
    user, left, right = pair
    for n in range(200):
        new_issue(client, user, left, title=f"old {n}")
    sync = make_sync(client, user, left, right, backfill=True, direction="left_to_right")
    work(app)
    assert db.session.scalar(select(func.count()).select_from(SyncLink).where(SyncLink.state == "ok")) == 200
    titles = sorted(
        i["title"] for i in client.get(f"{TRACKERS}{right['id']}/issues?limit=100", headers=user.headers).get_json()["issues"]
    )
    assert len(titles) == 100  # first page of 200
    assert client.get(f"{SYNCS}{sync['id']}", headers=user.headers).get_json()["backfill_status"] == "done"
    work(app)  # once: nothing more
    assert db.session.scalar(select(func.count()).select_from(SyncLink)) == 200


def test_other_users_trackers_are_refused_naming_the_field(client, auth, pair):
    user, left, right = pair
    stranger = auth.register()
    theirs = make_tracker(client, stranger, name="theirs")
    response = client.post(
        SYNCS, json={"name": "x", "left_tracker_id": left["id"], "right_tracker_id": theirs["id"]}, headers=user.headers
    )
    assert response.status_code == 422 and set(response.get_json()["errors"]) == {"right_tracker_id"}
    sync = make_sync(client, user, left, right)
    response = client.patch(f"{SYNCS}{sync['id']}", json={"left_tracker_id": theirs["id"]}, headers=user.headers)
    assert response.status_code == 422 and set(response.get_json()["errors"]) == {"left_tracker_id"}
    for method, path in (("get", ""), ("patch", ""), ("delete", ""), ("get", "/links"), ("post", "/resync")):
        kwargs = {"json": {"enabled": False}} if method == "patch" else {}
        response = getattr(client, method)(f"{SYNCS}{sync['id']}{path}", headers=stranger.headers, **kwargs)
        assert response.status_code == 404, (method, path)
    assert client.get(SYNCS, headers=stranger.headers).get_json()["syncs"] == []


def test_pairing_two_existing_issues_and_unpairing(app, client, db, pair):
    user, left, right = pair
    sync = make_sync(client, user, left, right, conflict_policy="left")
    new_issue(client, user, left, title="left title")
    new_issue(client, user, right, title="right title")
    work(app)  # each became a mirror on the other side: 2 links
    assert len(links(client, user, sync)) == 2
    third_left = new_issue(client, user, left, title="alpha")
    sync2 = make_sync(client, user, left, right, enabled=True, direction="left_to_right", filter={"labels_include": ["never"]})
    third_right = new_issue(client, user, right, title="beta")
    work(app)
    response = client.post(
        f"{SYNCS}{sync2['id']}/links",
        json={"left_issue_id": third_left["id"], "right_issue_id": third_right["id"]},
        headers=user.headers,
    )
    assert response.status_code == 201, response.get_json()
    again = client.post(
        f"{SYNCS}{sync2['id']}/links",
        json={"left_issue_id": third_left["id"], "right_issue_id": third_right["id"]},
        headers=user.headers,
    )
    assert again.status_code == 409
    missing = client.post(
        f"{SYNCS}{sync2['id']}/links", json={"left_issue_id": "999", "right_issue_id": third_right["id"]}, headers=user.headers
    )
    assert missing.status_code == 422 and set(missing.get_json()["errors"]) == {"left_issue_id"}
    work(app)
    assert issue(client, user, right, third_right["id"])["title"] == "alpha"
    link = response.get_json()
    assert client.delete(f"{SYNCS}{sync2['id']}/links/{link['id']}", headers=user.headers).status_code == 200
    patch(client, user, left, third_left["id"], title="alpha 2")
    work(app)
    assert issue(client, user, right, third_right["id"])["title"] == "alpha"  # unpaired: nothing more synced


def test_backfill_resumes_from_the_cursor_stored_on_the_sync(app, client, db, pair):
    user, left, right = pair
    for n in range(120):
        new_issue(client, user, left, title=f"old {n}")
    first_page = client.get(f"{TRACKERS}{left['id']}/issues?limit=50", headers=user.headers).get_json()
    sync = make_sync(client, user, left, right, direction="left_to_right")
    # A backfill that got through its first page of 50 before the worker died: the cursor is on the sync.
    row = db.session.get(sync_service.Sync, sync["id"])
    row.backfill, row.backfill_state = True, {"left": first_page["next_cursor"]}
    sync_service._enqueue_backfill(db.session, row.id)
    db.session.commit()
    work(app)
    mirrored = {link.left_issue_id for link in db.session.scalars(select(SyncLink))}
    assert mirrored == {str(n) for n in range(1, 71)}  # the 70 oldest: the ones after the cursor, each once
    # Turned on again, it starts over: the 50 it skipped are paired, the 70 already paired are neither again.
    for backfill in (False, True):
        client.patch(f"{SYNCS}{sync['id']}", json={"backfill": backfill}, headers=user.headers)
    work(app)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(SyncLink)) == 120
    assert db.session.scalar(select(func.count(func.distinct(SyncLink.right_issue_id)))) == 120
    right_issue = f"{TRACKERS}{right['id']}/issues/"
    assert client.get(f"{right_issue}120", headers=user.headers).status_code == 200  # 120 mirrors, none made twice
    assert client.get(f"{right_issue}121", headers=user.headers).status_code == 404


def test_sync_events_reach_automations_and_metrics_show_links_and_lag(app, client, db, pair):
    user, left, right = pair
    rule = client.post(
        "/api/v1/automations/",
        json={"name": "on link", "event_types": ["sync.linked"], "actions": [{"type": "notify", "message": "linked"}]},
        headers=user.headers,
    )
    assert rule.status_code == 201, rule.get_json()
    make_sync(client, user, left, right)
    new_issue(client, user, left, title="watched")
    work(app)
    runs = client.get(f"/api/v1/automations/{rule.get_json()['id']}/runs", headers=user.headers).get_json()["runs"]
    assert [(r["event_type"], r["status"]) for r in runs] == [("sync.linked", "succeeded")]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'sync_links{state="ok"} 1.0' in metrics
    count = [line for line in metrics.splitlines() if line.startswith("sync_lag_seconds_count")]
    assert count and float(count[0].split()[-1]) >= 1


def test_moving_a_sync_to_another_tracker_forgets_the_old_pairs_instead_of_deleting_anything(app, client, pair):
    user, left, right = pair
    sync = make_sync(client, user, left, right)
    new_issue(client, user, left, title="kept")
    work(app)
    elsewhere = make_tracker(client, user, name="elsewhere", target="elsewhere")
    response = client.patch(f"{SYNCS}{sync['id']}", json={"right_tracker_id": elsewhere["id"]}, headers=user.headers)
    assert response.status_code == 200 and response.get_json()["right_tracker_id"] == elsewhere["id"]
    assert links(client, user, sync) == []
    patch(client, user, left, 1, title="kept, renamed")
    work(app)
    assert issue(client, user, right, 1)["status"] == "open"  # the old mirror is left alone
    assert issue(client, user, left, 1)["status"] == "open"  # and no stale pair reads as a deletion
    assert [i["title"] for i in issues(client, user, elsewhere)] == []  # left 1 carries this sync's backlink already


def test_an_edited_or_deleted_comment_is_followed_by_its_mirror(app, client, db, pair):
    user, left, right = pair
    make_sync(client, user, left, right)
    new_issue(client, user, left, title="talk")
    work(app)
    url = f"{TRACKERS}{left['id']}/issues/1/comments"
    first = client.post(url, json={"body": "draft"}, headers=user.headers).get_json()
    second = client.post(url, json={"body": "to be removed"}, headers=user.headers).get_json()
    work(app)
    assert client.patch(f"{url}/{first['id']}", json={"body": "final"}, headers=user.headers).status_code == 200
    assert client.delete(f"{url}/{second['id']}", headers=user.headers).status_code == 200
    work(app)
    mirrored = client.get(f"{TRACKERS}{right['id']}/issues/1/comments", headers=user.headers).get_json()["comments"]
    assert [c["body"].split("\n\n")[0] for c in mirrored] == [f"**{user.username}** (Built-in tracker): final"]
    assert db.session.scalar(select(func.count()).select_from(SyncComment)) == 1


def test_sync_events_reach_subscriptions(app, client, db, pair):
    user, left, right = pair
    receiver = Receiver().start()
    try:
        response = client.post(
            "/api/v1/subscriptions/",
            json={"url": receiver.url, "events": ["sync.linked", "sync.conflict"], "secret": "s3cret-value-for-hmac-0123456789"},
            headers=user.headers,
        )
        assert response.status_code == 201, response.get_json()
        make_sync(client, user, left, right, conflict_policy="left")
        new_issue(client, user, left, title="original")
        work(app)
        patch(client, user, left, 1, title="from left")
        patch(client, user, right, 1, title="from right")
        work(app)
        work(app)
        received = [json.loads(r.body) for r in receiver.requests]
    finally:
        receiver.stop()
    assert sorted(body["type"] for body in received) == ["sync.conflict", "sync.linked"]
    conflict = next(body for body in received if body["type"] == "sync.conflict")
    assert conflict["data"]["changes"]["value"] == "from right" and conflict["data"]["changes"]["kept_value"] == "from left"

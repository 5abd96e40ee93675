"""The sync engine's guards, each checked where it alone decides: duplicate events collapse into one job and one
write, a write that would change nothing is never sent, values already equal on both sides are no conflict, and
each field flows only the way its own direction allows."""

import uuid

import pytest
from sqlalchemy import func, select, text

from api.jobs import QUEUE_WEBHOOKS, run_worker
from api.models.events import Event
from test.test_sync_builtin import links, make_sync
from test.test_sync_remote import WRITES, _builtin, _github, paired, settle


@pytest.fixture
def builtin_github(client, auth, db, github_fake):
    user = auth.register("octocat")
    return user, _builtin(client, db, user, "left", {}), _github(client, db, user, "right", {"github": github_fake})


def queued_sync_jobs(db):
    db.session.rollback()
    return db.session.scalar(
        text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'gateway:sync_issue' AND status = 'todo'")
    )


def github_events(db, side):
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Event).where(Event.tracker_id == side.tracker["id"]))


def repo_writes(fake, repo):
    """Write requests one repository of the GitHub fake received."""
    return sum(1 for r in fake.requests if r.method in WRITES and r.path.startswith(f"/repos/octocat/{repo}/issues"))


def test_the_same_webhook_delivered_twice_is_one_event_one_sync_job_and_one_write(app, client, db, builtin_github):
    user, left, right = builtin_github
    _, source, mirror = paired(app, client, user, left, right, title="First")
    before, events_before = left.writes(), github_events(db, right)
    client.patch(f"{right.url}/{mirror['id']}", json={"title": "Renamed on GitHub"}, headers=user.headers)
    nonce = uuid.uuid4().hex
    right.notify("issue.updated", mirror["id"], nonce=nonce)
    right.notify("issue.updated", mirror["id"], nonce=nonce)  # GitHub's redelivery: the same delivery again
    run_worker(app, concurrency=1, wait=False, queues=[QUEUE_WEBHOOKS])
    assert github_events(db, right) == events_before + 1
    assert queued_sync_jobs(db) == 1
    settle(app, left, right)
    assert left.issue(source["id"])["title"] == "Renamed on GitHub"
    assert left.writes() == before + 1  # one write on the built-in side (its one issue.updated event)


def test_changes_to_one_issue_waiting_together_make_one_sync_job_and_one_remote_write(app, client, db, builtin_github):
    user, left, right = builtin_github
    _, source, mirror = paired(app, client, user, left, right, title="First")
    before = right.writes()
    for title in ("second", "third", "fourth"):  # three events on the built-in side before any job runs
        left.update(source["id"], title=title)
    assert queued_sync_jobs(db) == 1
    settle(app, left, right)
    assert right.issue(mirror["id"])["title"] == "fourth"
    assert right.writes() == before + 1


def test_a_write_that_would_change_nothing_on_the_target_is_not_sent(app, client, auth, db, github_fake):
    user = auth.register("octocat")
    fakes = {"github": github_fake}
    left, right = _github(client, db, user, "left", fakes), _github(client, db, user, "right", fakes)
    github_fake.add_user("alice")
    github_fake.add_member("octocat/left", "alice")  # alice can be assigned on the left only
    sync = make_sync(client, user, left.tracker, right.tracker)
    source = left.create(title="Shared", assignees=["octocat"])
    settle(app, left, right)
    (mirror,) = [i for i in right.issues() if i["title"] == "Shared"]
    assert [p["username"] for p in right.issue(mirror["id"])["assignees"]] == ["octocat"]
    before = repo_writes(github_fake, "right")
    left.update(source["id"], assignees=["octocat", "alice"])
    settle(app, left, right)
    # The left's assignees changed, but mapped onto the right they are what the right already has: no request.
    assert repo_writes(github_fake, "right") == before
    assert "alice" in links(client, user, sync)[0]["notes"]["unmapped"]["right_assignees"]


def test_the_same_value_set_on_both_sides_is_no_conflict_and_no_write(app, client, db, builtin_github):
    user, left, right = builtin_github
    sync, source, mirror = paired(app, client, user, left, right, title="First")
    left.update(source["id"], title="Agreed")
    right.update(mirror["id"], title="Agreed")
    before = (left.writes(), right.writes())
    settle(app, left, right)
    assert (left.writes(), right.writes()) == before
    (link,) = links(client, user, sync)
    assert link["state"] == "ok" and link["conflicts"] == []
    assert db.session.scalar(select(func.count()).select_from(Event).where(Event.type == "sync.conflict")) == 0


def test_each_field_flows_only_the_way_its_own_direction_allows(app, client, db, builtin_github):
    user, left, right = builtin_github
    fields = {"title": "left_to_right", "labels": "right_to_left", "comments": "none"}
    _, source, mirror = paired(app, client, user, left, right, sync={"fields": fields}, title="First", labels=["from-left"])
    assert mirror["title"] == "First" and mirror["labels"] == []  # labels may not flow left -> right
    right.update(mirror["id"], title="Right may not rename", labels=["from-right"])
    left.comment(source["id"], "not mirrored")
    settle(app, left, right)
    kept = left.issue(source["id"])
    assert kept["title"] == "First" and kept["labels"] == ["from-right"]
    assert right.comments(mirror["id"]) == []
    left.update(source["id"], title="Left renames")
    settle(app, left, right)
    assert right.issue(mirror["id"])["title"] == "Left renames"

"""Two-way sync between a built-in tracker and Jira Data Center on the fake: mirroring with backlinks, status by
category (In Progress included) and priority, comments with attribution (Jira's comment events name the issue by its
number), the write counts flat after the first propagation, and deletes on either side."""

import uuid

import pytest
from sqlalchemy import func, select

from api.models.sync import SyncLink
from api.trackers.base import Capability
from api.trackers.registry import provider_class
from test.test_sync_builtin import links, make_sync, work
from test.test_sync_remote import _builtin, _jira, paired, settle

JIRA = "Jira (Cloud and Data Center)"


@pytest.fixture
def sides(client, auth, db, jira_dc_fake):
    user = auth.register("alice")  # the built-in tracker's member has the Jira user's name: assignees match
    return user, _builtin(client, db, user, "left", {}), _jira(client, db, user, "right", {"jira": jira_dc_fake})


def flat(app, left, right):
    """Deliver every echo again: nothing is written on either side."""
    before = (left.writes(), right.writes())
    settle(app, left, right)
    assert (left.writes(), right.writes()) == before


def test_issues_are_mirrored_both_ways_with_backlinks_and_echoes_change_nothing(app, client, sides):
    user, left, right = sides
    sync = make_sync(client, user, left.tracker, right.tracker)
    source = left.create(title="Crash on save", description="Steps", labels=["bug"], assignees=["alice"])
    settle(app, left, right)
    (mirror,) = right.issues()
    assert mirror["id"] == "RIGHT-1" and mirror["title"] == "Crash on save" and mirror["labels"] == ["bug"]
    assert [p["username"] for p in mirror["assignees"]] == ["alice"]
    assert mirror["description"].startswith("Steps") and source["url"] in mirror["description"]
    assert mirror["url"] in left.issue(source["id"])["description"]
    from_jira = right.create(title="Filed in Jira", description="Seen in prod")
    settle(app, left, right)
    assert sorted(i["title"] for i in left.issues()) == ["Crash on save", "Filed in Jira"]
    assert len(right.issues()) == 2  # no mirror of a mirror
    assert {link["right_issue_id"] for link in links(client, user, sync)} == {"RIGHT-1", from_jira["id"]}
    assert all(link["state"] == "ok" for link in links(client, user, sync))
    flat(app, left, right)


def test_status_category_flows_both_ways_with_one_write_each(app, client, sides):
    user, left, right = sides
    _, source, mirror = paired(app, client, user, left, right, title="Work")
    before = right.writes()
    left.update(source["id"], status_category="in_progress")
    settle(app, left, right)
    moved = right.issue(mirror["id"])
    assert moved["status_category"] == "in_progress" and moved["remote_status"] == "In Progress"
    assert right.writes() == before + 1  # one transition
    flat(app, left, right)

    before = left.writes()
    right.update(mirror["id"], status="closed")  # Jira's Done transition
    settle(app, left, right)
    done = left.issue(source["id"])
    assert done["status"] == "closed" and done["status_category"] == "done"
    assert left.writes() == before + 1  # one closing change on the built-in side, none back
    flat(app, left, right)


def test_a_title_change_in_jira_is_one_write_on_the_built_in_side_and_nothing_comes_back(app, client, sides):
    user, left, right = sides
    _, source, mirror = paired(app, client, user, left, right, title="First")
    before = (left.writes(), right.writes())
    right.update(mirror["id"], title="Renamed in Jira", labels=["ops"])
    settle(app, left, right)
    carried = left.issue(source["id"])
    assert carried["title"] == "Renamed in Jira" and carried["labels"] == ["ops"]
    assert right.writes() == before[1] + 1  # the person's own PUT; the sync wrote nothing back
    assert left.writes() == before[0] + 2  # one update on the built-in side: its labeled + updated events
    flat(app, left, right)


def test_priority_follows_where_jira_has_one_and_is_left_alone_where_it_has_none(app, client, sides):
    user, left, right = sides
    sync = make_sync(client, user, left.tracker, right.tracker)
    source = left.create(title="Ranked", priority="high")
    # Jobs only, no echo deliveries yet: a webhook is deduplicated by (title, description, due date, status, second),
    # so an echo in the same second would swallow the priority-only change below (reported to the index's owner).
    work(app)
    (mirror,) = right.issues()
    if Capability.PRIORITY in provider_class("jira").capabilities:
        assert right.issue(mirror["id"])["priority"] == "high"
        right.update(mirror["id"], priority="low")
        settle(app, left, right)
        assert left.issue(source["id"])["priority"] == "low"
    else:  # nothing to map it to: no write on Jira for a priority change, and the built-in value stays
        before = right.writes()
        left.update(source["id"], priority="low")
        settle(app, left, right)
        assert right.writes() == before
        assert left.issue(source["id"])["priority"] == "low"
        assert links(client, user, sync)[0]["state"] == "ok"
    flat(app, left, right)


def test_comments_are_mirrored_once_in_order_with_attribution_both_ways(app, client, db, sides):
    user, left, right = sides
    _, source, mirror = paired(app, client, user, left, right, title="talk")
    for body in ("one", "two"):
        left.comment(source["id"], body)
    right.comment(mirror["id"], "from jira")  # its webhook names the issue by number (10000), not by key
    settle(app, left, right)
    settle(app, left, right)
    in_jira = [c["body"].split("\n\n")[0] for c in right.comments(mirror["id"])]
    assert in_jira == ["from jira", "**alice** (Built-in tracker): one", "**alice** (Built-in tracker): two"]
    in_builtin = [c["body"].split("\n\n")[0] for c in left.comments(source["id"])]
    assert in_builtin == ["one", "two", f"**alice** ({JIRA}): from jira"]
    flat(app, left, right)


def test_an_edited_comment_is_followed_by_its_jira_mirror(app, client, sides):
    user, left, right = sides
    _, source, mirror = paired(app, client, user, left, right, title="talk")
    url = f"{left.url}/{source['id']}/comments"
    first = client.post(url, json={"body": "draft"}, headers=user.headers).get_json()
    settle(app, left, right)
    assert client.patch(f"{url}/{first['id']}", json={"body": "final"}, headers=user.headers).status_code == 200
    settle(app, left, right)
    assert [c["body"].split("\n\n")[0] for c in right.comments(mirror["id"])] == ["**alice** (Built-in tracker): final"]


def test_an_issue_deleted_in_jira_closes_its_built_in_pair(app, client, db, sides):
    user, left, right = sides
    sync = make_sync(client, user, left.tracker, right.tracker, on_delete="close")
    created = right.create(title="doomed in Jira")
    settle(app, left, right)
    (mirror,) = left.issues()
    raw = right.raw(created["id"])
    assert client.delete(f"{right.url}/{created['id']}", headers=user.headers).status_code == 200
    right._notify_jira("issue.deleted", created["id"], None, None, uuid.uuid4().hex, raw=raw)
    settle(app, left, right)
    assert left.issue(mirror["id"])["status"] == "closed"
    assert links(client, user, sync) == []
    assert db.session.scalar(select(func.count()).select_from(SyncLink)) == 0


def test_an_issue_deleted_on_the_built_in_side_deletes_its_jira_pair(app, client, sides):
    user, left, right = sides
    sync = make_sync(client, user, left.tracker, right.tracker, on_delete="delete")
    source = left.create(title="doomed here")
    settle(app, left, right)
    (mirror,) = right.issues()
    assert client.delete(f"{left.url}/{source['id']}", headers=user.headers).status_code == 200
    settle(app, left, right)
    assert client.get(f"{right.url}/{mirror['id']}", headers=user.headers).status_code == 404
    assert right.issues() == [] and links(client, user, sync) == []

"""What a poll cycle costs the provider: an unchanged cycle on the GitHub fake asks only conditional requests, each
answered 304 (no rate limit spent), and reads no issue's comments, even for issues inside the overlap window."""

from datetime import timedelta

import requests

from api.models.base import utcnow
from api.models.index import IndexedIssue
from api.services import polling

REPO = "Codertocat/Hello-World"


def _core_used(fake):
    """The fake's core rate limit spent by the gateway's token (asking it is free)."""
    response = requests.get(f"{fake.base_url}/rate_limit", headers={"Authorization": "token gh-token"}, timeout=10)
    return response.json()["resources"]["core"]["used"]


def _poll(db, tracker_id):
    result = polling.poll_tracker(session=db.session, tracker_id=tracker_id)
    db.session.remove()
    return result


def _in_the_overlap(fake):
    """Both issues (one with a comment) last updated within the poll's overlap window, seconds before the baseline."""
    recently = (utcnow() - timedelta(seconds=20)).replace(microsecond=0)
    with fake.lock:
        fake.state.repos[REPO.lower()].issues[1].updated_at = recently
    fake.add_issue(REPO, "Second issue", updated_at=recently - timedelta(seconds=10))
    fake.add_comment(REPO, 1, "A comment from before the baseline", created_at=recently)


def test_an_unchanged_github_poll_cycle_asks_only_conditional_requests_answered_304(client, db, github, app):
    fake, tracker_id = github["fake"], github["tracker"]["id"]
    assert app.config["POLL_OVERLAP_SECONDS"] >= 40  # both issues stay in the overlap window
    _in_the_overlap(fake)
    _poll(db, tracker_id)  # the baseline
    _poll(db, tracker_id)  # the first incremental poll: new URLs (`since=`), asked once unconditionally
    used = _core_used(fake)
    seen = len(fake.requests)
    assert _poll(db, tracker_id)["issues"] == 2  # both listed again (the overlap), unchanged
    cycle = fake.requests[seen:]
    assert sorted(r.path for r in cycle) == [f"/repos/{REPO}/issues", f"/repos/{REPO}/issues/comments"]
    assert all(r.headers.get("if-none-match") for r in cycle)
    assert _core_used(fake) == used  # every one answered 304: a 200 would have spent the rate limit


def test_a_comment_added_behind_the_gateway_is_still_read_in_the_next_cycle(client, db, github):
    fake, tracker_id = github["fake"], github["tracker"]["id"]
    _in_the_overlap(fake)
    _poll(db, tracker_id)
    _poll(db, tracker_id)
    fake.add_comment(REPO, 2, "Added between two polls")
    seen = len(fake.requests)
    _poll(db, tracker_id)
    assert f"/repos/{REPO}/issues/2/comments" in [r.path for r in fake.requests[seen:]]  # its count changed
    assert db.session.get(IndexedIssue, (tracker_id, "2")).comments_count == 1


def test_an_issue_indexed_within_its_update_second_has_its_comments_read_again(client, db, github):
    fake, tracker_id = github["fake"], github["tracker"]["id"]
    _in_the_overlap(fake)
    with fake.lock:  # updated in the second the polls read it (here: ahead of the gateway's clock), so nothing is settled
        fake.state.repos[REPO.lower()].issues[1].updated_at = (utcnow() + timedelta(seconds=30)).replace(microsecond=0)
    _poll(db, tracker_id)
    _poll(db, tracker_id)
    seen = len(fake.requests)
    _poll(db, tracker_id)
    assert sorted(r.path for r in fake.requests[seen:] if r.path.endswith("/comments")) == [
        f"/repos/{REPO}/issues/1/comments",
        f"/repos/{REPO}/issues/comments",
    ]


def test_an_issue_a_webhook_refreshed_has_its_comments_read_by_the_next_poll(client, db, github):
    fake, tracker_id = github["fake"], github["tracker"]["id"]
    _in_the_overlap(fake)
    _poll(db, tracker_id)
    _poll(db, tracker_id)
    added = fake.add_comment(REPO, 2, "Announced by a webhook")  # GitHub leaves the issue's update time alone
    polling.refresh_issues(session=db.session, tracker_id=tracker_id, issue_ids=["2"])  # the count is indexed now
    db.session.remove()
    seen = len(fake.requests)
    _poll(db, tracker_id)
    assert f"/repos/{REPO}/issues/2/comments" in [r.path for r in fake.requests[seen:]]
    assert str(added["id"]) in db.session.get(IndexedIssue, (tracker_id, "2")).comments

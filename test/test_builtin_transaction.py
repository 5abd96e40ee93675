"""A change to a locally stored tracker and the events it amounts to are committed in one transaction."""

import pytest
from sqlalchemy import func, select

from api.models.trackers import BuiltinComment, BuiltinIssue
from api.models.users import User
from api.services import events as events_service
from api.services import trackers as trackers_service
from test.test_trackers import make_tracker


class RecorderDown(Exception):
    pass


def _fail_recording(monkeypatch):
    def record(**kwargs):
        raise RecorderDown()

    monkeypatch.setattr(events_service, "record", record)


def test_event_recording_failure_leaves_no_issue_row_behind(client, auth, db, monkeypatch):
    user = auth.register()
    tracker = make_tracker(client, user)
    owner = db.session.scalar(select(User).where(User.username == user.username))
    _fail_recording(monkeypatch)
    with pytest.raises(RecorderDown):
        trackers_service.create_issue(session=db.session, owner=owner, tracker_id=tracker["id"], data={"title": "Lost"})
    db.session.rollback()  # what the request's teardown does with a failed transaction
    assert db.session.scalar(select(func.count()).select_from(BuiltinIssue).where(BuiltinIssue.tracker_id == tracker["id"])) == 0


def test_event_recording_failure_leaves_issue_update_and_comment_undone(client, auth, db, monkeypatch):
    user = auth.register()
    tracker = make_tracker(client, user)
    url = f"/api/v1/trackers/{tracker['id']}/issues"
    assert client.post(url, json={"title": "Kept"}, headers=user.headers).status_code == 201
    owner = db.session.scalar(select(User).where(User.username == user.username))
    _fail_recording(monkeypatch)
    with pytest.raises(RecorderDown):
        trackers_service.update_issue(
            session=db.session, owner=owner, tracker_id=tracker["id"], issue_id="1", data={"title": "Changed", "status": "closed"}
        )
    db.session.rollback()
    with pytest.raises(RecorderDown):
        trackers_service.create_comment(session=db.session, owner=owner, tracker_id=tracker["id"], issue_id="1", body="lost")
    db.session.rollback()
    row = db.session.scalar(select(BuiltinIssue).where(BuiltinIssue.tracker_id == tracker["id"]))
    assert (row.title, row.status, row.comments_count) == ("Kept", "open", 0)
    assert db.session.scalar(select(func.count()).select_from(BuiltinComment).where(BuiltinComment.issue_id == row.id)) == 0

"""Idempotency-Key edge cases: expiry, key validation, the in-progress 409, and the claim committed before the action runs."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from api.models.base import utcnow
from api.models.idempotency import IdempotencyRecord
from api.services import idempotency
from test.test_issue_templates import TEMPLATES, make_template
from test.test_trackers import make_tracker


@pytest.fixture
def owner(auth):
    return auth.register()


@pytest.fixture
def issues(client, owner):
    return f"/api/v1/trackers/{make_tracker(client, owner)['id']}/issues"


def post(client, url, owner, key, body):
    return client.post(url, json=body, headers={**owner.headers, "Idempotency-Key": key})


def age_key(db, key, age):
    with db.engine.begin() as connection:
        connection.execute(sa.update(IdempotencyRecord).where(IdempotencyRecord.key == key).values(created_at=utcnow() - age))


def titles(client, url, owner):
    return [issue["title"] for issue in client.get(url, headers=owner.headers).get_json()["issues"]]


def test_a_key_older_than_24_hours_is_forgotten_and_the_request_runs_again(client, db, owner, issues):
    assert post(client, issues, owner, "old", {"title": "First"}).status_code == 201
    age_key(db, "old", timedelta(hours=24, minutes=1))
    again = post(client, issues, owner, "old", {"title": "Second"})
    assert again.status_code == 201 and again.get_json()["title"] == "Second"
    assert "Idempotent-Replayed" not in again.headers
    assert sorted(titles(client, issues, owner)) == ["First", "Second"]


def test_a_key_younger_than_24_hours_is_still_replayed(client, db, owner, issues):
    first = post(client, issues, owner, "recent", {"title": "Once"})
    age_key(db, "recent", timedelta(hours=23))
    again = post(client, issues, owner, "recent", {"title": "Once"})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json() and titles(client, issues, owner) == ["Once"]


def test_an_expired_key_of_another_user_does_not_free_mine(client, db, auth, owner, issues):
    assert post(client, issues, owner, "shared", {"title": "Mine"}).status_code == 201
    other = auth.register()
    other_issues = f"/api/v1/trackers/{make_tracker(client, other)['id']}/issues"
    assert post(client, other_issues, other, "shared", {"title": "Theirs"}).status_code == 201
    with db.engine.begin() as connection:
        connection.execute(
            sa.update(IdempotencyRecord)
            .where(IdempotencyRecord.user_id == other.id)
            .values(created_at=utcnow() - timedelta(hours=25))
        )
    retry = post(client, issues, owner, "shared", {"title": "Mine"})
    assert retry.headers["Idempotent-Replayed"] == "true" and titles(client, issues, owner) == ["Mine"]


def test_a_255_character_key_is_accepted(client, owner, issues):
    response = post(client, issues, owner, "k" * 255, {"title": "Long key"})
    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers


@pytest.mark.parametrize("key", ["k" * 256, "   ", "tab\there"], ids=["256 characters", "blank", "not printable"])
def test_an_invalid_key_is_refused_with_400_and_runs_nothing(client, owner, issues, key):
    response = post(client, issues, owner, key, {"title": "Never"})
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_idempotency_key"
    assert body["message"] == "Idempotency-Key must be 1-255 printable characters."
    assert titles(client, issues, owner) == []


def test_a_first_response_is_not_marked_replayed_with_or_without_a_key(client, owner, issues):
    plain = client.post(issues, json={"title": "No key"}, headers=owner.headers)
    keyed = post(client, issues, owner, "fresh", {"title": "Keyed"})
    assert plain.status_code == keyed.status_code == 201
    assert "Idempotent-Replayed" not in plain.headers and "Idempotent-Replayed" not in keyed.headers


def test_a_retry_while_the_first_request_is_unfinished_is_409_with_retry_after_1(client, db, owner, issues):
    assert post(client, issues, owner, "busy", {"title": "Slow"}).status_code == 201
    with db.engine.begin() as connection:  # the state a still-running first request leaves: claimed, no response yet
        connection.execute(
            sa.update(IdempotencyRecord).where(IdempotencyRecord.key == "busy").values(status_code=None, response=None)
        )
    retry = post(client, issues, owner, "busy", {"title": "Slow"})
    assert retry.status_code == 409 and retry.headers["Retry-After"] == "1"
    body = retry.get_json()
    assert body["error"] == "idempotency_key_in_progress"
    assert body["message"] == "A request with this Idempotency-Key is still being processed; retry shortly."
    assert "Idempotent-Replayed" not in retry.headers


def test_a_reused_key_with_another_body_says_why(client, owner, issues):
    assert post(client, issues, owner, "k1", {"title": "A"}).status_code == 201
    response = post(client, issues, owner, "k1", {"title": "B"})
    assert response.status_code == 422
    assert response.get_json()["message"] == "This Idempotency-Key was already used with a different request."


def test_a_retry_with_the_same_variables_in_another_order_is_replayed(client, owner):
    template = make_template(client, owner)
    tracker = make_tracker(client, owner)
    url = f"{TEMPLATES}{template['id']}/issues"
    headers = {**owner.headers, "Idempotency-Key": "tpl", "Content-Type": "application/json"}
    # Raw bodies: the test client's json= would sort the keys itself.
    tid = tracker["id"]
    first = client.post(url, headers=headers, data=f'{{"tracker_id": {tid}, "variables": {{"component": "c", "steps": "s"}}}}')
    again = client.post(url, headers=headers, data=f'{{"variables": {{"steps": "s", "component": "c"}}, "tracker_id": {tid}}}')
    assert first.status_code == again.status_code == 201, again.get_json()
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json() == first.get_json()


def test_the_key_is_claimed_for_other_requests_before_the_action_runs(db, owner):
    seen = []

    def action():
        with db.engine.connect() as other:  # another request's connection
            seen.append(other.execute(sa.select(IdempotencyRecord.status_code, IdempotencyRecord.key)).all())
        return {"ok": True}, 201

    body, status, replayed = idempotency.run(
        session=db.session, user_id=owner.id, key="claim", scope="POST /x", payload={"a": 1}, action=action
    )
    assert (body, status, replayed) == ({"ok": True}, 201, False)
    assert seen == [[(None, "claim")]]
    assert idempotency.run(
        session=db.session,
        user_id=owner.id,
        key="claim",
        scope="POST /x",
        payload={"a": 1},
        action=lambda: pytest.fail("a replay must not run the action"),
    ) == ({"ok": True}, 201, True)


def test_an_action_failing_on_a_database_error_re_raises_it_and_frees_the_key(db, owner):
    def failing():
        db.session.execute(sa.text("SELECT 1 / 0"))

    with pytest.raises(sa.exc.DataError, match="division by zero"):
        idempotency.run(session=db.session, user_id=owner.id, key="boom", scope="POST /x", payload={}, action=failing)
    with db.engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(IdempotencyRecord)).scalar_one() == 0
    assert idempotency.run(
        session=db.session, user_id=owner.id, key="boom", scope="POST /x", payload={}, action=lambda: ({"second": True}, 201)
    ) == ({"second": True}, 201, False)

"""A rule's create, change and delete are committed (another connection sees them), and each user sees only their own."""

from sqlalchemy import text

AUTOMATIONS = "/api/v1/automations/"


def _stored(db, rule_id):
    with db.engine.connect() as other:  # another connection: only committed rows
        return other.execute(text("SELECT name FROM automations WHERE id = :id"), {"id": rule_id}).scalar_one_or_none()


def test_creating_changing_and_deleting_a_rule_are_committed(client, auth, db):
    user = auth.register()
    created = client.post(
        AUTOMATIONS,
        json={"name": "first", "event_types": ["issue.created"], "actions": [{"type": "notify"}]},
        headers=user.headers,
    )
    assert created.status_code == 201, created.get_json()
    rule_id = created.get_json()["id"]
    assert _stored(db, rule_id) == "first"
    assert client.patch(f"{AUTOMATIONS}{rule_id}", json={"name": "second"}, headers=user.headers).status_code == 200
    assert _stored(db, rule_id) == "second"
    assert client.delete(f"{AUTOMATIONS}{rule_id}", headers=user.headers).status_code == 200
    assert _stored(db, rule_id) is None


def test_a_user_lists_only_their_own_rules(client, auth):
    user, other = auth.register(), auth.register()
    for owner, name in ((user, "mine"), (other, "theirs")):
        response = client.post(
            AUTOMATIONS,
            json={"name": name, "event_types": ["issue.created"], "actions": [{"type": "notify"}]},
            headers=owner.headers,
        )
        assert response.status_code == 201
    listed = client.get(AUTOMATIONS, headers=user.headers).get_json()
    assert [rule["name"] for rule in listed["automations"]] == ["mine"]

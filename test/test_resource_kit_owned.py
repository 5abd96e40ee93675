"""The owned collections the resource kit declares (`ns.owned`): the whole list/create/get/change/delete round trip."""

import pytest

from test.test_trackers import make_tracker


def _sync_body(client, user):
    left, right = make_tracker(client, user, name="left"), make_tracker(client, user, name="right")
    return {"name": "first", "left_tracker_id": left["id"], "right_tracker_id": right["id"]}


# (url, the list key and the delete message's noun, a body that creates one, a change)
OWNED = {
    "automations": (
        "/api/v1/automations/",
        "automation",
        lambda client, user: {"name": "first", "event_types": ["issue.created"], "actions": [{"type": "notify"}]},
        {"enabled": False},
    ),
    "syncs": ("/api/v1/syncs/", "sync", _sync_body, {"enabled": False}),
    "subscriptions": (
        "/api/v1/subscriptions/",
        "subscription",
        lambda client, user: {"url": "http://127.0.0.1:9/hook", "events": ["*"], "secret": "s" * 16},
        {"enabled": False},
    ),
    "templates": ("/api/v1/templates/", "template", lambda client, user: {"name": "first", "title": "t"}, {"name": "second"}),
}


@pytest.mark.parametrize("key", sorted(OWNED))
def test_owner_lists_creates_reads_changes_and_deletes_an_owned_item(client, auth, key):
    url, noun, make_body, change = OWNED[key]
    user, other = auth.register(), auth.register()
    created = client.post(url, json=make_body(client, user), headers=user.headers)
    assert created.status_code == 201, created.get_json()
    item_id = created.get_json()["id"]
    item_url = f"{url}{item_id}"
    mine, theirs = ([item["id"] for item in client.get(url, headers=owner.headers).get_json()[key]] for owner in (user, other))
    assert item_id in mine and item_id not in theirs
    assert client.get(item_url, headers=user.headers).get_json()["id"] == item_id
    changed = client.patch(item_url, json=change, headers=user.headers)
    assert changed.status_code == 200 and change.items() <= changed.get_json().items()
    assert client.get(item_url, headers=user.headers).get_json().items() >= change.items()
    deleted = client.delete(item_url, headers=user.headers)
    assert (deleted.status_code, deleted.get_json()) == (200, {"message": f"{noun} deleted {item_id}"})
    assert client.get(item_url, headers=user.headers).status_code == 404
    assert item_id not in [item["id"] for item in client.get(url, headers=user.headers).get_json()[key]]

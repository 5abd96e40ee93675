"""What the gateway's adapters send is what the providers document: every request an adapter made while driving the
gateway's API is checked against its provider's spec, for every request check of every registered provider
(test/fakes/<slug>.py `REQUEST_CHECKS`; the spec-specific corrections live beside each fake)."""

import pytest

from test.fakes import kit_items
from test.fakes.specs import specs_dir
from test.test_trackers import TRACKERS

ROOT = specs_dir()
CHECKS = {check.variant: check for _, check in kit_items("REQUEST_CHECKS")}


def _connect(client, user, **body):
    response = client.post(TRACKERS, json={"name": body["provider"], **body}, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _drive(client, user, tracker, member):
    base = f"{TRACKERS}{tracker['id']}"
    issue = client.post(
        f"{base}/issues", json={"title": "T", "description": "D", "labels": ["bug"], "assignees": [member]}, headers=user.headers
    ).get_json()
    for change in (
        {"title": "T2"},
        {"description": "D2"},
        {"labels": ["bug"]},
        {"assignees": [member]},
        {"status": "closed"},
        {"status": "open"},
    ):
        assert client.patch(f"{base}/issues/{issue['id']}", json=change, headers=user.headers).status_code == 200
    assert client.post(f"{base}/issues/{issue['id']}/comments", json={"body": "c"}, headers=user.headers).status_code == 201
    for query in (
        {},
        {"status": "open", "labels": "bug", "assignee": member, "updated_since": "2020-01-01T00:00:00Z"},
        {"q": "T2"},
    ):
        assert client.get(f"{base}/issues", query_string=query, headers=user.headers).status_code == 200
    client.get(f"{base}/issues/{issue['id']}/comments", headers=user.headers)
    client.get(f"{base}/labels", headers=user.headers)
    client.get(f"{base}/members", headers=user.headers)
    assert client.post(f"{base}/webhook", headers=user.headers).status_code == 201
    assert client.delete(f"{base}/webhook", headers=user.headers).status_code == 200
    return base


@pytest.mark.parametrize("variant", CHECKS)
def test_adapter_requests_match_the_provider_s_description(request, client, auth, variant):
    check = CHECKS[variant]
    fake = request.getfixturevalue(f"{variant}_fake")
    user = auth.register()
    tracker, member = check.setup(fake, lambda **body: _connect(client, user, **body))
    (check.drive or _drive)(client, user, tracker, member)
    if check.after is not None:
        check.after(client, user, tracker)
    checked = check.check(fake, ROOT)
    assert check.expected <= checked, check.expected - checked

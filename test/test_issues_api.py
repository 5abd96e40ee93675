"""The unified issue endpoints, exercised on the built-in provider (remote providers: test_provider_contract)."""

import threading

import pytest

from test.test_trackers import TRACKERS, make_tracker


@pytest.fixture
def owner(auth):
    return auth.register()


@pytest.fixture
def tracker(client, owner):
    return make_tracker(client, owner)


def issues_url(tracker, suffix=""):
    return f"{TRACKERS}{tracker['id']}/issues{suffix}"


def create_issue(client, owner, tracker, **body):
    response = client.post(issues_url(tracker), json={"title": "Bug", **body}, headers=owner.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_created_issue_has_the_unified_shape(client, owner, tracker):
    issue = create_issue(
        client, owner, tracker, description="It breaks", labels=["bug"], assignees=[owner.username], due_date="2030-01-31"
    )
    assert issue["id"] == "1" and issue["tracker_id"] == tracker["id"] and issue["status"] == "open"
    assert issue["labels"] == ["bug"] and issue["assignees"][0]["username"] == owner.username
    assert issue["author"]["username"] == owner.username and issue["due_date"] == "2030-01-31"
    assert issue["url"].endswith(f"/api/v1/trackers/{tracker['id']}/issues/1")
    assert issue["created_at"].endswith("+00:00") and "remote_data" not in issue


def test_remote_data_only_on_request(client, owner, tracker):
    create_issue(client, owner, tracker)
    plain = client.get(issues_url(tracker, "/1"), headers=owner.headers).get_json()
    full = client.get(issues_url(tracker, "/1"), query_string={"include_remote_data": "true"}, headers=owner.headers)
    assert "remote_data" not in plain and full.get_json()["remote_data"]["number"] == 1


def test_update_each_field_and_close_reopen(client, owner, tracker):
    create_issue(client, owner, tracker)
    url = issues_url(tracker, "/1")
    for change in (
        {"title": "New"},
        {"description": "More"},
        {"labels": ["a", "b"]},
        {"assignees": [owner.username]},
        {"due_date": "2031-02-03"},
        {"due_date": None},
        {"assignees": []},
    ):
        response = client.patch(url, json=change, headers=owner.headers)
        assert response.status_code == 200, response.get_json()
        key, value = next(iter(change.items()))
        got = response.get_json()[key]
        assert (got if key != "assignees" else [p["username"] for p in got]) == value
    closed = client.patch(url, json={"status": "closed"}, headers=owner.headers).get_json()
    assert closed["status"] == "closed" and closed["closed_at"]
    reopened = client.patch(url, json={"status": "open"}, headers=owner.headers).get_json()
    assert reopened["status"] == "open" and reopened["closed_at"] is None


def test_filters_and_ordering_by_updated_at(client, owner, tracker):
    create_issue(client, owner, tracker, title="Login fails", labels=["bug", "auth"])
    create_issue(client, owner, tracker, title="Add dark mode", labels=["feature"], assignees=[owner.username])
    create_issue(client, owner, tracker, title="Crash on save", labels=["bug"])
    client.patch(issues_url(tracker, "/3"), json={"status": "closed"}, headers=owner.headers)
    client.patch(issues_url(tracker, "/1"), json={"description": "touched"}, headers=owner.headers)

    def ids(**query):
        response = client.get(issues_url(tracker), query_string=query, headers=owner.headers)
        assert response.status_code == 200, response.get_json()
        return [issue["id"] for issue in response.get_json()["issues"]]

    assert ids() == ["1", "3", "2"]
    assert ids(status="open") == ["1", "2"] and ids(status="closed") == ["3"]
    assert ids(labels="bug") == ["1", "3"] and ids(labels="bug,auth") == ["1"]
    assert ids(assignee=owner.username) == ["2"]
    assert ids(q="CRASH") == ["3"]
    everything = client.get(issues_url(tracker), headers=owner.headers).get_json()["issues"]
    assert ids(updated_since=everything[0]["updated_at"]) == ["1"]


def test_paginate_to_the_end_without_repeats(client, owner, tracker):
    for n in range(7):
        create_issue(client, owner, tracker, title=f"Issue {n}")
    seen, cursor = [], None
    while True:
        body = client.get(
            issues_url(tracker), query_string={"limit": 3, **({"cursor": cursor} if cursor else {})}, headers=owner.headers
        ).get_json()
        seen += [issue["id"] for issue in body["issues"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert sorted(seen, key=int) == [str(n) for n in range(1, 8)] and len(seen) == 7


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x" * 256}, "title"),
        ({"title": "x", "labels": "bug"}, "labels"),
        ({"title": "x", "due_date": "tomorrow"}, "due_date"),
        ({"title": "x", "status": "open"}, "status"),
    ],
)
def test_invalid_issue_is_400(client, owner, tracker, body, field):
    response = client.post(issues_url(tracker), json=body, headers=owner.headers)
    assert response.status_code == 400 and field in response.get_json()["errors"]


def test_unknown_assignee_is_422(client, owner, tracker):
    response = client.post(issues_url(tracker), json={"title": "x", "assignees": ["nobody"]}, headers=owner.headers)
    assert response.status_code == 422 and response.get_json()["error"] == "tracker_validation_failed"


@pytest.mark.parametrize("issue_id", ["999", "abc", "0", "99999999999"])
def test_unknown_issue_is_404_issue_not_found_for_every_issue_operation(client, owner, tracker, issue_id):
    calls = [("GET", "", None), ("PATCH", "", {"title": "x"}), ("GET", "/comments", None), ("POST", "/comments", {"body": "x"})]
    for method, suffix, body in calls:
        response = client.open(issues_url(tracker, f"/{issue_id}{suffix}"), method=method, json=body, headers=owner.headers)
        assert response.status_code == 404, (method, suffix)
        assert response.get_json()["error"] == "issue_not_found", (method, suffix, response.get_json())


def test_unknown_issue_on_a_remote_tracker_is_issue_not_found(client, owner, github_fake):
    github_fake.add_token("gh-token", login="octocat")
    github_fake.add_repo("o/r")
    remote = make_tracker(
        client,
        owner,
        name="gh",
        provider="github",
        target="o/r",
        base_url=github_fake.base_url,
        credentials={"token": "gh-token"},
    )
    response = client.get(issues_url(remote, "/424242"), headers=owner.headers)
    assert response.status_code == 404 and response.get_json()["error"] == "issue_not_found"


def test_comments_create_list_and_paginate(client, owner, tracker):
    create_issue(client, owner, tracker)
    url = issues_url(tracker, "/1/comments")
    for n in range(3):
        response = client.post(url, json={"body": f"comment {n}"}, headers=owner.headers)
        assert response.status_code == 201 and response.get_json()["author"]["username"] == owner.username
    first = client.get(url, query_string={"limit": 2}, headers=owner.headers).get_json()
    second = client.get(url, query_string={"limit": 2, "cursor": first["next_cursor"]}, headers=owner.headers).get_json()
    assert [c["body"] for c in first["comments"] + second["comments"]] == ["comment 0", "comment 1", "comment 2"]
    assert client.get(issues_url(tracker, "/1"), headers=owner.headers).get_json()["comments_count"] == 3


def test_labels_and_members(client, owner, tracker):
    create_issue(client, owner, tracker, labels=["bug", "ui"])
    labels = client.get(f"{TRACKERS}{tracker['id']}/labels", headers=owner.headers).get_json()["labels"]
    assert [label["name"] for label in labels] == ["bug", "ui"]
    members = client.get(f"{TRACKERS}{tracker['id']}/members", headers=owner.headers).get_json()["members"]
    assert [member["username"] for member in members] == [owner.username]


def test_idempotency_key_replays_the_first_response_and_creates_nothing_new(client, owner, tracker):
    headers = {**owner.headers, "Idempotency-Key": "create-42"}
    first = client.post(issues_url(tracker), json={"title": "Once"}, headers=headers)
    again = client.post(issues_url(tracker), json={"title": "Once"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json() and again.headers["Idempotent-Replayed"] == "true"
    listing = client.get(issues_url(tracker), headers=owner.headers).get_json()["issues"]
    assert [issue["title"] for issue in listing] == ["Once"]


def test_idempotency_key_with_a_different_body_is_422(client, owner, tracker):
    headers = {**owner.headers, "Idempotency-Key": "k1"}
    assert client.post(issues_url(tracker), json={"title": "A"}, headers=headers).status_code == 201
    response = client.post(issues_url(tracker), json={"title": "B"}, headers=headers)
    assert response.status_code == 422 and response.get_json()["error"] == "idempotency_key_reused"


def test_idempotency_key_is_scoped_per_user_and_endpoint(client, auth, owner, tracker):
    headers = {**owner.headers, "Idempotency-Key": "same"}
    first = client.post(issues_url(tracker), json={"title": "Same"}, headers=headers)
    assert first.status_code == 201
    # The same key and the same valid body on another endpoint is not a retry of the first request.
    second_tracker = make_tracker(client, owner, name="Second")
    elsewhere = client.post(issues_url(second_tracker), json={"title": "Same"}, headers=headers)
    assert elsewhere.status_code == 422 and elsewhere.get_json()["error"] == "idempotency_key_reused"
    assert "Idempotent-Replayed" not in elsewhere.headers
    assert client.get(issues_url(second_tracker), headers=owner.headers).get_json()["issues"] == []
    other = auth.register()
    other_tracker = make_tracker(client, other)
    response = client.post(
        issues_url(other_tracker), json={"title": "Mine"}, headers={**other.headers, "Idempotency-Key": "same"}
    )
    assert response.status_code == 201


def test_failed_request_does_not_burn_the_idempotency_key(client, owner, tracker):
    headers = {**owner.headers, "Idempotency-Key": "retry-me"}
    bad = client.post(issues_url(tracker), json={"title": "x", "assignees": ["ghost"]}, headers=headers)
    assert bad.status_code == 422
    good = client.post(issues_url(tracker), json={"title": "x", "assignees": ["ghost"]}, headers=headers)
    assert good.status_code == 422  # re-executed, not replayed
    assert "Idempotent-Replayed" not in good.headers


def test_concurrent_retries_with_one_key_create_one_issue(app, owner, tracker):
    headers = {**owner.headers, "Idempotency-Key": "race"}
    statuses = []

    def post():
        statuses.append(app.test_client().post(issues_url(tracker), json={"title": "Race"}, headers=headers).status_code)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}
    listing = app.test_client().get(issues_url(tracker), headers=owner.headers).get_json()["issues"]
    assert len(listing) == 1


def test_aggregate_merges_all_trackers_by_updated_at(client, owner):
    first = make_tracker(client, owner, name="A", target="a")
    second = make_tracker(client, owner, name="B", target="b")
    create_issue(client, owner, first, title="a1")
    create_issue(client, owner, second, title="b1")
    create_issue(client, owner, first, title="a2")
    body = client.get("/api/v1/issues", headers=owner.headers).get_json()
    assert [issue["title"] for issue in body["issues"]] == ["a2", "b1", "a1"]
    assert body["errors"] == [] and body["next_cursor"] is None


def test_aggregate_paginates_across_trackers_without_gaps_or_repeats(client, owner):
    trackers = [make_tracker(client, owner, name=f"T{n}", target=f"t{n}") for n in range(3)]
    for n in range(8):
        create_issue(client, owner, trackers[n % 3], title=f"i{n}")
    titles, cursor = [], None
    for _ in range(10):
        body = client.get(
            "/api/v1/issues", query_string={"limit": 3, **({"cursor": cursor} if cursor else {})}, headers=owner.headers
        ).get_json()
        titles += [issue["title"] for issue in body["issues"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert titles == [f"i{n}" for n in reversed(range(8))]


def test_aggregate_only_sees_the_callers_trackers(client, auth, owner):
    mine = make_tracker(client, owner)
    create_issue(client, owner, mine, title="mine")
    other = auth.register()
    create_issue(client, other, make_tracker(client, other), title="theirs")
    titles = [i["title"] for i in client.get("/api/v1/issues", headers=owner.headers).get_json()["issues"]]
    assert titles == ["mine"]


def test_aggregate_names_a_failing_tracker_and_still_lists_the_others(client, owner, github_fake):
    healthy = make_tracker(client, owner, name="healthy", target="h")
    create_issue(client, owner, healthy, title="still listed")
    github_fake.add_repo("o/r")
    broken = make_tracker(
        client,
        owner,
        name="broken",
        provider="github",
        target="o/r",
        base_url=github_fake.base_url,
        credentials={"token": "not-a-valid-token"},
    )
    response = client.get("/api/v1/issues", headers=owner.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert [issue["title"] for issue in body["issues"]] == ["still listed"]
    assert [(failure["tracker_id"], failure["name"], failure["code"]) for failure in body["errors"]] == [
        (broken["id"], "broken", 502)
    ]
    assert body["errors"][0]["error"] == "tracker_auth_failed" and body["errors"][0]["message"]

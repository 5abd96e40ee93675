"""Fast reads from the local index (source=index): the live list's filters, model and cursor pagination, PostgreSQL
full-text search for q, indexed_at per issue and X-Index-Age, over one tracker or all of a user's trackers."""

from datetime import UTC, datetime, timedelta

import pytest

from api.services import polling
from test import test_provider_contract as contract
from test.test_polling_events import POLLED, poll
from test.test_provider_contract import create, parametrize_env
from test.test_provider_contract_deeper import enable_workflow
from test.test_trackers import TRACKERS

env = contract.env  # the contract suite's per-provider environment (a fixture)

ISSUES = "/api/v1/issues"


def _tracker(client, user, **body):
    response = client.post(TRACKERS, json=body, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def indexed(client, auth, db, github_fake, gitlab_fake):
    """A GitHub and a GitLab tracker on their fakes, polled once (the baseline), and a built-in tracker."""
    user = auth.register()
    github_fake.add_token("gh-token", login="octocat")
    github_fake.add_repo("octo/site")
    github_fake.add_member("octo/site", "octocat")
    github_fake.add_issue("octo/site", "Login page crashes on submit", body="Stack trace attached", labels=["bug"])
    github_fake.add_issue("octo/site", "Dark mode", labels=["ui"], assignees=["octocat"])
    github_fake.add_issue("octo/site", "Crash when saving drafts", labels=["bug", "ui"], state="closed")
    github_fake.add_issue("octo/site", "Typo in footer", body="the word 'recieve'")
    gitlab_fake.add_token("gl-token", username="root")
    project = gitlab_fake.add_project("group/app")
    gitlab_fake.add_member(project["id"], "root")
    gitlab_fake.add_issue(project["id"], "Export crashes with unicode", labels=["bug"])
    gh = _tracker(
        client,
        user,
        name="gh",
        provider="github",
        target="octo/site",
        base_url=github_fake.base_url,
        credentials={"token": "gh-token"},
    )
    gl = _tracker(
        client,
        user,
        name="gl",
        provider="gitlab",
        target="group/app",
        base_url=gitlab_fake.base_url,
        credentials={"token": "gl-token"},
    )
    local = _tracker(client, user, name="local", provider="builtin", target="local")
    for tracker in (gh, gl):
        assert polling.poll_tracker(session=db.session, tracker_id=tracker["id"])["outcome"] == "ok"
        db.session.remove()
    return {"user": user, "gh": gh, "gl": gl, "local": local}


def _get(client, url, user, **query):
    response = client.get(url, query_string=query, headers=user.headers)
    assert response.status_code == 200, response.get_json()
    return response


def _titles(response):
    return sorted(issue["title"] for issue in response.get_json()["issues"])


def test_a_trackers_list_from_the_index_has_the_live_model_plus_indexed_at_and_the_index_age(client, indexed):
    url, user = f"{TRACKERS}{indexed['gh']['id']}/issues", indexed["user"]
    live = _get(client, url, user, limit=100).get_json()["issues"]
    response = _get(client, url, user, source="index", limit=100)
    fast = response.get_json()["issues"]
    assert int(response.headers["X-Index-Age"]) >= 0
    assert all(issue["indexed_at"] for issue in fast) and all("indexed_at" not in issue for issue in live)
    keys = ("id", "tracker_id", "title", "description", "status", "labels", "assignees", "url", "created_at", "updated_at")
    assert sorted(({k: i[k] for k in keys} for i in fast), key=lambda i: i["id"]) == sorted(
        ({k: i[k] for k in keys} for i in live), key=lambda i: i["id"]
    )


def test_index_filters_match_the_live_filters(client, indexed):
    url, user = f"{TRACKERS}{indexed['gh']['id']}/issues", indexed["user"]
    for query in (
        {"status": "closed"},
        {"status": "open"},
        {"labels": "bug"},
        {"labels": "bug,ui"},
        {"assignee": "octocat"},
        {"updated_since": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
    ):
        assert _titles(_get(client, url, user, source="index", **query)) == _titles(_get(client, url, user, **query)), query


def test_an_update_time_at_any_offset_is_read_in_utc_and_one_utc_cannot_hold_is_a_400(client, indexed):
    user = indexed["user"]
    everything = _titles(_get(client, ISSUES, user, limit=100))
    for source in ("index", "live"):  # PostgreSQL refuses offsets past +-15:59; Python reads up to +-23:59
        assert _titles(_get(client, ISSUES, user, limit=100, source=source, updated_since="0781-05-17T15:13:30+17:19")) == (
            everything
        )
    refused = client.get(ISSUES, query_string={"updated_since": "0001-01-01T00:00:00+01:00"}, headers=user.headers)
    assert refused.status_code == 400
    assert refused.get_json()["errors"] == {"updated_since": ["Out of range once converted to UTC."]}


@pytest.mark.parametrize(
    ("q", "titles"),
    [
        ("crash", ["Crash when saving drafts", "Login page crashes on submit"]),  # stemmed: crashes, crash
        ("stack trace", ["Login page crashes on submit"]),  # the description counts
        ("crash -login", ["Crash when saving drafts"]),  # web search syntax
        ("nothing-like-this", []),
        ("& | ! ( :*", []),  # operators are words here, never a syntax error
    ],
)
def test_q_is_postgresql_full_text_search_over_title_and_description(client, indexed, q, titles):
    url = f"{TRACKERS}{indexed['gh']['id']}/issues"
    assert _titles(_get(client, url, indexed["user"], source="index", q=q)) == titles


def test_index_pages_follow_the_cursor_newest_first_without_gaps_or_repeats(client, indexed):
    url, user = f"{TRACKERS}{indexed['gh']['id']}/issues", indexed["user"]
    seen, cursor, stamps = [], None, []
    for _ in range(10):
        body = _get(client, url, user, source="index", limit=1, **({"cursor": cursor} if cursor else {})).get_json()
        seen += [issue["id"] for issue in body["issues"]]
        stamps += [issue["updated_at"] for issue in body["issues"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == ["1", "2", "3", "4"] and stamps == sorted(stamps, reverse=True)


@pytest.mark.parametrize("cursor", ["garbage", "WyJ4IiwxLCIxIl0", "WzEsMiwzXQ"])
def test_a_forged_index_cursor_is_400_naming_the_cursor(client, indexed, cursor):
    for url in (f"{TRACKERS}{indexed['gh']['id']}/issues", ISSUES):
        response = client.get(url, query_string={"source": "index", "cursor": cursor}, headers=indexed["user"].headers)
        assert response.status_code == 400, response.get_json()
        assert response.get_json()["error"] == "validation_failed" and "cursor" in response.get_json()["errors"]


def test_the_aggregate_index_read_merges_every_polled_tracker_of_the_caller_only(client, auth, indexed):
    response = _get(client, ISSUES, indexed["user"], source="index", q="crash", limit=100)
    body = response.get_json()
    assert sorted((i["tracker_id"], i["title"]) for i in body["issues"]) == sorted(
        [
            (indexed["gh"]["id"], "Crash when saving drafts"),
            (indexed["gh"]["id"], "Login page crashes on submit"),
            (indexed["gl"]["id"], "Export crashes with unicode"),
        ]
    )
    assert body["errors"] == [] and int(response.headers["X-Index-Age"]) >= 0
    stranger = auth.register()
    assert _get(client, ISSUES, stranger, source="index").get_json()["issues"] == []
    other_tracker = client.get(
        f"{TRACKERS}{indexed['gh']['id']}/issues", query_string={"source": "index"}, headers=stranger.headers
    )
    assert other_tracker.status_code == 404


def test_the_default_source_is_live_and_an_unknown_source_is_400(client, indexed, github_fake):
    url, user = f"{TRACKERS}{indexed['gh']['id']}/issues", indexed["user"]
    github_fake.add_issue("octo/site", "Not polled yet")
    assert "Not polled yet" in _titles(_get(client, url, user, limit=100))
    assert "Not polled yet" not in _titles(_get(client, url, user, source="index", limit=100))
    assert "X-Index-Age" not in _get(client, url, user).headers
    wrong = client.get(url, query_string={"source": "cache"}, headers=user.headers)
    assert wrong.status_code == 400 and "source" in wrong.get_json()["errors"]


def test_a_tracker_never_polled_answers_empty_from_the_index_without_an_age(client, auth, github_fake):
    user = auth.register()
    github_fake.add_token("gh-token", login="octocat")
    github_fake.add_repo("octo/new")
    tracker = _tracker(
        client,
        user,
        name="new",
        provider="github",
        target="octo/new",
        base_url=github_fake.base_url,
        credentials={"token": "gh-token"},
    )
    response = _get(client, f"{TRACKERS}{tracker['id']}/issues", user, source="index")
    assert response.get_json()["issues"] == [] and "X-Index-Age" not in response.headers


def test_the_built_in_tracker_answers_its_own_list_live_with_source_index(client, indexed):
    url, user = f"{TRACKERS}{indexed['local']['id']}/issues", indexed["user"]
    assert client.post(url, json={"title": "Local crash"}, headers=user.headers).status_code == 201
    assert _titles(_get(client, url, user, source="index")) == ["Local crash"]


# ---- the deeper model's filters (status_category, priority, parent_id) from the index ----


def _ids(client, env, **query):
    response = client.get(env.url("/issues"), query_string={"limit": 100, **query}, headers=env.user.headers)
    assert response.status_code == 200, response.get_json()
    return sorted(issue["id"] for issue in response.get_json()["issues"])


@parametrize_env(POLLED)
def test_index_reads_filter_status_category_priority_and_parent_like_the_live_list(client, db, env):
    enable_workflow(client, env)
    one, two, three = (create(client, env, title=title) for title in ("one", "two", "three"))
    supports = client.get(env.url(), headers=env.user.headers).get_json()["capabilities"]
    for issue, body in (
        (one, {"status_category": "in_progress", "priority": "urgent"}),
        (two, {"priority": "high"}),
        (three, {"status_category": "done"}),
    ):
        body = {
            k: v
            for k, v in body.items()
            if {"status_category": "in_progress", "priority": "priority"}[k] in supports or v == "done"
        }
        assert client.patch(env.url(f"/issues/{issue['id']}"), json=body, headers=env.user.headers).status_code == 200
    if "parent" in supports:
        create(client, env, title="child", parent_id=one["id"])
    poll(db, env)  # a baseline: the index holds what the provider answers, not the gateway's own enriched writes
    queries = [{"status_category": "done"}, {"status_category": "todo"}, {"status": "open", "status_category": "done"}]
    queries += [{"status_category": "in_progress"}] if "in_progress" in supports else []
    queries += (
        [{"priority": "urgent"}, {"priority": "high"}, {"priority": "high", "status_category": "todo"}]
        if "priority" in supports
        else []
    )
    queries += [{"parent_id": one["id"]}, {"parent_id": two["id"]}] if "parent" in supports else []
    for query in queries:
        live = _ids(client, env, **query)
        assert _ids(client, env, source="index", **query) == live, query
        assert live or query in ({"status": "open", "status_category": "done"}, {"parent_id": two["id"]}), query
    for query, capability in (
        ({"status_category": "in_progress"}, "in_progress"),
        ({"priority": "low"}, "priority"),
        ({"parent_id": one["id"]}, "parent"),
    ):
        if capability not in supports:
            refused = client.get(env.url("/issues"), query_string={"source": "index", **query}, headers=env.user.headers)
            assert refused.status_code == 400 and refused.get_json()["error"] == "not_supported", (query, refused.get_json())


def test_index_priority_is_the_first_configured_level_an_issue_carries(client, db, indexed, github_fake):
    url, user = f"{TRACKERS}{indexed['gh']['id']}/issues", indexed["user"]
    github_fake.add_issue("octo/site", "Both", labels=["P1", "p2"])
    github_fake.add_issue("octo/site", "Doing", labels=["Doing", "P2"])
    client.patch(
        f"{TRACKERS}{indexed['gh']['id']}",
        json={"options": {"priority_labels": {"urgent": "p1", "high": "P2"}, "in_progress_label": "doing"}},
        headers=user.headers,
    )
    polling.poll_tracker(session=db.session, tracker_id=indexed["gh"]["id"], full=True)
    db.session.remove()
    assert _titles(_get(client, url, user, source="index", priority="urgent")) == ["Both"]
    assert _titles(_get(client, url, user, source="index", priority="high")) == ["Doing"]
    assert _titles(_get(client, url, user, source="index", status_category="in_progress")) == ["Doing"]
    assert "Doing" not in _titles(_get(client, url, user, source="index", status_category="todo"))


def test_the_aggregate_index_read_names_the_trackers_that_cannot_take_a_filter(client, indexed):
    client.patch(
        f"{TRACKERS}{indexed['gh']['id']}", json={"options": {"in_progress_label": "doing"}}, headers=indexed["user"].headers
    )
    body = _get(client, ISSUES, indexed["user"], source="index", status_category="in_progress").get_json()
    assert [(e["tracker_id"], e["error"]) for e in body["errors"]] == [(indexed["gl"]["id"], "not_supported")]
    todo = _get(client, ISSUES, indexed["user"], source="index", status_category="done").get_json()
    assert todo["errors"] == [] and {i["title"] for i in todo["issues"]} == {"Crash when saving drafts"}

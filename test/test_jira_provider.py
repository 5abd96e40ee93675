"""Jira behaviour beyond the shared contract: hostile values stay literals in JQL, Cloud vs Data Center detection, ADF
and wiki markup on the wire, workflow transitions, issue types, one assignee, project scoping, labels, template
import refused."""

import itertools
from urllib.parse import urlsplit

import pytest

from api.trackers.base import TrackerConfig
from api.trackers.providers import jira as jira_module
from api.trackers.providers.jira import JiraProvider, jql_string
from test.fakes.jira import parse_jql
from test.test_trackers import TRACKERS, make_tracker

EMAIL, TOKEN, PAT = "me@example.com", "cloud-token", "dc-pat"
NAMES = itertools.count()


@pytest.fixture(params=["cloud", "dc"])
def jira(request, client, auth):
    flavour = request.param
    fake = request.getfixturevalue(f"jira_{flavour}_fake")
    user = auth.register()
    if flavour == "cloud":
        fake.add_basic_auth(EMAIL, TOKEN, name="alice")
        credentials, options = {"email": EMAIL, "api_token": TOKEN}, {"deployment": "cloud"}
    else:
        fake.add_token(PAT, name="alice")
        credentials, options = {"token": PAT}, {"deployment": "data_center"}
    fake.add_project("APP", members=["alice", "bob"])
    fake.add_project("OTHER", members=["alice"])

    def connect(**extra):
        tracker = make_tracker(
            client,
            user,
            name=f"jira-{next(NAMES)}",
            provider="jira",
            target="APP",
            base_url=fake.base_url,
            credentials=credentials,
            options={**options, **extra},
        )
        return f"{TRACKERS}{tracker['id']}"

    member = fake.add_user("bob").get("accountId") or "bob"
    return {"flavour": flavour, "fake": fake, "user": user, "base": connect(), "connect": connect, "member": member}


def post_issue(client, jira, **body):
    response = client.post(f"{jira['base']}/issues", json={"title": "T", **body}, headers=jira["user"].headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def searches(fake):
    return [r for r in fake.requests if r.path.endswith(("/search", "/search/jql"))]


def test_jql_strings_escape_quotes_backslashes_and_control_characters():
    assert jql_string('a"b\\c\nd') == '"a\\"b\\\\c d"'
    hostile = '" OR project = "OTHER" OR summary ~ "\\'
    condition, _ = parse_jql(f"project = {jql_string('APP')} AND labels = {jql_string(hostile)}")
    assert condition == ("and", [("cmp", "project", "=", "APP"), ("cmp", "labels", "=", hostile.replace("\n", " "))])


def test_hostile_filter_values_stay_literals_and_never_reach_another_project(client, jira):
    jira["fake"].add_issue("OTHER", "secret elsewhere")
    post_issue(client, jira, title="Visible")
    hostile = '" OR project = "OTHER'
    for query in (
        {"q": hostile},
        {"labels": hostile},
        {"assignee": hostile},
        {"q": 'x\\" OR 1=1 --'},
        {"q": "(a) [b] {c} ~d* e?"},
    ):
        response = client.get(f"{jira['base']}/issues", query_string=query, headers=jira["user"].headers)
        assert response.status_code == 200, (query, response.get_json())
        assert all(issue["id"].startswith("APP-") for issue in response.get_json()["issues"])
    for recorded in searches(jira["fake"]):
        condition, order = parse_jql(recorded.query["jql"])  # the fake reads exactly one project clause
        assert condition[1][0] == ("cmp", "project", "=", "APP") and order[0] == ("updated", "DESC")


def test_text_search_and_updated_since_are_translated(client, jira):
    post_issue(client, jira, title="Crash on save", description="Stack trace")
    post_issue(client, jira, title="Dark mode")
    found = client.get(f"{jira['base']}/issues", query_string={"q": "crash!"}, headers=jira["user"].headers).get_json()
    assert [issue["title"] for issue in found["issues"]] == ["Crash on save"]
    jql = searches(jira["fake"])[-1].query["jql"]
    assert 'text ~ "crash"' in jql and jql.endswith("ORDER BY updated DESC, key DESC")
    recent = client.get(
        f"{jira['base']}/issues", query_string={"updated_since": "2020-01-01T00:00:00Z"}, headers=jira["user"].headers
    ).get_json()
    assert len(recent["issues"]) == 2
    assert 'updated >= "-' in searches(jira["fake"])[-1].query["jql"]  # minutes back: no time zone involved


def test_descriptions_and_comments_are_adf_on_cloud_and_wiki_markup_on_data_center(client, jira):
    markdown = "# Steps\n\nRun `make` and see [logs](https://example.com/l), ping @" + jira["member"] + "\n\n- one\n- two"
    issue = post_issue(client, jira, description=markdown)
    created = next(r for r in jira["fake"].requests if r.method == "POST" and r.path.endswith("/issue"))
    sent = created.json["fields"]["description"]
    if jira["flavour"] == "cloud":
        assert sent["type"] == "doc" and [node["type"] for node in sent["content"]] == ["heading", "paragraph", "bulletList"]
        assert {"type": "mention", "attrs": {"id": jira["member"], "text": "@" + jira["member"]}} in sent["content"][1]["content"]
    else:
        assert sent.startswith("h1. Steps\n\nRun {{make}} and see [logs|https://example.com/l], ping [~bob]")
    assert issue["description"] == markdown
    remote = client.get(
        f"{jira['base']}/issues/{issue['id']}", query_string={"include_remote_data": "true"}, headers=jira["user"].headers
    ).get_json()
    assert remote["remote_data"]["fields"]["description"] == sent  # the raw value is kept
    comment = client.post(
        f"{jira['base']}/issues/{issue['id']}/comments", json={"body": "**done**"}, headers=jira["user"].headers
    ).get_json()
    assert comment["body"] == "**done**"
    posted = [r for r in jira["fake"].requests if r.path.endswith("/comment") and r.method == "POST"][-1]
    assert posted.json["body"] == (
        {
            "type": "doc",
            "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": "done", "marks": [{"type": "strong"}]}]}],
        }
        if jira["flavour"] == "cloud"
        else "*done*"
    )


def test_close_uses_the_transition_into_done_and_reopen_the_one_out_of_it(client, jira):
    issue = post_issue(client, jira)
    url = f"{jira['base']}/issues/{issue['id']}"
    closed = client.patch(url, json={"status": "closed"}, headers=jira["user"].headers).get_json()
    assert closed["status"] == "closed" and closed["remote_status"] == "Done" and closed["closed_at"]
    reopened = client.patch(url, json={"status": "open"}, headers=jira["user"].headers).get_json()
    assert reopened["status"] == "open" and reopened["remote_status"] == "To Do" and reopened["closed_at"] is None
    transitions = [
        r.json["transition"]["id"] for r in jira["fake"].requests if r.path.endswith("/transitions") and r.method == "POST"
    ]
    assert transitions == ["21", "41"]
    again = client.patch(url, json={"status": "open"}, headers=jira["user"].headers)
    assert (
        again.status_code == 200
        and len([r for r in jira["fake"].requests if r.method == "POST" and r.path.endswith("/transitions")]) == 2
    )  # already open: no transition


def test_a_transition_the_workflow_does_not_offer_is_422_naming_the_available_ones(client, jira):
    base = jira["connect"](closed_transition="Ship it")
    issue = client.post(f"{base}/issues", json={"title": "T"}, headers=jira["user"].headers).get_json()
    response = client.patch(f"{base}/issues/{issue['id']}", json={"status": "closed"}, headers=jira["user"].headers)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"] == "tracker_validation_failed"
    assert "Done, Start Progress" in response.get_json()["message"] and "Ship it" in response.get_json()["message"]
    named = jira["connect"](closed_transition="start progress")
    moved = client.patch(f"{named}/issues/{issue['id']}", json={"status": "closed"}, headers=jira["user"].headers)
    assert moved.status_code == 200 and moved.get_json()["remote_status"] == "In Progress"  # not Done: still open
    assert moved.get_json()["status"] == "open"


def test_issue_type_is_the_option_or_the_projects_first_standard_type(client, jira):
    post_issue(client, jira)
    first = next(r for r in jira["fake"].requests if r.method == "POST" and r.path.endswith("/issue"))
    assert first.json["fields"]["issuetype"] == {"id": "10002"}  # Task: the first one that is not a sub-task
    base = jira["connect"](issue_type="Bug")
    before = len(jira["fake"].requests)
    assert client.post(f"{base}/issues", json={"title": "B"}, headers=jira["user"].headers).status_code == 201
    made = jira["fake"].requests[before:]
    assert not any("createmeta" in r.path for r in made)
    assert next(r for r in made if r.method == "POST").json["fields"]["issuetype"] == {"name": "Bug"}


def test_people_are_account_ids_on_cloud_and_user_names_on_data_center(client, jira):
    members = client.get(f"{jira['base']}/members", headers=jira["user"].headers).get_json()["members"]
    bob = next(member for member in members if member["name"] == "Bob")
    if jira["flavour"] == "cloud":
        assert bob["id"] == bob["username"] == jira["member"] != "bob"
    else:
        assert bob["username"] == "bob" and bob["id"].startswith("JIRAUSER")
    issue = post_issue(client, jira, assignees=[jira["member"]])
    assert [person["id"] for person in issue["assignees"]] == [bob["id"]]
    sent = next(r for r in jira["fake"].requests if r.method == "POST" and r.path.endswith("/issue"))
    assert sent.json["fields"]["assignee"] == ({"accountId": bob["id"]} if jira["flavour"] == "cloud" else {"name": "bob"})
    two = client.post(
        f"{jira['base']}/issues", json={"title": "x", "assignees": [jira["member"], "alice"]}, headers=jira["user"].headers
    )
    assert two.status_code == 422 and "one assignee" in two.get_json()["message"]
    unknown = client.post(f"{jira['base']}/issues", json={"title": "x", "assignees": ["mallory"]}, headers=jira["user"].headers)
    assert unknown.status_code == 422 and unknown.get_json()["errors"] == {"assignees": ["Unknown member: mallory"]}


def test_issues_of_other_projects_are_not_found_through_this_tracker(client, jira):
    other = jira["fake"].add_issue("OTHER", "secret elsewhere")
    before = len(jira["fake"].requests)
    by_key = client.get(f"{jira['base']}/issues/{other['key']}", headers=jira["user"].headers)
    assert by_key.status_code == 404 and len(jira["fake"].requests) == before  # refused without asking Jira
    by_id = client.get(f"{jira['base']}/issues/{other['id']}", headers=jira["user"].headers)
    assert by_id.status_code == 404
    for ident in (other["id"], other["key"]):
        for write in (
            client.patch(f"{jira['base']}/issues/{ident}", json={"title": "pwned"}, headers=jira["user"].headers),
            client.post(f"{jira['base']}/issues/{ident}/comments", json={"body": "x"}, headers=jira["user"].headers),
        ):
            assert write.status_code == 404
    assert not [r for r in jira["fake"].requests if r.method in ("PUT", "POST")]


def test_labels_include_those_in_use_in_the_project(client, jira):
    jira["fake"].add_label("site-wide")
    post_issue(client, jira, labels=["bug", "ui"])
    labels = {label["name"] for label in client.get(f"{jira['base']}/labels", headers=jira["user"].headers).get_json()["labels"]}
    # Cloud lists the site's labels as well; Data Center has no label listing.
    assert labels == ({"bug", "ui", "site-wide"} if jira["flavour"] == "cloud" else {"bug", "ui"})
    before = len(jira["fake"].requests)
    spaced = client.post(f"{jira['base']}/issues", json={"title": "x", "labels": ["two words"]}, headers=jira["user"].headers)
    assert spaced.status_code == 422 and spaced.get_json()["error"] == "tracker_validation_failed"
    assert not [r for r in jira["fake"].requests[before:] if r.method == "POST"]  # refused before the call


def test_due_date_is_set_and_cleared(client, jira):
    issue = post_issue(client, jira, due_date="2031-05-06")
    assert issue["due_date"] == "2031-05-06"
    cleared = client.patch(f"{jira['base']}/issues/{issue['id']}", json={"due_date": None}, headers=jira["user"].headers)
    assert cleared.status_code == 200 and cleared.get_json()["due_date"] is None


def test_template_import_is_not_supported(client, jira):
    tracker_id = int(jira["base"].rstrip("/").rsplit("/", 1)[-1])
    response = client.post("/api/v1/templates/import", json={"tracker_id": tracker_id}, headers=jira["user"].headers)
    assert response.status_code == 400 and response.get_json()["error"] == "not_supported"


def test_deployment_comes_from_the_option_the_host_or_server_info(app, jira_dc_fake, jira_cloud_fake):
    assert JiraProvider(TrackerConfig(None, "APP", base_url="https://acme.atlassian.net")).deployment == "cloud"
    assert (
        JiraProvider(
            TrackerConfig(None, "APP", base_url="https://acme.atlassian.net", options={"deployment": "data_center"})
        ).deployment
        == "data_center"
    )
    jira_dc_fake.add_token(PAT)
    jira_cloud_fake.add_basic_auth(EMAIL, TOKEN)
    jira_module._deployments.clear()  # other tests of this session met the same fakes
    with app.app_context():  # the outbound URL policy reads the app's settings
        for fake, credentials, expected in (
            (jira_dc_fake, {"token": PAT}, "data_center"),
            (jira_cloud_fake, {"email": EMAIL, "api_token": TOKEN}, "cloud"),
        ):
            config = TrackerConfig(None, "APP", base_url=fake.base_url, credentials=credentials)
            assert JiraProvider(config).deployment == expected
            assert JiraProvider(config).deployment == expected
            asked = [r for r in fake.requests if r.path.endswith("/serverInfo")]
            assert len(asked) == 1 and urlsplit(fake.base_url).port  # asked once per base URL, then remembered


def test_credentials_are_cloud_or_data_center_shaped():
    validate = JiraProvider.validate_credentials
    assert validate({"email": "a@b.c", "api_token": "t"}) == {} and validate({"token": "p"}) == {}
    assert "credentials.api_token" in validate({"email": "a@b.c"})
    assert "credentials" in validate({"email": "a@b.c", "api_token": "t", "token": "p"})
    assert "credentials.token" in validate({})
    assert JiraProvider.validate_options({"deployment": "server"}) == {"options.deployment": ['"cloud" or "data_center".']}
    assert JiraProvider.validate_target("app") and JiraProvider.validate_target("APP") is None


def test_reads_are_retried_on_the_shared_session_but_a_failed_write_is_never_repeated(client, jira):
    jira["fake"].fail_next(503, count=1, match=r"^GET .*/search")
    assert client.get(f"{jira['base']}/issues", headers=jira["user"].headers).status_code == 200
    jira["fake"].fail_next(503, count=1, match=r"^POST .*/issue$")
    response = client.post(f"{jira['base']}/issues", json={"title": "once"}, headers=jira["user"].headers)
    assert response.status_code == 502 and response.get_json()["error"] == "tracker_unavailable"
    assert len([r for r in jira["fake"].requests if r.method == "POST" and r.path.endswith("/issue")]) == 1


def test_pages_follow_next_page_token_on_cloud_and_start_at_on_data_center(client, jira):
    for title in ("one", "two", "three"):
        post_issue(client, jira, title=title)
    seen, cursor = [], None
    for _ in range(5):
        page = client.get(
            f"{jira['base']}/issues",
            query_string={"limit": 2, **({"cursor": cursor} if cursor else {})},
            headers=jira["user"].headers,
        ).get_json()
        seen += [issue["title"] for issue in page["issues"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["three", "two", "one"]
    second = searches(jira["fake"])[1].query
    if jira["flavour"] == "cloud":
        assert second["nextPageToken"] and "startAt" not in second and second["maxResults"] == "2"
    else:
        assert second["startAt"] == "2" and "nextPageToken" not in second


def test_a_redirect_from_jira_is_not_followed(client, jira, jira_dc_fake_server, jira_cloud_fake_server):
    elsewhere = jira_dc_fake_server if jira["flavour"] == "cloud" else jira_cloud_fake_server
    before = len(elsewhere.requests)
    jira["fake"].redirect_next(f"{elsewhere.base_url}/rest/api/2/search")
    response = client.get(f"{jira['base']}/issues", headers=jira["user"].headers)
    assert response.status_code == 502 and response.get_json()["error"] == "tracker_unavailable"
    assert "redirect" in response.get_json()["message"]
    assert len(elsewhere.requests) == before  # the credentials never went to the other host

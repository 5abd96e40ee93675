"""Jira priorities mapped by name to the unified urgent/high/normal/low (options.priority_map, with Jira's stock names by
default) and Jira's parent field (set on create and PATCH, children found by JQL `parent = KEY`)."""

from test.test_jira_provider import jira as jira  # the fixture, over Cloud and Data Center
from test.test_jira_provider import post_issue, searches


def patch(client, jira, issue_id, **body):
    return client.patch(f"{jira['base']}/issues/{issue_id}", json=body, headers=jira["user"].headers)


def stored(jira, key):
    return next(issue for issue in jira["fake"].state.issues.values() if issue.key == key)


def test_stock_priority_names_map_to_the_unified_levels_and_back(client, jira):
    issue = post_issue(client, jira, priority="urgent")
    assert issue["priority"] == "urgent" and issue["remote_priority"] == "Highest"
    assert stored(jira, issue["id"]).priority == "1"  # Jira's own Highest
    for level, name in (("high", "High"), ("normal", "Medium"), ("low", "Low")):
        changed = patch(client, jira, issue["id"], priority=level).get_json()
        assert (changed["priority"], changed["remote_priority"]) == (level, name)
    stored(jira, issue["id"]).priority = "5"  # Lowest, set in Jira itself
    fetched = client.get(f"{jira['base']}/issues/{issue['id']}", headers=jira["user"].headers).get_json()
    assert fetched["priority"] == "low" and fetched["remote_priority"] == "Lowest"
    cleared = patch(client, jira, issue["id"], priority=None).get_json()
    assert cleared["priority"] is None and cleared["remote_priority"] is None


def test_priority_filter_asks_jira_for_every_name_mapped_to_the_level(client, jira):
    low, lowest, high = (
        post_issue(client, jira, title="a", priority="low"),
        post_issue(client, jira, title="b"),
        post_issue(client, jira, title="c", priority="high"),
    )
    stored(jira, lowest["id"]).priority = "5"
    listed = client.get(f"{jira['base']}/issues", query_string={"priority": "low"}, headers=jira["user"].headers)
    assert {issue["id"] for issue in listed.get_json()["issues"]} == {low["id"], lowest["id"]}
    assert 'priority in ("Low", "Lowest")' in searches(jira["fake"])[-1].query["jql"]
    assert high["priority"] == "high"


def test_a_site_s_own_priority_names_are_mapped_by_the_option(client, jira):
    base = jira["connect"](priority_map={"Highest": "urgent", "Medium": "high", "Lowest": "low"})
    jira = {**jira, "base": base}
    issue = post_issue(client, jira, priority="high")
    assert issue["remote_priority"] == "Medium" and issue["priority"] == "high"
    stored(jira, issue["id"]).priority = "2"  # "High": a name this site did not map
    fetched = client.get(f"{base}/issues/{issue['id']}", headers=jira["user"].headers).get_json()
    assert fetched["priority"] is None and fetched["remote_priority"] == "High"
    refused = patch(client, jira, issue["id"], priority="normal")
    assert refused.status_code == 422 and "priority" in refused.get_json()["errors"]


def test_malformed_priority_maps_are_refused(client, jira):
    for bad in ({"Highest": "critical"}, {"": "high"}, [], {}, {f"P{i}": "low" for i in range(51)}):
        response = client.post(
            "/api/v1/trackers/",
            headers=jira["user"].headers,
            json={
                "name": "bad",
                "provider": "jira",
                "target": "APP",
                "base_url": jira["fake"].base_url,
                "credentials": {"token": "x"},
                "options": {"priority_map": bad},
            },
        )
        assert response.status_code in (400, 422), (bad, response.get_json())
        assert "options.priority_map" in response.get_json()["errors"], (bad, response.get_json())


def test_parent_is_set_on_create_and_patch_and_children_come_from_jql(client, jira):
    epic, other = post_issue(client, jira, title="epic"), post_issue(client, jira, title="other")
    child = post_issue(client, jira, title="child", parent_id=epic["id"])
    assert child["parent_id"] == epic["id"] and stored(jira, child["id"]).parent == stored(jira, epic["id"]).id
    assert patch(client, jira, other["id"], parent_id=epic["id"]).get_json()["parent_id"] == epic["id"]
    children = client.get(f"{jira['base']}/issues/{epic['id']}/children", headers=jira["user"].headers).get_json()
    assert [issue["id"] for issue in children["issues"]] == [other["id"], child["id"]]  # oldest first
    assert f'parent = "{epic["id"]}"' in searches(jira["fake"])[-1].query["jql"]
    assert patch(client, jira, other["id"], parent_id=None).get_json()["parent_id"] is None
    assert stored(jira, other["id"]).parent is None


def test_a_parent_outside_the_project_is_422_on_parent_id(client, jira):
    jira["fake"].add_issue("OTHER", "elsewhere")
    for parent in ("OTHER-1", "APP-999"):
        response = client.post(f"{jira['base']}/issues", json={"title": "x", "parent_id": parent}, headers=jira["user"].headers)
        assert response.status_code == 422 and "parent_id" in response.get_json()["errors"], response.get_json()

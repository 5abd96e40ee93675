"""The deeper issue model and operations (status category, priority, type, parent; comment edit/delete; issue
delete; attachments; passthrough) through the gateway's API for every provider, against the fakes, including the
400 not_supported answers and the capabilities each tracker declares."""

import io
import logging

import pytest

from api.trackers.base import Capability
from api.trackers.registry import provider_class
from test.test_provider_contract import create, listing, parametrize_env
from test.test_provider_contract import env as env

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 8


def slug(env):
    return "jira" if env.provider.startswith("jira") else env.provider


def supports(env, capability):
    return capability.value in tracker(env)["capabilities"]


def tracker(env):
    return env.tracker


def patch(client, env, issue_id, **body):
    return client.patch(env.url(f"/issues/{issue_id}"), json=body, headers=env.user.headers)


def configure(client, env, **options):
    """Set tracker options (in_progress_label, priority_labels, ...) the way a user would."""
    merged = {**env.tracker.get("options", {}), **options}
    response = client.patch(env.url(), json={"options": merged}, headers=env.user.headers)
    assert response.status_code == 200, response.get_json()
    env.tracker = response.get_json()
    return env.tracker


def assert_not_supported(response, env):
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["error"] == "not_supported"
    assert provider_class(slug(env)).name in body["message"]


# ---- capabilities ----


@parametrize_env()
def test_tracker_lists_the_capabilities_pinned_for_its_variant(client, env):
    pinned = env.variant.capabilities
    assert pinned is not None, f"pin {env.provider}'s capabilities (ContractVariant.capabilities in its fake module)"
    assert set(tracker(env)["capabilities"]) == set(pinned)
    assert set(client.get(env.url(), headers=env.user.headers).get_json()["capabilities"]) == set(pinned)
    # in_progress and priority follow labels or lists until configured; once they are, every provider offers both.
    assert set(enable_workflow(client, env)["capabilities"]) == set(pinned) | {"in_progress", "priority"}


def add_labels(env, *names):
    """Labels a remote provider must know before an issue can carry them."""
    fake = env.fake
    if env.provider == "github":
        for name in names:
            fake.add_label("octo-org/site", name)
    elif env.provider == "gitea":
        for name in names:
            fake.add_label("gitea_admin/app", name)
    elif env.provider == "gitlab":
        project = fake.project_id("group/app") if hasattr(fake, "project_id") else None
        for name in names:
            fake.add_label(project if project is not None else "group/app", name)
    elif env.provider == "trello":
        for name in names:
            fake.add_label(env.tracker["target"], name)


def enable_workflow(client, env):
    """in_progress and priorities by labels where the provider needs options for them; in_progress by list on Trello."""
    if env.provider == "trello":
        in_progress = env.fake.add_list(env.tracker["target"], "Doing")
        add_labels(env, "P1", "P2")
        return configure(client, env, in_progress_lists=[in_progress["name"]], priority_labels={"urgent": "P1", "high": "P2"})
    if env.provider in ("builtin",) or "jira" in env.provider:
        return env.tracker
    add_labels(env, "doing", "P1", "P2")
    return configure(client, env, in_progress_label="doing", priority_labels={"urgent": "P1", "high": "P2"})


# ---- status_category and priority ----


@parametrize_env()
def test_status_category_follows_status_and_done_means_closed(client, env):
    issue = create(client, env)
    assert issue["status_category"] == "todo" and issue["priority"] is None
    closed = patch(client, env, issue["id"], status_category="done")
    assert closed.status_code == 200, closed.get_json()
    assert closed.get_json()["status"] == "closed" and closed.get_json()["status_category"] == "done"
    reopened = patch(client, env, issue["id"], status="open").get_json()
    assert reopened["status_category"] == "todo"


@parametrize_env()
def test_in_progress_is_not_supported_until_the_tracker_is_configured_for_it(client, env):
    issue = create(client, env)
    if supports(env, Capability.IN_PROGRESS):
        return  # native (built-in, Jira): nothing to configure
    assert_not_supported(patch(client, env, issue["id"], status_category="in_progress"), env)
    response = client.get(env.url("/issues"), query_string={"status_category": "in_progress"}, headers=env.user.headers)
    assert_not_supported(response, env)


@parametrize_env()
def test_status_category_and_priority_patch_and_filter(client, env):
    enable_workflow(client, env)  # every provider takes both once configured (unconfigured: the not_supported tests below)
    assert supports(env, Capability.IN_PROGRESS) and supports(env, Capability.PRIORITY)
    first, second, third = create(client, env, title="one"), create(client, env, title="two"), create(client, env, title="three")
    moved = patch(client, env, first["id"], status_category="in_progress", priority="urgent")
    assert moved.status_code == 200, moved.get_json()
    moved = moved.get_json()
    assert moved["status_category"] == "in_progress" and moved["status"] == "open"
    assert moved["priority"] == "urgent" and moved["remote_priority"]
    assert patch(client, env, second["id"], priority="high").get_json()["priority"] == "high"
    assert patch(client, env, third["id"], status_category="done").get_json()["status"] == "closed"

    def ids(**query):
        return {issue["id"] for issue in listing(client, env, **query)["issues"]}

    assert ids(status_category="in_progress") == {first["id"]}
    assert ids(status_category="todo") == {second["id"]}
    assert ids(status_category="done") == {third["id"]}
    assert ids(priority="urgent") == {first["id"]}
    assert ids(priority="high") == {second["id"]}
    fetched = client.get(env.url(f"/issues/{first['id']}"), headers=env.user.headers).get_json()
    assert fetched["status_category"] == "in_progress" and fetched["priority"] == "urgent"
    cleared = patch(client, env, first["id"], priority=None, status_category="todo").get_json()
    assert cleared["priority"] is None and cleared["status_category"] == "todo"


@parametrize_env()
def test_priority_is_not_supported_until_priority_labels_are_configured(client, env):
    issue = create(client, env)
    if supports(env, Capability.PRIORITY):
        return
    assert_not_supported(patch(client, env, issue["id"], priority="high"), env)
    response = client.post(env.url("/issues"), json={"title": "x", "priority": "high"}, headers=env.user.headers)
    assert_not_supported(response, env)


@parametrize_env()
def test_priority_set_on_create(client, env):
    enable_workflow(client, env)
    if not supports(env, Capability.PRIORITY):
        response = client.post(env.url("/issues"), json={"title": "x", "priority": "urgent"}, headers=env.user.headers)
        assert_not_supported(response, env)
        return
    issue = create(client, env, priority="urgent")
    assert issue["priority"] == "urgent"


@parametrize_env()
def test_status_and_status_category_that_disagree_are_refused(client, env):
    issue = create(client, env)
    response = patch(client, env, issue["id"], status="open", status_category="done")
    assert response.status_code == 422 and "status_category" in response.get_json()["errors"]


# ---- issue type and parent ----


@parametrize_env()
def test_issue_type_is_set_on_create_where_supported(client, env):
    # Jira's and GitHub's types are the site's or owner's own ("Bug" exists on both fakes); elsewhere any name.
    body = {"title": "typed", "issue_type": "Bug" if "jira" in env.provider or env.provider == "github" else "incident"}
    response = client.post(env.url("/issues"), json=body, headers=env.user.headers)
    if not supports(env, Capability.ISSUE_TYPE):
        assert_not_supported(response, env)
        return
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["issue_type"] == body["issue_type"]


@parametrize_env()
def test_parent_and_children(client, env):
    parent = create(client, env, title="epic")
    if not supports(env, Capability.PARENT):
        assert env.provider in ("gitlab", "gitea", "trello")  # the pinned capabilities say which
        assert_not_supported(client.get(env.url(f"/issues/{parent['id']}/children"), headers=env.user.headers), env)
        response = client.post(env.url("/issues"), json={"title": "c", "parent_id": parent["id"]}, headers=env.user.headers)
        assert_not_supported(response, env)
        other = create(client, env, title="other")
        assert_not_supported(patch(client, env, other["id"], parent_id=parent["id"]), env)
        assert_not_supported(patch(client, env, other["id"], parent_id=None), env)
        listed = client.get(env.url("/issues"), query_string={"parent_id": parent["id"]}, headers=env.user.headers)
        assert_not_supported(listed, env)
        return
    child = create(client, env, title="child", parent_id=parent["id"])
    other = create(client, env, title="other")
    assert child["parent_id"] == parent["id"]
    assert patch(client, env, other["id"], parent_id=parent["id"]).get_json()["parent_id"] == parent["id"]
    children = client.get(env.url(f"/issues/{parent['id']}/children"), query_string={"limit": 1}, headers=env.user.headers)
    assert children.status_code == 200
    page = children.get_json()
    assert [issue["id"] for issue in page["issues"]] == [child["id"]] and page["next_cursor"]
    rest = client.get(
        env.url(f"/issues/{parent['id']}/children"), query_string={"cursor": page["next_cursor"]}, headers=env.user.headers
    ).get_json()
    assert [issue["id"] for issue in rest["issues"]] == [other["id"]]
    assert {i["id"] for i in listing(client, env, parent_id=parent["id"])["issues"]} == {child["id"], other["id"]}
    assert patch(client, env, other["id"], parent_id=None).get_json()["parent_id"] is None


def test_builtin_parent_cannot_make_a_cycle(client, auth):
    from test.test_trackers import TRACKERS

    user = auth.register()
    tracker = client.post(TRACKERS, json={"name": "b", "provider": "builtin", "target": "cyc"}, headers=user.headers).get_json()
    url = f"{TRACKERS}{tracker['id']}/issues"
    a = client.post(url, json={"title": "a"}, headers=user.headers).get_json()
    b = client.post(url, json={"title": "b", "parent_id": a["id"]}, headers=user.headers).get_json()
    response = client.patch(f"{url}/{a['id']}", json={"parent_id": b["id"]}, headers=user.headers)
    assert response.status_code == 422 and "parent_id" in response.get_json()["errors"]
    missing = client.post(url, json={"title": "c", "parent_id": "999"}, headers=user.headers)
    assert missing.status_code == 422 and "parent_id" in missing.get_json()["errors"]


# ---- comment edit/delete, issue delete ----


def comment(client, env, issue_id, body="first"):
    response = client.post(env.url(f"/issues/{issue_id}/comments"), json={"body": body}, headers=env.user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@parametrize_env()
def test_comment_edit_and_delete(client, env):
    issue = create(client, env)
    first = comment(client, env, issue["id"])
    url = env.url(f"/issues/{issue['id']}/comments/{first['id']}")
    edited = client.patch(url, json={"body": "edited"}, headers=env.user.headers)
    if not supports(env, Capability.COMMENT_EDIT):
        assert_not_supported(edited, env)
    else:
        assert edited.status_code == 200, edited.get_json()
        assert edited.get_json()["body"].strip() == "edited" and edited.get_json()["id"] == first["id"]
    deleted = client.delete(url, headers=env.user.headers)
    if not supports(env, Capability.COMMENT_DELETE):
        assert_not_supported(deleted, env)
        return
    assert deleted.status_code == 200, deleted.get_json()
    remaining = client.get(env.url(f"/issues/{issue['id']}/comments"), headers=env.user.headers).get_json()["comments"]
    assert first["id"] not in {c["id"] for c in remaining}
    again = client.delete(url, headers=env.user.headers)
    assert again.status_code == 404


@parametrize_env()
def test_comment_of_another_issue_is_not_found(client, env):
    if not supports(env, Capability.COMMENT_EDIT):
        return
    one, two = create(client, env, title="one"), create(client, env, title="two")
    first = comment(client, env, one["id"])
    response = client.patch(env.url(f"/issues/{two['id']}/comments/{first['id']}"), json={"body": "x"}, headers=env.user.headers)
    assert response.status_code == 404


@parametrize_env()
def test_issue_delete_or_not_supported(client, env):
    if env.provider == "gitlab":  # GitLab lets only project owners delete issues
        env.fake.add_member("group/app", "root", access_level=50)
    issue = create(client, env)
    response = client.delete(env.url(f"/issues/{issue['id']}"), headers=env.user.headers)
    if not supports(env, Capability.ISSUE_DELETE):
        assert_not_supported(response, env)
        assert client.get(env.url(f"/issues/{issue['id']}"), headers=env.user.headers).status_code == 200
        return
    assert response.status_code == 200, response.get_json()
    assert client.get(env.url(f"/issues/{issue['id']}"), headers=env.user.headers).status_code == 404


def test_builtin_delete_records_issue_deleted_and_comment_events(client, auth):
    from test.test_trackers import TRACKERS

    user = auth.register()
    tracker = client.post(TRACKERS, json={"name": "b", "provider": "builtin", "target": "ev"}, headers=user.headers).get_json()
    url = f"{TRACKERS}{tracker['id']}"
    issue = client.post(f"{url}/issues", json={"title": "a"}, headers=user.headers).get_json()
    note = client.post(f"{url}/issues/{issue['id']}/comments", json={"body": "x"}, headers=user.headers).get_json()
    client.patch(f"{url}/issues/{issue['id']}/comments/{note['id']}", json={"body": "y"}, headers=user.headers)
    client.delete(f"{url}/issues/{issue['id']}/comments/{note['id']}", headers=user.headers)
    assert client.delete(f"{url}/issues/{issue['id']}", headers=user.headers).status_code == 200
    events = client.get(f"{url}/events", headers=user.headers).get_json()["events"]
    types = [event["type"] for event in events]
    assert types[:3] == ["issue.deleted", "comment.deleted", "comment.updated"]
    assert events[0]["issue"]["title"] == "a"


@pytest.mark.parametrize("env", ["gitlab"], indirect=True)
def test_a_provider_refusal_to_delete_is_403_with_its_reason(client, env):
    issue = create(client, env)  # root is a Developer: GitLab answers 403
    response = client.delete(env.url(f"/issues/{issue['id']}"), headers=env.user.headers)
    assert response.status_code == 403, response.get_json()
    assert response.get_json()["error"] == "tracker_forbidden" and "GitLab" in response.get_json()["message"]


@pytest.mark.parametrize("env", ["gitea"], indirect=True)
def test_editing_someone_elses_comment_is_403_with_the_provider_s_reason(client, env):
    issue = create(client, env)
    theirs = comment(client, env, issue["id"], "by the owner")
    env.fake.add_collaborator("gitea_admin/app", "reader", permission="read")
    env.fake.add_token("reader-token", login="reader")
    assert client.patch(env.url(), json={"credentials": {"token": "reader-token"}}, headers=env.user.headers).status_code == 200
    url = env.url(f"/issues/{issue['id']}/comments/{theirs['id']}")
    for response in (
        client.patch(url, json={"body": "x"}, headers=env.user.headers),
        client.delete(url, headers=env.user.headers),
    ):
        assert response.status_code == 403, response.get_json()
        assert response.get_json()["error"] == "tracker_forbidden" and "Gitea" in response.get_json()["message"]


@pytest.mark.parametrize("env", ["trello"], indirect=True)
def test_editing_someone_elses_trello_comment_is_403_with_trellos_reason(client, env):
    issue = create(client, env)
    env.fake.add_member("bob")
    theirs = env.fake.add_comment(issue["id"], "by bob", username="bob")  # Trello answers 401 "unauthorized permission"
    url = env.url(f"/issues/{issue['id']}/comments/{theirs['id']}")
    for response in (
        client.patch(url, json={"body": "x"}, headers=env.user.headers),
        client.delete(url, headers=env.user.headers),
    ):
        assert response.status_code == 403, response.get_json()
        body = response.get_json()
        assert body["error"] == "tracker_forbidden" and "Trello" in body["message"] and "permission" in body["message"]


@pytest.mark.parametrize("env", ["trello"], indirect=True)
def test_deleting_a_card_the_trello_token_may_not_touch_is_403_but_a_bad_token_stays_502(client, env):
    issue = create(client, env)
    env.fake.add_token("outsider-token", key="tr-key", username="outsider")  # not a member of the board
    client.patch(env.url(), json={"credentials": {"api_key": "tr-key", "token": "outsider-token"}}, headers=env.user.headers)
    refused = client.delete(env.url(f"/issues/{issue['id']}"), headers=env.user.headers)
    assert refused.status_code == 403, refused.get_json()
    assert refused.get_json()["error"] == "tracker_forbidden" and "Trello" in refused.get_json()["message"]
    client.patch(env.url(), json={"credentials": {"api_key": "tr-key", "token": "no-such-token"}}, headers=env.user.headers)
    revoked = client.delete(env.url(f"/issues/{issue['id']}"), headers=env.user.headers)
    assert revoked.status_code == 502 and revoked.get_json()["error"] == "tracker_auth_failed"


@pytest.mark.parametrize("env", ["jira_cloud", "jira_dc"], indirect=True)
def test_editing_someone_elses_jira_comment_is_403_with_jiras_reason(client, env):
    import requests

    issue = create(client, env)
    cloud = env.provider == "jira_cloud"
    if cloud:  # Cloud refuses with a 400 naming the permission, Data Center with a 403
        env.fake.add_basic_auth("bob@example.com", "bob-token", name="bob")
        auth, body = (
            {"auth": ("bob@example.com", "bob-token")},
            {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "by bob"}]}]},
        )
    else:
        env.fake.add_token("bob-pat", name="bob")
        auth, body = {"headers": {"Authorization": "Bearer bob-pat"}}, "by bob"
    version = "3" if cloud else "2"
    theirs = requests.post(
        f"{env.fake.base_url}/rest/api/{version}/issue/{issue['id']}/comment", json={"body": body}, timeout=5, **auth
    ).json()
    url = env.url(f"/issues/{issue['id']}/comments/{theirs['id']}")
    for response in (
        client.patch(url, json={"body": "x"}, headers=env.user.headers),
        client.delete(url, headers=env.user.headers),
    ):
        assert response.status_code == 403, response.get_json()
        assert response.get_json()["error"] == "tracker_forbidden" and "permission" in response.get_json()["message"]


# ---- attachments ----


def post_file(client, user, issue_url, data, filename, content_type):
    """POST one file as multipart/form-data to the attachments of the issue at `issue_url`."""
    return client.post(
        f"{issue_url}/attachments",
        headers=user.headers,
        data={"file": (io.BytesIO(data), filename, content_type)},
        content_type="multipart/form-data",
    )


def upload(client, env, issue_id, data=PNG, filename="shot.png", content_type="image/png"):
    return post_file(client, env.user, env.url(f"/issues/{issue_id}"), data, filename, content_type)


@parametrize_env()
def test_attachments_upload_list_download_and_delete(client, env):
    if env.provider == "gitlab":  # GitLab lets maintainers delete uploads
        env.fake.add_member("group/app", "root", access_level=40)
    issue = create(client, env)
    created = upload(client, env, issue["id"])
    if not supports(env, Capability.ATTACHMENTS):
        assert_not_supported(created, env)
        assert_not_supported(client.get(env.url(f"/issues/{issue['id']}/attachments"), headers=env.user.headers), env)
        return
    assert created.status_code == 201, created.get_json()
    attachment = created.get_json()
    assert attachment["filename"] == "shot.png" and attachment["content_type"] == "image/png"
    assert attachment["size"] == len(PNG)
    listed = client.get(env.url(f"/issues/{issue['id']}/attachments"), headers=env.user.headers).get_json()
    assert [item["id"] for item in listed["attachments"]] == [attachment["id"]] and listed["next_cursor"] is None
    content_url = env.url(f"/issues/{issue['id']}/attachments/{attachment['id']}/content")
    download = client.get(content_url, headers=env.user.headers)
    assert download.status_code == 200 and download.data == PNG
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    deleted = client.delete(env.url(f"/issues/{issue['id']}/attachments/{attachment['id']}"), headers=env.user.headers)
    assert deleted.status_code == 200, deleted.get_json()
    assert client.get(env.url(f"/issues/{issue['id']}/attachments"), headers=env.user.headers).get_json()["attachments"] == []
    assert client.get(content_url, headers=env.user.headers).status_code == 404


@parametrize_env(["builtin", "gitea", "trello", "gitlab", "jira_cloud", "jira_dc"])
def test_upload_names_are_sanitized_and_declared_types_checked_against_the_content(client, env):
    issue = create(client, env)
    named = upload(client, env, issue["id"], filename="../../etc/.pass<wd>.png")
    assert named.status_code == 201 and named.get_json()["filename"] == "passwd.png"
    liar = upload(client, env, issue["id"], data=b"<html><script>alert(1)</script></html>", filename="x.png")
    assert liar.status_code == 422 and liar.get_json()["error"] == "attachment_type_mismatch"
    disguised = upload(client, env, issue["id"], data=PNG, filename="notes.txt", content_type="text/plain")
    assert disguised.status_code == 422
    html = upload(client, env, issue["id"], data=b"<b>hi</b>", filename="page.html", content_type="text/html")
    assert html.status_code == 201 and html.get_json()["content_type"] == "text/plain"  # never stored as renderable


def test_upload_limit_is_attachment_max_bytes_not_the_json_limit(client, auth, app, monkeypatch):
    from test.test_trackers import TRACKERS

    user = auth.register()
    tracker = client.post(TRACKERS, json={"name": "b", "provider": "builtin", "target": "big"}, headers=user.headers).get_json()
    url = f"{TRACKERS}{tracker['id']}/issues"
    issue = client.post(url, json={"title": "a"}, headers=user.headers).get_json()
    big = b"a" * (2 * 1024 * 1024)  # above the 1 MiB JSON limit, below the 10 MiB default
    response = post_file(client, user, f"{url}/{issue['id']}", big, "big.txt", "text/plain")
    assert response.status_code == 201, response.get_json()
    assert client.get(f"{url}/{issue['id']}/attachments/{response.get_json()['id']}/content", headers=user.headers).data == big
    monkeypatch.setitem(app.config, "ATTACHMENT_MAX_BYTES", 100 * 1024)
    refused = post_file(client, user, f"{url}/{issue['id']}", b"a" * (200 * 1024), "big.txt", "text/plain")
    assert refused.status_code == 413 and str(100 * 1024) in refused.get_json()["message"]
    json_body = client.post(url, json={"title": "x", "description": "a" * (1024 * 1024)}, headers=user.headers)
    assert json_body.status_code == 413
    not_multipart = client.post(f"{url}/{issue['id']}/attachments", headers=user.headers, json={"file": "x"})
    assert not_multipart.status_code == 415
    missing = client.post(
        f"{url}/{issue['id']}/attachments", headers=user.headers, content_type="multipart/form-data", data={"other": "x"}
    )
    assert missing.status_code == 400 and "file" in missing.get_json()["errors"]


def test_builtin_attachments_are_chunk_rows_streamed_back_and_recorded_as_events(client, auth, db):
    from sqlalchemy import func, select

    from api.models.trackers import BuiltinAttachmentChunk
    from api.trackers.providers.builtin import CHUNK_BYTES
    from test.test_trackers import TRACKERS

    user = auth.register()
    body = {"name": "b", "provider": "builtin", "target": "chunks"}
    tracker = client.post(TRACKERS, json=body, headers=user.headers).get_json()
    url = f"{TRACKERS}{tracker['id']}"
    issue = client.post(f"{url}/issues", json={"title": "a"}, headers=user.headers).get_json()
    data = bytes(range(256)) * (CHUNK_BYTES // 256 * 2 + 10)  # two full chunks and a bit
    created = post_file(client, user, f"{url}/issues/{issue['id']}", data, "blob.bin", "application/octet-stream").get_json()
    rows = db.session.scalar(
        select(func.count()).select_from(BuiltinAttachmentChunk).where(BuiltinAttachmentChunk.attachment_id == int(created["id"]))
    )
    assert rows == 3
    download = client.get(f"{url}/issues/{issue['id']}/attachments/{created['id']}/content", headers=user.headers, buffered=False)
    assert download.is_streamed and b"".join(download.response) == data
    download.close()
    client.delete(f"{url}/issues/{issue['id']}/attachments/{created['id']}", headers=user.headers)
    types = [event["type"] for event in client.get(f"{url}/events", headers=user.headers).get_json()["events"]]
    assert types[:2] == ["attachment.deleted", "attachment.created"]


def test_another_users_attachment_is_not_found(client, auth):
    from test.test_trackers import TRACKERS

    owner, other = auth.register(), auth.register()
    tracker = client.post(TRACKERS, json={"name": "b", "provider": "builtin", "target": "iso"}, headers=owner.headers).get_json()
    url = f"{TRACKERS}{tracker['id']}/issues"
    issue = client.post(url, json={"title": "a"}, headers=owner.headers).get_json()
    created = post_file(client, owner, f"{url}/{issue['id']}", PNG, "a.png", "image/png").get_json()
    content = f"{url}/{issue['id']}/attachments/{created['id']}/content"
    assert client.get(content, headers=other.headers).status_code == 404
    assert client.delete(f"{url}/{issue['id']}/attachments/{created['id']}", headers=other.headers).status_code == 404


def test_sanitize_filename_keeps_one_safe_header_value():
    from api.services.attachments import sanitize_filename

    assert sanitize_filename('pa"ss\r\nwd;.png') == "passwd.png"
    assert sanitize_filename("C:\\Users\\..\\x.txt") == "x.txt"
    assert sanitize_filename("...") == "attachment" and sanitize_filename("") == "attachment"
    long = sanitize_filename("a" * 400 + ".tar.gz")
    assert len(long) == 255 and long.endswith(".gz")


# ---- passthrough ----

PASSTHROUGH_PATHS = {
    "github": "user",
    "gitlab": "user",
    "gitea": "user",
    "trello": "members/me",
    "jira_cloud": "project/APP",
    "jira_dc": "project/APP",
}


def passthrough(client, env, **body):
    return client.post(env.url("/passthrough"), json={"method": "GET", **body}, headers=env.user.headers)


@parametrize_env()
def test_passthrough_calls_the_provider_api_with_the_stored_credentials(client, env, caplog):
    if not supports(env, Capability.PASSTHROUGH):
        assert_not_supported(passthrough(client, env, path="user"), env)
        return
    caplog.set_level(logging.INFO, logger="api.services.passthrough")
    response = passthrough(client, env, path=PASSTHROUGH_PATHS[env.provider])
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert result["status"] == 200 and isinstance(result["body"], dict)
    assert result["headers"]["Content-Type"].startswith("application/json")
    logged = [record for record in caplog.records if record.name == "api.services.passthrough"]
    assert logged and logged[-1].status == 200 and logged[-1].user == env.user.username
    assert logged[-1].path == "/" + PASSTHROUGH_PATHS[env.provider]
    secret = {
        "github": "gh-token",
        "gitlab": "gl-token",
        "gitea": "gt-token",
        "trello": "tr-token",
        "jira_cloud": "jira-api-token",
        "jira_dc": "jira-pat",
    }[env.provider]
    assert secret not in caplog.text and secret not in response.get_data(as_text=True)


@parametrize_env(["gitea", "github"])
def test_passthrough_filters_response_headers_and_returns_the_provider_status(client, env):
    env.fake.fail_next(
        418,
        body={"message": "teapot"},
        headers={"Set-Cookie": "session=x", "WWW-Authenticate": "token", "X-RateLimit-Remaining": "7"},
    )
    result = passthrough(client, env, path="user").get_json()
    assert result["status"] == 418 and result["body"] == {"message": "teapot"}
    names = {name.lower() for name in result["headers"]}
    assert "set-cookie" not in names and "www-authenticate" not in names and "x-ratelimit-remaining" in names


# GitLab lets '%2F' through inside a name (its encoded project paths); none of these pass anywhere.
@pytest.mark.parametrize(
    "path",
    [
        "https://evil.example/x",
        "//evil.example/x",
        "../x",
        "a/../../x",
        "a/./b",
        "a/%2e%2e/x",
        "a%5cb",
        "a\\b",
        "a//b",
        "a?b=1",
        "a#b",
        "a%252e",
        "http:x",
        "a b",
        "",
        "projects/%2Fgroup/issues",
        "projects/group%2F/issues",
        "projects/a%2F%2Fb",
        "projects/..%2Fx",
        "projects/a%2F..",
        "projects/a%2F.%2Fb",
        "projects/a%252Fb",
        "projects/a%2F%2e%2e",
        "%2F%2Fevil.example/x",
        "https:%2F%2Fevil.example",
    ],
)
@pytest.mark.parametrize("env", ["gitea", "gitlab"], indirect=True)
def test_passthrough_refuses_paths_that_leave_the_api_root(client, env, path):
    before = len(env.fake.requests)
    response = passthrough(client, env, path=path)
    assert response.status_code == 400, response.get_json()
    assert "path" in response.get_json()["errors"]
    assert len(env.fake.requests) == before  # nothing was sent


@pytest.mark.parametrize("env", ["gitea"], indirect=True)
def test_passthrough_caps_the_response_size(client, env, app, monkeypatch):
    monkeypatch.setitem(app.config, "PASSTHROUGH_MAX_BYTES", 64)
    response = passthrough(client, env, path="user")
    assert response.status_code == 502 and "64" in response.get_json()["message"]


@pytest.mark.parametrize("env", ["gitea"], indirect=True)
def test_passthrough_sends_json_bodies_and_query_parameters(client, env):
    response = passthrough(client, env, method="POST", path="repos/gitea_admin/app/issues", json={"title": "raw"})
    assert response.get_json()["status"] == 201 and response.get_json()["body"]["title"] == "raw"
    listed = passthrough(client, env, path="repos/gitea_admin/app/issues", query={"state": "all", "type": "issues"})
    assert [item["title"] for item in listed.get_json()["body"]] == ["raw"]


def test_passthrough_is_rate_limited_per_user(make_app):
    from test.test_trackers import TRACKERS

    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_PASSTHROUGH="2 per minute")
    client = app.test_client()

    def user(name):
        client.post("/api/v1/users/register", json={"username": name, "password": "Sup3r-secret-pw"})
        token = client.post("/api/v1/users/login", json={"username": name, "password": "Sup3r-secret-pw"}).get_json()
        return {"Authorization": f"Bearer {token['access_token'] if 'access_token' in token else token['token']}"}

    first, second = user("passthrough_one"), user("passthrough_two")
    statuses = []
    for headers in (first, first, first, second):
        tracker = client.post(
            TRACKERS, json={"name": f"b{len(statuses)}", "provider": "builtin", "target": "x"}, headers=headers
        ).get_json()
        statuses.append(
            client.post(
                f"{TRACKERS}{tracker['id']}/passthrough", json={"method": "GET", "path": "user"}, headers=headers
            ).status_code
        )
    assert statuses == [400, 400, 429, 400]  # built-in: not_supported, counted all the same


@pytest.mark.parametrize("env", ["gitlab"], indirect=True)
def test_gitlab_attachments_are_project_uploads_linked_from_a_note(client, env):
    env.fake.add_member("group/app", "root", access_level=40)
    issue = create(client, env)
    attachment = upload(client, env, issue["id"]).get_json()
    notes = client.get(env.url(f"/issues/{issue['id']}/comments"), headers=env.user.headers).get_json()["comments"]
    assert [note["body"] for note in notes] == [f"Attachment: [shot.png](/uploads/{attachment['id']}/shot.png)"]
    client.delete(env.url(f"/issues/{issue['id']}/attachments/{attachment['id']}"), headers=env.user.headers)
    assert client.get(env.url(f"/issues/{issue['id']}/comments"), headers=env.user.headers).get_json()["comments"] == []


def test_swagger_documents_the_upload_as_multipart_and_every_new_operation(client):
    spec = client.get("/api/v1/swagger.json").get_json()
    issue = "/trackers/{tracker_id}/issues/{issue_id}"
    upload_op = spec["paths"][f"{issue}/attachments"]["post"]
    assert upload_op["consumes"] == ["multipart/form-data"]
    assert {"name": "file", "in": "formData", "type": "file", "required": True} in [
        {k: p[k] for k in ("name", "in", "type", "required") if k in p} for p in upload_op["parameters"]
    ]
    expected = {
        f"{issue}": {"delete"},
        f"{issue}/children": {"get"},
        f"{issue}/comments/{{comment_id}}": {"patch", "delete"},
        f"{issue}/attachments": {"get", "post"},
        f"{issue}/attachments/{{attachment_id}}": {"delete"},
        f"{issue}/attachments/{{attachment_id}}/content": {"get"},
        "/trackers/{tracker_id}/passthrough": {"post"},
    }
    for path, methods in expected.items():
        assert methods <= set(spec["paths"][path]), path
    assert "application/octet-stream" in spec["paths"][f"{issue}/attachments/{{attachment_id}}/content"]["get"]["produces"]
    issue_model = spec["definitions"]["Issue"]["properties"]
    assert {"status_category", "priority", "remote_priority", "issue_type", "parent_id"} <= set(issue_model)
    assert "capabilities" in spec["definitions"]["Tracker"]["properties"]


@parametrize_env()
def test_in_progress_moves_and_filters_where_supported(client, env):
    enable_workflow(client, env)
    if not supports(env, Capability.IN_PROGRESS):
        return
    first, second = create(client, env, title="one"), create(client, env, title="two")
    moved = patch(client, env, first["id"], status_category="in_progress")
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["status_category"] == "in_progress" and moved.get_json()["status"] == "open"
    ids = {issue["id"] for issue in listing(client, env, status_category="in_progress")["issues"]}
    assert ids == {first["id"]}
    assert {issue["id"] for issue in listing(client, env, status_category="todo")["issues"]} == {second["id"]}
    done = patch(client, env, first["id"], status_category="done").get_json()
    assert done["status"] == "closed" and done["status_category"] == "done"
    back = patch(client, env, first["id"], status_category="todo").get_json()
    assert back["status"] == "open" and back["status_category"] == "todo"


def test_all_trackers_listing_filters_by_status_category_and_reports_trackers_that_cannot(client, auth, github_fake):
    from test.test_trackers import TRACKERS, make_tracker

    user = auth.register()
    local = make_tracker(client, user, name="b", target="agg")
    github_fake.add_token("gh-agg", login="octocat")
    github_fake.add_repo("octo-org/agg")
    remote = make_tracker(
        client,
        user,
        name="g",
        provider="github",
        target="octo-org/agg",
        base_url=github_fake.base_url,
        credentials={"token": "gh-agg"},
    )
    doing = client.post(f"{TRACKERS}{local['id']}/issues", json={"title": "a"}, headers=user.headers).get_json()
    client.post(f"{TRACKERS}{local['id']}/issues", json={"title": "b"}, headers=user.headers)
    client.patch(f"{TRACKERS}{local['id']}/issues/{doing['id']}", json={"status_category": "in_progress"}, headers=user.headers)
    result = client.get("/api/v1/issues", query_string={"status_category": "in_progress"}, headers=user.headers).get_json()
    assert [(i["tracker_id"], i["id"]) for i in result["issues"]] == [(local["id"], doing["id"])]
    assert [(e["tracker_id"], e["error"]) for e in result["errors"]] == [(remote["id"], "not_supported")]

"""After exercising every kind of endpoint with known secret values, none of them appears in any response body,
response header or log line (at DEBUG level)."""

import json
import logging

from test.conftest import registration
from test.test_trackers import TRACKERS

PASSWORD = "pw-AUDIT-secret-9f3a"
SECRETS = {
    "password": PASSWORD,
    "github token": "ghp-AUDIT-token-51c2",
    "gitlab token": "glpat-AUDIT-token-8e0d",
    "trello token": "trello-AUDIT-token-2b7f",
    "trello api secret": "trello-AUDIT-appsecret-77aa",
    "gitea token": "gitea-AUDIT-token-3d91",
    "jira cloud api token": "jira-AUDIT-apitoken-6a1e",
    "jira dc token": "jira-AUDIT-pat-0c7b",
    "subscription secret": "sub-AUDIT-secret-4c4c-at-least-16",
}


def test_no_secret_in_any_response_or_log_line(make_app, auth, db, caplog, github_fake, gitlab_fake, trello_fake,
                                                gitea_fake, jira_cloud_fake, jira_dc_fake):
    app = make_app(LOG_REQUESTS=True, LOG_LEVEL="DEBUG")
    caplog.set_level(logging.DEBUG)  # after create_app, which sets the root level from LOG_LEVEL
    client = app.test_client()
    responses = []

    def call(method, url, **kwargs):
        response = client.open(url, method=method, **kwargs)
        responses.append(response)
        return response

    user = auth.register(password=PASSWORD)
    call("POST", "/api/v1/users/login", json={"username": user.username, "password": PASSWORD})
    call("POST", "/api/v1/users/login", json={"username": user.username, "password": PASSWORD + "x"})
    call("POST", "/api/v1/users/register", json={"username": "short", "password": "x"})
    headers = user.headers

    github_fake.add_token(SECRETS["github token"], login="octocat")
    github_fake.add_repo("octo/audit")
    github_fake.add_member("octo/audit", "octocat", permission="admin")
    gitlab_fake.add_token(SECRETS["gitlab token"], username="root")
    project = gitlab_fake.add_project("grp/audit")
    gitlab_fake.add_member(project["id"], "root", access_level=40)
    trello_fake.add_token(SECRETS["trello token"], key="trello-key", username="me")
    board = trello_fake.add_board("Audit", members=["me"])
    trello_fake.add_list(board["id"], "To do")
    gitea_fake.add_token(SECRETS["gitea token"], login="audit")
    gitea_fake.add_repo("audit/repo")
    jira_cloud_fake.add_basic_auth("audit@example.com", SECRETS["jira cloud api token"], name="me")
    jira_cloud_fake.add_project("AUD", members=["me"])
    jira_dc_fake.add_token(SECRETS["jira dc token"], name="me")
    jira_dc_fake.add_project("AUD", members=["me"])
    trackers = []
    for body in (
        {"name": "gh", "provider": "github", "target": "octo/audit", "base_url": github_fake.base_url,
         "credentials": {"token": SECRETS["github token"]}},
        {"name": "gl", "provider": "gitlab", "target": "grp/audit", "base_url": gitlab_fake.base_url,
         "credentials": {"token": SECRETS["gitlab token"]}},
        {"name": "tr", "provider": "trello", "target": board["id"], "base_url": trello_fake.base_url,
         "credentials": {"api_key": "trello-key", "token": SECRETS["trello token"], "api_secret": SECRETS["trello api secret"]}},
        {"name": "bi", "provider": "builtin", "target": "audit"},
        {"name": "gt", "provider": "gitea", "target": "audit/repo", "base_url": gitea_fake.base_url,
         "credentials": {"token": SECRETS["gitea token"]}},
        {"name": "jc", "provider": "jira", "target": "AUD", "base_url": jira_cloud_fake.base_url,
         "credentials": {"email": "audit@example.com", "api_token": SECRETS["jira cloud api token"]},
         "options": {"deployment": "cloud"}},
        {"name": "jd", "provider": "jira", "target": "AUD", "base_url": jira_dc_fake.base_url,
         "credentials": {"token": SECRETS["jira dc token"]}},
    ):
        response = call("POST", TRACKERS, json=body, headers=headers)
        assert response.status_code == 201, response.get_json()
        trackers.append(response.get_json())
    call("POST", TRACKERS, json={"name": "bad", "provider": "github", "target": "o/r", "base_url": "https://10.0.0.1",
                                 "credentials": {"token": SECRETS["github token"]}}, headers=headers)
    for tracker in trackers:
        base = f"{TRACKERS}{tracker['id']}"
        call("GET", base, headers=headers)
        call("POST", f"{base}/verify", headers=headers)
        issue = call("POST", f"{base}/issues", json={"title": "audit"}, headers=headers).get_json()
        call("GET", f"{base}/issues", headers=headers)
        call("GET", f"{base}/issues/{issue['id']}", query_string={"include_remote_data": "true"}, headers=headers)
        call("POST", f"{base}/issues/{issue['id']}/comments", json={"body": "c"}, headers=headers)
        call("GET", f"{base}/labels", headers=headers)
        call("GET", f"{base}/members", headers=headers)
        if tracker["provider"] != "builtin":
            call("POST", f"{base}/webhook", headers=headers)
    call("GET", TRACKERS, headers=headers)
    call("GET", "/api/v1/issues", headers=headers)
    SECRETS["webhook secret (github)"] = registration(db, trackers[0]["id"]).secret
    SECRETS["webhook secret (gitlab)"] = registration(db, trackers[1]["id"]).secret
    SECRETS["webhook secret (gitea)"] = registration(db, trackers[4]["id"]).secret
    SECRETS["webhook secret (jira dc)"] = registration(db, trackers[6]["id"]).secret
    # Failures must not echo credentials either: a revoked token, an unverified delivery.
    call("PATCH", f"{TRACKERS}{trackers[0]['id']}", json={"credentials": {"token": SECRETS["github token"] + "-revoked"}},
         headers=headers)
    call("GET", f"{TRACKERS}{trackers[0]['id']}/issues", headers=headers)
    call("POST", f"/api/v1/webhooks/{trackers[1]['id']}", data=b"{}", headers={"X-Gitlab-Token": "wrong"})
    call("POST", f"/api/v1/webhooks/{trackers[1]['id']}", data=b"{}",
         headers={"X-Gitlab-Token": SECRETS["webhook secret (gitlab)"], "X-Gitlab-Event-UUID": "u1"})
    subscription = call("POST", "/api/v1/subscriptions/", json={"url": "http://127.0.0.1:9/h", "events": ["*"],
                                                                "secret": SECRETS["subscription secret"]}, headers=headers)
    call("GET", "/api/v1/subscriptions/", headers=headers)
    call("GET", f"/api/v1/subscriptions/{subscription.get_json()['id']}", headers=headers)
    call("GET", "/api/v1/users/me", headers=headers)
    call("GET", "/metrics")

    assert 500 not in [response.status_code for response in responses]
    revealed = {name: secret for name, secret in SECRETS.items()
                for response in responses
                if secret in response.get_data(as_text=True) or secret in json.dumps(dict(response.headers))}
    assert revealed == {}
    logged = "\n".join(record.getMessage() + json.dumps({k: str(v) for k, v in vars(record).items()})
                       for record in caplog.records)
    assert len(caplog.records) > len(responses)  # the access log and tracker call lines were captured
    assert {name for name, secret in SECRETS.items() if secret in logged} == set()
    assert user.token not in logged

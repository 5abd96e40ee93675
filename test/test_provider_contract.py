"""One contract for every provider: the same calls through the gateway's API, against the real client libraries
talking HTTP to the offline stand-ins or to PostgreSQL (built-in), for every contract variant of every registered provider."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

import pytest

from api.trackers.base import Capability
from api.trackers.registry import provider_class
from api.trackers.resilience import breaker
from test.fakes import contract_variants
from test.fakes.kit import ContractVariant
from test.helpers import wait_until
from test.test_trackers import TRACKERS

# Contract variants of every registered provider (test/fakes/<slug>.py CONTRACT_VARIANTS), in registry order.
VARIANTS = contract_variants()
PROVIDERS = list(VARIANTS)
REMOTE = [name for name, variant in VARIANTS.items() if variant.server is not None]


@dataclass
class Env:
    provider: str
    user: object
    tracker: dict
    member: str
    labels: list
    fake: object = None
    extra: dict = field(default_factory=dict)
    variant: ContractVariant = None

    def url(self, suffix=""):
        return f"{TRACKERS}{self.tracker['id']}{suffix}"


def _connect(client, user, **body):
    response = client.post(TRACKERS, json={"name": body["provider"], **body}, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def env(request, client, auth):
    """A tracker of the variant named by the parameter, connected through the API by its fake module's set-up."""
    variant = VARIANTS[request.param]
    user = auth.register()
    breaker.reset()
    fake = request.getfixturevalue(f"{variant.name}_fake") if variant.server is not None else None
    setup = variant.setup(fake, lambda **body: _connect(client, user, **body), user)
    return Env(
        variant.name, user, setup.tracker, member=setup.member, labels=setup.labels, fake=fake, extra=setup.extra, variant=variant
    )


def parametrize_env(providers=None):
    """Run a test once per contract variant: every registered provider's by default, or the ones named."""
    names = PROVIDERS if providers is None else list(providers)
    unknown = [name for name in names if name not in VARIANTS]
    assert not unknown, f"no contract variant {unknown} (test/fakes/<slug>.py CONTRACT_VARIANTS)"
    return pytest.mark.parametrize("env", names, indirect=True)


def create(client, env, **body):
    response = client.post(env.url("/issues"), json={"title": "Contract", **body}, headers=env.user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def listing(client, env, **query):
    response = client.get(env.url("/issues"), query_string=query, headers=env.user.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@parametrize_env()
def test_create_and_get_an_issue_in_the_unified_shape(client, env):
    issue = create(client, env, description="Steps", labels=["bug"], assignees=[env.member])
    assert issue["title"] == "Contract" and issue["description"] == "Steps" and issue["status"] == "open"
    assert issue["labels"] == ["bug"] and [p["username"] for p in issue["assignees"]] == [env.member]
    assert isinstance(issue["id"], str) and issue["tracker_id"] == env.tracker["id"]
    assert datetime.fromisoformat(issue["created_at"]).tzinfo is not None
    if env.fake is not None:
        assert issue["url"].startswith(env.fake.base_url)
    fetched = client.get(env.url(f"/issues/{issue['id']}"), headers=env.user.headers)
    assert fetched.status_code == 200
    assert {k: fetched.get_json()[k] for k in ("id", "title", "labels", "status")} == {
        k: issue[k] for k in ("id", "title", "labels", "status")
    }


@parametrize_env()
def test_list_filters_by_status_labels_assignee_text_and_update_time(client, env):
    first = create(client, env, title="Login broken", labels=["bug"])
    second = create(client, env, title="Dark mode", labels=["ui"], assignees=[env.member])
    third = create(client, env, title="Crash on save", labels=["bug", "ui"])
    assert client.patch(env.url(f"/issues/{third['id']}"), json={"status": "closed"}, headers=env.user.headers).status_code == 200

    def ids(**query):
        return {issue["id"] for issue in listing(client, env, **query)["issues"]}

    assert ids() == {first["id"], second["id"], third["id"]}
    assert ids(status="open") == {first["id"], second["id"]}
    assert ids(status="closed") == {third["id"]}
    assert ids(labels="bug") == {first["id"], third["id"]}
    assert ids(labels="bug,ui") == {third["id"]}
    assert ids(assignee=env.member) == {second["id"]}
    assert ids(q="crash") == {third["id"]}
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert ids(updated_since=future) == set()
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)  # the same instant at the offsets farthest from UTC
    for zone in (timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))):
        assert ids(updated_since=an_hour_ago.astimezone(zone).isoformat()) == {first["id"], second["id"], third["id"]}


@parametrize_env()
def test_list_is_ordered_by_update_time_and_paginates_to_the_end(client, env):
    created = [create(client, env, title=f"Issue {n}")["id"] for n in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        body = listing(client, env, limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [issue["id"] for issue in body["issues"]]
        stamps = [issue["updated_at"] for issue in body["issues"]]
        assert stamps == sorted(stamps, reverse=True)
        cursor, pages = body["next_cursor"], pages + 1
        if not cursor or pages > 10:
            break
    assert sorted(seen) == sorted(created) and len(seen) == 5


@parametrize_env()
def test_update_each_field_and_close_reopen(client, env):
    issue = create(client, env)
    url = env.url(f"/issues/{issue['id']}")
    for change in ({"title": "Renamed"}, {"description": "Details"}, {"labels": ["ui"]}, {"assignees": [env.member]}):
        response = client.patch(url, json=change, headers=env.user.headers)
        assert response.status_code == 200, response.get_json()
        key, value = next(iter(change.items()))
        got = response.get_json()[key]
        assert (got if key != "assignees" else [p["username"] for p in got]) == value
    closed = client.patch(url, json={"status": "closed"}, headers=env.user.headers).get_json()
    assert closed["status"] == "closed"
    assert client.get(url, headers=env.user.headers).get_json()["status"] == "closed"
    reopened = client.patch(url, json={"status": "open"}, headers=env.user.headers).get_json()
    assert reopened["status"] == "open"


@parametrize_env()
def test_due_date_is_set_where_supported_and_refused_where_not(client, env):
    issue = create(client, env)
    response = client.patch(env.url(f"/issues/{issue['id']}"), json={"due_date": "2031-05-06"}, headers=env.user.headers)
    if Capability.DUE_DATE not in provider_class(env.tracker["provider"]).capabilities:
        assert response.status_code == 400 and response.get_json()["error"] == "not_supported"
    else:
        assert response.status_code == 200 and response.get_json()["due_date"] == "2031-05-06"


@parametrize_env()
def test_comments_are_added_and_listed_oldest_first(client, env):
    issue = create(client, env)
    url = env.url(f"/issues/{issue['id']}/comments")
    for text in ("first", "second", "third"):
        response = client.post(url, json={"body": text}, headers=env.user.headers)
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["body"] == text
    bodies, cursor = [], None
    for _ in range(5):
        page = client.get(
            url, query_string={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=env.user.headers
        ).get_json()
        bodies += [comment["body"] for comment in page["comments"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert bodies == ["first", "second", "third"]


@parametrize_env()
def test_labels_and_members(client, env):
    create(client, env, labels=env.labels)
    labels = client.get(env.url("/labels"), headers=env.user.headers).get_json()["labels"]
    assert set(env.labels) <= {label["name"] for label in labels}
    members = client.get(env.url("/members"), headers=env.user.headers).get_json()["members"]
    assert env.member in {member["username"] for member in members}


@parametrize_env()
def test_verify_reports_the_target(client, env):
    response = client.post(env.url("/verify"), headers=env.user.headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["ok"] is True


@parametrize_env()
def test_unknown_issue_is_404(client, env):
    response = client.get(env.url(f"/issues/{env.variant.missing_issue_id}"), headers=env.user.headers)
    assert response.status_code == 404


@parametrize_env(REMOTE)
def test_rejected_credentials_are_502_tracker_auth_failed_without_the_token(client, env):
    client.patch(env.url(), json={"credentials": env.variant.revoked("revoked-token-value")}, headers=env.user.headers)
    response = client.get(env.url("/issues"), headers=env.user.headers)
    assert response.status_code == 502 and response.get_json()["error"] == "tracker_auth_failed"
    assert "revoked-token-value" not in response.get_data(as_text=True)


@parametrize_env(REMOTE)
def test_provider_validation_error_is_422_with_its_message(client, env):
    env.fake.fail_next(env.variant.validation_status, body={"message": "title is too fancy"}, match="^POST ")
    response = client.post(env.url("/issues"), json={"title": "x"}, headers=env.user.headers)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"] == "tracker_validation_failed"


@parametrize_env(REMOTE)
def test_rate_limit_is_503_with_retry_after(client, env):
    env.fake.rate_limit_next(count=5, retry_after=120)
    response = client.get(env.url("/issues"), headers=env.user.headers)
    assert response.status_code == 503, response.get_json()
    assert response.get_json()["error"] == "tracker_rate_limited"
    # Most providers say when to come back; the ones that do not have short windows (ContractVariant.min_retry_after).
    assert int(response.headers["Retry-After"]) >= env.variant.min_retry_after


@parametrize_env(REMOTE)
def test_timeout_is_504(client, env, app):
    env.fake.hang_next(count=5, seconds=app.config["TRACKER_TIMEOUT_SECONDS"] + 2)
    response = client.get(env.url("/issues"), headers=env.user.headers)
    assert response.status_code == 504 and response.get_json()["error"] == "tracker_timeout"


@parametrize_env(REMOTE)
def test_dropped_connection_is_502(client, env):
    env.fake.drop_next(count=5)
    response = client.get(env.url("/issues"), headers=env.user.headers)
    assert response.status_code == 502 and response.get_json()["error"] == "tracker_unavailable"


@parametrize_env(REMOTE)
def test_server_errors_are_retried_for_idempotent_calls(client, env):
    env.fake.fail_next(503, count=1, match="^GET ")
    assert client.get(env.url("/issues"), headers=env.user.headers).status_code == 200


@parametrize_env(REMOTE)
def test_circuit_opens_after_repeated_failures_and_closes_after_the_reset(client, env, app):
    threshold = app.config["TRACKER_BREAKER_THRESHOLD"]
    env.fake.fail_next(500, count=100)
    for _ in range(threshold):
        assert client.get(env.url("/issues"), headers=env.user.headers).status_code == 502
    before = len(env.fake.requests)
    response = client.get(env.url("/issues"), headers=env.user.headers)
    assert response.status_code == 503 and response.get_json()["error"] == "tracker_circuit_open"
    assert len(env.fake.requests) == before  # failing fast: the tracker was not called
    env.fake.clear_faults()
    app.config["TRACKER_BREAKER_RESET_SECONDS"], saved = 0.0, app.config["TRACKER_BREAKER_RESET_SECONDS"]
    try:
        assert client.get(env.url("/issues"), headers=env.user.headers).status_code == 200
    finally:
        app.config["TRACKER_BREAKER_RESET_SECONDS"] = saved
    assert client.get(env.url("/issues"), headers=env.user.headers).status_code == 200


def test_github_repeated_reads_are_conditional_and_a_304_costs_no_rate_limit(client, auth, github_fake):
    import requests

    from api.trackers.providers.github import etag_cache

    etag_cache.clear()
    user = auth.register()
    github_fake.add_token("gh-token")
    github_fake.add_repo("octo-org/site")
    github_fake.add_issue("octo-org/site", "Cached")
    tracker = _connect(
        client, user, provider="github", target="octo-org/site", base_url=github_fake.base_url, credentials={"token": "gh-token"}
    )
    url = f"{TRACKERS}{tracker['id']}/issues/1"

    def remaining():
        quota = requests.get(f"{github_fake.base_url}/rate_limit", headers={"Authorization": "token gh-token"}, timeout=5)
        return quota.json()["resources"]["core"]["remaining"]

    first = client.get(url, headers=user.headers)
    after_first = remaining()
    second = client.get(url, headers=user.headers)
    assert first.status_code == second.status_code == 200 and first.get_json() == second.get_json()
    issue_gets = [r for r in github_fake.requests if r.method == "GET" and r.path.endswith("/issues/1")]
    assert "if-none-match" not in issue_gets[0].headers
    assert issue_gets[-1].headers["if-none-match"]
    assert remaining() == after_first


@parametrize_env(REMOTE)
def test_a_page_of_issues_costs_a_bounded_number_of_provider_requests(client, env):
    for n in range(5):
        create(client, env, title=f"Issue {n}")
    before = len(env.fake.requests)
    assert len(listing(client, env, limit=5)["issues"]) == 5
    made = len(env.fake.requests) - before
    # A fixed number per page (ContractVariant.requests_per_page), never one per issue.
    assert made == env.variant.requests_per_page, [r.path for r in env.fake.requests[before:]]


@parametrize_env(["github"])
def test_a_half_open_trial_answered_with_a_rate_limit_closes_the_circuit(client, env, app):
    # The tracker answering at all (even 429) shows it is up; the trial must not leave the circuit stuck open.
    threshold = app.config["TRACKER_BREAKER_THRESHOLD"]
    env.fake.fail_next(500, count=100)
    for _ in range(threshold):
        client.get(env.url("/issues"), headers=env.user.headers)
    env.fake.clear_faults()
    env.fake.rate_limit_next(count=1, retry_after=60)
    app.config["TRACKER_BREAKER_RESET_SECONDS"], saved = 0.0, app.config["TRACKER_BREAKER_RESET_SECONDS"]
    try:
        trial = client.get(env.url("/issues"), headers=env.user.headers)
        assert trial.get_json()["error"] == "tracker_rate_limited"
        assert client.get(env.url("/issues"), headers=env.user.headers).status_code == 200
    finally:
        app.config["TRACKER_BREAKER_RESET_SECONDS"] = saved


@parametrize_env(["github"])
def test_a_hanging_tracker_cannot_take_more_than_its_share_of_request_threads(env, make_app):
    import threading

    # The hang must stay well inside the tracker timeout, or the held calls end as 504s instead of finishing.
    app = make_app(TRACKER_MAX_IN_FLIGHT=2, TRACKER_TIMEOUT_SECONDS=10.0)
    client = app.test_client()
    env.fake.hang_next(count=2, seconds=3)

    def issue_reads():
        return [r for r in env.fake.requests if r.method == "GET" and r.path.endswith("/issues")]

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(client.get(env.url("/issues"), headers=env.user.headers).status_code))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(issue_reads()) == 2, message="both calls hanging on the tracker")
    busy = client.get(env.url("/issues"), headers=env.user.headers)
    assert busy.status_code == 503 and busy.get_json()["error"] == "tracker_busy"
    assert busy.headers["Retry-After"] == "1"
    assert all(thread.is_alive() for thread in threads), "refused at once, not after waiting for a free slot"
    assert len(issue_reads()) == 2, "the refused call never reached the tracker"
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 200]
    assert client.get(env.url("/issues"), headers=env.user.headers).status_code == 200

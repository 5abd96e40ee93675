"""The spec is as strict as the API: request bodies that schemathesis generates from the live spec (positive mode,
so they conform to it) are accepted by the operations whose input rules used to be missing from the spec.

Only what no schema can know is fixed up front: URLs must resolve to an allowed address (the outbound URL policy),
so `url`/`base_url` are set to an allowed one, and ids in the path point at the user's own objects.
"""

import collections
import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode

from test.test_trackers import make_tracker

EXAMPLES = 25
ALLOWED_URL = "http://127.0.0.1:9/hook"  # TRACKER_ALLOWED_HOSTS in TestingConfig
REFUSALS = (400, 422)


@pytest.fixture
def world(client, auth):
    """A user with one object of each kind the operations under test address."""
    user = auth.register()
    tracker = make_tracker(client, user)
    issue = client.post(f"/api/v1/trackers/{tracker['id']}/issues", json={"title": "Bug"}, headers=user.headers)
    template = client.post(
        "/api/v1/templates/", json={"name": "T", "title": "Hello", "tracker_id": tracker["id"]}, headers=user.headers
    )
    subscription = client.post(
        "/api/v1/subscriptions/", headers=user.headers, json={"url": ALLOWED_URL, "events": ["*"], "secret": "s" * 16}
    )
    assert issue.status_code == template.status_code == subscription.status_code == 201
    return {
        "user": user,
        "tracker_id": tracker["id"],
        "issue_id": issue.get_json()["id"],
        "template_id": template.get_json()["id"],
        "subscription_id": subscription.get_json()["id"],
    }


def spec_schema(client):
    return schemathesis.openapi.from_dict(client.get("/api/v1/swagger.json").get_json())


def generated_bodies(client, method, path):
    """EXAMPLES bodies that conform to the operation's request model, the same ones on every run."""
    operation = spec_schema(client)[path][method]
    bodies = []

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(GenerationMode.POSITIVE))
    def collect(case):
        bodies.append(case.body)

    collect()
    return bodies


OPERATIONS = [
    ("POST", "/templates/", "/api/v1/templates/"),
    ("PATCH", "/templates/{template_id}", "/api/v1/templates/{template_id}"),
    ("POST", "/subscriptions/", "/api/v1/subscriptions/"),
    ("PATCH", "/subscriptions/{subscription_id}", "/api/v1/subscriptions/{subscription_id}"),
    ("POST", "/trackers/", "/api/v1/trackers/"),
    ("POST", "/trackers/{tracker_id}/issues", "/api/v1/trackers/{tracker_id}/issues"),
    ("POST", "/trackers/{tracker_id}/issues/{issue_id}/comments", "/api/v1/trackers/{tracker_id}/issues/{issue_id}/comments"),
    ("POST", "/templates/{template_id}/issues", "/api/v1/templates/{template_id}/issues"),
]


def _with_world(body, world, path):
    """Point what refers to the world (URLs, ids, usernames, a parent issue, the template's variables) at things that exist."""
    if not isinstance(body, dict):
        return body
    for key in ("url", "base_url"):
        if body.get(key):
            body[key] = ALLOWED_URL
    if body.get("tracker_id") is not None:
        body["tracker_id"] = world["tracker_id"]
    if body.get("assignees"):
        body["assignees"] = [world["user"].username]
    if body.get("parent_id") is not None:
        body["parent_id"] = world["issue_id"]
    if path == "/templates/{template_id}/issues":
        body["variables"] = {}  # the template declares none
    return body


# Rules Swagger 2.0 cannot state (no oneOf, no uniqueness by key, no cross-field checks): the models describe them,
# and a refusal of a spec-valid body must be one of these.
DESCRIBED_ONLY = (
    "already means every event",  # events: ["*"] alone, or named events
    "Declared more than once",  # template variables: names unique
    "Does not match the pattern",  # a variable's default matches its own pattern
    "not declared",  # the template's texts use only declared variables
    "Undeclared variable",
    # per-provider target, credentials and options
    "is required.",
    "Must be",
    "Unknown field.",
    "Unknown option.",
    "takes no credentials",
    "A project key of",
)
MAJORITY = 0.5
# A tracker's target, credentials and options all depend on its provider: without oneOf, no generated body
# knows which to send, so only the kind of refusal is checked there.
PROVIDER_DEPENDENT = {("POST", "/trackers/")}


def _explained(errors):
    text = json.dumps(errors, ensure_ascii=False)
    return any(reason in text for reason in DESCRIBED_ONLY)


@pytest.mark.parametrize(("method", "path", "url"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_bodies_that_conform_to_the_spec_are_accepted(client, world, method, path, url):
    bodies = generated_bodies(client, method, path)
    assert len(bodies) >= EXAMPLES // 2, "too few distinct bodies"
    statuses = collections.Counter()
    unexplained = []
    for body in bodies:
        body = _with_world(body, world, path)
        response = client.open(url.format(**world), method=method, json=body, headers=world["user"].headers)
        statuses[response.status_code] += 1
        assert response.status_code < 500, (body, response.get_json())
        if response.status_code in REFUSALS:
            errors = response.get_json().get("errors") or response.get_json()["message"]
            if not _explained(errors):
                unexplained.append((json.dumps(body)[:300], errors))
    # Spec-valid input may meet a conflict (a duplicate name), never a validation rule the spec could have stated.
    assert not unexplained, f"refused for a rule the spec does not carry {dict(statuses)}: {unexplained[:5]}"
    if (method, path) not in PROVIDER_DEPENDENT:
        refused = sum(statuses[code] for code in REFUSALS)
        assert refused < MAJORITY * len(bodies), f"most spec-valid bodies refused: {dict(statuses)}"


@pytest.mark.parametrize("url", ["https://a]b/", "https://[::1/", "http://[x]y/"])
def test_a_url_that_does_not_parse_is_a_400_not_a_500(client, world, url):
    for path, body in (
        ("/api/v1/subscriptions/", {"url": url, "events": ["*"], "secret": "s" * 16}),
        ("/api/v1/trackers/", {"name": f"t {url}", "provider": "builtin", "target": "x", "base_url": url}),
    ):
        response = client.post(path, json=body, headers=world["user"].headers)
        assert response.status_code == 400, response.get_json()
        assert list(response.get_json()["errors"]) in (["url"], ["base_url"])

"""What the shared suites take from each provider's module in test/fakes/<slug>.py (the test kit).

`CONTRACT_VARIANTS` (every provider): how the contract suite, the secrets audit and the fake fixtures connect a tracker;
`REQUEST_CHECKS` (providers with a fake): how the provider's spec validates the requests its adapter made;
`WEBHOOK_EXPECTATIONS` (providers declaring WEBHOOKS): the unified events each real payload file normalizes to.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Connect = Callable[..., dict]


@dataclass
class Setup:
    """A connected tracker for the contract suite: who may be assigned, which labels exist, anything else it needs."""

    tracker: dict
    member: str
    labels: list = field(default_factory=lambda: ["bug", "ui"])
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ContractVariant:
    """One way of connecting a provider (Jira has two: Cloud and Data Center); `name` is its contract test id."""

    name: str
    # (fake or None, connect(**tracker body) -> tracker, user) -> Setup, the fake seeded so every contract call works.
    setup: Callable[[Any, Connect, Any], Setup]
    # (fake or None, mark) -> (tracker body, {secret name: value}): a tracker whose every secret contains `mark`.
    audit: Callable[[Any, str], tuple[dict, dict]]
    # Starts this variant's fake (the `<name>_fake` fixtures); None for a provider that stores issues locally.
    server: Callable[[], Any] | None = None
    missing_issue_id: str = "999999"
    validation_status: int = 400  # the status the provider answers a refused write with
    min_retry_after: int = 60  # the least Retry-After the gateway passes on for its rate limit
    requests_per_page: int = 1  # provider requests behind one page of issues
    revoked: Callable[[str], dict] = lambda token: {"token": token}  # credentials with a token the provider no longer accepts
    # (call(method, url, **kwargs), tracker, webhook secret) -> None: provider-specific calls that must not echo secrets.
    audit_probe: Callable[..., None] | None = None
    # What GET /trackers/<id> lists as the tracker's capabilities once `setup` connected it, pinned by hand (the deeper
    # contract suite checks them, and that each listed operation works and each other one is 400 not_supported).
    capabilities: frozenset | None = None


@dataclass(frozen=True)
class RequestCheck:
    """How the requests a variant's adapter made while driving the gateway are checked against the provider's spec."""

    variant: str
    setup: Callable[[Any, Connect], tuple[dict, str]]  # (fake, connect) -> (tracker, member)
    # (fake, spec root) -> {(METHOD, template)}: asserts every recorded request is one the spec allows.
    check: Callable[[Any, Any], set]
    expected: frozenset  # operations the drive must have reached
    drive: Callable[..., str] | None = None  # (client, user, tracker, member) -> base URL, replacing the shared drive
    after: Callable[..., None] | None = None  # (client, user, tracker) extra calls after the drive


@dataclass(frozen=True)
class WebhookExpectation:
    """The unified event types a real payload file (relative to test/data/specs/<slug>/webhooks/) normalizes to."""

    name: str
    event: str
    types: tuple
    target: str
    check: Callable[..., None] | None = None  # (payload, events, provider) -> None: the provider's own assertions


def capability_set(text: str) -> frozenset[str]:
    """The capability names written in `text` separated by white space (a variant's `capabilities`, pinned by hand)."""
    return frozenset(text.split())


def operations(text: str, prefix: str = "") -> frozenset[tuple[str, str]]:
    """{(METHOD, template)} from `text`'s comma-separated `METHOD template` items, each template written after `prefix`."""
    return frozenset((method, prefix + template) for method, template in (item.split() for item in text.split(",")))


def poll_twice(client, tracker: dict) -> None:
    """A baseline poll of `tracker` and an incremental one, so a request check sees what polls ask (cursor and all)."""
    from api.extensions import db
    from api.services import polling

    with client.application.app_context():
        for _ in range(2):
            assert polling.poll_tracker(session=db.session, tracker_id=tracker["id"])["outcome"] == "ok"
            db.session.remove()


def drive_deeper_operations(client, user, tracker: dict, *, download: bool = True) -> None:
    """A new issue's comment edited and deleted, an attachment uploaded, listed, downloaded (unless the provider serves
    the file outside its described API) and deleted, and the issue deleted, so a request check sees those calls."""
    import io

    base = f"/api/v1/trackers/{tracker['id']}/issues"
    issue = client.post(base, json={"title": "to delete"}, headers=user.headers).get_json()
    note = client.post(f"{base}/{issue['id']}/comments", json={"body": "x"}, headers=user.headers).get_json()
    comment = f"{base}/{issue['id']}/comments/{note['id']}"
    assert client.patch(comment, json={"body": "y"}, headers=user.headers).status_code == 200
    assert client.delete(comment, headers=user.headers).status_code == 200
    added = client.post(
        f"{base}/{issue['id']}/attachments",
        headers=user.headers,
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(b"plain text"), "a.txt", "text/plain")},
    )
    assert added.status_code == 201, added.get_json()
    assert client.get(f"{base}/{issue['id']}/attachments", headers=user.headers).status_code == 200
    attachment = f"{base}/{issue['id']}/attachments/{added.get_json()['id']}"
    if download:
        assert client.get(f"{attachment}/content", headers=user.headers).data == b"plain text"
    assert client.delete(attachment, headers=user.headers).status_code == 200
    assert client.delete(f"{base}/{issue['id']}", headers=user.headers).status_code == 200


def check_against_spec(fake, spec, template_of: Callable[[str], str], skip: Iterable[str] = ()) -> set:
    """(METHOD, template) of every request `fake` recorded, its JSON body and query checked against `spec` (an OpenAPI
    or Swagger description) unless its template is in `skip` (paths the description leaves out)."""
    checked = set()
    for request in fake.requests:
        template, method = template_of(request.path), request.method.lower()
        checked.add((request.method, template))
        if template in skip:
            continue
        if request.json is not None:
            assert spec.request_errors(template, method, request.json) == [], (request.method, request.path, request.json)
        assert spec.query_errors(template, method, request.query) == [], (request.method, request.path, request.query)
    return checked


def path_template(path: str, templates: Iterable[str], prefix: str = "") -> str:
    """The documented template matching a recorded request path; AssertionError for an undocumented one."""
    for template in templates:
        pattern = "^" + re.escape(prefix) + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            return template
    raise AssertionError(f"the adapter called an undocumented path: {path}")

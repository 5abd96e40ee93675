"""After exercising every kind of endpoint with known secret values, none of them appears in any response body,
response header or log line (at DEBUG level), for every contract variant of every registered provider."""

import json
import logging

from test.conftest import registration
from test.fakes import contract_variants
from test.test_trackers import TRACKERS

PASSWORD = "pw-AUDIT-secret-9f3a"
SUBSCRIPTION_SECRET = "sub-AUDIT-secret-4c4c-at-least-16"
VARIANTS = contract_variants()


def test_no_secret_in_any_response_or_log_line(request, make_app, auth, db, caplog):
    # Every contract variant of every registered provider (test/fakes/<slug>.py CONTRACT_VARIANTS `audit`).
    fakes = {name: request.getfixturevalue(f"{name}_fake") for name, variant in VARIANTS.items() if variant.server}
    app = make_app(LOG_REQUESTS=True, LOG_LEVEL="DEBUG")
    caplog.set_level(logging.DEBUG)  # after create_app, which sets the root level from LOG_LEVEL
    client = app.test_client()
    responses = []
    secrets = {"password": PASSWORD, "subscription secret": SUBSCRIPTION_SECRET}

    def call(method, url, **kwargs):
        response = client.open(url, method=method, **kwargs)
        responses.append(response)
        return response

    user = auth.register(password=PASSWORD)
    call("POST", "/api/v1/users/login", json={"username": user.username, "password": PASSWORD})
    call("POST", "/api/v1/users/login", json={"username": user.username, "password": PASSWORD + "x"})
    call("POST", "/api/v1/users/register", json={"username": "short", "password": "x"})
    headers = user.headers

    trackers, bodies = {}, {}
    for name, variant in VARIANTS.items():
        body, revealing = variant.audit(fakes.get(name), f"AUDIT-{name.replace('_', '')}-9d2e")
        assert revealing or variant.server is None, f"{name}'s audit set-up names no secret to look for"
        secrets.update(revealing)
        bodies[name] = body
        response = call("POST", TRACKERS, json={"name": name, **body}, headers=headers)
        assert response.status_code == 201, response.get_json()
        trackers[name] = response.get_json()
    some_token = next(secret for name, secret in secrets.items() if name.endswith("token"))
    for body in bodies.values():  # refused (a private address): the refusal must not echo the credentials
        if "base_url" in body:
            call("POST", TRACKERS, json={**body, "name": "bad", "base_url": "https://10.0.0.1"}, headers=headers)
    for tracker in trackers.values():
        _exercise(call, tracker, headers)
    call("GET", TRACKERS, headers=headers)
    call("GET", "/api/v1/issues", headers=headers)
    # A hook registered by the gateway keeps its secret; a manual set-up (Jira Cloud) hands it to its owner once.
    for name, tracker in trackers.items():
        if tracker.get("hooked"):
            secrets[f"webhook secret ({name})"] = registration(db, tracker["id"]).secret
    # Failures must not echo credentials either: a revoked token, an unverified delivery.
    for name, tracker in trackers.items():
        if VARIANTS[name].server is not None:
            _fail(call, VARIANTS[name], tracker, headers, some_token + "-revoked", secrets.get(f"webhook secret ({name})", ""))
    subscription = call(
        "POST",
        "/api/v1/subscriptions/",
        json={"url": "http://127.0.0.1:9/h", "events": ["*"], "secret": SUBSCRIPTION_SECRET},
        headers=headers,
    )
    call("GET", "/api/v1/subscriptions/", headers=headers)
    call("GET", f"/api/v1/subscriptions/{subscription.get_json()['id']}", headers=headers)
    call("GET", "/api/v1/users/me", headers=headers)
    call("GET", "/metrics")

    assert 500 not in [response.status_code for response in responses]
    assert len([name for name in secrets if name.startswith("webhook secret")]) >= 4, sorted(secrets)
    revealed = {
        name: secret
        for name, secret in secrets.items()
        for response in responses
        if secret in response.get_data(as_text=True) or secret in json.dumps(dict(response.headers))
    }
    assert revealed == {}
    logged = "\n".join(
        record.getMessage() + json.dumps({k: str(v) for k, v in vars(record).items()}) for record in caplog.records
    )
    assert len(caplog.records) > len(responses)  # the access log and tracker call lines were captured
    assert {name for name, secret in secrets.items() if secret in logged} == set()
    assert user.token not in logged


def _exercise(call, tracker, headers):
    """Every read and write of one tracker, and its webhook registration where the provider has one."""
    base = f"{TRACKERS}{tracker['id']}"
    call("GET", base, headers=headers)
    call("POST", f"{base}/verify", headers=headers)
    issue = call("POST", f"{base}/issues", json={"title": "audit"}, headers=headers).get_json()
    call("GET", f"{base}/issues", headers=headers)
    call("GET", f"{base}/issues/{issue['id']}", query_string={"include_remote_data": "true"}, headers=headers)
    call("POST", f"{base}/issues/{issue['id']}/comments", json={"body": "c"}, headers=headers)
    call("GET", f"{base}/labels", headers=headers)
    call("GET", f"{base}/members", headers=headers)
    if VARIANTS[tracker["name"]].server is not None:
        tracker["hooked"] = call("POST", f"{base}/webhook", headers=headers).status_code == 201


def _fail(call, variant, tracker, headers, revoked_token, webhook_secret):
    """A revoked token and an unverified delivery: the failures must not echo credentials either."""
    call("PATCH", f"{TRACKERS}{tracker['id']}", json={"credentials": variant.revoked(revoked_token)}, headers=headers)
    call("GET", f"{TRACKERS}{tracker['id']}/issues", headers=headers)
    call("POST", f"/api/v1/webhooks/{tracker['id']}", data=b"{}")
    if variant.audit_probe is not None:
        variant.audit_probe(call, tracker, webhook_secret)

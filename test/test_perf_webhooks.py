"""Round trips of one webhook delivery, counted: ingest, and processing, where consumers with nothing to read for the
event's owner are not asked."""

import pytest
from sqlalchemy import func, select, text

from api.extensions import db as _db
from api.models.automations import AutomationRun
from api.models.subscriptions import OutboundDelivery
from api.services.webhooks import process_delivery
from test.test_perf_queries import Recorder
from test.test_subscriptions import make_subscription
from test.test_sync_builtin import make_sync
from test.test_trackers import make_tracker
from test.test_webhooks import _rule, deliver_github, example

CONSUMER_QUERIES = ("SELECT automations.", "SELECT subscriptions.", "SELECT syncs.")


@pytest.fixture
def engine(app):
    with app.app_context():
        return _db.engine


def _deliver(client, github, number):
    payload = example("github", "issues.opened.json")
    payload["issue"]["number"] = number
    response = deliver_github(client, github, "issues", payload, delivery=f"d-{number}")
    assert response.status_code == 202 and response.get_json()["status"] == "accepted"
    return response.get_json()["delivery_id"]


def _process(app, engine, delivery_id):
    with app.app_context(), Recorder(engine) as seen:
        process_delivery(delivery_id)
    return seen.statements


def test_an_accepted_delivery_costs_four_statements(client, engine, github):
    _deliver(client, github, 100)  # warm the pool
    with Recorder(engine) as seen:
        _deliver(client, github, 101)
    assert len(seen.statements) == 4, seen.statements
    assert [" ".join(statement.split(" ", 3)[:3]) for statement in seen.statements] == [
        "SELECT trackers.id, trackers.provider,",
        "INSERT INTO webhook_deliveries",
        "INSERT INTO webhook_body_hashes",
        "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(%(queue)s, %(task)s,",
    ]


def test_an_event_whose_owner_has_no_rules_subscriptions_or_syncs_asks_the_consumers_once(client, app, engine, db, github):
    statements = _process(app, engine, _deliver(client, github, 200))
    assert sum("EXISTS (SELECT 1 FROM automations" in statement for statement in statements) == 1
    assert not [statement for statement in statements if statement.startswith(CONSUMER_QUERIES)]


def test_a_delivery_on_a_tracker_without_marked_gateway_changes_skips_the_echo_lookup(client, app, engine, db, github):
    statements = _process(app, engine, _deliver(client, github, 250))
    assert "FROM gateway_changes" in statements[0]  # asked along with the delivery
    assert not [statement for statement in statements if statement.startswith("SELECT gateway_changes.")]


@pytest.mark.parametrize("side", ["left", "right"])
def test_each_consumer_still_runs_for_an_owner_with_something_enabled_for_it(client, app, engine, db, github, side):
    user = github["user"]
    make_subscription(client, user, events=["issue.created"])
    rule = _rule(
        client,
        user,
        name="note",
        tracker_id=github["tracker"]["id"],
        event_types=["issue.created"],
        actions=[{"type": "add_comment", "body": "seen"}],
    )
    mirror = make_tracker(client, user, name="mirror", target="mirror")
    make_sync(client, user, *((github["tracker"], mirror) if side == "left" else (mirror, github["tracker"])))
    db.session.execute(text("DELETE FROM procrastinate_jobs"))
    db.session.commit()
    statements = _process(app, engine, _deliver(client, github, 300))
    assert all(any(statement.startswith(prefix) for statement in statements) for prefix in CONSUMER_QUERIES)
    assert db.session.scalar(select(func.count()).select_from(OutboundDelivery)) == 1
    runs = select(func.count()).select_from(AutomationRun).where(AutomationRun.automation_id == rule["id"])
    assert db.session.scalar(runs) == 1
    queued = db.session.scalars(text("SELECT task_name FROM procrastinate_jobs")).all()
    assert {"gateway:send_outbound", "gateway:run_automation", "gateway:sync_issue"} <= set(queued)

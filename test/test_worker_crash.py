"""A worker killed with SIGKILL in the middle of a burst: after a restart every delivery is processed exactly once."""

import json

import pytest
from sqlalchemy import func, select, text

from api.jobs import run_worker
from api.models.events import Event
from api.models.webhooks import WebhookDelivery
from test.helpers import wait_until
from test.test_webhooks import deliver_github, example
from test.test_worker_liveness import worker_process

DELIVERIES = 300


def _processed(db):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "processed"))


def _jobs_of_live_workers(db):
    """Jobs in progress whose worker's heartbeat is younger than WORKER_STALLED_SECONDS (1 s here)."""
    db.session.rollback()
    return db.session.scalar(
        text(
            "SELECT count(*) FROM procrastinate_jobs job JOIN procrastinate_workers worker ON worker.id = job.worker_id "
            "WHERE job.status = 'doing' AND worker.last_heartbeat >= NOW() - INTERVAL '1 second'"
        )
    )


@pytest.mark.timeout(180)  # a burst of 300 deliveries and two workers on a busy machine
def test_worker_killed_mid_burst_then_restarted_processes_every_delivery_exactly_once(
    client, db, github, database_url, make_app, tmp_path
):
    payload = example("github", "issues.opened.json")
    for n in range(DELIVERIES):
        # One issue per delivery: an issue's creation is one event however often it is reported.
        issue = {**payload["issue"], "title": f"burst {n}", "number": 1000 + n, "id": payload["issue"]["id"] + n}
        body = json.dumps({**payload, "issue": issue}).encode()
        assert deliver_github(client, github, "issues", None, delivery=f"burst-{n}", body=body).status_code == 202

    with worker_process(database_url, tmp_path / "worker.log", 4, WORKER_STALLED_SECONDS="1") as worker:

        def working():
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
            return _processed(db) >= DELIVERIES // 10

        wait_until(working, timeout=60, message="the worker processed nothing")
    at_kill = _processed(db)
    assert at_kill < DELIVERIES, "the worker finished before it was killed; the test proved nothing"

    wait_until(
        lambda: _jobs_of_live_workers(db) == 0,
        timeout=30,
        message="the dead worker's heartbeat did not age past WORKER_STALLED_SECONDS",
    )
    run_worker(make_app(WORKER_STALLED_SECONDS=1), concurrency=4, wait=False)

    assert _processed(db) == DELIVERIES
    assert db.session.scalar(select(func.count()).select_from(Event)) == DELIVERIES
    per_delivery = db.session.execute(select(Event.delivery_id, func.count()).group_by(Event.delivery_id)).all()
    assert len(per_delivery) == DELIVERIES and {count for _, count in per_delivery} == {1}
    titles = {event.issue["title"] for event in db.session.scalars(select(Event))}
    assert titles == {f"burst {n}" for n in range(DELIVERIES)}

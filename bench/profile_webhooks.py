"""In-process cost of one webhook delivery: ingest (POST through the Flask test client) and process_delivery.

Run: .venv/bin/python -m bench.profile_webhooks [options]
  --deliveries 500  deliveries ingested (then processed)
  --profile         print a cProfile of process_delivery (or of the worker, with --worker)
  --worker          drain the ingested deliveries with api.jobs.run_worker instead (CPU of this process and of PostgreSQL)
  --concurrency 4   the worker's concurrency (with --worker)
Load-independent figures: CPU milliseconds per delivery in this process and the SQL statements each step sends,
plus a cProfile of process_delivery (what the workers spend their time on).
"""

import contextlib
import cProfile
import json
import sys
import time

from bench.harness import ROOT, options
from bench.harness.clients import signed_delivery
from bench.harness.db import database, postmaster_pid
from bench.harness.inproc import production_app
from bench.harness.measure import SqlCounter, process_tree_cpu_seconds
from bench.harness.report import print_profile

EXAMPLE = ROOT.parent / "shared" / "specs" / "github" / "webhooks" / "issues.opened.json"
SECRET = "bench-webhook-secret"
PROFILE_LINES = 50


def build(database_url):
    import logging

    app = production_app(database_url, LOG_REQUESTS="false")  # sets the environment: import the app's modules after
    from api import crypto
    from api.extensions import db
    from api.models.trackers import Tracker
    from api.services.users import register

    logging.getLogger().setLevel(logging.WARNING)
    with app.app_context():
        user = register(session=db.session, username="bench", password="bench-password")
        tracker = Tracker(
            owner_id=user.id,
            name="hooks",
            provider="github",
            target="octo/hooks",
            base_url="http://127.0.0.1:9",
            credentials_encrypted=crypto.encrypt_json({"token": "t"}),
            options={},
            webhook_id="1",
            webhook_secret_encrypted=crypto.encrypt_json({"hook_id": "1", "secret": SECRET, "callback_url": "http://x/cb"}),
        )
        db.session.add(tracker)
        db.session.commit()
        tracker_id = tracker.id
    return app, tracker_id


def delivery(n):
    payload = json.loads(EXAMPLE.read_text())
    payload["issue"]["number"] = 1000 + n
    payload["issue"]["title"] = f"Issue {n}"
    return signed_delivery(SECRET, payload)


def drain_with_worker(app, database_url, count, args):
    from api.extensions import db
    from api.jobs import run_worker
    from api.models.webhooks import WebhookDelivery

    postgres = postmaster_pid(database_url)  # its CPU: the postmaster's and its backends', those already ended included
    pg_before, cpu_before, wall_before = process_tree_cpu_seconds(postgres), time.process_time(), time.perf_counter()
    with cProfile.Profile() if args.profile else contextlib.nullcontext() as profiler:
        run_worker(app, concurrency=args.concurrency, queues=["webhooks"], wait=False)
    wall = time.perf_counter() - wall_before
    cpu, pg = time.process_time() - cpu_before, process_tree_cpu_seconds(postgres) - pg_before
    with app.app_context():
        processed = db.session.query(WebhookDelivery).filter(WebhookDelivery.status != "pending").count()
    print(
        f"worker (concurrency {args.concurrency}): {processed}/{count} processed in {wall:.1f} s "
        f"({processed / wall:.0f}/s on this machine); CPU per delivery: worker {cpu / processed * 1000:.2f} ms, "
        f"PostgreSQL {pg / processed * 1000:.2f} ms"
    )
    if profiler:
        print_profile(profiler, PROFILE_LINES, sorts=("tottime",))
    return 0


def main():
    args = options(__doc__).parse_args()
    with database() as database_url:
        app, tracker_id = build(database_url)
        from api.extensions import db
        from api.models.webhooks import WebhookDelivery
        from api.services.webhooks import process_delivery

        with app.app_context():
            counter = SqlCounter(db.engine)
        client = app.test_client()
        bodies = [delivery(n) for n in range(args.deliveries + 1)]
        counter.reset()
        started = time.process_time()
        for body, headers in bodies:
            response = client.post(f"/api/v1/webhooks/{tracker_id}", data=body, headers=headers)
            assert response.status_code == 202, response.data
        ingest_ms = (time.process_time() - started) / len(bodies) * 1000
        print(f"ingest: {ingest_ms:.3f} ms CPU per delivery; {counter.summary(len(bodies))}")
        with app.app_context():
            ids = [row.id for row in db.session.query(WebhookDelivery.id).order_by(WebhookDelivery.id)]
        if args.worker:
            return drain_with_worker(app, database_url, len(ids), args)
        with app.app_context():
            process_delivery(ids[0])  # warm-up
            db.session.remove()
        counter.reset()
        with app.app_context():
            process_delivery(ids[1])
            db.session.remove()
        print("process_delivery statements:")
        for statement in counter.statements:
            print("   ", " ".join(statement.split())[:170])
        counter.reset()
        started = time.process_time()
        with cProfile.Profile(time.process_time) if args.profile else contextlib.nullcontext() as profiler:
            for delivery_id in ids[2:]:
                with app.app_context():
                    process_delivery(delivery_id)
                    db.session.remove()
        processed = len(ids) - 2
        process_ms = (time.process_time() - started) / processed * 1000
        print(f"process_delivery: {process_ms:.3f} ms CPU per delivery; {counter.summary(processed)}")
        if profiler:
            print_profile(profiler, PROFILE_LINES)
    return 0


if __name__ == "__main__":
    sys.exit(main())

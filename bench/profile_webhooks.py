#!/usr/bin/env python
"""In-process cost of one webhook delivery: ingest (POST through the Flask test client) and process_delivery.

Run: .venv/bin/python -m bench.profile_webhooks [--deliveries 500] [--profile]
Load-independent figures: CPU milliseconds per delivery in this process and the SQL statements each step sends,
plus a cProfile of process_delivery (what the workers spend their time on).
"""

import argparse
import cProfile
import hashlib
import hmac
import io
import json
import os
import pstats
import sys
import time
from pathlib import Path

from bench.harness import ROOT
from bench.harness.db import database
from bench.harness.report import print_profile
from bench.profile_requests import SqlCounter

EXAMPLE = ROOT.parent / "shared" / "specs" / "github" / "webhooks" / "issues.opened.json"
SECRET = "bench-webhook-secret"


def build(database_url):
    os.environ.update(APP_CONFIGURATION="production", DATABASE_URL=database_url, SECRET_KEY="bench-secret-key-" + "x" * 32,
                      ENCRYPTION_KEYS="fF1Yk6m9lZ5V4sX8cN2q7hT3wJ0bR6eA1uI9oP4dG2s=", LOG_REQUESTS="false")
    import logging

    from flask_migrate import upgrade

    from api import create_app, crypto
    from api.extensions import db
    from api.models.trackers import Tracker
    from api.services.users import register
    from config import BASE_DIR

    app = create_app("production")
    logging.getLogger().setLevel(logging.WARNING)
    with app.app_context():
        upgrade(directory=str(BASE_DIR / "migrations"))
        user = register(session=db.session, username="bench", password="bench-password")
        tracker = Tracker(owner_id=user.id, name="hooks", provider="github", target="octo/hooks",
                          base_url="http://127.0.0.1:9", credentials_encrypted=crypto.encrypt_json({"token": "t"}),
                          options={}, webhook_id="1",
                          webhook_secret_encrypted=crypto.encrypt_json({"hook_id": "1", "secret": SECRET,
                                                                        "callback_url": "http://x/cb"}))
        db.session.add(tracker)
        db.session.commit()
        tracker_id = tracker.id
    return app, tracker_id


def delivery(n):
    payload = json.loads(EXAMPLE.read_text())
    payload["issue"]["number"] = 1000 + n
    payload["issue"]["title"] = f"Issue {n}"
    body = json.dumps(payload).encode()
    headers = {"X-GitHub-Event": "issues", "X-GitHub-Delivery": f"d-{n}", "Content-Type": "application/json",
               "X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}
    return body, headers


def postgres_cpu_seconds(database_url):
    """User + system CPU of every process of the embedded PostgreSQL (postmaster and its children)."""
    import subprocess

    import psycopg

    with psycopg.connect(database_url) as connection:
        data_dir = connection.execute("SHOW data_directory").fetchone()[0]
    postmaster = int(Path(data_dir, "postmaster.pid").read_text().split()[0])
    pids = [postmaster] + [int(pid) for pid in subprocess.run(["ps", "-o", "pid=", "--ppid", str(postmaster)],
                                                             capture_output=True, text=True).stdout.split()]
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def drain_with_worker(app, database_url, count, args):
    from api.extensions import db
    from api.jobs import run_worker
    from api.models.webhooks import WebhookDelivery

    if args.no_pool_check:
        import psycopg_pool

        async def no_check(connection):
            return None

        psycopg_pool.AsyncConnectionPool.check_connection = staticmethod(no_check)
    pg_before, cpu_before, wall_before = postgres_cpu_seconds(database_url), time.process_time(), time.perf_counter()
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    run_worker(app, concurrency=args.concurrency, queues=["webhooks"], wait=False)
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - wall_before
    cpu, pg = time.process_time() - cpu_before, postgres_cpu_seconds(database_url) - pg_before
    with app.app_context():
        processed = db.session.query(WebhookDelivery).filter(WebhookDelivery.status != "pending").count()
    print(f"worker (concurrency {args.concurrency}): {processed}/{count} processed in {wall:.1f} s "
          f"({processed / wall:.0f}/s on this machine); CPU per delivery: worker {cpu / processed * 1000:.2f} ms, "
          f"PostgreSQL {pg / processed * 1000:.2f} ms")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.lines)
        print(out.getvalue())
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=500)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--lines", type=int, default=50)
    parser.add_argument("--worker", action="store_true",
                        help="drain the ingested deliveries with api.jobs.run_worker instead (CPU of this process and "
                             "of PostgreSQL per delivery)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--no-pool-check", action="store_true",
                        help="what-if: procrastinate's pool without its per-checkout liveness query (not the app's code)")
    args = parser.parse_args()
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
        for _ in range(1):
            for delivery_id in ids[1:2]:
                with app.app_context():
                    process_delivery(delivery_id)
                    db.session.remove()
        print("process_delivery statements:")
        for statement in counter.statements:
            print("   ", " ".join(statement.split())[:170])
        counter.reset()
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        started = time.process_time()
        if profiler:
            profiler.enable()
        for delivery_id in ids[2:]:
            with app.app_context():
                process_delivery(delivery_id)
                db.session.remove()
        if profiler:
            profiler.disable()
        processed = len(ids) - 2
        process_ms = (time.process_time() - started) / processed * 1000
        print(f"process_delivery: {process_ms:.3f} ms CPU per delivery; {counter.summary(processed)}")
        if profiler:
            print_profile(profiler, args.lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())

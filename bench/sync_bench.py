"""Sync propagation lag, built-in <-> built-in, under a burst of 500 changes.

In one process against an embedded PostgreSQL: two built-in trackers, a two-way sync, 50 pairs already mirrored;
then 500 title changes on the left (10 per issue, as fast as the API takes them) while a worker (concurrency 4)
runs beside them. Lag of a change = its event recorded -> the first write of the right-hand mirror at or after it
(changes to one issue that wait together collapse into one job, so they share that write).

    .venv/bin/python -m bench.sync_bench [--write]   (--write puts the figures in docs/PERFORMANCE.md)
"""

import argparse
import sys
import threading
import time

from bench.common import database, machine, percentile, write_section

PAIRS, CHANGES, CONCURRENCY = 50, 500, 4
SECTION = "sync"


def run():
    from flask_migrate import upgrade
    from sqlalchemy import select

    from api import create_app
    from api.extensions import db
    from api.jobs import run_worker
    from api.models.sync import SyncLink
    from api.models.webhooks import Event
    from config import BASE_DIR, TestingConfig

    with database() as url:
        app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade(directory=str(BASE_DIR / "migrations"))
        client = app.test_client()
        client.post("/api/v1/users/register", json={"username": "bench", "password": "correct horse battery"})
        token = client.post("/api/v1/users/login", json={"username": "bench", "password": "correct horse battery"}).get_json()
        headers = {"Authorization": f"JWT {token['token']}"}
        left, right = (client.post("/api/v1/trackers/", headers=headers, json={
            "name": name, "provider": "builtin", "target": name}).get_json()["id"] for name in ("left", "right"))
        client.post("/api/v1/syncs/", headers=headers, json={"name": "bench", "left_tracker_id": left,
                                                             "right_tracker_id": right})
        for n in range(PAIRS):
            client.post(f"/api/v1/trackers/{left}/issues", headers=headers, json={"title": f"issue {n}"})
        run_worker(app, concurrency=CONCURRENCY, wait=False)
        with app.app_context():
            mirror_of = {link.left_issue_id: link.right_issue_id for link in db.session.scalars(select(SyncLink))}
            start_id = db.session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1))
        assert len(mirror_of) == PAIRS, mirror_of

        done = threading.Event()

        def worker():
            while not done.is_set():
                run_worker(app, concurrency=CONCURRENCY, wait=False)
                time.sleep(0.05)
            run_worker(app, concurrency=CONCURRENCY, wait=False)

        thread = threading.Thread(target=worker)
        thread.start()
        started = time.perf_counter()
        for n in range(CHANGES):
            number = n % PAIRS + 1
            response = client.patch(f"/api/v1/trackers/{left}/issues/{number}", headers=headers,
                                     json={"title": f"issue {number - 1} v{n // PAIRS}"})
            assert response.status_code == 200, response.get_json()
        burst_seconds = time.perf_counter() - started
        done.set()
        thread.join()
        drained_seconds = time.perf_counter() - started

        with app.app_context():
            events = list(db.session.scalars(select(Event).where(Event.id > start_id).order_by(Event.id)))
        changes = [e for e in events if e.tracker_id == left and e.type == "issue.updated" and e.chain_depth == 0]
        writes = {}
        for event in events:
            if event.tracker_id == right and event.chain_depth > 0:
                writes.setdefault(event.issue_id, []).append(event.occurred_at)
        lags = []
        for change in changes:
            after = [at for at in writes.get(mirror_of[change.issue_id], []) if at >= change.occurred_at]
            assert after, f"change {change.id} never reached the right side"
            lags.append((min(after) - change.occurred_at).total_seconds() * 1000)
        with app.app_context():
            titles_ok = all(
                client.get(f"/api/v1/trackers/{right}/issues/{mirror_of[str(n)]}", headers=headers).get_json()["title"]
                == f"issue {n - 1} v{(CHANGES - 1) // PAIRS}" for n in range(1, PAIRS + 1))
        return {"changes": len(changes), "right_writes": sum(len(v) for v in writes.values()), "p50": percentile(lags, 50),
                "p99": percentile(lags, 99), "max": max(lags), "burst": burst_seconds, "drained": drained_seconds,
                "consistent": titles_ok}


def markdown(r):
    row = (f"| {r['changes']} | {r['right_writes']} | {r['p50']:.0f} | {r['p99']:.0f} | {r['max']:.0f} | {r['burst']:.1f} "
           f"| {r['drained']:.1f} | {r['consistent']} |")
    collapsed = (f"here {r['changes'] - r['right_writes']} collapsed" if r["right_writes"] < r["changes"]
                 else "here none did: the worker kept up")
    return f"""## Sync propagation lag, built-in <-> built-in (issue 14)

`bench/sync_bench.py`: two built-in trackers with a two-way sync and {PAIRS} mirrored pairs; a burst of {CHANGES}
title changes on the left through the API (the Flask test client, in-process) while a worker runs the
sync jobs (concurrency {CONCURRENCY}); embedded PostgreSQL; {machine()}.

| changes | writes on the right | lag p50 ms | lag p99 ms | lag max ms | burst s | all propagated s | final titles equal |
|---|---|---|---|---|---|---|---|
{row}

Lag: a change's event recorded -> the first write of its mirror at or after it. Changes to one issue that wait in
the queue together collapse into one job (one queueing lock per issue), so under a faster burst there are fewer
writes than changes ({collapsed}); each change still reaches the other side, and no write comes back (the right
side's echoes change nothing). The worker runs as a thread of the same process, and the machine was shared with
other work while this ran: read the figures as an order of magnitude.
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the figures into docs/PERFORMANCE.md")
    args = parser.parse_args()
    result = run()
    print(markdown(result))
    if args.write:
        write_section(SECTION, markdown(result))
    return 0 if result["consistent"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Sync propagation lag under a burst of 500 changes: built-in -> built-in, and built-in -> GitHub (the fake).

In one process against an embedded PostgreSQL, per pair: a built-in tracker on the left, a two-way sync, 50 pairs
already mirrored; then 500 title changes on the left (10 per issue, as fast as the API takes them) while a worker
(concurrency 4) runs beside them. Lag of a change = its event recorded -> the first write of the right-hand mirror at
or after it (changes to one issue that wait together collapse into one job, so they share that write). A write on a
built-in tracker is its recorded event; on the GitHub fake (a real HTTP server on 127.0.0.1, reached through the
gateway's provider and shared session) it is the moment the fake has answered the PATCH of the mirror.

Run: .venv/bin/python -m bench.sync_bench [options]
  --write  put the figures in docs/PERFORMANCE.md
"""

import os
import re
import sys
import threading
import time
from datetime import UTC, datetime

from bench.harness import options
from bench.harness.db import database
from bench.harness.inproc import login_headers, testing_app
from bench.harness.measure import percentile
from bench.harness.report import machine, write_section

PAIRS, CHANGES, CONCURRENCY = 50, 500, 4
SECTION = "sync"


def _github_fake():
    """The GitHub fake, stamping when it answered each write (the bench's clock for "the other side written")."""
    from test.fakes.github import GitHubFake

    class StampedGitHubFake(GitHubFake):
        def __init__(self):
            super().__init__()
            self.written = []  # (issue number, answered at)

        def _after_dispatch(self, call, response):
            response = super()._after_dispatch(call, response)
            found = re.fullmatch(r"/repos/octocat/right/issues/(\d+)", call.path)
            if call.method == "PATCH" and found and response.status_code < 300:
                self.written.append((found.group(1), datetime.now(UTC)))
            return response

    return StampedGitHubFake()


def _right_tracker(client, headers, kind, fake):
    body = {"name": "right", "provider": "builtin", "target": "right"}
    if kind == "github":
        fake.add_token("bench-token", login="octocat")
        fake.add_repo("octocat/right")
        fake.add_member("octocat/right", "octocat", permission="admin")
        fake.set_rate_limit(1_000_000)
        body = {
            "name": "right",
            "provider": "github",
            "target": "octocat/right",
            "base_url": fake.base_url,
            "credentials": {"token": "bench-token"},
        }
    response = client.post("/api/v1/trackers/", headers=headers, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _scalar(app, sql, **params):
    from sqlalchemy import text

    from api.extensions import db

    with app.app_context():
        value = db.session.scalar(text(sql), params)
        db.session.rollback()
        return value


def drain(app):
    """Run the worker until no job is left, retries waiting out their backoff included."""
    from api.jobs import run_worker

    while True:
        run_worker(app, concurrency=CONCURRENCY, wait=False)
        if not _scalar(app, "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"):
            return
        time.sleep(0.2)


def _pair_setup(app, kind, fake):
    """A user, a built-in tracker synced two-way to the right one, and PAIRS issues on the left."""
    client = app.test_client()
    headers = login_headers(client, f"bench-{kind}")
    left = client.post(
        "/api/v1/trackers/", headers=headers, json={"name": "left", "provider": "builtin", "target": "left"}
    ).get_json()["id"]
    right = _right_tracker(client, headers, kind, fake)
    sync = client.post(
        "/api/v1/syncs/", headers=headers, json={"name": "bench", "left_tracker_id": left, "right_tracker_id": right}
    ).get_json()["id"]
    for n in range(PAIRS):
        client.post(f"/api/v1/trackers/{left}/issues", headers=headers, json={"title": f"issue {n}"})
    return client, headers, left, right, sync


def _mirrors(app, sync):
    """The sync's mirror of every left issue, and the last event recorded before the burst."""
    from sqlalchemy import select

    from api.extensions import db
    from api.models.events import Event
    from api.models.sync import SyncLink

    with app.app_context():
        mirror_of = {
            link.left_issue_id: link.right_issue_id
            for link in db.session.scalars(select(SyncLink).where(SyncLink.sync_id == sync))
        }
        start_id = db.session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1))
    assert len(mirror_of) == PAIRS and all(mirror_of.values()), mirror_of
    return mirror_of, start_id


def _burst(app, client, headers, left):
    """CHANGES title changes on the left while a worker thread runs; seconds to send them and until all jobs ran."""
    from api.jobs import run_worker

    done = threading.Event()

    def worker():
        while not done.is_set():
            run_worker(app, concurrency=CONCURRENCY, wait=False)
            time.sleep(0.05)
        drain(app)

    thread = threading.Thread(target=worker)
    thread.start()
    started = time.perf_counter()
    for n in range(CHANGES):
        number = n % PAIRS + 1
        response = client.patch(
            f"/api/v1/trackers/{left}/issues/{number}", headers=headers, json={"title": f"issue {number - 1} v{n // PAIRS}"}
        )
        assert response.status_code == 200, response.get_json()
    burst_seconds = time.perf_counter() - started
    done.set()
    thread.join()
    return burst_seconds, time.perf_counter() - started


def _right_writes(events, right, fake):
    """When each right-hand issue was written: its recorded events (built-in) or the fake's answered PATCHes."""
    mirrored = [(e.issue_id, e.occurred_at) for e in events if e.tracker_id == right and e.chain_depth > 0]
    written = mirrored if fake is None else fake.written
    writes = {}
    for issue, at in written:
        writes.setdefault(issue, []).append(at)
    return writes


def _lags(changes, writes, mirror_of):
    """Milliseconds from each change to the first write of its mirror at or after it."""
    lags = []
    for change in changes:
        after = [at for at in writes.get(mirror_of[change.issue_id], []) if at >= change.occurred_at]
        assert after, f"change {change.id} never reached the right side"
        lags.append((min(after) - change.occurred_at).total_seconds() * 1000)
    return lags


def run_pair(app, kind, fake=None):
    """One pair's burst: the lag of every change, and whether the mirrors ended with the last titles."""
    from sqlalchemy import select

    from api.extensions import db
    from api.models.events import Event

    client, headers, left, right, sync = _pair_setup(app, kind, fake)
    drain(app)
    mirror_of, start_id = _mirrors(app, sync)
    if fake is not None:
        fake.written.clear()
    first_job = _scalar(app, "SELECT coalesce(max(id), 0) FROM procrastinate_jobs")
    burst_seconds, drained_seconds = _burst(app, client, headers, left)

    with app.app_context():
        events = list(db.session.scalars(select(Event).where(Event.id > start_id).order_by(Event.id)))
    changes = [e for e in events if e.tracker_id == left and e.type == "issue.updated" and e.chain_depth == 0]
    writes = _right_writes(events, right, fake)
    lags = _lags(changes, writes, mirror_of)
    # Jobs that ran more than once: a tracker call refused while TRACKER_MAX_IN_FLIGHT calls were waiting, retried.
    retried = _scalar(app, "SELECT count(*) FROM procrastinate_jobs WHERE id > :first AND attempts > 0", first=first_job)
    last = (CHANGES - 1) // PAIRS
    titles_ok = all(
        client.get(f"/api/v1/trackers/{right}/issues/{mirror_of[str(n)]}", headers=headers).get_json()["title"]
        == f"issue {n - 1} v{last}"
        for n in range(1, PAIRS + 1)
    )
    return {
        "pair": kind,
        "changes": len(changes),
        "right_writes": sum(len(v) for v in writes.values()),
        "p50": percentile(lags, 50),
        "p99": percentile(lags, 99),
        "max": max(lags),
        "burst": burst_seconds,
        "drained": drained_seconds,
        "consistent": titles_ok,
        "retried": retried,
        "load": os.getloadavg()[0],
    }


def run():
    load_before = os.getloadavg()[0]
    with database() as url:
        app = testing_app(url)
        results = [run_pair(app, "builtin")]
        with _github_fake() as fake:
            results.append(run_pair(app, "github", fake))
    return {"load_before": load_before, "results": results}


NAMES = {"builtin": "built-in -> built-in", "github": "built-in -> GitHub fake"}
HEADER = (
    "| pair | changes | writes on the right | lag p50 ms | lag p99 ms | lag max ms | burst s | all propagated s "
    "| equal at the end | jobs retried | load (1 min) after |\n|---|---|---|---|---|---|---|---|---|---|---|"
)


def markdown(run_result):
    rows = "\n".join(
        f"| {NAMES[r['pair']]} | {r['changes']} | {r['right_writes']} | {r['p50']:.0f} | {r['p99']:.0f} | {r['max']:.0f} "
        f"| {r['burst']:.1f} | {r['drained']:.1f} | {r['consistent']} | {r['retried']} | {r['load']:.2f} |"
        for r in run_result["results"]
    )
    collapsed = "; ".join(
        f"{NAMES[r['pair']]}: {r['changes'] - r['right_writes']} collapsed"
        if r["right_writes"] < r["changes"]
        else f"{NAMES[r['pair']]}: none did, the worker kept up"
        for r in run_result["results"]
    )
    return f"""## Sync propagation lag under a burst of {CHANGES} changes (issue 14)

`bench/sync_bench.py`, per pair: a built-in tracker on the left with a two-way sync and {PAIRS} mirrored pairs; a
burst of {CHANGES} title changes on the left through the API (the Flask test client, in-process) while a worker runs
the sync jobs (concurrency {CONCURRENCY}); embedded PostgreSQL; {machine()}. The right side is a second built-in
tracker, then a GitHub repository on the GitHub fake (a real HTTP server on 127.0.0.1, reached through the gateway's
GitHub provider and its shared session: each job reads both issues and PATCHes the mirror).

{HEADER}
{rows}

Load average (1 min) when the run started: {run_result["load_before"]:.2f}.

Lag: a change's event recorded -> the first write of its mirror at or after it (built-in: the mirror's recorded
event; GitHub fake: the fake has answered the PATCH). Changes to one issue that wait in the queue together collapse
into one job (one queueing lock per issue), so under a faster burst there are fewer writes than changes ({collapsed});
each change still reaches the other side. The GitHub tracker has no webhook here, so it is in poll mode and the
gateway records each of its own writes there as that tracker's change: those events queue jobs too (which find
nothing to write back). A worker process lets at most TRACKER_MAX_IN_FLIGHT (3) calls wait on one tracker: a job
refused beyond that is retried with the queue's backoff (2 s, 4 s, ...), which "jobs retried" counts and whose
changes wait it out. The worker runs as a thread of the same process, and the
machine was shared with other work while this ran (the load averages beside the figures; the bench itself keeps one
to two cores busy, so the load after a pair includes its own): read them as an order of magnitude.
"""


def main():
    args = options(__doc__).parse_args()
    result = run()
    print(markdown(result))
    if args.write:
        write_section(SECTION, markdown(result))
    return 0 if all(r["consistent"] for r in result["results"]) else 1


if __name__ == "__main__":
    sys.exit(main())

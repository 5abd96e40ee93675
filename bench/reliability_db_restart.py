"""Database restart under write load: PostgreSQL stopped (fast shutdown) for ~5 s, then started again.

Run: .venv/bin/python -m bench.reliability_db_restart [options]
  --before 15.0  seconds of load before the database stops
  --down 5.0     seconds the database stays down
  --after 25.0   seconds of load after it is back
  --rate 30.0    requests/s: 2/3 offer creates, 1/3 deliveries
  --no-doc       do not write docs/RELIABILITY.md
Load: offer creates and signed webhook deliveries on a fixed schedule; 2 job workers, restarted when they exit
(back-off 1, 2, 4 ... 10 s, as an orchestrator would). Targets: while the database is down the API answers 503,
never 500; the first 2xx comes within 10 s of the database being back; no committed write is lost (offer rows ==
201 answers, delivery rows == 202 accepted answers, by id); every accepted delivery is processed once the workers
recover. Writes docs/RELIABILITY.md (section "db-restart"); exit 1 when a target is missed.
"""

import collections
import itertools
import sys
import threading
import time
from pathlib import Path

from bench.harness import options
from bench.harness.clients import gateway_with_webhook, issue_opened, post_delivery
from bench.harness.db import EmbeddedPostgres, delivery_state, query, wait_for_drain
from bench.harness.load import FixedRateLoad, Op, expect, histogram
from bench.harness.measure import CpuWatch, log_entries
from bench.harness.report import code_version, conclude_reliability, run_intro
from bench.harness.server import JobWorkers, uwsgi_layout_text

RECOVERY_TARGET_SECONDS = 10.0
LOG = "/tmp/tg-reliability-db"


class Writes:
    """Offer creates and webhook deliveries, remembering the ids the API said it committed."""

    def __init__(self, gateway):
        self.gateway = gateway
        self.lock = threading.Lock()
        self.counter = itertools.count()
        self.offer_ids, self.delivery_ids = [], []

    def offer_create(self, http):
        n = next(self.counter)
        response = http.post(
            f"{self.gateway.base_url}/api/v1/users/{self.gateway.user_id}/offers/",
            headers={"Authorization": f"JWT {self.gateway.token}"},
            json={"title": f"Engineer {n}", "description": "Written during a database restart.", "skills_list": ["python"]},
            timeout=30,
        )
        result = expect(response, 201)
        if result[1]:
            with self.lock:
                self.offer_ids.append(response.json()["id"])
        return result

    def webhook(self, http):
        n = next(self.counter)
        result, delivery_id = post_delivery(http, self.gateway, issue_opened(10_000 + n, f"Restart issue {n}"))
        if delivery_id:
            with self.lock:
                self.delivery_ids.append(delivery_id)
        return result


def main():
    args = options(__doc__).parse_args()
    version = code_version()
    seconds = args.before + args.down + args.after
    with gateway_with_webhook("restart-writer", LOG) as gateway:
        database_url, user_id = gateway.database_url, gateway.user_id
        postgres = EmbeddedPostgres(database_url)
        writes = Writes(gateway)
        workers = JobWorkers(gateway.env, 2, log_prefix=f"{LOG}-worker", supervise=True).start()
        cpu = CpuWatch(database_url).start()
        try:
            load = FixedRateLoad(
                [Op("offer_create", 2, writes.offer_create), Op("webhook", 1, writes.webhook)], args.rate, seconds=seconds
            ).start()
            time.sleep(args.before)
            t_stop = load.now()
            postgres.stop()
            t_down = load.now()
            print(f"[{t_down:5.1f} s] database stopped ({(t_down - t_stop) * 1000:.0f} ms)", flush=True)
            time.sleep(max(0.0, args.down - (t_down - t_stop)))
            t_start = load.now()
            postgres.start()
            t_up = load.now()
            print(f"[{t_up:5.1f} s] database accepting connections again ({(t_up - t_start) * 1000:.0f} ms)", flush=True)
            load.join()
            load_end = load.now()
            print(f"[{load_end:5.1f} s] load done; waiting for the queue to drain", flush=True)
            accepted = len(writes.delivery_ids)
            _, drain_seconds = wait_for_drain(database_url, accepted, timeout=240)
        finally:
            cpu.stop()
            workers.stop()
        offer_rows = {row[0] for row in query(database_url, "SELECT id FROM offers WHERE user_id = %s", (user_id,))}
        delivery_rows = {row[0] for row in query(database_url, "SELECT id FROM webhook_deliveries")}
        rows = delivery_state(database_url)
    uwsgi_log = Path(f"{LOG}-uwsgi.log").read_text(errors="replace")
    worker_logs = [entry for i in range(2) for entry in log_entries(f"{LOG}-worker-{i}.log", 0)]
    stop_reasons = collections.Counter(
        entry["message"].split(":")[0].strip() + ": " + entry["message"].split("\n")[1].strip()
        for entry in worker_logs
        if entry.get("action") == "side_task_failed" and "\n" in entry["message"]
    )

    samples = sorted(load.snapshot(), key=lambda s: s.started)
    edges = {
        "before the stop": (float("-inf"), t_stop),
        "shutting down": (t_stop, t_down),
        "database down": (t_down, t_start),
        "starting (`pg_ctl -w start` running)": (t_start, t_up),
        "after the restart": (t_up, float("inf")),
    }
    phases = {label: [s for s in samples if start <= s.started < end] for label, (start, end) in edges.items()}
    down, after = phases["database down"], phases["after the restart"]
    first_ok = next((s for s in after if 200 <= s.status < 300), None)
    recovery = (first_ok.answered - t_up) if first_ok else None
    last_bad = max((s for s in after if not (200 <= s.status < 300)), key=lambda s: s.started, default=None)
    all_ok_after = (last_bad.answered - t_up) if last_bad else 0.0
    per_kind_first_ok = {}
    for kind in ("offer_create", "webhook"):
        ok = next((s for s in after if s.kind == kind and 200 <= s.status < 300), None)
        per_kind_first_ok[kind] = (ok.answered - t_up) if ok else None
    answered_201 = set(writes.offer_ids)
    answered_202 = set(writes.delivery_ids)
    statuses = collections.Counter(s.status for s in samples)
    exits = workers.exits()
    processed = rows["deliveries"].get("processed", 0)
    t0 = load.t0
    checks = {
        "no 500 (nor any status other than 2xx/503, nor a dropped connection) at any time": set(statuses) <= {201, 202, 503},
        "every request sent while the database was down answered 503 database_unavailable": bool(down)
        and all(s.status == 503 and s.detail == "database_unavailable" for s in down),
        f"first 2xx within {RECOVERY_TARGET_SECONDS:g} s of the database being back": recovery is not None
        and recovery <= RECOVERY_TARGET_SECONDS,
        "no committed offer lost (every id answered 201 is in the table)": answered_201 <= offer_rows,
        "offer rows == 201 answers": len(offer_rows) == len(answered_201),
        "no accepted delivery lost (every delivery_id answered 202 accepted is in the table)": answered_202 <= delivery_rows,
        "delivery rows == 202 accepted answers": len(delivery_rows) == len(answered_202),
        "every accepted delivery processed exactly once after the workers recovered": drain_seconds is not None
        and processed == len(answered_202)
        and rows["deliveries_not_once"] == 0
        and rows["events"] == processed,
    }

    def fmt(value):
        return f"{value:.2f} s" if value is not None else "never"

    worker_events = [f"{when - t0:.1f} s: worker {index} {what}" for when, index, what in workers.events]
    lines = [
        run_intro(version, cpu),
        "",
        f"Set-up: embedded PostgreSQL, uwsgi with the committed uwsgi.ini ({uwsgi_layout_text()}), 2 job workers "
        f"under a supervisor that restarts an exited worker after 1, 2, 4 ... 10 s, `RATELIMIT_ENABLED=false`, "
        f"`TRACKER_ALLOWED_HOSTS=127.0.0.1`; one GitHub tracker (fake) with a registered webhook. Load: "
        f"{args.rate:g} req/s on a fixed schedule, 2/3 `POST /api/v1/users/<id>/offers/` and 1/3 signed "
        f"`POST /api/v1/webhooks/<id>` (GitHub `issues`/`opened`, unique `X-GitHub-Delivery`).",
        "",
        f"Timeline (s since the load started): fast shutdown requested at {t_stop:.1f}, server down at {t_down:.1f} "
        f"(`pg_ctl -m fast stop` took {(t_down - t_stop) * 1000:.0f} ms), start requested at {t_start:.1f}, accepting "
        f"connections at {t_up:.1f}; load stopped at {load_end:.1f}. Database unavailable for {t_up - t_stop:.1f} s.",
        "",
        "| phase | requests | statuses (with error slug) |",
        "|---|---|---|",
        *(f"| {label} | {len(items)} | {histogram(items) or '—'} |" for label, items in phases.items()),
        "",
        f"- Recovery: first 2xx completed **{recovery:.2f} s** after the database accepted connections again"
        if recovery is not None
        else "- Recovery: **no 2xx after the restart**",
        f" (first offer 201 after {fmt(per_kind_first_ok['offer_create'])}, first delivery 202 after "
        f"{fmt(per_kind_first_ok['webhook'])}); every answer was 2xx from {all_ok_after:.2f} s after the restart on.",
        f"- Offers: {len(answered_201)} answered 201; {len(offer_rows)} rows; answered but missing: "
        f"{len(answered_201 - offer_rows)}; rows never answered 201 (committed, but the client saw an error): "
        f"{len(offer_rows - answered_201)}.",
        f"- Deliveries: {len(answered_202)} answered 202 accepted; {len(delivery_rows)} rows; answered but missing: "
        f"{len(answered_202 - delivery_rows)}; rows never answered 202: {len(delivery_rows - answered_202)}. "
        f"Processed: {processed} ({rows['deliveries']}), {rows['events']} events, {rows['deliveries_not_once']} "
        f"deliveries with other than one event; jobs left {rows['jobs'] or 'none'}; queue drained "
        + (f"{drain_seconds:.1f} s after the load stopped." if drain_seconds is not None else "**not within 240 s**."),
        f"- Job workers: {len(exits)} exit(s) — " + ("; ".join(worker_events) if exits else "none; " + "; ".join(worker_events)),
        "- Worker stops in their own log: "
        + ("; ".join(f'{count} x "{reason}"' for reason, count in stop_reasons.items()) or "—")
        + (
            "; procrastinate stops a worker whose listener loses the database; `python manage.py worker` then "
            "starts it again itself (process exits above: none means it recovered on its own)."
        ),
        f"- uwsgi log: {uwsgi_log.count('database unavailable')} 'database unavailable' warnings, "
        f"{uwsgi_log.count('unhandled error')} 'unhandled error' (500) entries, "
        f"{uwsgi_log.count('HARAKIRI')} harakiri.",
        "",
    ]
    return conclude_reliability("db-restart", "## Database restart under write load", lines, checks, args, f"logs in {LOG}-*.log")


if __name__ == "__main__":
    sys.exit(main())

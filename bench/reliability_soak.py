"""Soak: steady mixed load (offers, tracker calls on a GitHub fake, signed webhook deliveries) with 2 job workers.

Run: .venv/bin/python -m bench.reliability_soak [options]
  --seconds 300  duration of the load
  --rate 40.0    requests per second, all kinds together
  --no-doc       do not write docs/RELIABILITY.md
Targets: zero errors (every answer has its expected status), p99 recorded per kind, every uwsgi worker's RSS flat
(average over the last minute within 10% of the average over the first minute after warm-up), and every accepted
delivery processed exactly once at the end. Writes docs/RELIABILITY.md (section "soak"); exit 1 when a target is missed.
"""

import collections
import itertools
import os
import re
import sys
import threading
from pathlib import Path

import requests

from bench.harness import options
from bench.harness.clients import gateway_with_webhook, issue_opened, post_delivery, register_and_login
from bench.harness.db import delivery_state, wait_for_drain
from bench.harness.fakes import REPO, recorded_requests
from bench.harness.load import FixedRateLoad, Op, expect, summarize
from bench.harness.measure import CpuWatch
from bench.harness.report import code_version, conclude_reliability, run_intro
from bench.harness.server import JobWorkers, free_port, uwsgi_layout_text, uwsgi_workers

RSS_TOLERANCE = 0.10
USERS = 4
STABLE_OFFERS, CHURN_OFFERS = 10, 10
SEEDED_ISSUES = 30
LOG = "/tmp/tg-reliability-soak"


class Mix:
    """The operations of the mix and the state they share (users, offers, the tracker, accepted deliveries)."""

    def __init__(self, gateway, users):
        self.gateway, self.base = gateway, gateway.base_url + "/api/v1"
        self.users = users  # [(user_id, token, [stable offer ids])]
        self.tracker_id, self.tracker_token = gateway.tracker_id, gateway.token
        self.churn = collections.deque()  # (user index, offer id) of offers that may be deleted
        self.lock = threading.Lock()
        self.counter = itertools.count()
        self.accepted = 0
        self.offers_created = 0

    def _next(self):
        with self.lock:
            return next(self.counter)

    def _user(self):
        n = self._next()
        return n, n % len(self.users)

    def _call(self, http, method, path, token, status, **kwargs):
        """`method` on the API path with the user's JWT: (status, ok, detail) against `status`, and the response."""
        response = http.request(method, self.base + path, headers={"Authorization": f"JWT {token}"}, timeout=30, **kwargs)
        return expect(response, status), response

    def offer_list(self, http):
        _, index = self._user()
        owner = self.users[(index + 1) % len(self.users)][0]  # any user reads any user's offers
        return self._call(http, "GET", f"/users/{owner}/offers/", self.users[index][1], 200)[0]

    def offer_get(self, http):
        n, index = self._user()
        user_id, token, stable = self.users[index]
        return self._call(http, "GET", f"/users/{user_id}/offers/{stable[n % len(stable)]}", token, 200)[0]

    def offer_search(self, http):
        _, index = self._user()
        params = {"skill": "python", "q": "engineer"}
        return self._call(http, "GET", "/offers", self.users[index][1], 200, params=params)[0]

    def offer_create(self, http):
        n, index = self._user()
        user_id, token, _ = self.users[index]
        body = {"title": f"Engineer {n}", "description": "Soak offer. " * 20, "skills_list": ["python", "flask", "postgresql"]}
        result, response = self._call(http, "POST", f"/users/{user_id}/offers/", token, 201, json=body)
        if result[1]:
            with self.lock:
                self.churn.append((index, response.json()["id"]))
                self.offers_created += 1
        return result

    def offer_update(self, http):
        n, index = self._user()
        user_id, token, stable = self.users[index]
        body = {"title": f"Senior Engineer {n}"}
        return self._call(http, "PUT", f"/users/{user_id}/offers/{stable[n % len(stable)]}", token, 200, json=body)[0]

    def offer_delete(self, http):
        with self.lock:
            index, offer_id = self.churn.popleft()
        user_id, token, _ = self.users[index]
        return self._call(http, "DELETE", f"/users/{user_id}/offers/{offer_id}", token, 200)[0]

    def issue_list(self, http):
        return self._call(http, "GET", f"/trackers/{self.tracker_id}/issues", self.tracker_token, 200, params={"limit": 20})[0]

    def issue_get(self, http):
        number = self._next() % SEEDED_ISSUES + 1
        return self._call(http, "GET", f"/trackers/{self.tracker_id}/issues/{number}", self.tracker_token, 200)[0]

    def issue_create(self, http):
        body = {"title": f"Soak issue {self._next()}", "description": "Created by the soak run.", "labels": ["soak"]}
        return self._call(http, "POST", f"/trackers/{self.tracker_id}/issues", self.tracker_token, 201, json=body)[0]

    def webhook(self, http):
        n = self._next()
        result, delivery_id = post_delivery(http, self.gateway, issue_opened(10_000 + n, f"Webhook issue {n}"))
        if delivery_id:
            with self.lock:
                self.accepted += 1
        return result

    def ops(self):
        weights = {
            "offer_list": 20,
            "offer_get": 12,
            "offer_search": 6,
            "offer_create": 8,
            "offer_update": 6,
            "offer_delete": 4,
            "issue_list": 6,
            "issue_get": 14,
            "issue_create": 4,
            "webhook": 20,
        }
        return [Op(kind, weight, getattr(self, kind)) for kind, weight in weights.items()]


def seed_users(base_url):
    """USERS users, each with STABLE_OFFERS offers that are read and updated and CHURN_OFFERS that may be deleted."""
    users, churn = [], []
    for index in range(USERS):
        user_id, token = register_and_login(base_url, f"soak-{index}")
        offers = []
        for n in range(STABLE_OFFERS + CHURN_OFFERS):
            response = requests.post(
                f"{base_url}/api/v1/users/{user_id}/offers/",
                headers={"Authorization": f"JWT {token}"},
                json={"title": f"Backend engineer {n}", "description": "Seed offer. " * 20, "skills_list": ["python", "flask"]},
                timeout=30,
            )
            response.raise_for_status()
            offers.append(response.json()["id"])
        users.append((user_id, token, offers[:STABLE_OFFERS]))
        churn += [(index, offer_id) for offer_id in offers[STABLE_OFFERS:]]
    return users, churn


def rss_verdict(samples, seconds):
    """Per uwsgi worker (by pid): mean RSS over the first window after warm-up and over the last window. Windows
    scale down for short runs (warm-up 30 s and windows of 60 s at 300 s). A respawned worker has a new pid."""
    warmup = min(30.0, seconds * 0.1)
    window = min(60.0, (seconds - warmup) / 3)
    first = [workers for t, workers in samples if warmup <= t < warmup + window]
    last = [workers for t, workers in samples if seconds - window <= t <= seconds + 1]

    def mean(rows, pid):
        values = [w["rss_mb"] for workers in rows for w in workers if w["pid"] == pid and w["rss_mb"]]
        return sum(values) / len(values) if values else None

    pids = list(dict.fromkeys(w["pid"] for _, workers in samples for w in workers))
    ids = {w["pid"]: w["id"] for _, workers in samples for w in workers}
    final = {w["pid"]: w for w in samples[-1][1]}
    rows = []
    for pid in pids:
        a, b = mean(first, pid), mean(last, pid)
        rows.append(
            {
                "id": ids[pid],
                "pid": pid,
                "first": a,
                "last": b,
                "change": (b / a - 1) if a and b else None,
                "requests": final[pid]["requests"] if pid in final else None,
            }
        )

    def total(rows_):
        sums = [sum(w["rss_mb"] or 0 for w in workers) for workers in rows_]
        return sum(sums) / len(sums) if sums else None

    return {
        "warmup": warmup,
        "window": window,
        "workers": rows,
        "total_first": total(first),
        "total_last": total(last),
        "first_samples": len(first),
        "last_samples": len(last),
        "respawns": sum(w["respawn_count"] - 1 for w in samples[-1][1]),
    }


def main():
    args = options(__doc__).parse_args()
    version = code_version()
    stats = ("127.0.0.1", free_port())
    with gateway_with_webhook("soak", LOG, issues=SEEDED_ISSUES, stats=stats) as gateway:
        database_url = gateway.database_url
        users, churn = seed_users(gateway.base_url)
        mix = Mix(gateway, users)
        mix.churn.extend(churn)
        workers = JobWorkers(gateway.env, 2, log_prefix=f"{LOG}-worker", supervise=True).start()
        cpu = CpuWatch(database_url).start()
        try:
            load = FixedRateLoad(mix.ops(), args.rate, seconds=args.seconds).start()
            rss_samples = []
            while load._thread.is_alive():
                rss_samples.append((load.now(), uwsgi_workers(stats)))
                print(
                    f"[{load.now():5.0f} s] requests {len(load.samples)}, errors "
                    f"{sum(1 for s in load.snapshot() if not s.ok)}, worker RSS MB "
                    + ", ".join(f"{w['rss_mb']:.0f}" for w in rss_samples[-1][1]),
                    flush=True,
                )
                load.join(10)
            rss_samples.append((load.now(), uwsgi_workers(stats)))
            load_seconds = load.now()
            _, drain_seconds = wait_for_drain(database_url, mix.accepted, timeout=180)
        finally:
            cpu.stop()
            workers.stop()
        rows = delivery_state(database_url)
        provider = recorded_requests(gateway.fake_url)
    uwsgi_log = Path(f"{LOG}-uwsgi.log").read_text(errors="replace")
    issue_path = re.compile(rf"^/repos/{re.escape(REPO)}/issues/\d+$")
    provider_counts = {
        "total": len(provider),
        "list": sum(1 for r in provider if r["method"] == "GET" and r["path"] == f"/repos/{REPO}/issues"),
        "issue": sum(1 for r in provider if r["method"] == "GET" and issue_path.match(r["path"])),
        "conditional": sum(1 for r in provider if "if-none-match" in r["headers"]),
        "create": sum(1 for r in provider if r["method"] == "POST" and r["path"] == f"/repos/{REPO}/issues"),
    }

    samples = load.snapshot()
    table = summarize(samples)
    errors = [s for s in samples if not s.ok]
    rss = rss_verdict(rss_samples, args.seconds)
    lag = sorted(s.started - s.due for s in samples)
    stored = sum(rows["deliveries"].values())
    processed = rows["deliveries"].get("processed", 0)
    flat = [w for w in rss["workers"] if w["change"] is not None]
    checks = {
        "zero errors (every answer had its expected status)": not errors,
        f"every uwsgi worker's RSS: last-minute mean within {RSS_TOLERANCE:.0%} of first-minute mean": bool(flat)
        and all(abs(w["change"]) <= RSS_TOLERANCE for w in flat)
        and len(flat) == len(rss["workers"]),
        "every accepted delivery stored and processed exactly once": drain_seconds is not None
        and stored == mix.accepted
        and processed == mix.accepted
        and rows["deliveries_not_once"] == 0
        and rows["events"] == mix.accepted,
        "workers never exited": not workers.exits(),
    }

    error_kinds = collections.Counter((s.kind, s.status, s.detail) for s in errors)
    lines = [
        run_intro(
            version,
            cpu,
            f", {args.seconds} s at {args.rate:g} req/s (fixed schedule, open loop, Python load generator with 24 threads)",
        ),
        "",
        f"Set-up: embedded PostgreSQL, uwsgi with the committed uwsgi.ini ({uwsgi_layout_text()} on {os.cpu_count()} cores, "
        "access log on, to a file), 2 job workers (`python manage.py worker --concurrency 4`), one GitHub fake "
        "(test/fakes, own process, quota raised). `RATELIMIT_ENABLED=false` (login/register limits are per client "
        f"address and every request comes from 127.0.0.1); `TRACKER_ALLOWED_HOSTS=127.0.0.1`. {USERS} users, each "
        f"with {STABLE_OFFERS + CHURN_OFFERS} offers; one GitHub tracker with {SEEDED_ISSUES} issues and a registered "
        "webhook. Issue reads repeat, so most are ETag-conditional (304 from the fake).",
        "",
        f"Sent {len(samples)} requests in {load_seconds:.0f} s ({len(samples) / load_seconds:.1f} req/s achieved); "
        f"start lag behind the schedule p99 {lag[int(len(lag) * 0.99) - 1] * 1000:.0f} ms, "
        f"max {lag[-1] * 1000:.0f} ms.",
        "",
        "| kind | requests | expected | errors | statuses | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    expected = {"offer_create": 201, "issue_create": 201, "webhook": "202 accepted"}
    for kind, row in table.items():
        statuses = ", ".join(f"{code}: {count}" for code, count in row["statuses"].items())
        lines.append(
            f"| {kind} | {row['n']} | {expected.get(kind, 200)} | {row['errors']} | {statuses} | "
            f"{row['p50']:.1f} | {row['p99']:.1f} | {row['max']:.0f} |"
        )
    lines += [
        "",
        f"Errors: {len(errors)}"
        + (" — " + "; ".join(f"{k} {st} {d}: {c}" for (k, st, d), c in error_kinds.most_common(10)) if errors else ""),
    ]
    lines += [
        "",
        f"uwsgi worker RSS (MB), sampled every 10 s; warm-up {rss['warmup']:.0f} s excluded, windows of "
        f"{rss['window']:.0f} s ({rss['first_samples']} and {rss['last_samples']} samples):",
        "",
        "| uwsgi worker (id / pid) | requests served | first window mean | last window mean | change |",
        "|---|---|---|---|---|",
    ]
    for w in rss["workers"]:
        first = f"{w['first']:.1f}" if w["first"] else "— (not running yet)"
        last = f"{w['last']:.1f}" if w["last"] else "— (recycled)"
        change = f"{w['change']:+.1%}" if w["change"] is not None else "—"
        lines.append(
            f"| {w['id']} / {w['pid']} | {w['requests'] if w['requests'] is not None else '—'} | {first} | {last} | {change} |"
        )
    if rss["total_first"] and rss["total_last"]:
        lines.append(
            f"| all workers | | {rss['total_first']:.1f} | {rss['total_last']:.1f} | "
            f"{rss['total_last'] / rss['total_first'] - 1:+.1%} |"
        )
    lines += ["", f"uwsgi worker respawns during the run (max-requests / reload-on-rss recycling): {rss['respawns']}"]
    lines += [
        "",
        f"Deliveries: {mix.accepted} answered 202 accepted; {stored} rows stored ({rows['deliveries']}); "
        f"{rows['events']} events, {rows['deliveries_not_once']} deliveries with other than exactly one event; "
        f"jobs left {rows['jobs'] or 'none'}; queue drained "
        + (f"{drain_seconds:.1f} s after the load stopped." if drain_seconds is not None else "**not within 180 s**.")
        + f" Offers created by the load: {mix.offers_created}.",
        f"GitHub fake: {provider_counts['total']} provider requests for {table.get('issue_list', {}).get('n', 0)} issue "
        f"lists, {table.get('issue_get', {}).get('n', 0)} issue reads and {table.get('issue_create', {}).get('n', 0)} "
        f"creates: {provider_counts['list']} list requests, {provider_counts['issue']} single-issue GETs "
        f"({provider_counts['conditional']} of all requests conditional, If-None-Match), {provider_counts['create']} "
        "creates (setup included).",
        f"uwsgi log: {uwsgi_log.count('unhandled error')} 'unhandled error' entries, {uwsgi_log.count('HTTP/1.1 5')} "
        f"5xx request lines, {uwsgi_log.count('HARAKIRI')} harakiri.",
        f"Job worker exits: {len(workers.exits())}"
        + (" — " + "; ".join(event[2] for event in workers.exits()) if workers.exits() else ""),
        "",
    ]
    return conclude_reliability("soak", "## Soak: steady mixed load", lines, checks, args, f"logs in {LOG}-*.log")


if __name__ == "__main__":
    sys.exit(main())

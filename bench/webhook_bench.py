"""Signed GitHub webhook deliveries: ingest burst under uwsgi, then worker processing, then exact accounting.

Run: .venv/bin/python -m bench.webhook_bench [options]
  --seconds 20.0    length of the burst
  --connections 8   concurrent keep-alive connections of the burst
  --workers 2       worker processes
  --concurrency 4   --concurrency of each worker
Writes its figures into docs/PERFORMANCE.md (section "webhooks"); exit status 1 when a target is missed.

Load generator: a small asyncio HTTP/1.1 client in this process (keep-alive connections, request bytes built from
a pool of body templates). Every delivery id gets its own body (the id is written into the issue title) signed for
it: the gateway drops a verified body it has seen before as a replay, whatever its delivery id, and a redelivery of
the same id sends the same body (answered "duplicate"). It records the answer to every delivery id it sent, which is what the
exact accounting needs (wrk cuts in-flight requests at the end of its run, so its count of 202s cannot be matched
row for row against the database).

Workers (`python manage.py worker --concurrency N`, N processes) start after the burst, so the burst measures
ingestion alone and processing throughput is measured on its own; they run until the queue is empty.
"""

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import random
import resource
import sys
import time
import uuid
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from bench.harness import ROOT, options
from bench.harness.clients import webhook_tracker
from bench.harness.db import postmaster_pid, query
from bench.harness.fakes import fake_processes, seed_github_fake
from bench.harness.measure import log_entries, percentile, process_tree_cpu_seconds
from bench.harness.report import check_lines, machine, write_section
from bench.harness.server import JobWorkers, migrated_env, uwsgi

TARGET_ACCEPTED_PER_SECOND = 300.0
TARGET_P99_MS = 50.0
TARGET_PROCESSED_PER_SECOND = 300.0  # with 2 workers (issue 16)
REPO = "bench-bot/hooks"
EXAMPLE = ROOT.parent / "shared" / "specs" / "github" / "webhooks" / "issues.opened.json"
BODY_POOL = 64
DUPLICATES_RESENT = 100
REQUEST_TIMEOUT_SECONDS = 10.0  # an answer later than this counts as a connection error (outcome unknown)
DRAIN_TIMEOUT_SECONDS = 150
LOG_PATH = "/tmp/tg-bench-webhooks.log"
WORKER_LOG_PREFIX = "/tmp/tg-bench-webhook-workers"


KEY_MARK = b"@@delivery@@"
NUMBER_MARK = 987654321012  # stands for the issue number in the templates (replaced per delivery)


class SignedBodies:
    """BODY_POOL variants of the real issues.opened example; each delivery id gets its own body with its signature
    (the same body for the same id): a new issue (its own number, derived from the id, and the id in the title), as
    every `issues.opened` delivery is. The gateway records an issue's creation once, so reused issues would make
    the deliveries after the first produce no event."""

    def __init__(self, secret):
        example = json.loads(EXAMPLE.read_text())
        self.secret = secret.encode()
        self.numbers = {}
        self.templates = []
        for n in range(BODY_POOL):
            payload = json.loads(json.dumps(example))
            payload["issue"]["number"] = NUMBER_MARK
            payload["issue"]["id"] = NUMBER_MARK + 1
            payload["issue"]["title"] = f"{example['issue']['title']} ({n}, {KEY_MARK.decode()})"
            self.templates.append(json.dumps(payload).encode())

    def __call__(self, key, index):
        raw_key = key.encode()
        number = self.numbers.setdefault(key, 100_000 + len(self.numbers))  # the same id, the same issue
        body = (
            self.templates[zlib.crc32(raw_key) % len(self.templates)]
            .replace(KEY_MARK, raw_key)
            .replace(str(NUMBER_MARK + 1).encode(), str(900_000_000 + number).encode())
            .replace(str(NUMBER_MARK).encode(), str(number).encode())
        )
        return body, "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()

    def size(self):
        return len(self.templates[0]) - len(KEY_MARK) + len("burst-000000-0-0000")


async def read_response(reader):
    """Status, headers and body of one HTTP/1.1 response (Content-Length or chunked)."""
    line = await reader.readline()
    if not line:
        raise ConnectionError("connection closed before the response")
    status = int(line.split()[1])
    headers = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(chunks)
    else:
        body = await reader.read()
        headers["connection"] = "close"
    return status, headers, body


class Burst:
    """Closed-loop load: `connections` keep-alive connections each post one delivery at a time until the deadline."""

    def __init__(self, base_url, tracker_id, bodies, run_prefix):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.path = f"/api/v1/webhooks/{tracker_id}"
        self.bodies = bodies
        self.prefix = run_prefix
        self.results = []  # (delivery key, http status, answer status, gateway delivery id, latency ms, answered at)
        self.errors = []  # (delivery key, error) - outcome unknown

    def request_bytes(self, key, index):
        body, signature = self.bodies(key, index)
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUser-Agent: GitHub-Hookshot/bench\r\n"
            "Content-Type: application/json\r\nAccept: */*\r\nX-GitHub-Event: issues\r\n"
            f"X-GitHub-Delivery: {key}\r\nX-GitHub-Hook-ID: 1\r\nX-Hub-Signature-256: {signature}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def post(self, connection, key, index):
        reader, writer = connection
        started = time.perf_counter()
        writer.write(self.request_bytes(key, index))
        await writer.drain()
        status, headers, body = await asyncio.wait_for(read_response(reader), REQUEST_TIMEOUT_SECONDS)
        finished = time.perf_counter()
        elapsed = (finished - started) * 1000
        answer, delivery_id = None, None
        with contextlib.suppress(ValueError, AttributeError):
            parsed = json.loads(body)
            answer, delivery_id = parsed.get("status"), parsed.get("delivery_id")
        self.results.append((key, status, answer, delivery_id, elapsed, finished))
        return headers.get("connection", "").lower() == "close"

    async def connection_loop(self, number, deadline, keys=None):
        connection = await asyncio.open_connection(self.host, self.port)
        sent = 0
        try:
            while (time.perf_counter() < deadline) if keys is None else sent < len(keys):
                key = f"{self.prefix}-{number}-{sent}" if keys is None else keys[sent]
                sent += 1
                try:
                    must_close = await self.post(connection, key, number + sent)
                except (ConnectionError, asyncio.IncompleteReadError, OSError, TimeoutError) as exc:
                    self.errors.append((key, repr(exc)))
                    must_close = True
                if must_close:
                    connection[1].close()
                    connection = await asyncio.open_connection(self.host, self.port)
        finally:
            connection[1].close()

    async def connection_loops(self, connections, deadline):
        await asyncio.gather(*(self.connection_loop(n, deadline) for n in range(connections)))

    def run(self, connections, seconds):
        """Post until `seconds` have passed, then wait for the answers in flight; returns (start, deadline, end)."""
        started = time.perf_counter()
        deadline = started + seconds
        asyncio.run(self.connection_loops(connections, deadline))
        return started, deadline, time.perf_counter()

    def resend(self, keys):
        asyncio.run(self.connection_loop(0, None, keys=keys))


def app_durations(offset, tracker_id):
    """The app's own access-log durations (ms) of the deliveries logged after byte `offset` of the uwsgi log."""
    return [
        entry["duration_ms"]
        for entry in log_entries(LOG_PATH, offset)
        if entry.get("logger") == "api.access"
        and entry.get("path") == f"/api/v1/webhooks/{tracker_id}"
        and entry.get("method") == "POST"
    ]


def queue_state(conn, tracker_id):
    row = conn.execute(
        "SELECT (SELECT count(*) FROM webhook_deliveries WHERE tracker_id = %s AND status = 'pending'),"
        " (SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'gateway:process_delivery'"
        "  AND status IN ('todo', 'doing'))",
        (tracker_id,),
    ).fetchone()
    return {"pending": row[0], "jobs": row[1]}


def run_workers(env, database_url, tracker_id, processes, concurrency):
    """Start the workers, wait until every job is done (bounded), stop them; returns timings."""
    started = time.monotonic()
    job_workers = JobWorkers(env, processes, log_prefix=WORKER_LOG_PREFIX, concurrency=concurrency).start()
    workers = list(job_workers.processes)
    drained, first, last = False, None, None
    postgres = postmaster_pid(database_url)

    def sample(pending):
        # CPU of the workers and of PostgreSQL against deliveries still pending, once processing has begun
        # (worker start-up, imports included, is left out of the per-delivery CPU).
        return {
            "pending": pending,
            "workers": sum(process_tree_cpu_seconds(worker.pid) for worker in workers),
            "postgres": process_tree_cpu_seconds(postgres),
        }

    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            initial = queue_state(conn, tracker_id)["pending"]
            deadline = started + DRAIN_TIMEOUT_SECONDS
            while time.monotonic() < deadline:
                state = queue_state(conn, tracker_id)
                if first is None and state["pending"] < initial:
                    first = sample(state["pending"])
                if state["pending"] == 0 and state["jobs"] == 0:
                    drained = True
                    last = sample(0)
                    break
                if any(worker.poll() is not None for worker in workers):
                    break
                time.sleep(0.25)
        wall = time.monotonic() - started
    finally:
        job_workers.stop()
    cpu = None
    if first and last and first["pending"] > last["pending"]:
        done = first["pending"] - last["pending"]
        cpu = {name: (last[name] - first[name]) / done * 1000 for name in ("workers", "postgres")}
    return {"drained": drained, "wall_seconds": wall, "cpu_ms_per_delivery": cpu}


def accounting(database_url, tracker_id, accepted):
    """Compare the database with the answers: rows, processing, events per delivery, jobs left."""
    rows = query(
        database_url,
        "SELECT id, delivery_key, status, received_at, processed_at FROM webhook_deliveries WHERE tracker_id = %s",
        (tracker_id,),
    )
    events = dict(
        query(database_url, "SELECT delivery_id, count(*) FROM events WHERE tracker_id = %s GROUP BY delivery_id", (tracker_id,))
    )
    event_types = dict(
        query(database_url, "SELECT type, count(*) FROM events WHERE tracker_id = %s GROUP BY type", (tracker_id,))
    )
    jobs_left = dict(
        query(
            database_url,
            "SELECT status, count(*) FROM procrastinate_jobs WHERE task_name = 'gateway:process_delivery' GROUP BY status",
        )
    )
    by_key = {}
    for row in rows:
        by_key.setdefault(row[1], []).append(row)
    row_ids = {row[0] for row in rows}
    processed_times = sorted(row[4] for row in rows if row[2] == "processed" and row[4] is not None)
    span = (processed_times[-1] - processed_times[0]).total_seconds() if len(processed_times) > 1 else 0.0
    return {
        "rows": len(rows),
        "distinct_keys": len(by_key),
        "duplicate_keys": sum(1 for found in by_key.values() if len(found) > 1),
        "accepted_stored": sum(1 for key in accepted if key in by_key),
        "stored_not_accepted": len(set(by_key) - set(accepted)),
        "id_mismatch": sum(1 for key, delivery_id in accepted.items() if key in by_key and by_key[key][0][0] != delivery_id),
        "processed": sum(1 for row in rows if row[2] == "processed"),
        "status_counts": {status: sum(1 for row in rows if row[2] == status) for status in {row[2] for row in rows}},
        "events": sum(events.values()),
        "deliveries_with_one_event": sum(1 for row_id in row_ids if events.get(row_id) == 1),
        "events_without_delivery": sum(count for delivery_id, count in events.items() if delivery_id not in row_ids),
        "event_types": event_types,
        "jobs_left": jobs_left,
        "processing_span_seconds": span,
    }


def main():
    args = options(__doc__).parse_args()
    started = time.monotonic()
    load_at_start = os.getloadavg()[0]
    run_prefix = uuid.uuid4().hex[:12]
    with migrated_env(LOG_REQUESTS="true") as env, fake_processes("github", 1) as fakes:
        database_url = env["DATABASE_URL"]
        with uwsgi(env, log_path=LOG_PATH) as (base_url, master):
            seed_github_fake(fakes[0], issues=0, repo=REPO)
            *_, tracker_id, secret = webhook_tracker(base_url, env, fakes[0], "bench-webhooks", REPO)
            bodies = SignedBodies(secret)
            warmup = Burst(base_url, tracker_id, bodies, f"warmup-{run_prefix}")
            warmup.run(args.connections, 2.0)
            burst = Burst(base_url, tracker_id, bodies, f"burst-{run_prefix}")
            postgres = postmaster_pid(database_url)
            log_offset = Path(LOG_PATH).stat().st_size
            server_before = (process_tree_cpu_seconds(master), process_tree_cpu_seconds(postgres))
            cpu_before = resource.getrusage(resource.RUSAGE_SELF)
            burst_window = burst.run(args.connections, args.seconds)
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
            server_after = (process_tree_cpu_seconds(master), process_tree_cpu_seconds(postgres))
            inside = app_durations(log_offset, tracker_id)
            # A delivery whose answer was lost (timeout, dropped connection) is delivered again, as GitHub would:
            # "accepted" means the first attempt was not stored, "duplicate" that it was.
            lost = Burst(base_url, tracker_id, bodies, "lost")
            lost.resend([key for key, _error in warmup.errors + burst.errors])
            accepted = {
                key: delivery_id
                for key, status, answer, delivery_id, *_ in warmup.results + burst.results + lost.results
                if status == 202 and answer == "accepted"
            }
            stored_unanswered = {
                key: delivery_id
                for key, status, answer, delivery_id, *_ in lost.results
                if status == 202 and answer == "duplicate"
            }
            # Redelivery of already accepted ids (as GitHub does on a timeout) must be answered "duplicate".
            resent = random.Random(7).sample(sorted(accepted), min(DUPLICATES_RESENT, len(accepted)))
            redelivery = Burst(base_url, tracker_id, bodies, "redelivery")
            redelivery.resend(resent)
        with psycopg.connect(database_url, autocommit=True) as conn:
            before_workers = queue_state(conn, tracker_id)
        workers = run_workers(env, database_url, tracker_id, args.workers, args.concurrency)
        counts = accounting(database_url, tracker_id, {**accepted, **stored_unanswered})
    elapsed = time.monotonic() - started

    # A request left unanswered counts at least the timeout in the percentiles.
    latencies = [result[4] for result in burst.results] + [REQUEST_TIMEOUT_SECONDS * 1000] * len(burst.errors)
    burst_accepted = sum(1 for key, status, answer, *_ in burst.results if status == 202 and answer == "accepted")
    other = len(burst.results) - burst_accepted
    # Throughput over the burst window: accepted answers received before its deadline, per second of it.
    burst_start, burst_deadline, burst_end = burst_window
    burst_seconds = burst_deadline - burst_start
    rate = (
        sum(
            1
            for key, status, answer, _id, _ms, answered_at in burst.results
            if status == 202 and answer == "accepted" and answered_at <= burst_deadline
        )
        / burst_seconds
    )
    client_seconds = burst_end - burst_start
    p50, p95, p99 = (percentile(latencies, pct) for pct in (50, 95, 99))
    client_cpu_seconds = cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
    client_cpu = client_cpu_seconds / client_seconds
    answered = max(1, len(burst.results))
    cpu_ms = {
        "uwsgi": (server_after[0] - server_before[0]) / answered * 1000,
        "postgres": (server_after[1] - server_before[1]) / answered * 1000,
        "client": client_cpu_seconds / answered * 1000,
    }
    ceiling = (os.cpu_count() or 1) * 1000 / sum(cpu_ms.values())
    inside_p50, inside_p99 = (percentile(inside, pct) for pct in (50, 99)) if inside else (float("nan"),) * 2
    worker_cpu = workers["cpu_ms_per_delivery"]
    duplicates_answered = sum(1 for result in redelivery.results if result[1] == 202 and result[2] == "duplicate")
    processing_rate = counts["processed"] / counts["processing_span_seconds"] if counts["processing_span_seconds"] else 0
    unknown = len(warmup.errors) + len(burst.errors)
    checks = {
        f"accepted (202) per second >= {TARGET_ACCEPTED_PER_SECOND:g}": rate >= TARGET_ACCEPTED_PER_SECOND,
        f"p99 <= {TARGET_P99_MS:g} ms during the burst": p99 <= TARGET_P99_MS,
        "every answer was 202 accepted, no connection errors": other == 0 and unknown == 0,
        "rows == 202 accepted answers (same delivery ids, same gateway ids), no duplicates": counts["rows"]
        == len(accepted) + len(stored_unanswered)
        == counts["accepted_stored"]
        == counts["distinct_keys"]
        and not lost.errors
        and counts["stored_not_accepted"] == 0
        and counts["id_mismatch"] == 0
        and counts["duplicate_keys"] == 0,
        f"{len(resent)} redeliveries answered 'duplicate', no new rows": duplicates_answered == len(resent),
        "queue drained by the workers": workers["drained"],
        f"processing >= {TARGET_PROCESSED_PER_SECOND:g} deliveries/s with {args.workers} workers": processing_rate
        >= TARGET_PROCESSED_PER_SECOND,
        "every delivery processed": counts["processed"] == counts["rows"],
        "exactly one event per delivery": counts["deliveries_with_one_event"] == counts["rows"] == counts["events"]
        and counts["events_without_delivery"] == 0,
    }
    report = (
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}; the load generator, uwsgi (committed uwsgi.ini, access "
        "log on, to a file), PostgreSQL (embedded, default settings) and later the workers all share these cores. "
        f"The run took {elapsed:.0f} s; 1-minute load average at its start {load_at_start:.1f} (anything above 0 is "
        "other work on the machine).\n\n"
        f"### Ingest burst: `POST /api/v1/webhooks/<tracker_id>` ({args.seconds:g} s after a 2 s warm-up)\n\n"
        f"Load generator: bench/webhook_bench.py's asyncio HTTP/1.1 client, {args.connections} keep-alive connections, "
        f"closed loop (each posts its next delivery when the previous one is answered), real `issues.opened` payload "
        f"({bodies.size() / 1024:.1f} KB, {BODY_POOL} variants), a unique X-GitHub-Delivery and body, signed, per "
        f"request; it used {client_cpu * 100:.0f}% of one core during the burst.\n\n"
        "| sent | 202 accepted | other answers | connection errors | accepted/s | p50 ms | p95 ms | p99 ms | max ms |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
        f"| {len(burst.results) + len(burst.errors)} | {burst_accepted} | {other} | {len(burst.errors)} | "
        f"**{rate:.0f}** | {p50:.1f} | {p95:.1f} | **{p99:.1f}** | {max(latencies):.1f} |\n\n"
        f"- Inside the app (its access-log duration) the same deliveries took p50 {inside_p50:.1f} ms, p99 "
        f"{inside_p99:.1f} ms; the rest of the client-observed time is the uwsgi router, queueing for a worker "
        "thread and the CPU run queue\n"
        f"- CPU per answered delivery during the burst: uwsgi (router + workers) {cpu_ms['uwsgi']:.1f} ms, "
        f"PostgreSQL {cpu_ms['postgres']:.1f} ms, load generator {cpu_ms['client']:.1f} ms: at that cost "
        f"{os.cpu_count()} cores cap this path near **{ceiling:.0f} deliveries/s** (CPU per request measured on a busy "
        "machine runs high, so this ceiling is conservative)\n\n"
        f"### Processing: {args.workers} x `python manage.py worker --concurrency {args.concurrency}`, started after "
        "the burst\n\n"
        f"- Queue before the workers: {before_workers['pending']} pending deliveries, {before_workers['jobs']} jobs\n"
        f"- Drained: {'yes' if workers['drained'] else '**no**'} in {workers['wall_seconds']:.1f} s from starting "
        f"the worker processes (start-up included)\n"
        f"- Processing throughput: **{processing_rate:.0f} deliveries/s** ({counts['processed']} processed between "
        f"the first and the last `processed_at`, {counts['processing_span_seconds']:.1f} s)\n"
        + (
            f"- CPU per processed delivery: workers {worker_cpu['workers']:.1f} ms, PostgreSQL {worker_cpu['postgres']:.1f} ms\n"
            if worker_cpu
            else ""
        )
        + "\n"
        "### Accounting (warm-up and burst deliveries together)\n\n"
        "| 202 accepted answers | rows | distinct delivery ids | answered ids stored | rows never answered | "
        "processed | events | deliveries with exactly 1 event | redeliveries answered duplicate | jobs left |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
        f"| {len(accepted)} | {counts['rows']} | {counts['distinct_keys']} | {counts['accepted_stored']} | "
        f"{counts['stored_not_accepted']} | {counts['processed']} | {counts['events']} | "
        f"{counts['deliveries_with_one_event']} | {duplicates_answered} / {len(resent)} | "
        f"{sum(counts['jobs_left'].values())} |\n\n"
        f"Answers lost in the warm-up and burst (no answer within {REQUEST_TIMEOUT_SECONDS:g} s, or a dropped "
        f"connection): {len(lost.results) + len(lost.errors)}; delivered again afterwards, as GitHub does: "
        f"{len(lost.results) - len(stored_unanswered)} accepted (the first attempt was not stored), "
        f"{len(stored_unanswered)} duplicate (it was; counted in the rows above), {len(lost.errors)} unanswered again. "
        f"Delivery statuses: {counts['status_counts']}; event types: {counts['event_types']}; "
        f"jobs left by status: {counts['jobs_left'] or 'none'}.\n\n"
        + "\n".join(check_lines(checks))
        + "\n\nReproduce: `.venv/bin/python -m bench.webhook_bench` (about two minutes; needs no network)"
    )
    write_section("webhooks", "## Webhooks: ingest burst, processing, exactly once\n\n" + report)
    print(report)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

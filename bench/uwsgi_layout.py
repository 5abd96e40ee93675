"""uwsgi processes x threads, measured on both kinds of load: CPU-bound API requests and tracker calls that wait.

Run: .venv/bin/python -m bench.uwsgi_layout [options]
  --seconds 10                   seconds of wrk per row (after 2 s of warm-up)
  --connections 32               wrk's connections
  --layouts 4x4,4x2,2x4,2x2,2x1  processes x threads to measure
  --latency 0.05                 seconds the fake waits before answering a provider request
For each layout (the committed uwsgi.ini with --processes/--threads overridden): wrk -c32 on the offers list (20
offers, JWT; pure CPU: Python and PostgreSQL) and wrk -c32 on one tracker's issue list against the GitHub fake
with `--latency` seconds injected per provider request (the worker thread waits on the network). The per-tracker
in-flight cap (TRACKER_MAX_IN_FLIGHT, a guard for one slow tracker) is lifted here, so the layout's own capacity
shows. Writes docs/PERFORMANCE.md (section "uwsgi-layout").
"""

import os
import sys
import time

from bench.harness import options
from bench.harness.clients import create_github_tracker
from bench.harness.fakes import control, fake_processes
from bench.harness.load import require_wrk, wrk, wrk_cpu
from bench.harness.measure import worker_rss_mb
from bench.harness.report import machine, write_section
from bench.harness.server import migrated_env, uwsgi
from bench.offers_bench import seed as seed_offers
from bench.tracker_bench import FANOUT_REPO, seed_fakes


def main():
    args = options(__doc__).parse_args()
    require_wrk()
    layouts = [tuple(int(n) for n in layout.split("x")) for layout in args.layouts.split(",")]
    load_at_start = os.getloadavg()[0]
    rows = []
    with migrated_env(LOG_REQUESTS="true", TRACKER_MAX_IN_FLIGHT="1000") as env, fake_processes("github", 1) as fakes:
        user_id, token = seed_offers(env)
        seed_fakes(fakes, overhead_issues=0)
        tracker_id = None
        for processes, threads in layouts:
            extra = ["--processes", str(processes), "--threads", str(threads)]
            with uwsgi(env, log_path="/tmp/tg-bench-layout.log", extra_args=extra) as (base_url, master):
                if tracker_id is None:
                    tracker_id = create_github_tracker(base_url, token, "layout", fakes[0], FANOUT_REPO)
                headers = {"Authorization": f"Bearer {token}"}
                offers, issues = ({}, {})
                for result, path, latency in (
                    (offers, f"/users/{user_id}/offers/", 0),
                    (issues, f"/trackers/{tracker_id}/issues", args.latency),
                ):
                    control(fakes[0], latency=latency)
                    wrk(f"{base_url}/api/v1{path}", seconds=2, connections=args.connections, headers=headers)  # warm-up
                    result.update(
                        wrk_cpu(
                            f"{base_url}/api/v1{path}",
                            {"cpu_ms": master},
                            seconds=args.seconds,
                            connections=args.connections,
                            headers=headers,
                        )
                    )
                control(fakes[0], latency=0)
                rss = max(worker_rss_mb(master))
            rows.append((processes, threads, offers, issues, rss))
            print(
                processes,
                threads,
                {k: v for k, v in offers.items() if k != "raw"},
                {k: v for k, v in issues.items() if k != "raw"},
                f"{rss:.0f} MB",
                flush=True,
            )
    load_at_end = os.getloadavg()[0]
    table = (
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}; wrk -t2 -c{args.connections} -d{args.seconds}s on the "
        f"same machine; the committed uwsgi.ini with `--processes P --threads T`; 1-minute load average "
        f"{load_at_start:.1f} at the start, {load_at_end:.1f} at the end. Tracker rows: one GitHub tracker on the fake "
        f"with {args.latency * 1000:.0f} ms injected per provider request, the per-tracker in-flight cap lifted.\n\n"
        "| processes x threads | offers req/s | offers p50 ms | offers p99 ms | uwsgi CPU ms per offers request | "
        "tracker list req/s | tracker p50 ms | tracker p99 ms | uwsgi CPU ms per tracker request | errors | "
        "max worker RSS MB |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
        + "".join(
            f"| {p} x {t} | {o['rps']:.0f} | {o['p50_ms']:.1f} | {o['p99_ms']:.1f} | {o['cpu_ms']:.2f} | {i['rps']:.0f} | "
            f"{i['p50_ms']:.1f} | {i['p99_ms']:.1f} | {i['cpu_ms']:.2f} | "
            f"{o['non_2xx'] + o['socket_errors'] + i['non_2xx'] + i['socket_errors']} | {rss:.0f} |\n"
            for p, t, o, i, rss in rows
        )
        + "\nReproduce: `.venv/bin/python -m bench.uwsgi_layout`"
    )
    write_section("uwsgi-layout", "## uwsgi layout: processes x threads\n\n" + table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

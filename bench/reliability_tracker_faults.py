#!/usr/bin/env python
"""Tracker faults: GitHub fake A hangs, then answers 500s, then 429s, then recovers, while fake B stays healthy.

Run: .venv/bin/python -m bench.reliability_tracker_faults [--processes 0] [--rate 5] [--phase-seconds 12]
     [--phases hang,errors_500,rate_limited_429,recovered]
Two GitHub trackers on two fakes; steady reads of both (`GET /api/v1/trackers/<id>/issues/<n>`, a different issue each
time so the ETag cache never answers and every answer can be traced in uwsgi's 5xx log to the process that gave it).
TRACKER_TIMEOUT_SECONDS=2, TRACKER_BREAKER_RESET_SECONDS=3, TRACKER_BREAKER_THRESHOLD=5 (the default) and
TRACKER_RETRIES=2 (the default). `--processes 0` keeps the committed uwsgi.ini (2 x cores processes, each with its own
breaker); `--processes 1` runs one process, so there is one breaker.
Targets: every answer for A within the timeout + 1 s with the mapped status (504 tracker_timeout while it hangs, 502
tracker_unavailable for 500s, 503 tracker_rate_limited for 429s, or 503 tracker_circuit_open), the circuit opens and
closes again after recovery (every A answer 200 from reset + 2 s after recovery on), and tracker B answers 200 with
unchanged latency (in every phase p50 <= 1.5 x and p99 <= 2 x those of the healthy phases, + 10 / + 50 ms).
Writes docs/RELIABILITY.md (section "tracker-faults" or "tracker-faults-1proc"); exit 1 when a target is missed.
"""

import argparse
import collections
import itertools
import re
import sys
import threading
import time
from pathlib import Path

from bench.harness.clients import create_github_tracker, register_and_login
from bench.harness.db import database
from bench.harness.fakes import REPO, control, fake_processes, seed_github_fake
from bench.harness.load import FixedRateLoad, Op, expect, histogram
from bench.harness.measure import CpuWatch, percentile
from bench.harness.report import code_version, conclude_reliability, machine, machine_note
from bench.harness.server import app_env, free_port, migrate, uwsgi, uwsgi_layout, uwsgi_workers

TIMEOUT, RESET, THRESHOLD = 2.0, 3.0, 5
LATENCY_MARGIN = 1.0
CLOSE_MARGIN = 2.0
BOUNDARY_GRACE = 1.0  # a request sent this soon after a phase change may still see the previous phase's fault
ISSUES = 1000
LOG = "/tmp/tg-reliability-trackers"
KINDS = ("baseline", "hang", "errors_500", "rate_limited_429", "recovered")
ALLOWED = {
    "baseline": {(200, "")},
    # tracker_busy: calls beyond TRACKER_MAX_IN_FLIGHT are refused at once while earlier ones hang.
    "hang": {(504, "tracker_timeout"), (503, "tracker_circuit_open"), (503, "tracker_busy")},
    "errors_500": {(502, "tracker_unavailable"), (503, "tracker_circuit_open")},
    "rate_limited_429": {(503, "tracker_rate_limited"), (503, "tracker_circuit_open")},
    "recovered": {(200, "")},  # plus tracker_circuit_open until the breaker has closed (checked separately)
}
LINE = re.compile(r"\[pid: (\d+)\|.*?\] .*? GET /api/v1/trackers/(\d+)/issues/(\d+) => .*?\(HTTP/1\.1 (\d+)\)")


class Reads:
    def __init__(self, base_url, token, trackers):
        self.base, self.token, self.trackers = base_url + "/api/v1", token, trackers
        self.counters = {name: itertools.count() for name in trackers}
        self.lock = threading.Lock()

    def reader(self, name):
        tracker_id = self.trackers[name]

        def read(http):
            with self.lock:
                number = next(self.counters[name]) % ISSUES + 1
            response = http.get(f"{self.base}/trackers/{tracker_id}/issues/{number}",
                                headers={"Authorization": f"Bearer {self.token}"}, timeout=30)
            return (*expect(response, 200), str(number))

        return read


def phase_of(started, boundaries):
    """The label of the phase running at `started` (boundaries: label -> start, in order)."""
    current = next(iter(boundaries))
    for label, at in boundaries.items():
        if started >= at:
            current = label
    return current


def kind(label):
    return label.split("#")[0]


def lat(samples):
    values = [s.latency_ms for s in samples]
    return {"n": len(values), "p50": percentile(values, 50), "p99": percentile(values, 99),
            "max": max(values) if values else float("nan")}


def fault_section(args, kinds, processes, default_phases):
    """The RELIABILITY.md section name and heading of a run (one per process count and phase order)."""
    section = ("tracker-faults" + ("-1proc" if args.processes == 1 else "")
               + ("" if args.phases == default_phases else "-" + args.phases.replace(",", "-").replace("_", "")))
    heading = (f"## Tracker faults ({', '.join(kinds[1:])}), "
               + ("one uwsgi process (one breaker)" if args.processes == 1 else
                  f"{processes} uwsgi processes" + (" (the committed uwsgi.ini)" if not args.processes else "")))
    return section, heading


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=0, help="uwsgi processes (0 = the committed uwsgi.ini)")
    parser.add_argument("--rate", type=float, default=5.0, help="reads/s on each tracker")
    parser.add_argument("--phase-seconds", type=float, default=12.0, help="length of each fault phase")
    parser.add_argument("--recovered-seconds", type=float, default=15.0)
    parser.add_argument("--phases", default="hang,errors_500,rate_limited_429,recovered",
                        help=f"fault phases of fake A after a 10 s baseline, in order, among {', '.join(KINDS[1:])}")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/RELIABILITY.md")
    args = parser.parse_args()
    run_started = time.strftime("%Y-%m-%d %H:%M")
    version = code_version()
    kinds = ["baseline", *args.phases.split(",")]
    if not set(kinds) <= set(KINDS) or kinds[-1] != "recovered":
        parser.error(f"--phases: a list of {', '.join(KINDS[1:])} ending with recovered")
    phases = [f"{name}#{index}" for index, name in enumerate(kinds)]
    boundaries, at = {}, 0.0
    for label in phases:
        boundaries[label] = at
        at += 10.0 if kind(label) == "baseline" else (
            args.recovered_seconds if kind(label) == "recovered" else args.phase_seconds)
    seconds = at
    extra = ["--processes", str(args.processes)] if args.processes else []
    with database() as database_url, fake_processes("github", 2) as (fake_a, fake_b):
        env = app_env(database_url, TRACKER_ALLOWED_HOSTS="127.0.0.1", RATELIMIT_ENABLED="false",
                      TRACKER_TIMEOUT_SECONDS=TIMEOUT, TRACKER_BREAKER_RESET_SECONDS=RESET,
                      TRACKER_BREAKER_THRESHOLD=THRESHOLD, TRACKER_RETRIES=2)
        migrate(env)
        for url in (fake_a, fake_b):
            seed_github_fake(url, issues=ISSUES)
        stats = ("127.0.0.1", free_port())
        with uwsgi(env, extra_args=extra, log_path=f"{LOG}-uwsgi.log", stats=stats) as (base_url, _master):
            processes = len(uwsgi_workers(stats))
            _, token = register_and_login(base_url, "faults")
            trackers = {"A": create_github_tracker(base_url, token, "tracker-a", fake_a, REPO),
                        "B": create_github_tracker(base_url, token, "tracker-b", fake_b, REPO)}
            reads = Reads(base_url, token, trackers)
            cpu = CpuWatch(exclude_substring=database_url.rsplit("host=", 1)[-1]).start()
            try:
                load = FixedRateLoad([Op("A", 1, reads.reader("A")), Op("B", 1, reads.reader("B"))], args.rate * 2,
                                     seconds=seconds).start()
                switches = {}
                for label in phases[1:]:
                    time.sleep(max(0.0, boundaries[label] - load.now()))
                    control(fake_a, clear_faults=True)
                    if kind(label) == "hang":
                        control(fake_a, hang_next={"count": 1_000_000, "seconds": TIMEOUT + 3})
                    elif kind(label) == "errors_500":
                        control(fake_a, fail_next={"status": 500, "count": 1_000_000})
                    elif kind(label) == "rate_limited_429":
                        control(fake_a, rate_limit_next={"count": 1_000_000, "retry_after": 30, "status": 429})
                    switches[label] = load.now()
                    print(f"[{switches[label]:5.1f} s] fake A: {kind(label)}", flush=True)
                load.join()
            finally:
                cpu.stop()
                workers_final = uwsgi_workers(stats)
    pids_by_issue = {}
    for match in LINE.finditer(Path(f"{LOG}-uwsgi.log").read_text(errors="replace")):
        pid, tracker_id, number, _status = match.groups()
        if int(tracker_id) == trackers["A"]:
            pids_by_issue[number] = int(pid)

    boundaries.update(switches)
    samples = sorted(load.snapshot(), key=lambda s: s.started)
    a = [s for s in samples if s.kind == "A"]
    b = [s for s in samples if s.kind == "B"]
    by_phase = {label: [s for s in a if phase_of(s.started, boundaries) == label] for label in phases}
    b_phase = {label: [s for s in b if phase_of(s.started, boundaries) == label] for label in phases}
    recovery_start = boundaries[phases[-1]]

    def allowed(sample):
        """Mapped for its phase; around a phase change the neighbouring phase's fault may apply (the fake switches
        when a request reaches it, and retries span the change); recovered phases may answer circuit_open (the
        closing is checked separately)."""
        key = (sample.status, sample.detail if sample.status != 200 else "")
        labels = {phase_of(sample.started + shift, boundaries) for shift in (-BOUNDARY_GRACE, 0, BOUNDARY_GRACE)}
        return any(key in ALLOWED[kind(label)] or (kind(label) == "recovered" and key == (503, "tracker_circuit_open"))
                   for label in labels)

    wrong = [s for s in a if not allowed(s)]
    too_slow = [s for s in a if s.latency_ms > (TIMEOUT + LATENCY_MARGIN) * 1000]
    opened = [s for s in a if s.detail == "tracker_circuit_open"]
    fault_start = boundaries[phases[1]]
    first_open = min((s.started + s.latency_ms / 1000 for s in opened if s.started >= fault_start), default=None)
    after = [s for s in a if s.started >= recovery_start]
    first_200 = next((s for s in after if s.status == 200), None)
    last_bad = max((s for s in after if s.status != 200), key=lambda s: s.started, default=None)
    closed_at = (last_bad.started + last_bad.latency_ms / 1000 - recovery_start) if last_bad else 0.0
    # B's reference: the healthy phases (the baseline and the last recovered phase) together
    base_b = lat(b_phase[phases[0]] + b_phase[phases[-1]])
    b_ok = all(s.status == 200 for s in b)
    b_rows = {label: lat(items) for label, items in b_phase.items()}
    closings = {}
    ends = dict(zip(phases, [*(boundaries[label] for label in phases[1:]), float("inf")], strict=True))
    for label in phases:
        if kind(label) != "recovered":
            continue
        # requests sent just before the next phase may already meet its fault
        items = [s for s in by_phase[label] if s.started < ends[label] - BOUNDARY_GRACE]
        bad = max((s for s in items if s.status != 200), key=lambda s: s.started, default=None)
        closings[label] = (bad.started + bad.latency_ms / 1000 - boundaries[label]) if bad else 0.0
    b_flat = all(row["p50"] <= 1.5 * base_b["p50"] + 10 and row["p99"] <= 2 * base_b["p99"] + 50
                 for row in b_rows.values() if row["n"])

    per_process = collections.defaultdict(collections.Counter)
    last_open_by_pid = {}
    for s in a:
        pid = pids_by_issue.get(s.tag)
        if pid is None:
            continue
        per_process[pid][f"{s.status} {s.detail}"] += 1
        if s.detail == "tracker_circuit_open":
            last_open_by_pid[pid] = max(last_open_by_pid.get(pid, 0.0), s.started)

    checks = {
        "every A answer had the mapped status for its phase": not wrong,
        f"every A answer within the timeout + {LATENCY_MARGIN:g} s ({TIMEOUT + LATENCY_MARGIN:g} s)": not too_slow,
        "the circuit opened (503 tracker_circuit_open) while A failed": first_open is not None,
        f"the circuit closed after recovery: every A answer 200 from {RESET + CLOSE_MARGIN:g} s after recovery on":
            bool(after) and all(value <= RESET + CLOSE_MARGIN for value in closings.values()) and after[-1].status == 200,
        "every B answer 200": b_ok,
        "B latency unchanged (each phase: p50 <= 1.5 x healthy + 10 ms, p99 <= 2 x healthy + 50 ms)": b_flat,
    }

    mode = (f"`--processes {args.processes}` (one breaker)" if args.processes == 1 else
            f"`--processes {args.processes}`" if args.processes else
            f"the committed uwsgi.ini: {processes} processes x {uwsgi_layout()[1]} threads, so {processes} independent breakers")
    lines = [
        f"Run {run_started} on {machine()}; {machine_note()}. App code: {version}. During this run {cpu.describe()}.",
        "",
        f"Set-up: uwsgi with {mode}; `TRACKER_TIMEOUT_SECONDS={TIMEOUT:g}`, `TRACKER_BREAKER_RESET_SECONDS={RESET:g}`, "
        f"`TRACKER_BREAKER_THRESHOLD={THRESHOLD}`, `TRACKER_RETRIES=2`, `RATELIMIT_ENABLED=false`. Two GitHub trackers "
        f"on two fakes (own processes); {args.rate:g} reads/s on each on a fixed schedule, each read a different "
        "issue (`GET /api/v1/trackers/<id>/issues/<n>`), so no answer comes from the ETag cache. Fake A: "
        "healthy, then every request hangs for timeout + 3 s (`hang_next`), then every request gets a 500 "
        "(`fail_next`), then every request gets GitHub's secondary-rate-limit 429 with `Retry-After: 30` "
        f"(`rate_limit_next`), then healthy again; phases back to back in this order: {', '.join(kinds)}.",
        "",
        "| phase (starts at s) | A answers | A statuses | A p50 / p99 / max ms | B answers | B statuses | "
        "B p50 / p99 / max ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for label in phases:
        ra, rb = lat(by_phase[label]), b_rows[label]
        lines.append(f"| {kind(label)} ({boundaries[label]:.1f}) | {ra['n']} | {histogram(by_phase[label])} | "
                     f"{ra['p50']:.0f} / {ra['p99']:.0f} / {ra['max']:.0f} | {rb['n']} | {histogram(b_phase[label])} | "
                     f"{rb['p50']:.0f} / {rb['p99']:.0f} / {rb['max']:.0f} |")
    lines += [
        "",
        f"- B's healthy reference (baseline + last recovered phase): p50 {base_b['p50']:.0f} ms, p99 "
        f"{base_b['p99']:.0f} ms over {base_b['n']} answers.",
        "- Circuit opened: first `tracker_circuit_open` answer "
        + (f"{first_open - fault_start:.1f} s after the first fault began" if first_open is not None else "never"),
        f"- After recovery ({recovery_start:.1f} s): first 200 "
        + (f"{first_200.started + first_200.latency_ms / 1000 - recovery_start:.1f} s later" if first_200 else "never")
        + (f"; last non-200 answer completed {closed_at:.1f} s after recovery" if last_bad else "; no non-200 answer")
        + f"; last A answer {after[-1].status if after else '—'} {after[-1].detail if after else ''}",
        f"- A answers with a status not mapped for their phase: {len(wrong)}"
        + (" — " + "; ".join(f"{s.status} {s.detail} sent at {s.started:.2f} s" for s in wrong[:10]) if wrong else ""),
        "- Closing after each recovered phase: " + ", ".join(
            f"{kind(label)} at {boundaries[label]:.1f} s: " + (f"last non-200 {value:.1f} s after" if value else "all 200")
            for label, value in closings.items()),
        f"- A answers slower than {TIMEOUT + LATENCY_MARGIN:g} s: {len(too_slow)}"
        + (f" (max {max(s.latency_ms for s in too_slow):.0f} ms)" if too_slow else ""),
        "",
        "Per uwsgi process (A's 5xx answers traced through uwsgi's `log-5xx` lines; 200s are not logged):",
        "",
        "| pid | A 5xx answers by status | last `tracker_circuit_open` (s since recovery) |",
        "|---|---|---|",
    ]
    for pid, counts in sorted(per_process.items()):
        last = last_open_by_pid.get(pid)
        lines.append(f"| {pid} | {', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))} | "
                     f"{f'{last - recovery_start:+.1f}' if last is not None else '—'} |")
    served = ", ".join(f"{w['pid']} ({w['requests']} requests)" for w in workers_final)
    lines += ["", f"uwsgi workers at the end: {served}", ""]
    section, heading = fault_section(args, kinds, processes, parser.get_default("phases"))
    repeat = (f"Repeat: `.venv/bin/python -m bench.reliability_tracker_faults --processes {args.processes} --rate "
              f"{args.rate:g} --phase-seconds {args.phase_seconds:g} --phases {args.phases}` "
              f"(log in {LOG}-uwsgi.log)")
    return conclude_reliability(section, heading, lines, checks, repeat=repeat, write=not args.no_doc)


if __name__ == "__main__":
    sys.exit(main())

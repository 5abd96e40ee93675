"""Tracker faults: GitHub fake A hangs, then answers 500s, then 429s, then recovers, while fake B stays healthy.

Run: .venv/bin/python -m bench.reliability_tracker_faults [options]
  --processes 0            uwsgi processes (0 = the committed uwsgi.ini)
  --rate 5.0               reads/s on each tracker
  --phase-seconds 12.0     length of each fault phase
  --recovered-seconds 15.0  length of each recovered phase
  --phases hang,errors_500,rate_limited_429,recovered  fault phases of fake A after a 10 s baseline, in order
  --no-doc                 do not write docs/RELIABILITY.md
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

import collections
import itertools
import re
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from bench.harness import options
from bench.harness.clients import create_github_tracker, register_and_login
from bench.harness.fakes import REPO, control, fake_processes, seed_github_fake
from bench.harness.load import FixedRateLoad, Op, expect, histogram
from bench.harness.measure import CpuWatch, stats
from bench.harness.report import code_version, conclude_reliability, run_intro
from bench.harness.server import free_port, migrated_env, uwsgi, uwsgi_layout, uwsgi_workers

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
# What fake A is told at the start of each fault phase (after its faults are cleared; healthy phases get nothing more).
FAULTS = {
    "hang": {"hang_next": {"count": 1_000_000, "seconds": TIMEOUT + 3}},
    "errors_500": {"fail_next": {"status": 500, "count": 1_000_000}},
    "rate_limited_429": {"rate_limit_next": {"count": 1_000_000, "retry_after": 30, "status": 429}},
}
LINE = re.compile(r"\[pid: (\d+)\|.*?\] .*? GET /api/v1/trackers/(\d+)/issues/(\d+) => .*?\(HTTP/1\.1 (\d+)\)")


def reader(base_url, token, tracker_id):
    """A read of the tracker's next issue (a different one each time), tagged with the issue's number."""
    numbers, lock = itertools.count(), threading.Lock()

    def read(http):
        with lock:
            number = next(numbers) % ISSUES + 1
        response = http.get(
            f"{base_url}/api/v1/trackers/{tracker_id}/issues/{number}", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
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
    return stats([s.latency_ms for s in samples])


def fault_section(args, kinds, processes, default_phases):
    """The RELIABILITY.md section name and heading of a run (one per process count and phase order)."""
    section = (
        "tracker-faults"
        + ("-1proc" if args.processes == 1 else "")
        + ("" if args.phases == default_phases else "-" + args.phases.replace(",", "-").replace("_", ""))
    )
    heading = f"## Tracker faults ({', '.join(kinds[1:])}), " + (
        "one uwsgi process (one breaker)"
        if args.processes == 1
        else f"{processes} uwsgi processes" + (" (the committed uwsgi.ini)" if not args.processes else "")
    )
    return section, heading


def parse_args():
    """The options, the phase kinds in order (baseline first) and the default phase list (it names the doc section)."""
    parser = options(__doc__)
    args = parser.parse_args()
    kinds = ["baseline", *args.phases.split(",")]
    if not set(kinds) <= set(KINDS) or kinds[-1] != "recovered":
        parser.error(f"--phases: a list of {', '.join(KINDS[1:])} ending with recovered")
    return args, kinds, parser.get_default("phases")


def schedule(args, kinds):
    """Phase labels, when each starts (s into the load) and the load's length."""
    phases = [f"{name}#{index}" for index, name in enumerate(kinds)]
    lengths = {"baseline": 10.0, "recovered": args.recovered_seconds}
    boundaries, at = {}, 0.0
    for label in phases:
        boundaries[label] = at
        at += lengths.get(kind(label), args.phase_seconds)
    return phases, boundaries, at


def switch_faults(fake_a, load, phases, boundaries):
    """Put fake A into each phase's fault on schedule; when each switch happened (s into the load)."""
    switches = {}
    for label in phases[1:]:
        time.sleep(max(0.0, boundaries[label] - load.now()))
        control(fake_a, clear_faults=True)
        if kind(label) in FAULTS:
            control(fake_a, **FAULTS[kind(label)])
        switches[label] = load.now()
        print(f"[{switches[label]:5.1f} s] fake A: {kind(label)}", flush=True)
    return switches


def run_faults(args, phases, boundaries, seconds):
    """Two fakes, uwsgi and the fixed-rate reads of both trackers while fake A goes through the phases."""
    extra = ["--processes", str(args.processes)] if args.processes else []
    breaker = {"TRACKER_BREAKER_RESET_SECONDS": RESET, "TRACKER_BREAKER_THRESHOLD": THRESHOLD}
    with (
        migrated_env(RATELIMIT_ENABLED="false", TRACKER_TIMEOUT_SECONDS=TIMEOUT, TRACKER_RETRIES=2, **breaker) as env,
        fake_processes("github", 2) as (fake_a, fake_b),
    ):
        for url in (fake_a, fake_b):
            seed_github_fake(url, issues=ISSUES)
        stats = ("127.0.0.1", free_port())
        with uwsgi(env, extra_args=extra, log_path=f"{LOG}-uwsgi.log", stats=stats) as (base_url, _master):
            processes = len(uwsgi_workers(stats))
            _, token = register_and_login(base_url, "faults")
            trackers = {
                "A": create_github_tracker(base_url, token, "tracker-a", fake_a, REPO),
                "B": create_github_tracker(base_url, token, "tracker-b", fake_b, REPO),
            }
            cpu = CpuWatch(env["DATABASE_URL"]).start()
            try:
                ops = [Op(name, 1, reader(base_url, token, tracker_id)) for name, tracker_id in trackers.items()]
                load = FixedRateLoad(ops, args.rate * 2, seconds=seconds).start()
                switches = switch_faults(fake_a, load, phases, boundaries)
                load.join()
            finally:
                cpu.stop()
                workers_final = uwsgi_workers(stats)
    return SimpleNamespace(
        trackers=trackers,
        processes=processes,
        cpu=cpu,
        switches=switches,
        samples=sorted(load.snapshot(), key=lambda s: s.started),
        workers_final=workers_final,
    )


def pids_by_issue(tracker_id):
    """The uwsgi process that answered each 5xx read of the tracker, by issue number (from uwsgi's log-5xx lines)."""
    pids = {}
    for match in LINE.finditer(Path(f"{LOG}-uwsgi.log").read_text(errors="replace")):
        pid, tracker, number, _status = match.groups()
        if int(tracker) == tracker_id:
            pids[number] = int(pid)
    return pids


def allowed(sample, boundaries):
    """Mapped for its phase; around a phase change the neighbouring phase's fault may apply (the fake switches
    when a request reaches it, and retries span the change); recovered phases may answer circuit_open (the
    closing is checked separately)."""
    key = (sample.status, sample.detail if sample.status != 200 else "")
    labels = {phase_of(sample.started + shift, boundaries) for shift in (-BOUNDARY_GRACE, 0, BOUNDARY_GRACE)}
    return any(
        key in ALLOWED[kind(label)] or (kind(label) == "recovered" and key == (503, "tracker_circuit_open")) for label in labels
    )


def closings(by_phase, phases, boundaries):
    """For each recovered phase, when its last non-200 answer completed (s after the phase began; 0 if none)."""
    ends = dict(zip(phases, [*(boundaries[label] for label in phases[1:]), float("inf")], strict=True))
    closed = {}
    for label in phases:
        if kind(label) != "recovered":
            continue
        # requests sent just before the next phase may already meet its fault
        items = [s for s in by_phase[label] if s.started < ends[label] - BOUNDARY_GRACE]
        bad = max((s for s in items if s.status != 200), key=lambda s: s.started, default=None)
        closed[label] = (bad.answered - boundaries[label]) if bad else 0.0
    return closed


def per_process(a, pids):
    """A's 5xx answers by uwsgi process and status, and each process's last circuit_open answer (s into the load)."""
    counts = collections.defaultdict(collections.Counter)
    last_open = {}
    for s in a:
        pid = pids.get(s.tag)
        if pid is None:
            continue
        counts[pid][f"{s.status} {s.detail}"] += 1
        if s.detail == "tracker_circuit_open":
            last_open[pid] = max(last_open.get(pid, 0.0), s.started)
    return counts, last_open


def analyse(observed, phases, boundaries):
    """The samples split by tracker and phase, what they show about the breaker and B, and the checks."""
    f = SimpleNamespace()
    f.a = [s for s in observed.samples if s.kind == "A"]
    f.b = [s for s in observed.samples if s.kind == "B"]
    f.by_phase = {label: [s for s in f.a if phase_of(s.started, boundaries) == label] for label in phases}
    f.b_phase = {label: [s for s in f.b if phase_of(s.started, boundaries) == label] for label in phases}
    f.recovery_start = boundaries[phases[-1]]
    f.wrong = [s for s in f.a if not allowed(s, boundaries)]
    f.too_slow = [s for s in f.a if s.latency_ms > (TIMEOUT + LATENCY_MARGIN) * 1000]
    opened = [s for s in f.a if s.detail == "tracker_circuit_open"]
    f.fault_start = boundaries[phases[1]]
    f.first_open = min((s.answered for s in opened if s.started >= f.fault_start), default=None)
    f.after = [s for s in f.a if s.started >= f.recovery_start]
    f.first_200 = next((s for s in f.after if s.status == 200), None)
    f.last_bad = max((s for s in f.after if s.status != 200), key=lambda s: s.started, default=None)
    f.closed_at = (f.last_bad.answered - f.recovery_start) if f.last_bad else 0.0
    # B's reference: the healthy phases (the baseline and the last recovered phase) together
    f.base_b = lat(f.b_phase[phases[0]] + f.b_phase[phases[-1]])
    f.b_rows = {label: lat(items) for label, items in f.b_phase.items()}
    f.closings = closings(f.by_phase, phases, boundaries)
    b_flat = all(
        row["p50"] <= 1.5 * f.base_b["p50"] + 10 and row["p99"] <= 2 * f.base_b["p99"] + 50
        for row in f.b_rows.values()
        if row["n"]
    )
    f.per_process, f.last_open_by_pid = per_process(f.a, pids_by_issue(observed.trackers["A"]))
    f.checks = {
        "every A answer had the mapped status for its phase": not f.wrong,
        f"every A answer within the timeout + {LATENCY_MARGIN:g} s ({TIMEOUT + LATENCY_MARGIN:g} s)": not f.too_slow,
        "the circuit opened (503 tracker_circuit_open) while A failed": f.first_open is not None,
        f"the circuit closed after recovery: every A answer 200 from {RESET + CLOSE_MARGIN:g} s after recovery on": bool(f.after)
        and all(value <= RESET + CLOSE_MARGIN for value in f.closings.values())
        and f.after[-1].status == 200,
        "every B answer 200": all(s.status == 200 for s in f.b),
        "B latency unchanged (each phase: p50 <= 1.5 x healthy + 10 ms, p99 <= 2 x healthy + 50 ms)": b_flat,
    }
    return f


def setup_lines(args, kinds, processes):
    """How the run was set up: uwsgi, the tracker settings, the load and fake A's phases."""
    mode = (
        f"`--processes {args.processes}` (one breaker)"
        if args.processes == 1
        else f"`--processes {args.processes}`"
        if args.processes
        else f"the committed uwsgi.ini: {processes} processes x {uwsgi_layout()[1]} threads, so {processes} independent breakers"
    )
    return [
        f"Set-up: uwsgi with {mode}; `TRACKER_TIMEOUT_SECONDS={TIMEOUT:g}`, `TRACKER_BREAKER_RESET_SECONDS={RESET:g}`, "
        f"`TRACKER_BREAKER_THRESHOLD={THRESHOLD}`, `TRACKER_RETRIES=2`, `RATELIMIT_ENABLED=false`. Two GitHub trackers "
        f"on two fakes (own processes); {args.rate:g} reads/s on each on a fixed schedule, each read a different "
        "issue (`GET /api/v1/trackers/<id>/issues/<n>`), so no answer comes from the ETag cache. Fake A: "
        "healthy, then every request hangs for timeout + 3 s (`hang_next`), then every request gets a 500 "
        "(`fail_next`), then every request gets GitHub's secondary-rate-limit 429 with `Retry-After: 30` "
        f"(`rate_limit_next`), then healthy again; phases back to back in this order: {', '.join(kinds)}.",
    ]


def phase_rows(f, phases, boundaries):
    """The table of both trackers' answers, phase by phase."""
    lines = [
        "| phase (starts at s) | A answers | A statuses | A p50 / p99 / max ms | B answers | B statuses | B p50 / p99 / max ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for label in phases:
        ra, rb = lat(f.by_phase[label]), f.b_rows[label]
        lines.append(
            f"| {kind(label)} ({boundaries[label]:.1f}) | {ra['n']} | {histogram(f.by_phase[label])} | "
            f"{ra['p50']:.0f} / {ra['p99']:.0f} / {ra['max']:.0f} | {rb['n']} | {histogram(f.b_phase[label])} | "
            f"{rb['p50']:.0f} / {rb['p99']:.0f} / {rb['max']:.0f} |"
        )
    return lines


def finding_lines(f, boundaries):
    """B's reference, when the circuit opened and closed, and the answers that missed a target."""
    first_200, last_bad, after = f.first_200, f.last_bad, f.after
    return [
        f"- B's healthy reference (baseline + last recovered phase): p50 {f.base_b['p50']:.0f} ms, p99 "
        f"{f.base_b['p99']:.0f} ms over {f.base_b['n']} answers.",
        "- Circuit opened: first `tracker_circuit_open` answer "
        + (f"{f.first_open - f.fault_start:.1f} s after the first fault began" if f.first_open is not None else "never"),
        f"- After recovery ({f.recovery_start:.1f} s): first 200 "
        + (f"{first_200.answered - f.recovery_start:.1f} s later" if first_200 else "never")
        + (f"; last non-200 answer completed {f.closed_at:.1f} s after recovery" if last_bad else "; no non-200 answer")
        + f"; last A answer {after[-1].status if after else '—'} {after[-1].detail if after else ''}",
        f"- A answers with a status not mapped for their phase: {len(f.wrong)}"
        + (" — " + "; ".join(f"{s.status} {s.detail} sent at {s.started:.2f} s" for s in f.wrong[:10]) if f.wrong else ""),
        "- Closing after each recovered phase: "
        + ", ".join(
            f"{kind(label)} at {boundaries[label]:.1f} s: " + (f"last non-200 {value:.1f} s after" if value else "all 200")
            for label, value in f.closings.items()
        ),
        f"- A answers slower than {TIMEOUT + LATENCY_MARGIN:g} s: {len(f.too_slow)}"
        + (f" (max {max(s.latency_ms for s in f.too_slow):.0f} ms)" if f.too_slow else ""),
    ]


def process_lines(f, workers_final):
    """A's 5xx answers per uwsgi process, and the processes at the end."""
    lines = [
        "Per uwsgi process (A's 5xx answers traced through uwsgi's `log-5xx` lines; 200s are not logged):",
        "",
        "| pid | A 5xx answers by status | last `tracker_circuit_open` (s since recovery) |",
        "|---|---|---|",
    ]
    for pid, counts in sorted(f.per_process.items()):
        last = f.last_open_by_pid.get(pid)
        lines.append(
            f"| {pid} | {', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))} | "
            f"{f'{last - f.recovery_start:+.1f}' if last is not None else '—'} |"
        )
    served = ", ".join(f"{w['pid']} ({w['requests']} requests)" for w in workers_final)
    return [*lines, "", f"uwsgi workers at the end: {served}", ""]


def main():
    args, kinds, default_phases = parse_args()
    version = code_version()
    phases, boundaries, seconds = schedule(args, kinds)
    observed = run_faults(args, phases, boundaries, seconds)
    boundaries.update(observed.switches)
    f = analyse(observed, phases, boundaries)
    lines = [
        run_intro(version, observed.cpu),
        "",
        *setup_lines(args, kinds, observed.processes),
        "",
        *phase_rows(f, phases, boundaries),
        "",
        *finding_lines(f, boundaries),
        "",
        *process_lines(f, observed.workers_final),
    ]
    section, heading = fault_section(args, kinds, observed.processes, default_phases)
    return conclude_reliability(section, heading, lines, f.checks, args, f"log in {LOG}-uwsgi.log")


if __name__ == "__main__":
    sys.exit(main())

"""Generating load: wrk (closed loop, flat out) and `FixedRateLoad` (open loop on a fixed schedule).

`FixedRateLoad` sends request i at start + i / rate, bounded in time and request count, and records kind, status,
latency and how late each request started.
"""

import contextlib
import itertools
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests

from bench.harness.measure import process_tree_cpu_seconds, stats


def require_wrk():
    if not shutil.which("wrk"):
        sys.exit("wrk is required: apt-get install wrk")


def wrk(url, *, connections=32, threads=2, seconds=15, headers=None):
    """Run wrk with --latency; returns requests/s, p50/p99 in ms, errors."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", output, re.MULTILINE))

    def parse(key):
        number, unit = re.match(r"([\d.]+)(\w+)", latency[key]).groups()
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    total = re.search(r"(\d+) requests in", output)
    return {
        "requests": int(total.group(1)) if total else 0,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": parse("50"),
        "p99_ms": parse("99"),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
        "raw": output,
    }


def wrk_cpu(url, pids, **options):
    """`wrk()`, plus the CPU ms per answered request of each process tree in `pids` ({key: pid}) as `key`."""
    before = {key: process_tree_cpu_seconds(pid) for key, pid in pids.items()}
    result = wrk(url, **options)
    for key, pid in pids.items():
        result[key] = (process_tree_cpu_seconds(pid) - before[key]) / max(1, result["requests"]) * 1000
    return result


@dataclass
class Sample:
    kind: str
    due: float  # seconds since the load started (the fixed schedule)
    started: float  # seconds since the load started (when the request was actually sent)
    latency_ms: float
    status: int  # 0 = no HTTP answer (connection error or client timeout)
    ok: bool
    detail: str  # the error slug of an error body, or the exception
    tag: str = ""  # whatever the operation wants to remember (e.g. which URL it called)

    @property
    def answered(self):
        """Seconds since the load started when the answer came (or the request failed)."""
        return self.started + self.latency_ms / 1000


@dataclass
class Op:
    """One kind of request: `call(session)` returns (status, ok, detail) or (status, ok, detail, tag)."""

    kind: str
    weight: int
    call: object


def expect(response, *statuses):
    """(status, ok, detail) for a response that should have one of `statuses`."""
    detail = ""
    if response.status_code >= 400:
        with contextlib.suppress(ValueError, AttributeError):
            detail = response.json().get("error", "")
    return response.status_code, response.status_code in statuses, detail


def smooth_weighted_cycle(ops):
    """Kinds interleaved in proportion to their weights (nginx's smooth weighted round robin), deterministic."""
    current = {op.kind: 0 for op in ops}
    total = sum(op.weight for op in ops)
    order = []
    for _ in range(total):
        for op in ops:
            current[op.kind] += op.weight
        best = max(ops, key=lambda op: current[op.kind])
        current[best.kind] -= total
        order.append(best)
    return order


class FixedRateLoad:
    """Send `rate` requests/s on a fixed schedule (not flat out) from a thread pool, bounded in time and count.

    Latency is measured from when a request is sent; `lag` (sent - due) shows when the client fell behind.
    """

    def __init__(self, ops, rate, *, seconds, threads=24, max_requests=None):
        self.cycle = smooth_weighted_cycle(ops)
        self.rate = rate
        self.seconds = seconds
        self.max_requests = max_requests or int(rate * seconds * 1.05) + 10
        self.samples: list[Sample] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="load")
        self._local = threading.local()
        self._thread = threading.Thread(target=self._run, name="load-schedule", daemon=True)
        self.t0 = None

    def now(self):
        """Seconds since the load started."""
        return time.monotonic() - self.t0

    def _session(self):
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _send(self, op, due):
        started = self.now()
        tag = ""
        try:
            status, ok, detail, *rest = op.call(self._session())
            tag = rest[0] if rest else ""
        except requests.RequestException as exc:
            status, ok, detail = 0, False, type(exc).__name__
            self._local.session = None  # a fresh connection next time
        except Exception as exc:  # a bug in the script must show up as an error, not vanish in the pool
            status, ok, detail = -1, False, repr(exc)[:200]
        latency = (self.now() - started) * 1000
        with self._lock:
            self.samples.append(Sample(op.kind, due, started, latency, status, ok, detail, tag))

    def _run(self):
        for index in itertools.count():
            if index >= self.max_requests:
                break
            due = index / self.rate
            if due >= self.seconds:
                break
            delay = due - self.now()
            if delay > 0:
                time.sleep(delay)
            self._pool.submit(self._send, self.cycle[index % len(self.cycle)], due)
        self._pool.shutdown(wait=True)

    def start(self):
        self.t0 = time.monotonic()
        self._thread.start()
        return self

    def join(self, timeout=None):
        self._thread.join(timeout)

    def snapshot(self):
        with self._lock:
            return list(self.samples)


def summarize(samples):
    """Per kind: count, errors, status histogram, p50/p99/max latency."""
    by_kind = defaultdict(list)
    for sample in samples:
        by_kind[sample.kind].append(sample)
    return {
        kind: {
            **stats([s.latency_ms for s in items]),
            "errors": sum(1 for s in items if not s.ok),
            "statuses": dict(sorted(Counter(s.status for s in items).items())),
        }
        for kind, items in sorted(by_kind.items())
    }


def histogram(samples):
    """'201: 3, 503: 2' style status histogram, with error slugs for non-2xx answers."""
    counts = Counter((s.status, s.detail if s.status >= 300 or s.status == 0 else "") for s in samples)
    return ", ".join(f"{status}{' ' + detail if detail else ''}: {count}" for (status, detail), count in sorted(counts.items()))

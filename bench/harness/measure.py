"""Measuring: percentiles and timings, the app's log entries, process-tree CPU, resident memory, the SQL statements a
request sends, and the machine's busy CPU during a run."""

import contextlib
import json
import math
import os
import subprocess
import threading
import time
from pathlib import Path


def percentile(samples, pct):
    """The pct-th percentile (nearest rank) of a list of numbers."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


def stats(values):
    """n, p50, p99, mean, min and max of a list of numbers (NaN for an empty list)."""
    nan = float("nan")
    mean = sum(values) / len(values) if values else nan
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "mean": mean,
        "min": min(values, default=nan),
        "max": max(values, default=nan),
    }


def timed(call):
    """Milliseconds `call()` took."""
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def log_entries(path, offset):
    """The JSON lines (the app's log entries) written to the log at `path` after byte `offset`."""
    with open(path, "rb") as log:
        log.seek(offset)
        lines = log.read().decode("utf-8", "replace").splitlines()
    entries = []
    for line in lines:
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                entries.append(json.loads(line))
    return entries


def process_tree_cpu_seconds(root_pid):
    """User + system CPU seconds of a process and all its descendants (threads included), from /proc.

    A process's reaped children count too (cutime, cstime): without them the total drops whenever a child exits
    (a PostgreSQL backend, a recycled worker), and a window's difference can come out negative."""
    children = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append((int(entry.name), sum(map(int, fields[11:15]))))
    ticks, stack = 0, [root_pid]
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{root_pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += sum(map(int, fields[11:15]))
    while stack:
        for pid, own in children.get(stack.pop(), []):
            ticks += own
            stack.append(pid)
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mb(pid):
    """Resident memory of a process in MB (VmRSS), or None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def worker_rss_mb(master_pid):
    """Resident memory of each uwsgi worker (the master's children, minus the HTTP router), in MB."""
    children = subprocess.run(
        ["ps", "-o", "pid=,rss=,args=", "--ppid", str(master_pid)], capture_output=True, text=True
    ).stdout.splitlines()
    sizes = []
    for line in children:
        _pid, rss, args = line.split(None, 2)
        if "uWSGI http" not in args:
            sizes.append(int(rss) / 1024)
    return sizes


class CpuWatch:
    """Every `interval` s from when the run started: the machine's busy CPU (/proc/stat) and how much of it this run
    used (our process tree and that of the database at `database_url`), so the rest is what other processes on the
    shared machine took."""

    def __init__(self, database_url, interval=10.0):
        import psutil

        self.psutil = psutil
        self.exclude = database_url.rsplit("host=", 1)[-1]  # the embedded PostgreSQL's directory, in its command line
        self.started = time.strftime("%Y-%m-%d %H:%M")
        self.interval = interval
        self.samples: list[tuple[float, float, float]] = []  # (time, machine busy %, ours %) of 100% x cores
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-watch", daemon=True)

    def _ours(self):
        """This process's tree, plus the tree of any process whose command line names our database directory."""
        roots = [self.psutil.Process()]
        for process in self.psutil.process_iter(["cmdline"]):
            if self.exclude and self.exclude in " ".join(process.info["cmdline"] or []):
                roots.append(process)
        ours = {}
        for root in roots:
            with contextlib.suppress(self.psutil.Error):
                for process in (root, *root.children(recursive=True)):
                    with contextlib.suppress(self.psutil.Error):
                        times = process.cpu_times()
                        ours[process.pid] = times.user + times.system
        return ours

    @staticmethod
    def _machine():
        """Busy jiffies of all CPUs so far (user, nice, system, irq, softirq, steal)."""
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields[:8]) - fields[3] - fields[4]  # minus idle and iowait

    def _run(self):
        tick = os.sysconf("SC_CLK_TCK")
        ours_before, busy_before, at = self._ours(), self._machine(), time.monotonic()
        while True:
            stopping = self._stop.wait(self.interval)
            if stopping and time.monotonic() - at < 1.0:
                break  # too short a remainder to say anything
            ours_after, busy_after, now = self._ours(), self._machine(), time.monotonic()
            machine = (busy_after - busy_before) / tick / (now - at) * 100
            ours = sum(used - ours_before[pid] for pid, used in ours_after.items() if pid in ours_before) / (now - at) * 100
            self.samples.append((now, machine, min(ours, machine)))
            ours_before, busy_before, at = ours_after, busy_after, now
            if stopping:
                break

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(self.interval + 5)

    def describe(self):
        if not self.samples:
            return "CPU not sampled"
        count = os.cpu_count()
        machine = sum(sample[1] for sample in self.samples) / len(self.samples)
        ours = sum(sample[2] for sample in self.samples) / len(self.samples)
        foreign = [sample[1] - sample[2] for sample in self.samples]
        return (
            f"the machine was {machine / count:.0f}% busy on average ({machine:.0f}% of {count * 100}%); this run's "
            f"processes used {ours:.0f}%, other processes on the machine {sum(foreign) / len(foreign):.0f}% on "
            f"average (peak {max(foreign):.0f}% over one sample of up to {self.interval:g} s)"
        )


class SqlCounter:
    """Counts what a request sends to PostgreSQL: statements, commits, rollbacks that had work to undo, pings."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.statements = []
        self.commits = self.rollbacks = self.free_rollbacks = self.pings = 0
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._rollback)
        original_ping = engine.dialect.do_ping

        def counting_ping(dbapi_connection):
            self.pings += 1
            return original_ping(dbapi_connection)

        engine.dialect.do_ping = counting_ping

    def _statement(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(statement)

    def _commit(self, conn):
        self.commits += 1

    def _rollback(self, conn):
        # psycopg2 sends nothing for a rollback outside a transaction; only count the ones that cost a round trip.
        raw = conn.connection.dbapi_connection
        if raw is not None and raw.info.transaction_status != 0:
            self.rollbacks += 1
        else:
            self.free_rollbacks += 1

    def reset(self):
        self.statements.clear()
        self.commits = self.rollbacks = self.free_rollbacks = self.pings = 0

    def summary(self, requests):
        return (
            f"{len(self.statements) / requests:.2f} statements, {self.pings / requests:.2f} pings, "
            f"{self.commits / requests:.2f} commits, {self.rollbacks / requests:.2f} rollbacks sent "
            f"({self.free_rollbacks / requests:.2f} free) per request"
        )

"""Shared machinery of the reliability scripts (bench/reliability_*.py).

- `FixedRateLoad`: an open-loop load generator on a fixed schedule (request i is due at start + i / rate),
  bounded in time and request count, recording kind, status, latency and how late each request started.
- `serve`: uwsgi under the committed uwsgi.ini plus extra command-line options (e.g. `--processes 1`).
- `JobWorkers`: `python manage.py worker` subprocesses, killed by pid, optionally supervised (restarted when they
  exit, the way an orchestrator would).
- GitHub fake seeding, tracker + webhook registration, signed deliveries, and database counts over psycopg.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import requests

from bench.common import ROOT, VENV_BIN, free_port, percentile
from bench.fakes_runner import control, seed

TOKEN = "ghp_reliability00000000000000000000000000"
REPO = "rel-org/app"
PASSWORD = "reliability-password-1"


# -- load generation ---------------------------------------------------------------------------------------


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
    """Send `rate` requests/s on a fixed schedule (not flat out) from a thread pool, until stopped or bounded.

    Latency is measured from when a request is sent; `lag` (sent - due) shows when the client fell behind.
    """

    def __init__(self, ops, rate, *, seconds, threads=24, timeout=30.0, max_requests=None):
        self.cycle = smooth_weighted_cycle(ops)
        self.rate = rate
        self.seconds = seconds
        self.max_requests = max_requests or int(rate * seconds * 1.05) + 10
        self.timeout = timeout
        self.samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
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
            if delay > 0 and self._stop.wait(delay):
                break
            if self._stop.is_set():
                break
            self._pool.submit(self._send, self.cycle[index % len(self.cycle)], due)
        self._pool.shutdown(wait=True)

    def start(self):
        self.t0 = time.monotonic()
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()

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
    table = {}
    for kind, items in sorted(by_kind.items()):
        latencies = [s.latency_ms for s in items]
        table[kind] = {
            "n": len(items),
            "errors": sum(1 for s in items if not s.ok),
            "statuses": dict(sorted(Counter(s.status for s in items).items())),
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "max": max(latencies),
        }
    return table


def histogram(samples):
    """'201: 3, 503: 2' style status histogram, with error slugs for non-2xx answers."""
    counts = Counter((s.status, s.detail if s.status >= 300 or s.status == 0 else "") for s in samples)
    return ", ".join(f"{status}{' ' + detail if detail else ''}: {count}"
                     for (status, detail), count in sorted(counts.items()))


# -- uwsgi -------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def serve(env, *, extra_args=(), log_path, ready_path="/healthz"):
    """uwsgi under the committed uwsgi.ini plus `extra_args` and a stats socket (for worker pids and request counts).

    Yields (base_url, master_pid, stats_address); stops uwsgi on exit.
    """
    port, stats_port = free_port(), free_port()
    env = {**env, "HOST": "127.0.0.1", "PORT": str(port)}
    metrics_dir = tempfile.mkdtemp(prefix="tg-metrics-")
    env.setdefault("PROMETHEUS_MULTIPROC_DIR", metrics_dir)
    stats_address = ("127.0.0.1", stats_port)
    command = [str(VENV_BIN / "uwsgi"), "--ini", str(ROOT / "uwsgi.ini"), "--stats", f"127.0.0.1:{stats_port}",
               *extra_args]
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(base_url + ready_path, timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"uwsgi did not start (exit {process.poll()}); see {log_path}")
            time.sleep(0.2)
        yield base_url, process.pid, stats_address
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def uwsgi_stats(address):
    """uwsgi's stats document (JSON from the --stats socket)."""
    with socket.create_connection(address, timeout=5) as connection:
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return json.loads(b"".join(chunks))


def rss_mb(pid):
    """Resident memory of a process in MB (VmRSS), or None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def uwsgi_workers(address):
    """[{id, pid, requests, respawn_count, rss_mb}] of the uwsgi workers (the HTTP router is not a worker)."""
    return [{"id": worker["id"], "pid": worker["pid"], "requests": worker["requests"],
             "respawn_count": worker["respawn_count"], "rss_mb": rss_mb(worker["pid"])}
            for worker in uwsgi_stats(address)["workers"]]


# -- background job workers --------------------------------------------------------------------------------


class JobWorkers:
    """`python manage.py worker` subprocesses (own session each, so a kill reaches only that worker).

    With `supervise=True` a monitor thread restarts a worker that exited, after a back-off of 1, 2, 4 ... up to
    10 s (like a container restart policy), and records every exit.
    """

    def __init__(self, env, count, *, log_prefix, concurrency=4, supervise=False):
        self.env = env
        self.concurrency = concurrency
        self.log_prefix = log_prefix
        self.processes: list[subprocess.Popen | None] = [None] * count
        self.logs = [None] * count
        self.events: list[tuple[float, int, str]] = []  # (monotonic time, worker index, what happened)
        self.supervise = supervise
        self._backoff = [1.0] * count
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._monitor = None

    def _spawn(self, index):
        if self.logs[index] is None:
            self.logs[index] = open(f"{self.log_prefix}-{index}.log", "wb")  # noqa: SIM115 - closed in stop()
        process = subprocess.Popen([sys.executable, "manage.py", "worker", "--concurrency", str(self.concurrency)],
                                   cwd=ROOT, env=self.env, stdout=self.logs[index], stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.processes[index] = process
        self.events.append((time.monotonic(), index, f"started pid {process.pid}"))
        return process

    def start(self):
        for index in range(len(self.processes)):
            self._spawn(index)
        if self.supervise:
            self._monitor = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)
            self._monitor.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.2):
            with self._lock:
                for index, process in enumerate(self.processes):
                    if process is None or process.poll() is None:
                        continue
                    self.events.append((time.monotonic(), index, f"pid {process.pid} exited with {process.returncode}"))
                    self.processes[index] = None
                    threading.Timer(self._backoff[index], self._respawn, args=(index,)).start()
                    self._backoff[index] = min(10.0, self._backoff[index] * 2)

    def _respawn(self, index):
        with self._lock:
            if not self._stop.is_set() and self.processes[index] is None:
                self._spawn(index)

    def pid(self, index):
        process = self.processes[index]
        return process.pid if process else None

    def kill(self, index, sig=signal.SIGKILL):
        """Signal worker `index` (its process group: the worker and nothing else)."""
        with self._lock:
            process = self.processes[index]
            os.killpg(process.pid, sig)
            process.wait()
            self.events.append((time.monotonic(), index, f"pid {process.pid} killed by {signal.Signals(sig).name}"))
            self.processes[index] = None

    def restart(self, index):
        with self._lock:
            return self._spawn(index)

    def exits(self):
        return [event for event in self.events if "exited" in event[2]]

    def stop(self):
        self._stop.set()
        if self._monitor:
            self._monitor.join(5)
        with self._lock:
            for process in self.processes:
                if process and process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in self.processes:
                if process:
                    try:
                        process.wait(20)
                    except subprocess.TimeoutExpired:
                        os.killpg(process.pid, signal.SIGKILL)
                        process.wait()
            for log in self.logs:
                if log:
                    log.close()


# -- database ----------------------------------------------------------------------------------------------


def conninfo(database_url):
    scheme, _, rest = database_url.partition("://")
    return "postgresql://" + rest if scheme.startswith("postgres") else database_url


def query(database_url, sql, params=None):
    """All rows of one statement, on a fresh autocommit connection."""
    with psycopg.connect(conninfo(database_url), autocommit=True, connect_timeout=5) as connection:
        return connection.execute(sql, params).fetchall()


def scalar(database_url, sql, params=None):
    return query(database_url, sql, params)[0][0]


def delivery_state(database_url):
    """Deliveries by status, events, deliveries with other than one event, and jobs left in the queue."""
    return {
        "deliveries": dict(query(database_url, "SELECT status, count(*) FROM webhook_deliveries GROUP BY status")),
        "events": scalar(database_url, "SELECT count(*) FROM events"),
        "deliveries_with_events": scalar(database_url, "SELECT count(DISTINCT delivery_id) FROM events"),
        "deliveries_not_once": scalar(database_url, "SELECT count(*) FROM (SELECT delivery_id FROM events "
                                                    "GROUP BY delivery_id HAVING count(*) <> 1) AS x"),
        "jobs": dict(query(database_url, "SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY status")),
    }


def wait_for_drain(database_url, accepted, *, timeout, poll=1.0, on_poll=None):
    """Wait until `accepted` deliveries are processed and no job is waiting or running; returns (state, seconds)."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(psycopg.OperationalError):
            state = delivery_state(database_url)
            busy = state["jobs"].get("todo", 0) + state["jobs"].get("doing", 0)
            if state["deliveries"].get("processed", 0) >= accepted and busy == 0:
                return state, time.monotonic() - started
        if on_poll:
            on_poll()
        if time.monotonic() - started > timeout:
            return delivery_state(database_url), None
        time.sleep(poll)


# -- API seeding -------------------------------------------------------------------------------------------


def register_and_login(base_url, username):
    api = base_url + "/api/v1/users"
    response = requests.post(f"{api}/register", json={"username": username, "password": PASSWORD}, timeout=30)
    if response.status_code != 201:
        raise RuntimeError(f"register {username}: {response.status_code} {response.text[:300]}")
    user_id = response.json()["id"]
    response = requests.post(f"{api}/login", json={"username": username, "password": PASSWORD}, timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"login {username}: {response.status_code} {response.text[:300]}")
    return user_id, response.json()["token"]


def seed_github_fake(url, *, issues=30, repo=REPO):
    """An admin token, one repository with `issues` issues, and a quota high enough for a long run."""
    control(url, rate_limit={"limit": 100_000_000})
    operations = [{"op": "add_token", "args": {"token": TOKEN, "login": "rel-bot"}},
                  {"op": "add_repo", "args": {"full_name": repo}},
                  {"op": "add_member", "args": {"full_name": repo, "login": "rel-bot", "permission": "admin"}}]
    operations += [{"op": "add_issue", "args": {"full_name": repo, "title": f"Issue {n}",
                                                "body": "Seeded for the reliability runs. " * 10, "labels": ["bug"]}}
                   for n in range(1, issues + 1)]
    seed(url, operations)


def create_github_tracker(base_url, token, name, fake_url, repo=REPO):
    response = requests.post(
        f"{base_url}/api/v1/trackers/", headers={"Authorization": f"Bearer {token}"}, timeout=30,
        json={"name": name, "provider": "github", "target": repo, "base_url": fake_url, "credentials": {"token": TOKEN}})
    if response.status_code != 201:
        raise RuntimeError(f"create tracker {name}: {response.status_code} {response.text[:300]}")
    return response.json()["id"]


def register_webhook(base_url, token, tracker_id):
    response = requests.post(f"{base_url}/api/v1/trackers/{tracker_id}/webhook",
                             headers={"Authorization": f"Bearer {token}"}, timeout=30)
    if response.status_code not in (200, 201):
        raise RuntimeError(f"register webhook: {response.status_code} {response.text[:300]}")


def webhook_secrets(env, tracker_ids):
    """{tracker_id: secret}, read inside the app context (the API never returns a secret)."""
    code = (
        "import json, sys\n"
        "from api import create_app, crypto\n"
        "from api.extensions import db\n"
        "from api.models.trackers import Tracker\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        f"    ids = {list(tracker_ids)!r}\n"
        "    print(json.dumps({i: crypto.decrypt_json(db.session.get(Tracker, i).webhook_secret_encrypted)['secret']"
        " for i in ids}))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True,
                            text=True).stdout
    return {int(key): value for key, value in json.loads(output.strip().splitlines()[-1]).items()}


def issue_opened(number, title, repo=REPO):
    """A GitHub `issues` / `opened` delivery payload (the fields the gateway reads, plus the usual envelope)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    owner, name = repo.split("/")
    user = {"login": "octocat", "id": 583231, "type": "User"}
    return {
        "action": "opened",
        "issue": {"id": 1_000_000 + number, "number": number, "title": title, "body": "Opened during a reliability run.",
                  "state": "open", "labels": [{"id": 1, "name": "bug", "color": "d73a4a"}], "assignees": [],
                  "user": user, "html_url": f"https://github.com/{repo}/issues/{number}", "comments": 0,
                  "created_at": now, "updated_at": now, "closed_at": None},
        "repository": {"id": 42, "name": name, "full_name": repo, "owner": {"login": owner, "id": 1}},
        "sender": user,
    }


def signed_delivery(secret, payload, event="issues"):
    """(body, headers) of a GitHub delivery signed the way GitHub does, with a unique delivery id."""
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": str(uuid.uuid4()),
               "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}
    return body, headers


class CpuWatch:
    """Every `interval` s: the machine's busy CPU (/proc/stat) and how much of it this run used (our process tree and
    our database's), so the rest is what other processes on the shared machine took."""

    def __init__(self, exclude_substring, interval=10.0):
        import psutil

        self.psutil = psutil
        self.exclude = exclude_substring
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
        return (f"the machine was {machine / count:.0f}% busy on average ({machine:.0f}% of {count * 100}%); this run's "
                f"processes used {ours:.0f}%, other processes on the machine {sum(foreign) / len(foreign):.0f}% on "
                f"average (peak {max(foreign):.0f}% over one sample of up to {self.interval:g} s)")


class EmbeddedPostgres:
    """Stop and start the embedded PostgreSQL behind `database_url` (bench.common.database()) with pg_ctl."""

    def __init__(self, database_url):
        from urllib.parse import parse_qs, urlsplit

        host = parse_qs(urlsplit(database_url).query).get("host", [""])[0]
        self.pgdata = Path(host)
        if not host or not (self.pgdata / "PG_VERSION").exists():
            raise SystemExit("this check stops and starts the database: run it on the embedded PostgreSQL "
                             "(leave DATABASE_URL unset)")
        self.socket_dir = (self.pgdata / "postmaster.pid").read_text().splitlines()[4]
        self.user = "pgserver" if os.geteuid() == 0 else None

    def _pg_ctl(self, args):
        from pgserver._commands import pg_ctl

        pg_ctl(args, pgdata=self.pgdata, user=self.user, timeout=60)

    def stop(self):
        """Fast shutdown (open sessions are ended), waiting until the server is down."""
        self._pg_ctl(["-w", "-m", "fast", "stop"])

    def start(self):
        """Start with the options pgserver uses (socket only, no TCP), waiting until it accepts connections."""
        self._pg_ctl(["-w", "-o", f'-h "" -k {self.socket_dir}', "-l", str(self.pgdata / "log"), "start"])


def code_version():
    """The commit the app code was at (and whether api/, config.py or uwsgi.ini had uncommitted changes)."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "api", "config.py", "uwsgi.ini", "wsgi.py", "manage.py"],
                           cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return f"commit {commit or 'unknown'}" + (" with uncommitted app changes" if dirty else "")


def machine_note():
    return ("2 cores shared by the load generator (Python, same machine), uwsgi, PostgreSQL, the job workers and "
            "the provider fakes, and possibly by other processes running on the machine at the same time")

"""Serving the app: settings, migrations, uwsgi under the committed uwsgi.ini, its stats, and job worker processes."""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import requests

from bench.harness import ROOT, VENV_BIN
from bench.harness.db import database
from bench.harness.measure import rss_mb


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_processes(processes, sig=signal.SIGTERM, timeout=30, *, group=False):
    """Signal the processes still running, wait for each, and kill any that outlives `timeout` seconds (with `group`,
    its whole process group)."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(sig)
    for process in processes:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            if group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
            process.wait()


def app_env(database_url, **extra):
    """Production settings with throwaway secrets."""
    env = dict(os.environ)
    env.update(
        APP_CONFIGURATION="production",
        DATABASE_URL=database_url,
        SECRET_KEY="bench-secret-key-" + "x" * 32,
        ENCRYPTION_KEYS="fF1Yk6m9lZ5V4sX8cN2q7hT3wJ0bR6eA1uI9oP4dG2s=",
        VIRTUAL_ENV=str(VENV_BIN.parent),
        PYTHONPATH=str(ROOT),
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env


def migrate(env):
    """Apply the migrations to the benchmark database."""
    subprocess.run([sys.executable, "manage.py", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)


@contextlib.contextmanager
def migrated_env(**settings):
    """`app_env()` with `settings` on a migrated `database()` (its URL is env["DATABASE_URL"]); trackers may reach the
    provider fakes on 127.0.0.1."""
    with database() as database_url:
        env = app_env(database_url, TRACKER_ALLOWED_HOSTS="127.0.0.1", **settings)
        migrate(env)
        yield env


def app_output(env, code):
    """The last line `code` prints, run by a new interpreter inside the app's context (`app` and `db` defined)."""
    script = "from api import create_app\nfrom api.extensions import db\napp = create_app()\nwith app.app_context():\n"
    script += textwrap.indent(code, "    ")
    output = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return output.stdout.strip().splitlines()[-1]


def _wait_ready(process, url, log_path):
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"uwsgi did not start (exit {process.poll()}); see {log_path or 'its log'}")
        time.sleep(0.2)


@contextlib.contextmanager
def uwsgi(env, *, module=None, ready_path="/healthz", log_path=None, extra_args=(), stats=None):
    """Serve under the committed uwsgi.ini (optionally another WSGI module, more options, a stats socket at the
    (host, port) `stats`); yields (base_url, master_pid)."""
    port = free_port()
    env = {**env, "HOST": "127.0.0.1", "PORT": str(port)}
    metrics_dir = tempfile.mkdtemp(prefix="tg-metrics-")
    env.setdefault("PROMETHEUS_MULTIPROC_DIR", metrics_dir)
    command = [
        str(VENV_BIN / "uwsgi"),
        "--ini",
        str(ROOT / "uwsgi.ini"),
        *(["--module", module] if module else []),
        *(["--stats", f"{stats[0]}:{stats[1]}"] if stats else []),
        *extra_args,
    ]
    log = open(log_path or os.devnull, "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, base_url + ready_path, log_path)
        yield base_url, process.pid
    finally:
        stop_processes([process], group=True)
        log.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def uwsgi_workers(address):
    """[{id, pid, requests, respawn_count, rss_mb}] of the uwsgi workers (the HTTP router is not a worker), from the
    stats document (JSON) of the --stats socket at `address`."""
    with socket.create_connection(address, timeout=5) as connection:
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    fields = ("id", "pid", "requests", "respawn_count")
    workers = json.loads(b"".join(chunks))["workers"]
    return [{**{field: worker[field] for field in fields}, "rss_mb": rss_mb(worker["pid"])} for worker in workers]


def uwsgi_layout():
    """(processes, threads) the committed uwsgi.ini starts on this machine (%k is the number of cores)."""
    settings = dict(re.findall(r"^(processes|threads)\s*=\s*(.+?)\s*$", (ROOT / "uwsgi.ini").read_text(), re.MULTILINE))
    cores = os.cpu_count() or 1

    def value(text):
        text = text.replace("%k", str(cores))
        match = re.fullmatch(r"%\((.+)\)", text)
        expression = match.group(1) if match else text
        if not re.fullmatch(r"[\d\s*+]+", expression):
            raise ValueError(f"uwsgi.ini: cannot read {text!r}")
        return int(eval(expression))  # noqa: S307 - digits, spaces, * and + only (checked above)

    return value(settings["processes"]), value(settings["threads"])


def uwsgi_layout_text():
    processes, threads = uwsgi_layout()
    return f"{processes} processes x {threads} threads"


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
        process = subprocess.Popen(
            [sys.executable, "manage.py", "worker", "--concurrency", str(self.concurrency)],
            cwd=ROOT,
            env=self.env,
            stdout=self.logs[index],
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
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
            stop_processes([process for process in self.processes if process], timeout=20, group=True)
            for log in self.logs:
                if log:
                    log.close()

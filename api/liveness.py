"""Worker liveness: a heartbeat file touched only while the worker makes progress, and its probe.

The worker has no HTTP port, so Kubernetes checks the file's age (`python manage.py worker-alive`).
The file is touched from a thread, but only while the worker's event loop still runs (a coroutine
ticks) and no job has run past its deadline; a worker stuck in either way stops touching it and is
restarted. A task holding the GIL stops the thread itself, with the same result.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import sys
import threading
import time
from pathlib import Path

import click

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 10.0
DEFAULT_JOB_DEADLINE = 300.0
DEFAULT_MAX_AGE = 60.0


class Heartbeat:
    """Touches `path` every `interval` seconds while the worker's loop ticks and no job is past `job_deadline`."""

    def __init__(
        self, path, *, interval: float = DEFAULT_INTERVAL, job_deadline: float = DEFAULT_JOB_DEADLINE, clock=time.monotonic
    ):
        self.path = Path(path)
        self.interval = interval
        self.job_deadline = job_deadline
        # A loop that misses three ticks in a row is stuck, not just busy.
        self.loop_stall = 3 * interval
        self.clock = clock
        self.last_tick: float | None = None
        self._jobs: dict[int, tuple[str, float]] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ticker: asyncio.Task | None = None
        self._failing: str | None = None

    async def track_job(self, call_next, context, worker):
        """procrastinate worker middleware: remember when each running job started."""
        key = next(self._ids)
        with self._lock:
            self._jobs[key] = (context.job.task_name, self.clock())
        try:
            return await call_next()
        finally:
            with self._lock:
                self._jobs.pop(key, None)

    def problem(self) -> str | None:
        """Why the worker is not alive, or None when it is."""
        now = self.clock()
        if self.last_tick is None or now - self.last_tick > self.loop_stall:
            return "the worker's event loop has stopped"
        with self._lock:
            jobs = list(self._jobs.values())
        for task_name, started in jobs:
            if now - started > self.job_deadline:
                return f"job {task_name} has run for {now - started:.0f} s (deadline {self.job_deadline:.0f} s)"
        return None

    def beat(self) -> bool:
        """Touch the file if the worker is alive; report whether it did."""
        problem = self.problem()
        if problem is not None:
            if problem != self._failing:
                log.error("worker heartbeat stopped: %s", problem)
            self._failing = problem
            return False
        if self._failing is not None:
            log.warning("worker heartbeat resumed")
            self._failing = None
        self.path.touch()
        return True

    def tick(self) -> None:
        """Record that the event loop ran (called on the loop)."""
        self.last_tick = self.clock()

    async def _tick_forever(self):
        while True:
            self.tick()
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        """Start ticking on the running event loop and beating from a thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tick()
        self.beat()  # a file left by an earlier container (emptyDir) is fresh again at once
        self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())
        self._thread = threading.Thread(target=self._run, name="worker-heartbeat", daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except OSError:
                log.exception("cannot touch the worker heartbeat file %s", self.path)

    def stop(self) -> None:
        """Stop beating (the file then ages out)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.cancel()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.interval + 1)


def heartbeat_age(path, *, now=None) -> float | None:
    """Seconds since the heartbeat file was touched, or None when there is none."""
    try:
        mtime = os.stat(path).st_mtime
    except FileNotFoundError:
        return None
    return max(0.0, (time.time() if now is None else now) - mtime)


@click.command("worker-alive")
@click.option(
    "--file",
    "path",
    envvar="WORKER_HEARTBEAT_FILE",
    required=True,
    show_envvar=True,
    help="the heartbeat file the worker touches",
)
@click.option(
    "--max-age",
    default=DEFAULT_MAX_AGE,
    show_default=True,
    type=click.FloatRange(min=1),
    help="seconds after which a heartbeat is stale",
)
def worker_alive(path, max_age):
    """Exit 0 if the worker's heartbeat file is fresh, 1 otherwise (a liveness probe)."""
    age = heartbeat_age(path)
    if age is None:
        click.echo(f"worker not alive: no heartbeat file {path}", err=True)
        sys.exit(1)
    if age > max_age:
        click.echo(f"worker not alive: last heartbeat {age:.0f} s ago (max {max_age:.0f} s)", err=True)
        sys.exit(1)

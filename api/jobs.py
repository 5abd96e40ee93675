"""Background jobs on procrastinate: PostgreSQL only (no broker), SKIP LOCKED fetching, retries.

Jobs are enqueued with procrastinate's own SQL function inside the caller's SQLAlchemy transaction, so
a stored webhook delivery and the job that processes it commit together or not at all. Task bodies run
in a Flask app context; they are idempotent so a retried job (after a crash) does no harm.

This is queue infrastructure only: it imports no service. The tasks are registered by api/tasks.py (the
worker's composition root), which the job app loads by name.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import text

from api.logcontext import job_context

if TYPE_CHECKING:
    import procrastinate

log = logging.getLogger(__name__)

_flask_app = None
_job_app = None
_blueprint = None

QUEUE_WEBHOOKS = "webhooks"
QUEUE_AUTOMATIONS = "automations"
QUEUE_OUTBOUND = "outbound"
TASKS_MODULE = "api.tasks"  # registers the task bodies on `tasks`

_DEFER = text(
    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, :priority, :lock, :queueing_lock, "
    "CAST(:args AS jsonb), :scheduled_at)::procrastinate_job_to_defer_v1])"
)


def enqueue(
    session,
    task_name: str,
    *,
    queue: str,
    lock: str | None = None,
    scheduled_at: datetime | None = None,
    queueing_lock: str | None = None,
    **kwargs,
) -> None:
    """Add a job in the caller's transaction: it exists exactly when that transaction commits.

    With `queueing_lock`, a second job under the same key while one waits raises IntegrityError (run it in a savepoint).
    """
    session.execute(
        _DEFER,
        {
            "queue": queue,
            "task": task_name,
            "priority": 0,
            "lock": lock,
            "queueing_lock": queueing_lock,
            "args": json.dumps(kwargs),
            "scheduled_at": scheduled_at,
        },
    )


def _conninfo(database_url: str) -> str:
    scheme, _, rest = database_url.partition("://")
    return "postgresql://" + rest if scheme.startswith("postgres") else database_url


def __getattr__(name):
    """`tasks` (the blueprint) and `procrastinate` load procrastinate when first asked for: a web process only
    enqueues (plain SQL above), so it never imports procrastinate (about 12 MB per worker)."""
    if name == "procrastinate":
        return importlib.import_module("procrastinate")
    if name == "tasks":
        return _task_blueprint()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _task_blueprint():
    global _blueprint
    if _blueprint is None:
        import procrastinate

        blueprint = procrastinate.Blueprint()
        blueprint.periodic(cron="* * * * *")(
            blueprint.task(name="retry_stalled_jobs", queueing_lock="retry_stalled_jobs", pass_context=True)(retry_stalled_jobs)
        )
        _blueprint = blueprint
    return _blueprint


def create_job_app(flask_app) -> procrastinate.App:
    """The process's procrastinate App, bound to the Flask app's database, with every task registered.

    Registering renames the blueprint's tasks ("gateway:..."), so there is one App per process.
    """
    global _flask_app, _job_app
    _flask_app = flask_app
    conninfo = _conninfo(flask_app.config["SQLALCHEMY_DATABASE_URI"])
    if _job_app is None:
        import procrastinate

        importlib.import_module(TASKS_MODULE)
        _job_app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(conninfo=conninfo, min_size=1, max_size=4, pool_factory=_pool_factory)
        )
        _job_app.add_tasks_from(_task_blueprint(), namespace="gateway")
    elif _job_app.connector._pool_args.get("conninfo") != conninfo:
        raise RuntimeError("One worker process serves one database.")
    return _job_app


# A connection handed back to the job pool this recently is not checked again before its next use (see _pool_factory).
POOL_CHECK_AFTER_IDLE_SECONDS = 0.5


def _pool_factory(**kwargs):
    """procrastinate's connection pool, checking a connection before use only when it has been idle for a while.

    procrastinate asks the pool to check every connection it hands out: one more round trip per job fetched and
    finished, about 0.7 ms of CPU per webhook delivery between the worker and PostgreSQL. A connection handed back
    within POOL_CHECK_AFTER_IDLE_SECONDS was working then; one idle longer (after a quiet spell, or after a worker
    stopped by a database restart, which restarts at least a second later: _supervise) is checked and replaced
    if dead, as before.
    """
    import time
    import weakref

    import psycopg_pool

    handed_back = weakref.WeakKeyDictionary()

    async def reset(connection):
        handed_back[connection] = time.monotonic()

    async def check(connection):
        if time.monotonic() - handed_back.get(connection, float("-inf")) > POOL_CHECK_AFTER_IDLE_SECONDS:
            await psycopg_pool.AsyncConnectionPool.check_connection(connection)

    return psycopg_pool.AsyncConnectionPool(**{**kwargs, "check": check, "reset": reset})


def in_app_context(func):
    """Run a task body inside the Flask app context, releasing its database session afterwards."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from api.extensions import db

        with _flask_app.app_context():
            try:
                return func(*args, **kwargs)
            finally:
                db.session.remove()

    return wrapper


async def _retry_stalled(job_app, seconds):
    """Jobs whose worker stopped heartbeating (killed mid-job) go back to the queue."""
    for job in await job_app.job_manager.get_stalled_jobs(seconds_since_heartbeat=seconds):
        log.warning("retrying stalled job %s (%s)", job.id, job.task_name)
        await job_app.job_manager.retry_job(job)


async def retry_stalled_jobs(context, timestamp):
    """Every minute, any worker requeues the jobs of workers that died."""
    await _retry_stalled(context.app, _flask_app.config.get("WORKER_STALLED_SECONDS", 30))


def run_worker(flask_app, *, concurrency: int = 4, queues=None, wait: bool = True, heartbeat=None) -> None:
    """Process jobs until stopped (or, with wait=False, until the queues are empty).

    procrastinate stops a worker whose database connection breaks; with wait=True the worker is then
    started again (with backoff) until a signal asks it to stop, so a database restart needs no supervisor.
    """
    import asyncio

    port = flask_app.config.get("WORKER_METRICS_PORT")
    if port and wait:
        from prometheus_client import start_http_server

        # The worker has no web server; job counters are scraped here (tracker calls, failures).
        start_http_server(int(port))
    app = create_job_app(flask_app)
    stalled_seconds = flask_app.config.get("WORKER_STALLED_SECONDS", 30)
    options = _worker_options(
        concurrency=concurrency, queues=queues, wait=wait, heartbeat=heartbeat, stalled_seconds=stalled_seconds
    )
    asyncio.run(_supervise(app, options, stalled_seconds=stalled_seconds, wait=wait, heartbeat=heartbeat))


def _worker_options(*, concurrency, queues, wait, heartbeat, stalled_seconds):
    options = {
        "queues": queues,
        "concurrency": concurrency,
        "wait": wait,
        "install_signal_handlers": False,
        "delete_jobs": "successful",
        "fetch_job_polling_interval": 1.0,
        "update_heartbeat_interval": min(10.0, stalled_seconds / 3),
        "stalled_worker_timeout": stalled_seconds,
    }
    options["worker_middleware"] = [job_context]  # every log line of a job names it
    if heartbeat is not None:  # api.liveness.Heartbeat: the liveness probe's file, touched while jobs progress
        options["worker_middleware"].append(heartbeat.track_job)
    return options


async def _supervise(app, options, *, stalled_seconds, wait, heartbeat):
    """Run a worker, and start a new one (with backoff) when it stops unasked, until a signal says stop."""
    import asyncio
    import signal

    from procrastinate.worker import Worker

    stopping = asyncio.Event()
    worker = None

    def stop():
        stopping.set()
        if worker is not None:
            worker.stop()

    if wait:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop)
    if heartbeat is not None:
        heartbeat.start()
    delay = 1.0
    async with app.open_async():
        while True:
            try:
                await _retry_stalled(app, stalled_seconds)
                worker = Worker(app=app, **options)
                await worker.run()
            except Exception:
                log.exception("worker failed")
            if not wait or stopping.is_set():
                return
            log.error("worker stopped without being asked (database unreachable?); restarting in %.0f s", delay)
            try:
                await asyncio.wait_for(stopping.wait(), timeout=delay)
                return
            except TimeoutError:
                delay = min(delay * 2, 30.0)


def queue_depth(session) -> dict[str, int]:
    """Jobs waiting per queue (for metrics)."""
    rows = session.execute(text("SELECT queue_name, count(*) FROM procrastinate_jobs WHERE status = 'todo' GROUP BY queue_name"))
    return dict(rows.all())

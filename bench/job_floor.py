#!/usr/bin/env python
"""The job queue's floor: how many no-op procrastinate jobs 2 worker processes finish per second on this machine.

Run: .venv/bin/python -m bench.job_floor [options]
  --jobs 6000      no-op jobs enqueued
  --processes 2    worker processes
  --concurrency 4  each worker's concurrency
The same connector, pool and worker options as the gateway's worker (api/jobs.py: successful jobs deleted, 1 s polling,
heartbeats), the same kind of job row (one per webhook delivery, enqueued in bulk beforehand), and a task that does
nothing: the cost of fetching, running and finishing one job, which bounds webhook processing (one job a delivery)
from above however cheap the delivery's own work gets. Prints its figures; bench/webhook_bench.py's section cites them.
"""

import multiprocessing
import os
import resource
import sys
import time

from bench.harness import options
from bench.harness.db import postmaster_pid
from bench.harness.measure import process_tree_cpu_seconds
from bench.harness.server import migrated_env

QUEUE, TASK = "floor", "noop"


def _job_app(database_url):
    import procrastinate

    from api.jobs import _conninfo, _pool_factory

    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=_conninfo(database_url), min_size=1, max_size=4, pool_factory=_pool_factory
        )
    )
    app.task(name=TASK, queue=QUEUE)(lambda **_: None)
    return app


def _worker(database_url, concurrency):
    """One worker process: the gateway's worker options, until the queue is empty."""
    from api.jobs import _worker_options

    app = _job_app(database_url)
    worker_options = _worker_options(concurrency=concurrency, queues=[QUEUE], wait=False, heartbeat=None, stalled_seconds=30)
    worker_options["worker_middleware"] = []
    with app.open():
        app.run_worker(**worker_options)


def _enqueue(database_url, count):
    """`count` jobs, enqueued the way the gateway enqueues a delivery's job (api.jobs.enqueue), in one transaction."""
    from sqlalchemy import create_engine

    from api.jobs import enqueue

    engine = create_engine(database_url)
    with engine.begin() as connection:
        for _ in range(count):
            enqueue(connection, TASK, queue=QUEUE)
    engine.dispose()


def main():
    args = options(__doc__).parse_args()
    with migrated_env() as env:
        database_url = env["DATABASE_URL"]
        _enqueue(database_url, args.jobs)
        postmaster = postmaster_pid(database_url)
        pg_before, started = process_tree_cpu_seconds(postmaster), time.monotonic()
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        context = multiprocessing.get_context("spawn")
        workers = [context.Process(target=_worker, args=(database_url, args.concurrency)) for _ in range(args.processes)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        seconds = time.monotonic() - started
        pg_ms = (process_tree_cpu_seconds(postmaster) - pg_before) / args.jobs * 1000
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        worker_ms = (
            ((children.ru_utime + children.ru_stime) - (children_before.ru_utime + children_before.ru_stime)) / args.jobs * 1000
        )
    rate = args.jobs / seconds
    print(
        f"{args.jobs} no-op jobs, {args.processes} x concurrency {args.concurrency}: {seconds:.1f} s (process start-up "
        f"included), {rate:.0f} jobs/s; CPU per job: workers {worker_ms:.2f} ms (start-up included), PostgreSQL "
        f"{pg_ms:.2f} ms; load average {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

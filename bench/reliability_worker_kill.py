"""Worker kill: a burst of signed deliveries with 2 job workers running; one worker is SIGKILLed mid-burst and restarted.

Run: .venv/bin/python -m bench.reliability_worker_kill [options]
  --deliveries 600     deliveries in the burst
  --rate 100.0         deliveries/s while the burst is sent
  --kill-at 0.3        kill when this share of the burst is processed
  --restart-after 2.0  seconds between the kill and the restart
  --no-doc             do not write docs/RELIABILITY.md
WORKER_STALLED_SECONDS=5, so jobs of the killed worker go back to the queue once its heartbeat is 5 s old (a worker
requeues them at start-up and every minute). Targets: after the queue drains every accepted delivery is processed
exactly once (deliveries processed == 202 accepted answers, one event per delivery, no job left or failed).
Writes docs/RELIABILITY.md (section "worker-kill"); exit 1 when a target is missed.
"""

import itertools
import signal
import sys
import threading
import time
from pathlib import Path

from bench.harness import options
from bench.harness.clients import gateway_with_webhook, issue_opened, post_delivery
from bench.harness.db import delivery_state, query, scalar, wait_for_drain
from bench.harness.load import FixedRateLoad, Op, histogram
from bench.harness.measure import CpuWatch
from bench.harness.report import code_version, conclude_reliability, run_intro
from bench.harness.server import JobWorkers

STALLED_SECONDS = 5
LOG = "/tmp/tg-reliability-kill"


def main():
    args = options(__doc__).parse_args()
    version = code_version()
    with gateway_with_webhook("burst", LOG, WORKER_STALLED_SECONDS=STALLED_SECONDS) as gateway:
        database_url = gateway.database_url
        workers = JobWorkers(gateway.env, 2, log_prefix=f"{LOG}-worker").start()
        deadline = time.monotonic() + 60
        while scalar(database_url, "SELECT count(*) FROM procrastinate_workers") < 2:
            if time.monotonic() > deadline:
                raise RuntimeError("the job workers did not register within 60 s")
            time.sleep(0.2)
        counter, lock, accepted_ids = itertools.count(), threading.Lock(), []

        def deliver(http):
            with lock:
                n = next(counter)
            result, delivery_id = post_delivery(http, gateway, issue_opened(n + 1, f"burst {n}"))
            if delivery_id:
                with lock:
                    accepted_ids.append(delivery_id)
            return result

        cpu = CpuWatch(database_url).start()
        try:
            load = FixedRateLoad(
                [Op("webhook", 1, deliver)], args.rate, seconds=args.deliveries / args.rate, max_requests=args.deliveries
            ).start()
            kill_threshold = int(args.deliveries * args.kill_at)
            while True:
                processed = scalar(database_url, "SELECT count(*) FROM webhook_deliveries WHERE status = 'processed'")
                if processed >= kill_threshold:
                    break
                if load.now() > 120:
                    raise RuntimeError(f"only {processed} deliveries processed after 120 s; nothing to kill into")
                time.sleep(0.05)
            doing = scalar(database_url, "SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'")
            pid = workers.pid(0)
            workers.kill(0, signal.SIGKILL)
            t_kill = load.now()
            sent_at_kill = len(load.snapshot())
            stored_at_kill = scalar(database_url, "SELECT count(*) FROM webhook_deliveries")
            pending_at_kill = scalar(database_url, "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
            print(
                f"[{t_kill:5.1f} s] SIGKILL worker pid {pid}: {processed} processed, {doing} jobs running, "
                f"{sent_at_kill} deliveries sent",
                flush=True,
            )
            time.sleep(args.restart_after)
            workers.restart(0)
            t_restart = load.now()
            load.join()
            t_burst_end = load.now()
            _, drain_seconds = wait_for_drain(database_url, len(accepted_ids), timeout=240, poll=0.5)
            t_drained = load.now()
        finally:
            cpu.stop()
            workers.stop()
        rows = delivery_state(database_url)
        processed_ids = {row[0] for row in query(database_url, "SELECT id FROM webhook_deliveries WHERE status = 'processed'")}
        titles = {row[0] for row in query(database_url, "SELECT issue->>'title' FROM events")}
    logs = "".join(Path(f"{LOG}-worker-{i}.log").read_text(errors="replace") for i in range(2))
    stalled_retries = logs.count("retrying stalled job")
    failures = logs.count("will be retried")

    samples = load.snapshot()
    accepted = set(accepted_ids)
    sent_titles = {f"burst {n}" for n in range(len(samples))}
    checks = {
        "every delivery of the burst answered 202 accepted": len(accepted) == args.deliveries and all(s.ok for s in samples),
        "the kill hit a worker with jobs running": doing > 0 and processed < args.deliveries,
        "queue drained (no job waiting or running)": drain_seconds is not None,
        "every accepted delivery processed (processed == accepted, by id)": processed_ids == accepted,
        "exactly once: one event per delivery, events == accepted": rows["deliveries_not_once"] == 0
        and rows["events"] == len(accepted)
        and rows["deliveries_with_events"] == len(accepted),
        "every delivery's payload became its event (titles)": titles == sent_titles,
        "no job failed": rows["jobs"].get("failed", 0) == 0,
    }
    lines = [
        run_intro(version, cpu),
        "",
        f"Set-up: uwsgi with the committed uwsgi.ini, 2 job workers (`python manage.py worker --concurrency 4`, "
        f"`WORKER_STALLED_SECONDS={STALLED_SECONDS}`), one GitHub tracker (fake) with a registered webhook. "
        f"Burst: {args.deliveries} signed GitHub `issues`/`opened` deliveries at {args.rate:g}/s (fixed schedule). "
        f"When {args.kill_at:.0%} of them were processed, worker 0 (pid {pid}) got SIGKILL; it was started again "
        f"{args.restart_after:g} s later.",
        "",
        f"- Burst answers: {histogram(samples)} ({len(samples)} sent in {t_burst_end:.1f} s)",
        f"- At the kill ({t_kill:.1f} s): {processed} processed, {doing} jobs running (`doing`) across both workers, "
        f"{stored_at_kill} deliveries stored, {pending_at_kill} pending; {sent_at_kill} of the burst answered.",
        f"- Restarted at {t_restart:.1f} s; burst fully sent at {t_burst_end:.1f} s; queue drained at "
        + (
            f"{t_drained:.1f} s ({t_drained - t_kill:.1f} s after the kill)"
            if drain_seconds is not None
            else "**not within 240 s**"
        ),
        f"- Stalled jobs requeued (worker log 'retrying stalled job'): {stalled_retries}; task failures logged "
        f"(retried): {failures}",
        f"- Final state: deliveries {rows['deliveries']}; {rows['events']} events for {rows['deliveries_with_events']} "
        f"deliveries; deliveries with other than one event: {rows['deliveries_not_once']}; jobs left "
        f"{rows['jobs'] or 'none'}",
        "",
    ]
    return conclude_reliability("worker-kill", "## Job worker killed mid-burst", lines, checks, args, f"logs in {LOG}-*.log")


if __name__ == "__main__":
    sys.exit(main())

"""Background task registration: the worker's composition root.

Services only enqueue jobs by task name (api.jobs.enqueue); the functions those names run are registered
here, on api.jobs' blueprint. Nothing imports this module: api.jobs loads it by name when a worker starts.
"""

import logging

from api import jobs, pipeline
from api.extensions import db
from api.metrics import jobs_failed
from api.services import automations, polling, subscriptions, sync, webhooks

log = logging.getLogger(__name__)

pipeline.install()


@jobs.tasks.task(
    name="process_delivery", queue=jobs.QUEUE_WEBHOOKS, retry=jobs.procrastinate.RetryStrategy(max_attempts=8, exponential_wait=2)
)
@jobs.in_app_context
def process_delivery_task(delivery_id):
    """Worker entry point for webhooks.process_delivery."""
    try:
        webhooks.process_delivery(delivery_id)
    except Exception:
        jobs_failed.labels("process_delivery").inc()
        log.exception("processing webhook delivery %s failed; it will be retried", delivery_id)
        raise


@jobs.tasks.task(
    name="run_automation",
    queue=jobs.QUEUE_AUTOMATIONS,
    retry=jobs.procrastinate.RetryStrategy(max_attempts=automations.MAX_ATTEMPTS, exponential_wait=2),
)
@jobs.in_app_context
def run_automation_task(run_id):
    """Worker entry point for automations.run_automation."""
    try:
        automations.run_automation(run_id)
    except Exception:
        jobs_failed.labels("run_automation").inc()
        raise


@jobs.tasks.task(
    name="send_outbound", queue=jobs.QUEUE_OUTBOUND, retry=jobs.procrastinate.RetryStrategy(max_attempts=5, exponential_wait=2)
)
@jobs.in_app_context
def send_outbound_task(delivery_id, attempt=None):
    """Worker entry point for subscriptions.send_delivery."""
    try:
        subscriptions.send_delivery(session=db.session, delivery_id=delivery_id, attempt=attempt)
    except Exception:
        jobs_failed.labels("send_outbound").inc()
        log.exception("sending outbound delivery %s failed; the job will be retried", delivery_id)
        raise


@jobs.tasks.task(
    name="sync_issue",
    queue=sync.QUEUE,
    retry=jobs.procrastinate.RetryStrategy(max_attempts=sync.MAX_ATTEMPTS, exponential_wait=2),
)
@jobs.in_app_context
def sync_issue_task(sync_id, side, issue_id, comments=False, event_at=None, chain_depth=0):
    """Worker entry point for sync.run_issue (a failure leaves the link `error` and is retried with backoff)."""
    try:
        sync.run_issue(
            session=db.session,
            sync_id=sync_id,
            side=side,
            issue_id=issue_id,
            comments=comments,
            event_at=event_at,
            chain_depth=chain_depth,
        )
    except Exception:
        jobs_failed.labels("sync_issue").inc()
        raise


@jobs.tasks.task(
    name="sync_link", queue=sync.QUEUE, retry=jobs.procrastinate.RetryStrategy(max_attempts=sync.MAX_ATTEMPTS, exponential_wait=2)
)
@jobs.in_app_context
def sync_link_task(sync_id, link_id, comments=False, event_at=None):
    """Worker entry point for sync.run_link (resync, pairing)."""
    try:
        sync.run_link(session=db.session, sync_id=sync_id, link_id=link_id, comments=comments, event_at=event_at)
    except Exception:
        jobs_failed.labels("sync_link").inc()
        raise


@jobs.tasks.task(
    name="sync_backfill",
    queue=sync.QUEUE,
    retry=jobs.procrastinate.RetryStrategy(max_attempts=sync.MAX_ATTEMPTS, exponential_wait=2),
)
@jobs.in_app_context
def sync_backfill_task(sync_id):
    """Worker entry point for sync.run_backfill (resumes from the cursor stored on the sync)."""
    try:
        sync.run_backfill(session=db.session, sync_id=sync_id)
    except Exception:
        jobs_failed.labels("sync_backfill").inc()
        raise


@jobs.tasks.periodic(cron="17 * * * *")
@jobs.tasks.task(name="prune_webhook_body_hashes", queueing_lock="prune_webhook_body_hashes", queue=jobs.QUEUE_WEBHOOKS)
@jobs.in_app_context
def prune_webhook_body_hashes_task(timestamp):
    """Hourly, any worker drops the webhook body hashes that have left the replay window."""
    removed = webhooks.prune_seen_bodies(session=db.session)
    log.info("pruned %d webhook body hashes", removed)


@jobs.tasks.periodic(cron="* * * * * */15")
@jobs.tasks.task(name="schedule_polls", queueing_lock="schedule_polls", queue=polling.QUEUE_POLLING)
@jobs.in_app_context
def schedule_polls_task(timestamp):
    """Every 15 s, one worker enqueues a poll job for each due tracker (one job per tracker, within the global cap)."""
    polling.schedule_due(session=db.session)


@jobs.tasks.task(name="poll_tracker", queue=polling.QUEUE_POLLING)
@jobs.in_app_context
def poll_tracker_task(tracker_id, full=False, emit_events=None):
    """Worker entry point for polling.poll_tracker (a failure is recorded on the tracker and retried by the schedule)."""
    try:
        polling.poll_tracker(session=db.session, tracker_id=tracker_id, full=full, emit_events=emit_events)
    except Exception:
        jobs_failed.labels("poll_tracker").inc()
        log.exception("polling tracker %s failed", tracker_id)
        raise


@jobs.tasks.task(
    name="refresh_index", queue=polling.QUEUE_POLLING, retry=jobs.procrastinate.RetryStrategy(max_attempts=3, exponential_wait=2)
)
@jobs.in_app_context
def refresh_index_task(tracker_id, issue_ids):
    """Worker entry point for polling.refresh_issues (the issues a webhook just named)."""
    polling.refresh_issues(session=db.session, tracker_id=tracker_id, issue_ids=issue_ids)


@jobs.tasks.periodic(cron="41 3 * * *")
@jobs.tasks.task(name="prune_event_change_hashes", queueing_lock="prune_event_change_hashes", queue=polling.QUEUE_POLLING)
@jobs.in_app_context
def prune_event_change_hashes_task(timestamp):
    """Daily, any worker forgets change hashes past the dedupe window (a webhook that late is not deduplicated)."""
    log.info("pruned %d event change hashes", polling.prune_change_hashes(session=db.session))

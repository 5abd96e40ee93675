"""Background task registration: the worker's composition root.

Services only enqueue jobs by task name (api.jobs.enqueue); the functions those names run are registered
here, on api.jobs' blueprint. Nothing imports this module: api.jobs loads it by name when a worker starts.
"""

import logging

from api import jobs, pipeline
from api.extensions import db
from api.metrics import jobs_failed
from api.services import automations, subscriptions, webhooks

log = logging.getLogger(__name__)

pipeline.install()


@jobs.tasks.task(name="process_delivery", queue=jobs.QUEUE_WEBHOOKS,
                 retry=jobs.procrastinate.RetryStrategy(max_attempts=8, exponential_wait=2))
@jobs.in_app_context
def process_delivery_task(delivery_id):
    """Worker entry point for webhooks.process_delivery."""
    try:
        webhooks.process_delivery(delivery_id)
    except Exception:
        jobs_failed.labels("process_delivery").inc()
        log.exception("processing webhook delivery %s failed; it will be retried", delivery_id)
        raise


@jobs.tasks.task(name="run_automation", queue=jobs.QUEUE_AUTOMATIONS,
                 retry=jobs.procrastinate.RetryStrategy(max_attempts=automations.MAX_ATTEMPTS, exponential_wait=2))
@jobs.in_app_context
def run_automation_task(run_id):
    """Worker entry point for automations.run_automation."""
    try:
        automations.run_automation(run_id)
    except Exception:
        jobs_failed.labels("run_automation").inc()
        raise


@jobs.tasks.task(name="send_outbound", queue=jobs.QUEUE_OUTBOUND,
                 retry=jobs.procrastinate.RetryStrategy(max_attempts=5, exponential_wait=2))
@jobs.in_app_context
def send_outbound_task(delivery_id, attempt=None):
    """Worker entry point for subscriptions.send_delivery."""
    try:
        subscriptions.send_delivery(session=db.session, delivery_id=delivery_id, attempt=attempt)
    except Exception:
        jobs_failed.labels("send_outbound").inc()
        log.exception("sending outbound delivery %s failed; the job will be retried", delivery_id)
        raise


@jobs.tasks.periodic(cron="17 * * * *")
@jobs.tasks.task(name="prune_webhook_body_hashes", queueing_lock="prune_webhook_body_hashes", queue=jobs.QUEUE_WEBHOOKS)
@jobs.in_app_context
def prune_webhook_body_hashes_task(timestamp):
    """Hourly, any worker drops the webhook body hashes that have left the replay window."""
    removed = webhooks.prune_seen_bodies(session=db.session)
    log.info("pruned %d webhook body hashes", removed)

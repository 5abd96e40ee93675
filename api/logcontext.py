"""Every application log line carries the request id inside a request and the job id inside a job."""

import contextvars
import logging

from flask import g, has_request_context

_job = contextvars.ContextVar("gateway_job", default=None)


class ContextFilter(logging.Filter):
    """Adds `request_id` (in a request) and `job_id`/`task` (in a job) to records that do not carry them already."""

    def filter(self, record):
        if not hasattr(record, "request_id") and has_request_context():
            record.request_id = g.get("request_id")
        job = _job.get()
        if job is not None and not hasattr(record, "job_id"):
            record.job_id, record.task = job
        return True


async def job_context(call_next, context, worker):
    """procrastinate worker middleware: the job's id and task name for every log line written while it runs."""
    token = _job.set((context.job.id, context.job.task_name))
    try:
        return await call_next()
    finally:
        _job.reset(token)

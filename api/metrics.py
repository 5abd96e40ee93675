"""Prometheus metrics, correct under multi-process uwsgi (PROMETHEUS_MULTIPROC_DIR) and in one process."""

import os
import time

from flask import Blueprint, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

http_requests = Counter("http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
http_duration = Histogram(
    "http_request_duration_seconds",
    "HTTP request duration",
    ["method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
tracker_calls = Counter("tracker_calls_total", "Calls to tracker providers", ["provider", "outcome"])
tracker_duration = Histogram(
    "tracker_call_duration_seconds",
    "Tracker call duration",
    ["provider"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
webhook_deliveries = Counter("webhook_deliveries_total", "Inbound webhook deliveries", ["provider", "result"])
jobs_failed = Counter("jobs_failed_total", "Background job failures", ["task"])
sync_lag = Histogram(
    "sync_lag_seconds",
    "Sync: event received -> the other side written",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)
polls = Counter("tracker_polls_total", "Polls of trackers for changes", ["provider", "outcome"])
poll_duration = Histogram(
    "tracker_poll_duration_seconds",
    "Duration of one tracker poll",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
poll_events = Histogram(
    "tracker_poll_events", "Events recorded per poll", ["provider"], buckets=(0, 1, 2, 5, 10, 25, 50, 100, 500)
)

metrics = Blueprint("metrics", __name__)


def _index_gauges():
    """issue_index_size and issue_index_age_seconds per polled tracker, read at scrape time."""
    from sqlalchemy import func, select

    from api.extensions import db
    from api.models.index import IndexedIssue
    from api.models.trackers import Tracker

    size = GaugeMetricFamily("issue_index_size", "Issues in the local index", labels=["tracker_id", "provider"])
    age = GaugeMetricFamily(
        "issue_index_age_seconds", "Seconds since the tracker's last complete poll", labels=["tracker_id", "provider"]
    )
    try:
        rows = db.session.execute(
            select(Tracker.id, Tracker.provider, Tracker.last_polled_at, func.count(IndexedIssue.issue_id))
            .outerjoin(IndexedIssue, IndexedIssue.tracker_id == Tracker.id)
            .where(Tracker.poll_cursor.is_not(None))
            .group_by(Tracker.id)
        ).all()
        now = db.session.scalar(select(func.now()))
    except Exception:  # no database, no gauges: the scrape itself must not fail
        db.session.rollback()
        return []
    finally:
        db.session.remove()
    for tracker_id, provider, polled, count in rows:
        size.add_metric([str(tracker_id), provider], count)
        if polled is not None:
            age.add_metric([str(tracker_id), provider], max(0.0, (now - polled).total_seconds()))
    return [size, age]


def _sync_links():
    """sync_links per state, read at scrape time."""
    from sqlalchemy import func, select

    from api.extensions import db
    from api.models.sync import SyncLink

    family = GaugeMetricFamily("sync_links", "Sync links per state", labels=["state"])
    try:
        counts = dict(db.session.execute(select(SyncLink.state, func.count()).group_by(SyncLink.state)).all())
    except Exception:  # no database, no gauge: the scrape itself must not fail
        db.session.rollback()
        return []
    finally:
        db.session.remove()
    for state in sorted({"ok", "pending", "error", "conflict", *counts}):
        family.add_metric([state], counts.get(state, 0))
    return [family]


def _queue_depth():
    """jobs_queue_depth, read from the job table at scrape time (one number for every process)."""
    from api.extensions import db
    from api.jobs import QUEUE_AUTOMATIONS, QUEUE_OUTBOUND, QUEUE_WEBHOOKS, queue_depth

    family = GaugeMetricFamily("jobs_queue_depth", "Background jobs waiting to run", labels=["queue"])
    try:
        depth = queue_depth(db.session)
    except Exception:  # no database, no gauge: the scrape itself must not fail
        db.session.rollback()
        return None
    finally:
        db.session.remove()
    for queue in sorted({QUEUE_WEBHOOKS, QUEUE_AUTOMATIONS, QUEUE_OUTBOUND, *depth}):
        family.add_metric([queue], depth.get(queue, 0))
    return family


@metrics.get("/metrics")
def scrape():
    """Prometheus scrape endpoint (all uwsgi workers aggregated)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY as registry
    output = generate_latest(registry)
    families = [family for family in [_queue_depth()] if family is not None] + _index_gauges() + _sync_links()
    if families:
        extra = CollectorRegistry()
        extra.register(type("ScrapeTime", (), {"collect": lambda self: families})())
        output += generate_latest(extra)
    return Response(output, mimetype=CONTENT_TYPE_LATEST)


def init_metrics(app):
    app.register_blueprint(metrics)

    @app.before_request
    def _start_timer():
        g.metrics_started = time.perf_counter()

    # Labelled children by (method, route, status): labels() validates and locks on every call.
    children = {}

    @app.after_request
    def _record(response):
        started = g.pop("metrics_started", None)
        if started is not None and request.endpoint != "metrics.scrape":
            key = (request.method, request.url_rule.rule if request.url_rule else "unmatched", response.status_code)
            pair = children.get(key)
            if pair is None:
                pair = (http_requests.labels(key[0], key[1], str(key[2])), http_duration.labels(key[0], key[1]))
                if len(children) < 1000:  # routes x methods x statuses; odd methods from clients are not kept
                    children[key] = pair
            pair[0].inc()
            pair[1].observe(time.perf_counter() - started)
        return response

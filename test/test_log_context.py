"""Every application log line, tracebacks included, names the request it belongs to, or the job."""

import contextlib
import io
import json
import logging

import pytest

from api.jobs import run_worker
from test.test_webhook_replay import _opened
from test.test_webhooks import deliver_github


@contextlib.contextmanager
def gateway_log_lines():
    """The JSON lines the app's own log handler writes while the block runs."""
    # The test database's in-process migration (alembic's fileConfig) replaced the root handlers; an app built
    # afterwards installs the gateway's handler again, as every server and worker process does at start.
    (handler,) = [h for h in logging.getLogger().handlers if getattr(h, "_gateway", False)]
    stream, lines = io.StringIO(), []
    previous = handler.setStream(stream)
    try:
        yield lines
    finally:
        handler.setStream(previous)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines() if line.strip())


@pytest.mark.spec_exempt("a probe route added by the test, not an operation of the API")
def test_a_log_line_and_a_traceback_written_inside_a_request_carry_its_request_id(make_app, auth):
    user = auth.register()
    app = make_app()
    client = app.test_client()

    def failing_view():
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("api.services.anything").exception("it failed")
        logging.getLogger("api.services.anything").warning("and went on")
        return {"ok": True}

    app.add_url_rule("/api/v1/_log_probe", "log_probe", failing_view)
    with gateway_log_lines() as lines:
        response = client.get("/api/v1/_log_probe", headers={**user.headers, "X-Request-ID": "req-42"})
    assert response.status_code == 200
    mine = [line for line in lines if line["logger"] == "api.services.anything"]
    assert [line["message"] for line in mine] == ["it failed", "and went on"]
    assert all(line["request_id"] == "req-42" for line in mine)
    assert "ValueError: boom" in mine[0]["exception"]


def test_a_log_line_written_inside_a_job_carries_the_job_id_and_task(make_app, client, db, github):
    deliver_github(client, github, "issues", _opened(), delivery="job-log")
    app = make_app()
    with gateway_log_lines() as lines:
        run_worker(app, concurrency=1, wait=False)
    processed = [line for line in lines if line["logger"] == "api.services.webhooks" and "processed" in line["message"]]
    assert processed, [line["message"] for line in lines]
    assert isinstance(processed[0]["job_id"], int) and processed[0]["task"] == "gateway:process_delivery"
    assert "request_id" not in processed[0]

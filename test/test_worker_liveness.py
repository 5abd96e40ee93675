"""The worker's liveness signal: a heartbeat file touched only while the worker progresses, and its probe."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from api import jobs
from api.jobs import run_worker
from api.liveness import Heartbeat, worker_alive
from config import BASE_DIR


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _probe(*args, env=None):
    """Run the probe as Kubernetes does: `python manage.py worker-alive ...` in a fresh process."""
    return subprocess.run(
        [sys.executable, "manage.py", "worker-alive", *args],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


@contextmanager
def worker_process(database_url, log_path, concurrency, **settings):
    """`manage.py worker` on the test database in a process group of its own, logging to `log_path`; killed on exit."""
    env = {
        **os.environ,
        "APP_CONFIGURATION": "testing",
        "TEST_DATABASE_URL": database_url,
        "PYTHONPATH": str(BASE_DIR),
        **settings,
    }
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "worker", "--concurrency", str(concurrency)],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield worker
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def _age(path, seconds):
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


def test_worker_alive_probe_passes_for_a_fresh_heartbeat(tmp_path):
    path = tmp_path / "heartbeat"
    path.touch()
    assert _probe("--file", str(path), "--max-age", "60").returncode == 0
    assert _probe("--max-age", "60", env={"WORKER_HEARTBEAT_FILE": str(path)}).returncode == 0


def test_worker_alive_probe_fails_for_a_stale_heartbeat(tmp_path):
    path = tmp_path / "heartbeat"
    path.touch()
    _age(path, 120)
    result = _probe("--file", str(path), "--max-age", "60")
    assert result.returncode == 1
    assert "last heartbeat" in result.stderr


def test_worker_alive_probe_fails_without_a_heartbeat_file(tmp_path):
    result = CliRunner().invoke(worker_alive, ["--file", str(tmp_path / "missing")])
    assert result.exit_code == 1
    assert "no heartbeat file" in result.output


def test_heartbeat_touches_the_file_while_the_loop_ticks_and_jobs_are_within_their_deadline(tmp_path):
    clock = FakeClock()
    heartbeat = Heartbeat(tmp_path / "heartbeat", interval=10, job_deadline=300, clock=clock)
    heartbeat.tick()
    assert heartbeat.beat()
    _age(heartbeat.path, 120)
    clock.now += 25
    assert heartbeat.beat()
    assert time.time() - heartbeat.path.stat().st_mtime < 60


def test_heartbeat_stops_when_the_event_loop_is_stuck(tmp_path):
    clock = FakeClock()
    heartbeat = Heartbeat(tmp_path / "heartbeat", interval=10, clock=clock)
    heartbeat.tick()
    assert heartbeat.beat()
    _age(heartbeat.path, 120)
    clock.now += 31  # three ticks missed
    assert not heartbeat.beat()
    assert "event loop" in heartbeat.problem()
    assert time.time() - heartbeat.path.stat().st_mtime > 100
    heartbeat.tick()
    assert heartbeat.beat()


def test_heartbeat_stops_while_a_job_runs_past_its_deadline_and_resumes_after_it(tmp_path):
    clock = FakeClock()
    heartbeat = Heartbeat(tmp_path / "heartbeat", interval=10, job_deadline=300, clock=clock)
    context = SimpleNamespace(job=SimpleNamespace(task_name="gateway:run_automation"))

    async def scenario():
        release = asyncio.Event()
        outcomes = []

        async def hung_job():
            await release.wait()
            return "done"

        job = asyncio.create_task(heartbeat.track_job(hung_job, context, None))
        await asyncio.sleep(0)
        for _ in range(40):  # 400 s of fake time; the loop keeps ticking, the job does not finish
            clock.now += 10
            heartbeat.tick()
            outcomes.append(heartbeat.beat())
            await asyncio.sleep(0)
        problem = heartbeat.problem()
        release.set()
        assert await job == "done"
        return outcomes, problem

    outcomes, problem = asyncio.run(scenario())
    assert outcomes[:29] == [True] * 29  # within the 300 s deadline
    assert outcomes[-1] is False
    assert "gateway:run_automation" in problem and "deadline 300" in problem
    assert heartbeat.beat()  # the job ended: alive again


def test_a_failing_job_is_no_longer_tracked(tmp_path):
    clock = FakeClock()
    heartbeat = Heartbeat(tmp_path / "heartbeat", job_deadline=300, clock=clock)
    context = SimpleNamespace(job=SimpleNamespace(task_name="gateway:send_outbound"))

    async def failing():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        asyncio.run(heartbeat.track_job(failing, context, None))
    clock.now += 1000
    heartbeat.tick()
    assert heartbeat.beat()


def test_worker_reports_every_job_it_runs_to_the_heartbeat(make_app, db, tmp_path):
    seen = []

    class RecordingHeartbeat(Heartbeat):
        async def track_job(self, call_next, context, worker):
            seen.append(context.job.task_name)
            return await super().track_job(call_next, context, worker)

    jobs.enqueue(db.session, "gateway:process_delivery", queue=jobs.QUEUE_WEBHOOKS, delivery_id=424242)
    db.session.commit()
    heartbeat = RecordingHeartbeat(tmp_path / "heartbeat", interval=0.05)
    try:
        run_worker(make_app(), concurrency=1, wait=False, heartbeat=heartbeat)
    finally:
        heartbeat.stop()
    assert "gateway:process_delivery" in seen
    assert heartbeat.path.exists()


def test_running_worker_keeps_its_heartbeat_fresh_and_a_frozen_one_goes_stale(database_url, app, tmp_path):
    path = tmp_path / "heartbeat"
    settings = {"WORKER_HEARTBEAT_FILE": str(path), "WORKER_HEARTBEAT_SECONDS": "0.2"}
    with worker_process(database_url, tmp_path / "worker.log", 1, **settings) as worker:
        deadline = time.monotonic() + 60
        while _probe("--file", str(path), "--max-age", "2").returncode != 0:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the worker never wrote a fresh heartbeat"
            time.sleep(0.2)
        _age(path, 120)
        deadline = time.monotonic() + 60
        while _probe("--file", str(path), "--max-age", "2").returncode != 0:  # touched again by the worker
            assert time.monotonic() < deadline, "the worker stopped refreshing its heartbeat"
            time.sleep(0.2)

        os.killpg(worker.pid, signal.SIGSTOP)  # a hung process: nothing in it runs any more
        deadline = time.monotonic() + 60
        while _probe("--file", str(path), "--max-age", "2").returncode == 0:
            assert time.monotonic() < deadline, "a frozen worker's heartbeat stayed fresh"
            time.sleep(0.5)

"""A web worker imports only what serving requests needs: the job queue library stays with the job workers, and a
tracker client library loads when a tracker of its provider is first used."""

import os
import subprocess
import sys
import textwrap

from cryptography.fernet import Fernet

from config import BASE_DIR

WEB_WORKER = textwrap.dedent("""
    import sys
    import wsgi  # what uwsgi loads
    from api import jobs

    print("web", "procrastinate" in sys.modules)
    print("clients", " ".join(name for name in ("github", "gitlab", "jira", "trello") if name in sys.modules) or "-")
    from api.trackers.base import TrackerConfig
    from api.trackers.registry import provider_class
    provider_class("github")(TrackerConfig(tracker_id=1, target="o/r", credentials={"token": "t"}))._client()
    print("used", " ".join(name for name in ("github", "gitlab", "jira", "trello") if name in sys.modules))
    jobs.enqueue  # enqueueing is plain SQL: still no procrastinate
    print("enqueue", "procrastinate" in sys.modules)
    job_app = jobs.create_job_app(wsgi.application)  # what `manage.py worker` does
    print("worker", "procrastinate" in sys.modules)
    print("tasks", " ".join(sorted(job_app.tasks)))
    print("periodic", " ".join(sorted(t.task.name for t in job_app.periodic_registry.periodic_tasks.values())))
""")


def run_production_process(code):
    env = {
        **os.environ,
        "APP_CONFIGURATION": "production",
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
        "SECRET_KEY": "s" * 40,
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PYTHONPATH": str(BASE_DIR),
    }
    result = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)


def test_web_worker_imports_neither_procrastinate_nor_unused_tracker_clients_and_job_worker_registers_every_task():
    seen = run_production_process(WEB_WORKER)
    assert seen["web"] == "False"
    assert seen["clients"] == "-"
    assert seen["used"] == "github"
    assert seen["enqueue"] == "False"
    assert seen["worker"] == "True"
    tasks = set(seen["tasks"].split())
    assert {
        "gateway:process_delivery",
        "gateway:run_automation",
        "gateway:send_outbound",
        "gateway:retry_stalled_jobs",
        "gateway:refresh_index",
        "gateway:poll_tracker",
    } <= tasks
    assert "gateway:retry_stalled_jobs" in seen["periodic"].split()
    assert "gateway:schedule_polls" in seen["periodic"].split()

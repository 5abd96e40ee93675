"""Provider fakes (test/fakes) in their own processes (no GIL shared with the client), seeded and steered over HTTP.

`fake_processes("github", 3)` yields three base URLs; `seed()`, `control()` and `recorded_requests()` talk to one.
"""

import contextlib
import signal
import subprocess
import sys

import requests

from bench.harness import ROOT
from bench.harness.server import stop_processes

TOKEN = "ghp_reliability00000000000000000000000000"
REPO = "rel-org/app"


@contextlib.contextmanager
def fake_processes(name, count=1):
    """Start `count` fakes of provider `name` on ephemeral 127.0.0.1 ports; yields their base URLs."""
    code = f"from test.fakes import serve; serve({name!r})"
    processes, urls = [], []
    try:
        for _ in range(count):
            process = subprocess.Popen(
                [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
            )
            processes.append(process)
            line = process.stdout.readline().strip()
            if not line.startswith("http://127.0.0.1:"):
                raise RuntimeError(f"the {name} fake did not start (exit {process.poll()})")
            urls.append(line)
        yield urls
    finally:
        stop_processes(processes, signal.SIGINT, timeout=10)  # serve() stops on KeyboardInterrupt
        for process in processes:
            process.stdout.close()


def seed(base_url, operations):
    """Apply seeding operations, e.g. [{"op": "add_repo", "args": {"full_name": "o/r"}}]; returns their results."""
    response = requests.post(f"{base_url}/_fake/seed", json=list(operations), timeout=60)
    response.raise_for_status()
    return response.json()


def control(base_url, **knobs):
    """Set knobs, e.g. control(url, latency=0.1, rate_limit={"limit": 1000000})."""
    response = requests.post(f"{base_url}/_fake/control", json=knobs, timeout=10)
    response.raise_for_status()
    return response.json()


def recorded_requests(base_url):
    """The provider requests the fake received so far."""
    response = requests.get(f"{base_url}/_fake/requests", timeout=30)
    response.raise_for_status()
    return response.json()


def repo_ops(repo, login, issues=()):
    """Seeding operations: `repo` with `login` as its admin, and one issue per dict of add_issue's other arguments."""
    return [
        {"op": "add_repo", "args": {"full_name": repo}},
        {"op": "add_member", "args": {"full_name": repo, "login": login, "permission": "admin"}},
        *({"op": "add_issue", "args": {"full_name": repo, **issue}} for issue in issues),
    ]


def seed_github_fake(url, *, issues=30, repo=REPO):
    """An admin token, one repository with `issues` issues, and a quota high enough for a long run."""
    control(url, rate_limit={"limit": 100_000_000})
    seeded = [
        {"title": f"Issue {n}", "body": "Seeded for the reliability runs. " * 10, "labels": ["bug"]} for n in range(1, issues + 1)
    ]
    seed(url, [{"op": "add_token", "args": {"token": TOKEN, "login": "rel-bot"}}, *repo_ops(repo, "rel-bot", seeded)])

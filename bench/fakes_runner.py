"""Provider fakes (test/fakes) for the benchmarks, each in its own process so that it shares no GIL with the client.

`fake_processes("github", 3)` yields three base URLs; seed and steer them over HTTP with `seed()` and `control()`.
"""

import contextlib
import signal
import subprocess
import sys

import requests

from bench.common import ROOT


@contextlib.contextmanager
def fake_processes(name, count=1):
    """Start `count` fakes of provider `name` on ephemeral 127.0.0.1 ports; yields their base URLs."""
    code = f"from test.fakes import serve; serve({name!r})"
    processes, urls = [], []
    try:
        for _ in range(count):
            process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                                       start_new_session=True)
            processes.append(process)
            line = process.stdout.readline().strip()
            if not line.startswith("http://127.0.0.1:"):
                raise RuntimeError(f"the {name} fake did not start (exit {process.poll()})")
            urls.append(line)
        yield urls
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)  # serve() stops on KeyboardInterrupt
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
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


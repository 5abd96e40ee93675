"""Shared benchmark machinery: an embedded database, uwsgi under the committed uwsgi.ini, wrk, RSS, the docs."""

import contextlib
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
PERFORMANCE_DOC = ROOT / "docs" / "PERFORMANCE.md"
VENV_BIN = Path(sys.executable).parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def database():
    """DATABASE_URL if set, else a throwaway embedded PostgreSQL."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    sys.path.insert(0, str(ROOT / "scripts"))
    import embedded_pg

    pgdata = tempfile.mkdtemp(prefix="tg-bench-")
    try:
        yield embedded_pg.start(pgdata)
    finally:
        embedded_pg.stop(pgdata)
        shutil.rmtree(pgdata, ignore_errors=True)


def app_env(database_url, **extra):
    """Production settings with throwaway secrets."""
    env = dict(os.environ)
    env.update(
        APP_CONFIGURATION="production",
        DATABASE_URL=database_url,
        SECRET_KEY="bench-secret-key-" + "x" * 32,
        ENCRYPTION_KEYS="fF1Yk6m9lZ5V4sX8cN2q7hT3wJ0bR6eA1uI9oP4dG2s=",
        VIRTUAL_ENV=str(VENV_BIN.parent),
        PYTHONPATH=str(ROOT),
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env


@contextlib.contextmanager
def uwsgi(env, *, module=None, ready_path="/healthz", log_path=None, extra_args=()):
    """Serve under the committed uwsgi.ini (optionally another WSGI module, other options); yields (base_url, master_pid)."""
    port = free_port()
    env = {**env, "HOST": "127.0.0.1", "PORT": str(port)}
    metrics_dir = tempfile.mkdtemp(prefix="tg-metrics-")
    env.setdefault("PROMETHEUS_MULTIPROC_DIR", metrics_dir)
    command = [str(VENV_BIN / "uwsgi"), "--ini", str(ROOT / "uwsgi.ini")]
    if module:
        command += ["--module", module]
    command += list(extra_args)
    log = open(log_path or os.devnull, "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(base_url + ready_path, timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"uwsgi did not start (exit {process.poll()}); see {log_path or 'its log'}")
            time.sleep(0.2)
        yield base_url, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def require_wrk():
    if not shutil.which("wrk"):
        sys.exit("wrk is required: apt-get install wrk")


def _ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url, *, connections=32, threads=2, seconds=15, headers=None, script=None):
    """Run wrk with --latency; returns requests/s, p50/p99 in ms, errors."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if script:
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", output, re.MULTILINE))

    def parse(key):
        number, unit = re.match(r"([\d.]+)(\w+)", latency[key]).groups()
        return _ms(number, unit)

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    total = re.search(r"(\d+) requests in", output)
    return {
        "requests": int(total.group(1)) if total else 0,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": parse("50"),
        "p99_ms": parse("99"),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
        "raw": output,
    }


def worker_rss_mb(master_pid):
    """Resident memory of each uwsgi worker (the master's children, minus the HTTP router), in MB."""
    children = subprocess.run(["ps", "-o", "pid=,rss=,args=", "--ppid", str(master_pid)],
                              capture_output=True, text=True).stdout.splitlines()
    sizes = []
    for line in children:
        _pid, rss, args = line.split(None, 2)
        if "uWSGI http" not in args:
            sizes.append(int(rss) / 1024)
    return sizes


def write_section(name, markdown):
    """Replace (or append) the section between `<!-- bench:NAME -->` markers in docs/PERFORMANCE.md."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    text = PERFORMANCE_DOC.read_text() if PERFORMANCE_DOC.exists() else "# Performance\n"
    block = f"{start}\n{markdown.strip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.DOTALL)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    PERFORMANCE_DOC.write_text(text)


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    niceness = os.nice(0)
    # On a machine shared with other work, a bench may run at a higher priority (nice -n -10): said beside its figures.
    priority = f", run at nice {niceness} (its processes ahead of the machine's other work)" if niceness else ""
    return f"{os.cpu_count()} cores ({cpu}), Python {sys.version.split()[0]}{priority}"


def migrate(env):
    """Apply the migrations to the benchmark database."""
    subprocess.run([sys.executable, "manage.py", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)


def register_and_login(base_url, username, password="bench-password-123"):  # noqa: S107 - throwaway user
    """Register a user through the API and return a JWT for it."""
    api = base_url + "/api/v1/users"
    response = requests.post(f"{api}/register", json={"username": username, "password": password}, timeout=30)
    if response.status_code != 201:
        raise RuntimeError(f"register {username}: {response.status_code} {response.text[:300]}")
    response = requests.post(f"{api}/login", json={"username": username, "password": password}, timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"login {username}: {response.status_code} {response.text[:300]}")
    return response.json()["token"]


def percentile(samples, pct):
    """The pct-th percentile (nearest rank) of a list of numbers."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


RELIABILITY_DOC = ROOT / "docs" / "RELIABILITY.md"


def write_doc_section(doc, name, markdown, *, marker="bench", title="# Performance"):
    """write_section for any document: replace (or append) the section between `<!-- MARKER:NAME -->` markers.

    A document that does not exist yet starts with `title`.
    """
    doc = Path(doc)
    start, end = f"<!-- {marker}:{name} -->", f"<!-- /{marker}:{name} -->"
    text = doc.read_text() if doc.exists() else title.rstrip() + "\n"
    block = f"{start}\n{markdown.strip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.DOTALL)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.write_text(text)


def process_tree_cpu_seconds(root_pid):
    """User + system CPU seconds of a process and all its descendants (threads included), from /proc.

    A process's reaped children count too (cutime, cstime): without them the total drops whenever a child exits
    (a PostgreSQL backend, a recycled worker), and a window's difference can come out negative."""
    children = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append((int(entry.name), sum(map(int, fields[11:15]))))
    ticks, stack = 0, [root_pid]
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{root_pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += sum(map(int, fields[11:15]))
    while stack:
        for pid, own in children.get(stack.pop(), []):
            ticks += own
            stack.append(pid)
    return ticks / os.sysconf("SC_CLK_TCK")


def uwsgi_layout():
    """(processes, threads) the committed uwsgi.ini starts on this machine (%k is the number of cores)."""
    settings = dict(re.findall(r"^(processes|threads)\s*=\s*(.+?)\s*$", (ROOT / "uwsgi.ini").read_text(), re.MULTILINE))
    cores = os.cpu_count() or 1

    def value(text):
        text = text.replace("%k", str(cores))
        match = re.fullmatch(r"%\((.+)\)", text)
        expression = match.group(1) if match else text
        if not re.fullmatch(r"[\d\s*+]+", expression):
            raise ValueError(f"uwsgi.ini: cannot read {text!r}")
        return int(eval(expression))  # noqa: S307 - digits, spaces, * and + only (checked above)

    return value(settings["processes"]), value(settings["threads"])


def uwsgi_layout_text():
    processes, threads = uwsgi_layout()
    return f"{processes} processes x {threads} threads"

"""Reporting: the machine and code a run measured, and sections of docs/PERFORMANCE.md and docs/RELIABILITY.md."""

import io
import os
import pstats
import re
import subprocess
import sys
from pathlib import Path

from bench.harness import ROOT

PERFORMANCE_DOC = ROOT / "docs" / "PERFORMANCE.md"
RELIABILITY_DOC = ROOT / "docs" / "RELIABILITY.md"
RELIABILITY_TITLE = "# Reliability\n\nLoad and fault runs of the gateway; each section is written by its script in bench/."


def write_section(name, markdown, *, doc=PERFORMANCE_DOC, marker="bench", title="# Performance"):
    """Replace (or append) the section between `<!-- MARKER:NAME -->` markers in `doc` (one that does not exist yet
    starts with `title`)."""
    doc = Path(doc)
    start, end = f"<!-- {marker}:{name} -->", f"<!-- /{marker}:{name} -->"
    text = doc.read_text() if doc.exists() else title.rstrip() + "\n"
    block = f"{start}\n{markdown.strip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.DOTALL)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.write_text(text)


def check_lines(checks):
    """One '- name: met' (or '**not met**') line per check."""
    return [f"- {name}: {'met' if ok else '**not met**'}" for name, ok in checks.items()]


def conclude_reliability(section, heading, lines, checks, args, logs):
    """Print a reliability run's report (its lines, the checks, how to repeat it: this script with the options it ran
    with, and where its `logs` are), write its section of docs/RELIABILITY.md unless `--no-doc`, and return the exit
    status (0 when every check is met)."""
    command = " ".join(
        f"--{flag.replace('_', '-')} {value:g}" if isinstance(value, float) else f"--{flag.replace('_', '-')} {value}"
        for flag, value in vars(args).items()
        if not isinstance(value, bool)
    )
    module = Path(sys.argv[0]).stem
    report = "\n".join([*lines, *check_lines(checks), "", f"Repeat: `.venv/bin/python -m bench.{module} {command}` ({logs})"])
    print(report)
    if not args.no_doc:
        write_section(section, heading + "\n\n" + report, doc=RELIABILITY_DOC, marker="reliability", title=RELIABILITY_TITLE)
    return 0 if all(checks.values()) else 1


def machine():
    model = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    cpu = model.group(1).strip() if model else "unknown CPU"
    niceness = os.nice(0)
    # On a machine shared with other work, a bench may run at a higher priority (nice -n -10): said beside its figures.
    standing = "ahead of" if niceness < 0 else "behind"
    priority = f", run at nice {niceness} (its processes {standing} the machine's other work)" if niceness else ""
    return f"{os.cpu_count()} cores ({cpu}), Python {sys.version.split()[0]}{priority}"


def _git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def code_version():
    """The commit the app code was at (and whether api/, config.py or uwsgi.ini had uncommitted changes)."""
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain", "--", "api", "config.py", "uwsgi.ini", "wsgi.py", "manage.py")
    return f"commit {commit or 'unknown'}" + (" with uncommitted app changes" if dirty else "")


def run_intro(version, cpu, what=""):
    """A reliability report's first line: when (and `what` ran), where, which code, what else the machine was doing."""
    shared = (
        "2 cores shared by the load generator (Python, same machine), uwsgi, PostgreSQL, the job workers and "
        "the provider fakes, and possibly by other processes running on the machine at the same time"
    )
    return f"Run {cpu.started}{what} on {machine()}; {shared}. App code: {version}. During this run {cpu.describe()}."


def print_profile(profiler, lines, sorts=("cumulative", "tottime")):
    """The `lines` most expensive calls of a cProfile run, by each of `sorts` (cumulative, then own time)."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    for key in sorts:
        stats.sort_stats(key).print_stats(lines)
    print(out.getvalue())

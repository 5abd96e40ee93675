"""Polling and the local index: 5,000 issues across 10 GitHub-fake trackers.

Measures, in one process against an embedded PostgreSQL and the GitHub fake over real HTTP:
- the poll cost per tracker per cycle (requests, the gateway thread's CPU, wall time) for the baseline, an unchanged
  cycle (conditional requests) and a cycle with 5 changed issues per tracker;
- `GET /api/v1/issues?source=index&q=...` p50/p99 against the live fan-out `GET /api/v1/issues?q=...`.

Run: .venv/bin/python -m bench.poll_bench [options]
  --write  put the figures in docs/PERFORMANCE.md
"""

import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

from bench.harness import options
from bench.harness.db import database
from bench.harness.inproc import login_headers, testing_app
from bench.harness.measure import stats, timed
from bench.harness.report import write_section

TRACKERS, ISSUES_PER_TRACKER, CHANGED_PER_TRACKER = 10, 500, 5
HEADING = "## Polling and the local index (issue 15)"
UNCHANGED, FIRST = "unchanged", "first incremental (nothing changed)"
WORDS = ("crash", "login", "export", "dark mode", "typo", "timeout", "upload", "search", "unicode", "billing")


def _core_used(fake):
    """The fake's core rate limit spent so far (asking is free; the request is logged by the fake)."""
    import requests

    response = requests.get(f"{fake.base_url}/rate_limit", headers={"Authorization": "token gh-token"}, timeout=10)
    return response.json()["resources"]["core"]["used"]


def _timed(client, url, headers, rounds):
    """p50, p99 and count of `rounds` GETs of `url`, each answered 200."""

    def get():
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_json()

    return stats([timed(get) for _ in range(rounds)])


def run():
    from api.extensions import db
    from api.services import polling
    from test.fakes.github import GitHubFake

    results = {}
    with database() as url, GitHubFake() as fake:
        app = testing_app(url, TRACKER_TIMEOUT_SECONDS=30.0, TRACKER_FANOUT_TIMEOUT_SECONDS=60.0)
        client = app.test_client()
        headers = login_headers(client, "bench")
        fake.add_token("gh-token", login="octocat")
        tracker_ids = []
        long_ago = datetime.now(UTC) - timedelta(days=3)
        for n in range(TRACKERS):
            repo = f"octocat/repo{n}"
            fake.add_repo(repo)
            for i in range(ISSUES_PER_TRACKER):
                word = WORDS[(n + i) % len(WORDS)]
                # Last touched days ago, as most issues of a real tracker are (outside the poll's overlap window).
                fake.add_issue(
                    repo,
                    f"{word.capitalize()} issue {i} in {repo}",
                    body=f"Steps for {word} number {i}",
                    labels=["bug"] if i % 3 == 0 else [],
                    created_at=long_ago - timedelta(minutes=i),
                )
            response = client.post(
                "/api/v1/trackers/",
                headers=headers,
                json={
                    "name": f"repo{n}",
                    "provider": "github",
                    "target": repo,
                    "base_url": fake.base_url,
                    "credentials": {"token": "gh-token"},
                },
            )
            tracker_ids.append(response.get_json()["id"])

        def cycle(label):
            requests, spent, cpu, wall, events = [], [], [], [], 0
            with app.app_context():
                for tracker_id in tracker_ids:
                    used = _core_used(fake)
                    before = len(fake.requests)
                    started, cpu_started = time.perf_counter(), time.thread_time()
                    result = polling.poll_tracker(session=db.session, tracker_id=tracker_id)
                    cpu.append((time.thread_time() - cpu_started) * 1000)
                    wall.append((time.perf_counter() - started) * 1000)
                    requests.append(len(fake.requests) - before)
                    spent.append(_core_used(fake) - used)  # answered 200: a 304 spends no rate limit
                    events += result["events"]
                    db.session.remove()
            results[label] = {
                "requests": statistics.mean(requests),
                "spent": statistics.mean(spent),
                "cpu_ms": statistics.mean(cpu),
                "wall_ms": statistics.mean(wall),
                "events": events,
            }

        cycle(f"baseline ({ISSUES_PER_TRACKER} issues)")
        cycle(FIRST)
        cycle(UNCHANGED)
        for n in range(TRACKERS):
            with fake.lock:
                repo = fake.state.repos[f"octocat/repo{n}".lower()]
                for number in range(1, CHANGED_PER_TRACKER + 1):
                    issue = repo.issues[number]
                    issue.title += " (edited)"
                    issue.updated_at = datetime.now(UTC).replace(microsecond=0)
        cycle(f"{CHANGED_PER_TRACKER} issues changed")

        results["index"] = _timed(client, "/api/v1/issues?source=index&q=crash&limit=20", headers, 200)
        results["live"] = _timed(client, "/api/v1/issues?q=crash&limit=20", headers, 30)
    return results


def render(results):
    lines = [
        HEADING,
        "",
        f"`bench/poll_bench.py`: {TRACKERS} GitHub-fake trackers x {ISSUES_PER_TRACKER} issues = "
        f"{TRACKERS * ISSUES_PER_TRACKER:,} issues; the app in-process (Flask test client, no HTTP server in "
        "front), an embedded PostgreSQL, the fake over real HTTP on the same 2-core machine. CPU is the gateway "
        "thread's own (the fake's threads excluded).",
        "",
        f"Poll cost per tracker per cycle (means over the {TRACKERS} trackers; a request answered 304 spends no rate limit):",
        "",
        "| cycle | requests | rate limit spent | gateway CPU ms | wall ms | events (all trackers) |",
        "|---|---|---|---|---|---|",
    ]
    for label, row in results.items():
        if label in ("index", "live"):
            continue
        lines.append(
            f"| {label} | {row['requests']:.1f} | {row['spent']:.1f} | {row['cpu_ms']:.1f} | {row['wall_ms']:.1f} "
            f"| {row['events']} |"
        )
    index, live = results["index"], results["live"]
    lines += [
        "",
        f"`GET /api/v1/issues?q=crash&limit=20` over the {TRACKERS} trackers:",
        "",
        "| source | p50 ms | p99 ms | requests |",
        "|---|---|---|---|",
        f"| index (PostgreSQL full-text) | {index['p50']:.1f} | {index['p99']:.1f} | {index['n']} |",
        f"| live (fan-out to {TRACKERS} trackers' search) | {live['p50']:.1f} | {live['p99']:.1f} | {live['n']} |",
        "",
        _cost(results[UNCHANGED], results[FIRST]),
        "",
    ]
    return "\n".join(lines)


def _cost(unchanged, first):
    """The closing sentence, from the measured means."""
    answered_304 = unchanged["requests"] - unchanged["spent"]
    return (
        f"An unchanged cycle costs {unchanged['requests']:.1f} requests per tracker, {answered_304:.1f} of them "
        f"answered 304 by GitHub's conditional requests: {unchanged['spent']:.1f} requests of rate limit spent. "
        f"The first incremental cycle asks its new URLs (`since=`) once unconditionally: "
        f"{first['requests']:.1f} requests, {first['spent']:.1f} spent."
    )


def main(argv=None):
    args = options(__doc__).parse_args(argv)
    section = render(run())
    sys.stdout.write(section + "\n")
    if args.write:
        write_section("poll", section)


if __name__ == "__main__":
    main()

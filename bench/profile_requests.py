"""In-process cost of one request (Flask test client, production config): time, SQL round trips, a profile.

Run: .venv/bin/python -m bench.profile_requests [options]
  --requests 2000     requests per measured endpoint (in 10 batches), per breakdown and per profile
  --breakdown         where an authenticated request's CPU goes
  --profile           print a cProfile of the offers list
  --callgrind-loop 0  only run this many offers requests after a warm-up (for valgrind)
  --write             also write the figures (with --breakdown) into docs/PERFORMANCE.md, section in-process
Load-independent figures for driving optimisation: the per-request CPU of the offers list against a bare
Flask hello, a breakdown of where it goes (cProfile, cumulative), and the SQL statements, transactions and
pool pings each request makes. `--callgrind-loop N` only runs N offers requests after a warm-up, for
`valgrind --tool=callgrind` (instruction counts do not move with the machine's load).
"""

import contextlib
import cProfile
import io
import os
import pstats
import sys
import time

from bench.harness import options
from bench.harness.db import database
from bench.harness.inproc import offer_owner, production_app
from bench.harness.measure import SqlCounter
from bench.harness.report import machine, print_profile, write_section

PROFILE_LINES = 45


def build(database_url):
    import logging

    app = production_app(database_url, LOG_REQUESTS="true")  # sets the environment: import the app's modules after
    from api.extensions import db

    logging.getLogger("api.access").handlers[:] = [logging.NullHandler()]
    logging.getLogger("api.access").propagate = False
    with app.app_context():
        user_id, token = offer_owner(db.session)
    return app, user_id, token


def timed(client, url, headers, count, batches=10):
    """CPU milliseconds per request: the fastest of `batches` batches (the least disturbed by other work)."""
    for _ in range(50):
        client.get(url, headers=headers)
    best = float("inf")
    size = max(1, count // batches)
    for _ in range(batches):
        started = time.process_time()
        for _ in range(size):
            response = client.get(url, headers=headers)
        best = min(best, time.process_time() - started)
        assert response.status_code == 200, response.data
    return best / size * 1000


# (label, file suffix, function name): cumulative time of these frames, as a share of the whole request.
PARTS = [
    ("JWT: header, decode and verify", "api/auth.py", "decode_token"),
    ("the caller's row (SQLAlchemy + round trip)", "api/auth.py", "load_user"),
    ("before-request hooks (request id, timers)", "flask/app.py", "preprocess_request"),
    ("after-request hooks (access log, metrics, headers, limiter)", "flask/app.py", "process_response"),
    ("session teardown (ROLLBACK, connection back to the pool)", "flask_sqlalchemy/extension.py", "_teardown_session"),
    ("JSON writing (RESTX representation)", "api/jsonfast.py", "output_json"),
    ("handler: offers list query", "api/services/offers.py", "list_user_offers"),
    ("handler: dump", "api/schemas/fastdump.py", "fast_dump"),
    ("handler: user dump", "marshmallow/schema.py", "dump"),
    ("query-string parsing (marshmallow load)", "api/resources/helpers.py", "load_query"),
]


def breakdown(client, url, headers, measured_ms, count, label):
    """Profile `count` requests and split the unprofiled CPU per request in proportion to the profiled frames.

    The profiler's clock is this process's CPU time, so time spent waiting for PostgreSQL is not counted.
    """
    with cProfile.Profile(time.process_time) as profiler:
        for _ in range(count):
            client.get(url, headers=headers)
    stats = pstats.Stats(profiler).stats
    total = sum(tottime for (_cc, _nc, tottime, _ct, _callers) in stats.values())
    print(f"\n{label}: {measured_ms:.3f} ms CPU per request, split by profile share")
    accounted = 0.0
    for name, suffix, function in PARTS:
        cumulative = max(
            (ct for (path, _line, func), (_cc, _nc, _tt, ct, _c) in stats.items() if path.endswith(suffix) and func == function),
            default=0.0,
        )
        if cumulative:
            share = cumulative / total
            accounted += share
            print(f"  {name:62s} {share * measured_ms:6.3f} ms ({share:5.1%})")
    print(
        f"  {'the rest (WSGI, routing, Flask/RESTX dispatch, test client)':62s} "
        f"{(1 - accounted) * measured_ms:6.3f} ms ({1 - accounted:5.1%})"
    )


def main():
    args = options(__doc__).parse_args()
    with contextlib.redirect_stdout(io.StringIO()) as captured:
        code = measure(args)
    print(captured.getvalue(), end="")
    if args.write:
        write_section(
            "in-process",
            (
                "## In-process cost of one request (load-independent)\n\n"
                f"Measured {time.strftime('%Y-%m-%d')} on {machine()}, 1-minute load average {os.getloadavg()[0]:.1f} "
                "at the end; the Flask test client in one process, production config, CPU time of that process only (the "
                "fastest of 10 batches), PostgreSQL round trips counted by SQLAlchemy events.\n\n```\n"
                + captured.getvalue().strip()
                + "\n```\n\nReproduce: `.venv/bin/python -m bench.profile_requests --breakdown --write`"
            ),
        )
    return code


def measure(args):
    with database() as database_url:
        app, user_id, token = build(database_url)
        url = f"/api/v1/users/{user_id}/offers/"
        headers = {"Authorization": f"Bearer {token}"}
        client = app.test_client()
        if args.callgrind_loop:
            for _ in range(100 + args.callgrind_loop):  # a warm-up, then the requests valgrind is meant to count
                client.get(url, headers=headers)
            return 0
        from api.extensions import db

        with app.app_context():
            counter = SqlCounter(db.engine)
        client.get(url, headers=headers)
        counter.reset()
        for _ in range(10):
            client.get(url, headers=headers)
        print("offers list:", counter.summary(10))
        for statement in dict.fromkeys(counter.statements):
            print("   ", " ".join(statement.split())[:160])
        counter.reset()
        client.get("/api/v1/users/me", headers=headers)
        print("GET /users/me:   ", counter.summary(1))
        from bench.hello import application as hello_app

        hello = hello_app.test_client()
        floor_ms = timed(hello, "/hello", {}, args.requests)
        offers_ms = timed(client, url, headers, args.requests)
        healthz_ms = timed(client, "/healthz", {}, args.requests)
        user_ms = timed(client, "/api/v1/users/me", headers, args.requests)
        print(
            f"CPU per request (process time, {args.requests} requests): hello {floor_ms:.3f} ms, "
            f"/healthz {healthz_ms:.3f} ms, GET /users/me {user_ms:.3f} ms, offers list {offers_ms:.3f} ms; "
            f"offers / hello {offers_ms / floor_ms:.1f}x"
        )
        if args.breakdown:
            breakdown(client, url, headers, offers_ms, args.requests, "offers list")
            breakdown(client, "/api/v1/users/me", headers, user_ms, args.requests, "GET /users/me")
        if args.profile:
            with cProfile.Profile() as profiler:
                for _ in range(args.requests):
                    client.get(url, headers=headers)
            print_profile(profiler, PROFILE_LINES)
    return 0


if __name__ == "__main__":
    sys.exit(main())

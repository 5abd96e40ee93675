"""The benchmark database: an embedded PostgreSQL (stopped and started on demand), queries and delivery counts."""

import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from bench.harness import ROOT


@contextlib.contextmanager
def database(*, fresh=False):
    """DATABASE_URL if set (unless `fresh`: the browser check creates users), else a throwaway embedded PostgreSQL."""
    if os.environ.get("DATABASE_URL") and not fresh:
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


class EmbeddedPostgres:
    """Stop and start the embedded PostgreSQL behind `database_url` (`database()`) with pg_ctl."""

    def __init__(self, database_url):
        from urllib.parse import parse_qs, urlsplit

        host = parse_qs(urlsplit(database_url).query).get("host", [""])[0]
        self.pgdata = Path(host)
        if not host or not (self.pgdata / "PG_VERSION").exists():
            raise SystemExit(
                "this check stops and starts the database: run it on the embedded PostgreSQL (leave DATABASE_URL unset)"
            )
        self.socket_dir = (self.pgdata / "postmaster.pid").read_text().splitlines()[4]
        self.user = "pgserver" if os.geteuid() == 0 else None

    def _pg_ctl(self, args):
        from pgserver._commands import pg_ctl

        pg_ctl(args, pgdata=self.pgdata, user=self.user, timeout=60)

    def stop(self):
        """Fast shutdown (open sessions are ended), waiting until the server is down."""
        self._pg_ctl(["-w", "-m", "fast", "stop"])

    def start(self):
        """Start with the options pgserver uses (socket only, no TCP), waiting until it accepts connections."""
        self._pg_ctl(["-w", "-o", f'-h "" -k {self.socket_dir}', "-l", str(self.pgdata / "log"), "start"])


def postmaster_pid(database_url):
    """The PostgreSQL server's main process (the parent of a backend), to count its CPU time."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        # Read while the connection is open: the backend process ends with it.
        return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])


def conninfo(database_url):
    scheme, _, rest = database_url.partition("://")
    return "postgresql://" + rest if scheme.startswith("postgres") else database_url


def query(database_url, sql, params=None):
    """All rows of one statement, on a fresh autocommit connection."""
    with psycopg.connect(conninfo(database_url), autocommit=True, connect_timeout=5) as connection:
        return connection.execute(sql, params).fetchall()


def scalar(database_url, sql, params=None):
    return query(database_url, sql, params)[0][0]


def delivery_state(database_url):
    """Deliveries by status, events, deliveries with other than one event, and jobs left in the queue."""
    return {
        "deliveries": dict(query(database_url, "SELECT status, count(*) FROM webhook_deliveries GROUP BY status")),
        "events": scalar(database_url, "SELECT count(*) FROM events"),
        "deliveries_with_events": scalar(database_url, "SELECT count(DISTINCT delivery_id) FROM events"),
        "deliveries_not_once": scalar(
            database_url, "SELECT count(*) FROM (SELECT delivery_id FROM events GROUP BY delivery_id HAVING count(*) <> 1) AS x"
        ),
        "jobs": dict(query(database_url, "SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY status")),
    }


def wait_for_drain(database_url, accepted, *, timeout, poll=1.0):
    """Wait until `accepted` deliveries are processed and no job is waiting or running; returns (state, seconds)."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(psycopg.OperationalError):
            state = delivery_state(database_url)
            busy = state["jobs"].get("todo", 0) + state["jobs"].get("doing", 0)
            if state["deliveries"].get("processed", 0) >= accepted and busy == 0:
                return state, time.monotonic() - started
        if time.monotonic() - started > timeout:
            return delivery_state(database_url), None
        time.sleep(poll)

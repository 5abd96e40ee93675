#!/usr/bin/env python
"""Embedded PostgreSQL (pgserver) for local runs and tests: `start DIR [DBNAME]` prints a URL, `stop DIR`."""

import logging
import sys
from pathlib import Path

logging.getLogger("pgserver").setLevel(logging.WARNING)


def start(pgdata, database="ticket_gateway"):
    """Start (or reuse) the server under `pgdata`, create `database` if needed, return its URL."""
    import warnings

    warnings.filterwarnings("ignore", module="platformdirs")
    import pgserver

    pgdata = Path(pgdata).resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    return server.get_uri(database)


def stop(pgdata):
    """Stop the server under `pgdata` if it runs (fast shutdown: open sessions are ended)."""
    import contextlib
    import os
    import subprocess

    from pgserver._commands import pg_ctl

    pgdata = Path(pgdata).resolve()
    if not (pgdata / "postmaster.pid").exists():
        return
    user = "pgserver" if os.geteuid() == 0 else None
    with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("start", "stop"):
        sys.exit("usage: embedded_pg.py start DIR [DBNAME] | stop DIR")
    if sys.argv[1] == "start":
        print(start(*sys.argv[2:4]))
    else:
        stop(sys.argv[2])

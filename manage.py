#!/usr/bin/env python
"""Management CLI: `python manage.py db upgrade`, `create-user NAME`, `demo-data`, `worker`, `worker-alive`."""

import sys

from flask.cli import FlaskGroup

from api import create_app

cli = FlaskGroup(create_app=create_app, help="Ticket Gateway management commands.")

if __name__ == "__main__":
    if sys.argv[1:2] == ["worker-alive"]:
        # The liveness probe runs every few seconds: it reads one file and needs no app (nor a database).
        from api.liveness import worker_alive

        worker_alive.main(sys.argv[2:], prog_name="manage.py worker-alive")
    cli()

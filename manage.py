#!/usr/bin/env python
"""Management CLI: `python manage.py db upgrade`, `create-user NAME`, `demo-data`, `worker`."""

from flask.cli import FlaskGroup

from api import create_app

cli = FlaskGroup(create_app=create_app, help="Ticket Gateway management commands.")

if __name__ == "__main__":
    cli()

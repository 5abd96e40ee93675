"""CLI commands on the app (`flask ...` and `python manage.py ...`)."""

import click
from marshmallow import ValidationError

from api.extensions import db


def register_commands(app):
    @app.cli.command("create-user")
    @click.argument("username")
    @click.password_option()
    def create_user(username, password):
        """Create a user (asks for the password)."""
        from api.schemas.users import register_schema
        from api.services import users as users_service

        try:
            data = register_schema.load({"username": username, "password": password})
            user = users_service.register(session=db.session, **data)
        except ValidationError as exc:
            raise click.ClickException(str(exc.messages)) from None
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc)
            raise click.ClickException(message) from None
        click.echo(f"created user {user.id} {user.username}")

    @app.cli.command("worker")
    @click.option("--concurrency", default=4, show_default=True, help="jobs run at once in this process")
    @click.option("--queue", "queues", multiple=True, help="only these queues (default: all)")
    def worker(concurrency, queues):
        """Run a background job worker (webhook processing, automations, outbound deliveries)."""
        from api.jobs import run_worker

        run_worker(app, concurrency=concurrency, queues=list(queues) or None)

    @app.cli.command("demo-data")
    @click.option("--username", default="demo", show_default=True)
    @click.option("--password", default="demo-password", show_default=True)
    def demo_data(username, password):
        """Create a demo user with a few offers (idempotent)."""
        from api.services import demo

        user, created = demo.load_demo_data(session=db.session, username=username, password=password)
        click.echo(f"demo user {user.username} (id {user.id}) {'created' if created else 'already present'}")

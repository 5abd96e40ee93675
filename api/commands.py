"""CLI commands on the app (`flask ...` and `python manage.py ...`)."""

import click
from marshmallow import ValidationError

from api import liveness
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
    @click.option(
        "--heartbeat-file",
        envvar="WORKER_HEARTBEAT_FILE",
        show_envvar=True,
        help="touch this file while the worker makes progress (for `worker-alive`); unset: no heartbeat",
    )
    @click.option(
        "--heartbeat-interval",
        envvar="WORKER_HEARTBEAT_SECONDS",
        show_envvar=True,
        show_default=True,
        default=liveness.DEFAULT_INTERVAL,
        type=click.FloatRange(min=0.01),
        help="seconds between heartbeats",
    )
    @click.option(
        "--job-deadline",
        envvar="WORKER_JOB_DEADLINE_SECONDS",
        show_envvar=True,
        show_default=True,
        default=liveness.DEFAULT_JOB_DEADLINE,
        type=click.FloatRange(min=0.01),
        help="a job running longer than this stops the heartbeat (the worker is then restarted)",
    )
    def worker(concurrency, queues, heartbeat_file, heartbeat_interval, job_deadline):
        """Run a background job worker (webhook processing, automations, outbound deliveries)."""
        from api.jobs import run_worker

        heartbeat = None
        if heartbeat_file:
            heartbeat = liveness.Heartbeat(heartbeat_file, interval=heartbeat_interval, job_deadline=job_deadline)
        run_worker(app, concurrency=concurrency, queues=list(queues) or None, heartbeat=heartbeat)

    app.cli.add_command(liveness.worker_alive)

    @app.cli.command("demo-data")
    @click.option("--username", default="demo", show_default=True)
    @click.option("--password", default="demo-password", show_default=True)
    def demo_data(username, password):
        """Create a demo user with a few offers (idempotent)."""
        from api.services import demo

        user, created = demo.load_demo_data(session=db.session, username=username, password=password)
        click.echo(f"demo user {user.username} (id {user.id}) {'created' if created else 'already present'}")

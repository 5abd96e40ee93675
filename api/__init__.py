"""Application factory."""

import logging

from flask import Flask
from flask.sessions import SessionInterface

from config import BASE_DIR, INSTANCE_DIR, get_config, local_secret_key


class NoCookieSession(SessionInterface):
    """Tokens authenticate every request: no cookie session is read or signed (Flask's default builds a signer per
    request, about 0.04 ms of every request's CPU); writing to `flask.session` raises."""

    def open_session(self, app, request):
        return None  # Flask then hands out its NullSession

    def save_session(self, app, session, response):
        return None


def _check_config(app):
    config = app.config
    if not config.get("SQLALCHEMY_DATABASE_URI"):
        raise RuntimeError("DATABASE_URL is not set (tests: TEST_DATABASE_URL).")
    if not config.get("SECRET_KEY"):
        if config["ENV_NAME"] != "development":
            raise RuntimeError("SECRET_KEY must be set.")
        config["SECRET_KEY"] = local_secret_key()
    if config["ENV_NAME"] == "production":
        if len(config["SECRET_KEY"]) < 32:
            raise RuntimeError("SECRET_KEY must be at least 32 characters in production.")
        if not config.get("ENCRYPTION_KEYS"):
            raise RuntimeError("ENCRYPTION_KEYS must be set in production (comma-separated Fernet keys).")


def create_app(config=None, **overrides):
    """Build the app; `config` is a config name or class, `overrides` replace single settings (tests)."""
    app = Flask(__name__, instance_path=str(INSTANCE_DIR), instance_relative_config=False)
    app.config.from_object(config if isinstance(config, type) else get_config(config))
    app.config.update(overrides)
    _check_config(app)
    app.session_interface = NoCookieSession()

    from api.http import drop_stray_retry_after, init_http
    from api.observability import init_observability

    init_http(app)
    init_observability(app)

    from api.extensions import db, migrate
    from api.ratelimit import init_limiter
    from api.security import init_security

    init_security(app)
    # Registered before the limiter's own after_request, so it runs after it (Flask runs them in reverse).
    app.after_request(drop_stray_retry_after)
    db.init_app(app)
    init_limiter(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), compare_type=True)

    import api.models  # noqa: F401  (registers every table on the metadata)
    from api.commands import register_commands
    from api.errors import register_error_handlers
    from api.health import health
    from api.jsonfast import init_json
    from api.metrics import init_metrics
    from api.pipeline import install as install_event_pipeline
    from api.resources import create_api_blueprint

    install_event_pipeline()
    register_error_handlers(app)
    blueprint, rest_api = create_api_blueprint()
    init_json(app, rest_api)
    app.register_blueprint(blueprint)
    app.register_blueprint(health)
    init_metrics(app)
    register_commands(app)
    logging.getLogger(__name__).debug("app created (%s)", app.config["ENV_NAME"])
    return app

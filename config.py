"""Settings for each environment, read from the environment."""

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_DIR", BASE_DIR / "instance"))


def _env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _env_float(name, default):
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def _env_bool(name, default=False):
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _env_seconds_list(name):
    """A comma-separated list of non-negative seconds, or None when the variable is unset or empty."""
    value = os.environ.get(name)
    if value in (None, ""):
        return None
    try:
        seconds = [float(item) for item in value.replace(" ", "").split(",") if item]
    except ValueError:
        raise RuntimeError(f"{name} must be a comma-separated list of seconds, not {value!r}") from None
    if any(not 0 <= item < float("inf") for item in seconds):
        raise RuntimeError(f"{name} must list non-negative seconds, not {value!r}")
    return [int(item) if item.is_integer() else item for item in seconds]


def _database_url():
    url = os.environ.get("DATABASE_URL", "")
    # Heroku-style URLs say postgres://, which SQLAlchemy no longer accepts.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    return url


def _public_base_url():
    configured = os.environ.get("PUBLIC_BASE_URL", "").strip()
    if configured:
        return configured.rstrip("/")
    host = os.environ.get("HOST", "").strip()
    if host in ("", "0.0.0.0", "::", "[::]"):  # noqa: S104 - a listening address, not a URL host
        host = "localhost"
    return f"http://{host}:{os.environ.get('PORT', '').strip() or '5000'}"


def local_secret_key():
    """A per-checkout random key for development, kept under instance/ so tokens survive restarts."""
    path = INSTANCE_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


class Config:
    """Defaults shared by every environment."""

    ENV_NAME = "base"
    TESTING = False
    DEBUG = False

    SECRET_KEY = os.environ.get("SECRET_KEY", "")
    JWT_EXPIRES_SECONDS = _env_int("JWT_EXPIRES_SECONDS", 86400)
    JWT_ALGORITHM = "HS256"
    # Extra keys still accepted when verifying tokens, so SECRET_KEY can be rotated without logging everyone out.
    JWT_PREVIOUS_KEYS = _env_list("JWT_PREVIOUS_KEYS")
    # Fernet keys for tracker credentials; the first encrypts, all decrypt (rotation).
    ENCRYPTION_KEYS = _env_list("ENCRYPTION_KEYS")

    SQLALCHEMY_DATABASE_URI = _database_url()
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    # No ping before each checkout (a round trip on every request): a connection that died with a database restart
    # fails its first statement, which invalidates the whole pool; api.auth.load_user sends that statement once more,
    # anything else answers 503 once (bench/reliability_db_restart.py proves no 500 and recovery).
    SQLALCHEMY_ENGINE_OPTIONS = {
        "pool_pre_ping": _env_bool("DB_POOL_PRE_PING", False),
        "pool_size": _env_int("DB_POOL_SIZE", 5),
        "max_overflow": _env_int("DB_MAX_OVERFLOW", 5),
        "pool_recycle": 1800,
        "pool_timeout": _env_int("DB_POOL_TIMEOUT", 10),
        "connect_args": {"connect_timeout": _env_int("DB_CONNECT_TIMEOUT", 5)},
    }

    MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 1024 * 1024)
    # An attachment upload (multipart) may be this large; every other body keeps MAX_CONTENT_LENGTH.
    ATTACHMENT_MAX_BYTES = _env_int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
    # POST /trackers/<id>/passthrough: response size and time caps, and a per-user rate limit.
    PASSTHROUGH_MAX_BYTES = _env_int("PASSTHROUGH_MAX_BYTES", 1024 * 1024)
    PASSTHROUGH_TIMEOUT_SECONDS = _env_float("PASSTHROUGH_TIMEOUT_SECONDS", 10.0)
    RATELIMIT_PASSTHROUGH = os.environ.get("RATELIMIT_PASSTHROUGH", "30 per minute;300 per hour")
    JSON_SORT_KEYS = False
    RESTX_MASK_SWAGGER = False
    RESTX_ERROR_404_HELP = False
    PROPAGATE_EXCEPTIONS = False

    # Login and register, per client address; RATELIMIT_STORAGE_URI empty = counters in PostgreSQL.
    RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or "gateway+postgres://"
    RATELIMIT_LOGIN = os.environ.get("RATELIMIT_LOGIN", "10 per minute;100 per hour")
    RATELIMIT_REGISTER = os.environ.get("RATELIMIT_REGISTER", "5 per minute;50 per hour")
    RATELIMIT_HEADERS_ENABLED = True
    # Number of proxies in front (ingress) whose X-Forwarded-For/-Proto are trusted; 0 trusts none.
    PROXY_COUNT = _env_int("PROXY_COUNT", 0)
    # Browser origins allowed to call the API (CORS); empty keeps CORS closed.
    CORS_ORIGINS = _env_list("CORS_ORIGINS")

    PASSWORD_HASH_PROFILE = os.environ.get("PASSWORD_HASH_PROFILE", "RFC_9106_LOW_MEMORY")
    # Argon2 hashes computed at once per process (each takes the profile's memory_cost, 64 MiB by default);
    # a request waits PASSWORD_HASH_WAIT_SECONDS for a slot, then gets 503 busy with Retry-After.
    PASSWORD_HASH_CONCURRENCY = _env_int("PASSWORD_HASH_CONCURRENCY", 2)
    PASSWORD_HASH_WAIT_SECONDS = _env_float("PASSWORD_HASH_WAIT_SECONDS", 5.0)

    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
    LOG_REQUESTS = _env_bool("LOG_REQUESTS", True)
    SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
    SENTRY_ENVIRONMENT = os.environ.get("SENTRY_ENVIRONMENT", "")
    SENTRY_TRACES_SAMPLE_RATE = _env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0)

    TRACKER_ALLOWED_HOSTS = _env_list("TRACKER_ALLOWED_HOSTS")
    TRACKER_TIMEOUT_SECONDS = _env_float("TRACKER_TIMEOUT_SECONDS", 10.0)
    TRACKER_RETRIES = _env_int("TRACKER_RETRIES", 2)
    TRACKER_FANOUT_TIMEOUT_SECONDS = _env_float("TRACKER_FANOUT_TIMEOUT_SECONDS", 8.0)
    TRACKER_BREAKER_THRESHOLD = _env_int("TRACKER_BREAKER_THRESHOLD", 5)
    TRACKER_BREAKER_RESET_SECONDS = _env_float("TRACKER_BREAKER_RESET_SECONDS", 30.0)
    # Calls to one tracker in flight per process (uwsgi.ini runs 8 threads): beyond it, 503 tracker_busy.
    TRACKER_MAX_IN_FLIGHT = _env_int("TRACKER_MAX_IN_FLIGHT", 3)

    # The API's external URL, for webhook callbacks and built-in issue URLs (the same in the API and the worker, which
    # has no request to derive it from). Unset: derived once from HOST and PORT, as scripts/runserver.sh serves.
    PUBLIC_BASE_URL = _public_base_url()
    # A verified webhook body seen again on the same tracker within this window is a replay, whatever its delivery id.
    WEBHOOK_REPLAY_WINDOW_HOURS = _env_float("WEBHOOK_REPLAY_WINDOW_HOURS", 24.0)

    # Events without webhooks (docs/EVENTS.md): default seconds between polls of a tracker (a tracker may set its own,
    # at least POLL_MIN_INTERVAL_SECONDS), the overlap re-read for clock skew, how often ids are reconciled for deletions,
    # and how many poll jobs may be queued or running at once across all workers.
    POLL_INTERVAL_SECONDS = max(15, _env_int("POLL_INTERVAL_SECONDS", 120))
    POLL_MIN_INTERVAL_SECONDS = 15
    POLL_OVERLAP_SECONDS = _env_int("POLL_OVERLAP_SECONDS", 60)
    POLL_RECONCILE_SECONDS = _env_int("POLL_RECONCILE_SECONDS", 3600)
    POLL_MAX_CONCURRENT = _env_int("POLL_MAX_CONCURRENT", 8)
    # A webhook and a poll that see the same change within this many days record it once.
    POLL_DEDUPE_DAYS = _env_int("POLL_DEDUPE_DAYS", 7)

    # A worker silent for this long is presumed dead and its running jobs are retried.
    WORKER_STALLED_SECONDS = _env_float("WORKER_STALLED_SECONDS", 30.0)
    AUTOMATION_MAX_CHAIN_DEPTH = _env_int("AUTOMATION_MAX_CHAIN_DEPTH", 3)
    # Per user and per rule: each rule's conditions are checked on every event of its owner (422 above).
    AUTOMATION_MAX_RULES = _env_int("AUTOMATION_MAX_RULES", 50)
    AUTOMATION_MAX_CONDITIONS = _env_int("AUTOMATION_MAX_CONDITIONS", 20)
    WORKER_METRICS_PORT = _env_int("WORKER_METRICS_PORT", 0)
    OUTBOUND_TIMEOUT_SECONDS = _env_float("OUTBOUND_TIMEOUT_SECONDS", 10.0)
    # Waits between delivery attempts, e.g. "30,120,600"; unset = the documented default schedule.
    OUTBOUND_RETRY_SCHEDULE = _env_seconds_list("OUTBOUND_RETRY_SCHEDULE")


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    # Without SECRET_KEY, create_app() uses a random key kept in instance/ (see local_secret_key).


class TestingConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "testing-secret-key-not-for-production-0123456789"  # noqa: S105
    ENCRYPTION_KEYS = ["fF1Yk6m9lZ5V4sX8cN2q7hT3wJ0bR6eA1uI9oP4dG2s="]
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "")
    PASSWORD_HASH_PROFILE = "CHEAPEST"  # noqa: S105 - argon2id still, with minimal cost so the suite stays fast
    TRACKER_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    RATELIMIT_ENABLED = False  # the suite registers many users from one address; test_security turns it on
    TRACKER_TIMEOUT_SECONDS = 3.0
    TRACKER_RETRIES = 1
    LOG_REQUESTS = False


class ProductionConfig(Config):
    ENV_NAME = "production"


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def get_config(name=None):
    """Return the config class named by APP_CONFIGURATION (default: development)."""
    name = (name or os.environ.get("APP_CONFIGURATION") or "development").lower()
    try:
        return CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"APP_CONFIGURATION must be one of {sorted(CONFIGS)}, not {name!r}") from None

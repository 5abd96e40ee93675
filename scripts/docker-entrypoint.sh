#!/bin/sh
# Container entry point.
#   serve (default)  prepare the metrics directory, apply migrations when RUN_MIGRATIONS=1, exec uwsgi
#   migrate          apply migrations (waiting for the database) and exit
#   worker           exec the background job worker
#   anything else    exec it as given (e.g. `python manage.py create-user alice`, `sh`)
set -eu

cd "$(dirname "$0")/.."

log() {
    printf '%s docker-entrypoint: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

# prometheus_client in multiprocess mode keeps one file per process in this directory. Files left
# by an earlier run (a container restart keeps an emptyDir) would be summed into the new
# counters, so the server starts from an empty directory. Only *.db files are removed, never
# the directory itself, whatever it points to.
prepare_metrics_dir() {
    dir=${PROMETHEUS_MULTIPROC_DIR:-}
    [ -n "$dir" ] || return 0
    mkdir -p "$dir"
    if [ "${1:-}" = clean ]; then
        find "$dir" -mindepth 1 -maxdepth 1 -type f -name '*.db' -exec rm -f {} +
    fi
}

# Postgres may still be starting (first `docker compose up`, a fresh StatefulSet), so a failed
# upgrade is retried with backoff until DB_WAIT_SECONDS have passed. Alembic runs each
# migration in a transaction on PostgreSQL, so a retry after a partial failure starts clean.
migrate() {
    wait_seconds=${DB_WAIT_SECONDS:-60}
    deadline=$(($(date +%s) + wait_seconds))
    delay=1
    attempt=1
    while ! python manage.py db upgrade; do
        now=$(date +%s)
        if [ "$now" -ge "$deadline" ]; then
            log "migrations failed after $attempt attempts over ${wait_seconds}s; giving up"
            return 1
        fi
        log "migrations failed (attempt $attempt; database not ready?); retrying in ${delay}s"
        sleep "$delay"
        attempt=$((attempt + 1))
        delay=$((delay * 2))
        if [ "$delay" -gt 10 ]; then
            delay=10
        fi
    done
    log "database schema is up to date"
}

# uwsgi.ini reads HOST and PORT; the image sets them, these defaults make the script work without it.
HOST=${HOST:-0.0.0.0}
PORT=${PORT:-5000}
export HOST PORT

command=${1:-serve}
[ "$#" -gt 0 ] && shift

case "$command" in
    serve)
        prepare_metrics_dir clean
        if [ "${RUN_MIGRATIONS:-1}" = 1 ]; then
            migrate
        fi
        exec uwsgi --ini uwsgi.ini "$@"
        ;;
    migrate)
        prepare_metrics_dir
        migrate
        ;;
    worker)
        prepare_metrics_dir clean
        exec python manage.py worker "$@"
        ;;
    *)
        prepare_metrics_dir
        exec "$command" "$@"
        ;;
esac

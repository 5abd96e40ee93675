#!/usr/bin/env bash
# Serve the API under uwsgi on http://$HOST:$PORT (default 127.0.0.1:5000).
# Without DATABASE_URL an embedded PostgreSQL keeps its data in instance/pgdata; Ctrl-C stops both.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
cd "$ROOT"
ensure_venv

export HOST="${HOST:-127.0.0.1}"
export PORT="${PORT:-5000}"
# Issue and webhook callback URLs are built from this alone, in the API and the worker alike.
case "$HOST" in 0.0.0.0|::|"[::]") url_host=localhost ;; *) url_host="$HOST" ;; esac
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://$url_host:$PORT}"
export APP_CONFIGURATION="${APP_CONFIGURATION:-development}"
export PYTHONUNBUFFERED=1

children=()
cleanup() {
    trap - EXIT INT TERM
    for pid in "${children[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${children[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "${EMBEDDED_PGDATA:-}" ]; then
        python scripts/embedded_pg.py stop "$EMBEDDED_PGDATA" 2>/dev/null || true
        echo "Embedded PostgreSQL stopped." >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${DATABASE_URL:-}" ]; then
    EMBEDDED_PGDATA="$ROOT/instance/pgdata"
    DATABASE_URL="$(python scripts/embedded_pg.py start "$EMBEDDED_PGDATA" 2>/dev/null)"
    export DATABASE_URL
    echo "Embedded PostgreSQL running (data in instance/pgdata)." >&2
fi

python manage.py db upgrade

export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$ROOT/instance/metrics}"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

if python manage.py --help 2>/dev/null | grep -q '^  worker'; then
    python manage.py worker &
    children+=("$!")
fi

echo "Serving on http://$HOST:$PORT  (Swagger UI: http://$HOST:$PORT/api/v1/docs; PUBLIC_BASE_URL=$PUBLIC_BASE_URL)" >&2
uwsgi --ini uwsgi.ini &
children+=("$!")
wait "${children[-1]}"

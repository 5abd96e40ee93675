# syntax=docker/dockerfile:1

# --- build: compile the dependencies (uWSGI builds from source) into a self-contained venv ---
FROM python:3.11-slim AS build

# Versions come from the base image's Debian release; pinning them would break every rebuild
# after a Debian point release, and none of these packages reach the runtime image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv "$VIRTUAL_ENV"
ENV PATH="$VIRTUAL_ENV/bin:$PATH"

COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt


# --- runtime: the venv, the app, no compiler ---
FROM python:3.11-slim AS runtime

LABEL org.opencontainers.image.title="ticket-gateway" \
      org.opencontainers.image.description="Ticket Gateway REST API (Flask-RESTX, uWSGI)"

# A fixed numeric id so Kubernetes can check runAsNonRoot without a name lookup.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=5000 \
    APP_CONFIGURATION=production \
    PROMETHEUS_MULTIPROC_DIR=/tmp/metrics \
    RUN_MIGRATIONS=1

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# The code stays owned by root: the app user can read it but not change it.
COPY api/ api/
COPY migrations/ migrations/
COPY app.py wsgi.py manage.py config.py uwsgi.ini ./
COPY scripts/docker-entrypoint.sh scripts/docker-entrypoint.sh
# Bytecode is compiled once here, as PYTHONDONTWRITEBYTECODE (and a read-only root filesystem)
# keep the processes from writing it at run time.
RUN python -m compileall -q api migrations app.py wsgi.py manage.py config.py

USER 10001:10001
EXPOSE 5000
STOPSIGNAL SIGTERM

# Liveness only (no database): an orchestrator must not restart the API because Postgres is down.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '5000'), timeout=4)"]

# Run through sh so the script's file mode does not matter; it execs the server, which becomes PID 1.
ENTRYPOINT ["/bin/sh", "/app/scripts/docker-entrypoint.sh"]
CMD ["serve"]

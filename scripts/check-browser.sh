#!/usr/bin/env bash
# QA's view, in a real browser: headless Chromium opens the Swagger UI of a freshly served API
# (uwsgi + throwaway embedded PostgreSQL), authorizes with a real JWT and runs GET /users/me.
# Installs Chromium + chromedriver (apt, needs root) and requirements-browser.txt (.venv) when missing.
# Screenshot: artifacts/swagger-ui.png (artifacts/swagger-ui-failure.png when it fails).
# Extra arguments go to the check, e.g. scripts/check-browser.sh --base-url http://127.0.0.1:5000
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
cd "$ROOT"
ensure_venv

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "chromium and chromium-driver are missing; run as root or: sudo apt-get install chromium chromium-driver" >&2
        exit 1
    fi
    echo "Installing chromium and chromium-driver (apt)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq chromium chromium-driver >/dev/null </dev/null
fi

stamp="$VENV/.requirements-browser.sha256"
wanted="$(sha256sum requirements-browser.txt | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "Installing requirements-browser.txt into $VENV" >&2
    PIP_DISABLE_PIP_VERSION_CHECK=1 python -m pip install --quiet -r requirements-browser.txt \
        2> >(grep -v 'is ignored: it is neither' >&2)
    echo "$wanted" > "$stamp"
fi

exec python -u test/browser/swagger_ui_check.py "$@"

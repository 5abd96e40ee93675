#!/usr/bin/env bash
# Lint and run the whole test suite against a throwaway PostgreSQL (embedded, or TEST_DATABASE_URL's server).
# Then validate the deployment files. Extra arguments go to pytest, e.g. scripts/test.sh -k offers -x
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
cd "$ROOT"
ensure_venv

echo "== ruff (lint, then the formatting: ruff format . fixes it)" >&2
ruff check .
ruff format --check .

echo "== import rules (.importlinter)" >&2
lint-imports

echo "== mypy (pyproject.toml lists the checked packages)" >&2
mypy

echo "== pytest" >&2
# The 15 slowest tests are printed at the end, to keep an eye on the suite's time.
python -m pytest --durations=15 "$@"

# The Dockerfile, compose file, Helm chart and CI file are validated offline too (tools cached in .cache/).
# SKIP_DEPLOY_CHECKS=1 skips them for a quick local run; CI always runs them.
if [ "${SKIP_DEPLOY_CHECKS:-0}" != 1 ] || [ -n "${CI:-}" ]; then
    echo "== deployment checks" >&2
    scripts/check-deploy.sh
fi

# QA's view: headless Chromium drives the Swagger UI against a freshly started server (Debian chromium).
if [ "${SKIP_BROWSER_CHECK:-0}" != 1 ] || [ -n "${CI:-}" ]; then
    echo "== browser check" >&2
    scripts/check-browser.sh
fi

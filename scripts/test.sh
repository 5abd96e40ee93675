#!/usr/bin/env bash
# Lint and run the whole test suite against a throwaway PostgreSQL (embedded, or TEST_DATABASE_URL's server).
# Extra arguments go to pytest, e.g. scripts/test.sh -k offers -x
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
cd "$ROOT"
ensure_venv

echo "== ruff" >&2
ruff check .

echo "== pytest" >&2
python -m pytest "$@"

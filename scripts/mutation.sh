#!/usr/bin/env bash
# Mutation testing of the riskiest modules against the tests mapped to them (scripts/mutation.py, docs/TESTING.md).
#   scripts/mutation.sh                         every module in the mapping
#   scripts/mutation.sh api/ratelimit.py        one module (several may be named)
#   scripts/mutation.sh api/auth.py --lines 40-60    re-check the mutants on some lines after adding a test
#   scripts/mutation.sh api/auth.py --rerun /tmp/mutation/*/report.json --tests 'test/test_auth*.py'
#                                               only what earlier runs left alive, against some tests
#   scripts/mutation.sh api/auth.py --list      the mutants, nothing run
# One PostgreSQL server serves the whole run (TEST_DATABASE_URL's, else an embedded one started here). Runs at nice 10.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
cd "$ROOT"
ensure_venv

# Older trees read the provider specs beside the checkout (a worktree elsewhere finds them beside the main checkout);
# newer ones ship them in test/data/specs.
if [ -z "${GATEWAY_SPECS_DIR:-}" ] && [ ! -d test/data/specs ]; then
    common="$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)"
    for candidate in "$ROOT/../shared/specs" "${common:+$common/../../shared/specs}"; do
        if [ -n "$candidate" ] && [ -d "$candidate" ]; then
            GATEWAY_SPECS_DIR="$(cd "$candidate" && pwd)"
            export GATEWAY_SPECS_DIR
            break
        fi
    done
fi

if [ -z "${TEST_DATABASE_URL:-}" ] && [[ " $* " != *" --list "* ]]; then
    PGDATA_DIR="$(mktemp -d "${TMPDIR:-/tmp}/tg-mut-pg-XXXXXX")"
    trap 'python scripts/embedded_pg.py stop "$PGDATA_DIR"; rm -rf "$PGDATA_DIR"' EXIT
    TEST_DATABASE_URL="$(python scripts/embedded_pg.py start "$PGDATA_DIR" postgres)"
    export TEST_DATABASE_URL
fi

nice -n "${MUTATION_NICE:-10}" python scripts/mutation.py "$@"

#!/usr/bin/env bash
# A longer schemathesis run than the suite's bounded one: every operation of the live spec, many examples each.
#   scripts/fuzz.sh            200 examples per operation (about 15-25 minutes on 2 cores)
#   FUZZ_MAX_EXAMPLES=50 scripts/fuzz.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
cd "$ROOT"
ensure_venv
export FUZZ_MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-200}"
exec python -m pytest test/test_fuzz.py -p no:cacheprovider "$@"

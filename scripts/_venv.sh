# shellcheck shell=bash
# Sourced by the scripts: creates .venv on first use and reinstalls only when a requirements file changed.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

ensure_venv() {
    local python="${PYTHON:-}"
    if [ -z "$python" ]; then
        for candidate in python3.11 python3; do
            if command -v "$candidate" >/dev/null 2>&1; then python="$candidate"; break; fi
        done
    fi
    if [ -z "$python" ] || ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)." >&2
        return 1
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        echo "Creating $VENV" >&2
        "$python" -m venv "$VENV"
    fi
    local stamp="$VENV/.requirements.sha256" wanted
    wanted="$(cat "$ROOT"/requirements*.txt | sha256sum | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        echo "Installing dependencies into $VENV (first run or requirements changed)" >&2
        export PIP_DISABLE_PIP_VERSION_CHECK=1
        "$VENV/bin/python" -m pip install --quiet --upgrade pip 2> >(grep -v 'is ignored: it is neither' >&2)
        "$VENV/bin/python" -m pip install --quiet -r "$ROOT/requirements-dev.txt" 2> >(grep -v 'is ignored: it is neither' >&2)
        echo "$wanted" > "$stamp"
    fi
    export VIRTUAL_ENV="$VENV"
    export PATH="$VENV/bin:$PATH"
}

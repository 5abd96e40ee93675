"""The benchmarks' shared harness: server, db, fakes, clients, load, measure, report."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

"""The benchmarks' shared harness: server, db, fakes, clients, load, measure, report, and the scripts' options."""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
NO_DOC = ("--no-doc", False, "do not write docs/RELIABILITY.md")
WRITE = ("--write", False, "put the figures in docs/PERFORMANCE.md")


def options(doc, *specs):
    """A parser described by the docstring's first paragraph; each spec is (flag, default, help): a False default makes
    a switch, any other gives the option its type."""
    parser = argparse.ArgumentParser(description=doc.strip().split("\n\n")[0])
    for flag, default, text in specs:
        if default is False:
            parser.add_argument(flag, action="store_true", help=text)
        else:
            parser.add_argument(flag, type=type(default), default=default, help=text)
    return parser

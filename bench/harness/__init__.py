"""The benchmarks' shared harness: server, db, fakes, clients, load, measure, report, and the scripts' options."""

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
PASSWORD = "reliability-password-1"  # every bench user's
# An option line of a script's docstring: "  --flag DEFAULT  what it does", or "  --flag  what it does" for a switch.
OPTION_LINE = re.compile(r"^ +(--[a-z-]+)(?: (\S+))? {2,}(\S.*)$", re.MULTILINE)


def _value(text):
    """The default as the docstring spells it: 15 an int, 15.0 a float, anything else the string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def options(doc):
    """A parser described by the docstring's first paragraph, with the options its option lines state (`OPTION_LINE`):
    the default's type is the option's type; an option without a default is a switch."""
    parser = argparse.ArgumentParser(description=doc.strip().split("\n\n")[0])
    for flag, default, text in OPTION_LINE.findall(doc):
        if default:
            parser.add_argument(flag, type=type(_value(default)), default=_value(default), help=f"{text} (default {default})")
        else:
            parser.add_argument(flag, action="store_true", help=text)
    return parser

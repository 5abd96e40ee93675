"""Sandboxed Jinja2 for issue templates: no Python internals, no files or network, bounded time and size.

Jinja's SandboxedEnvironment blocks attribute access to internals. On top of it this engine:
- refuses macros, includes, imports, inheritance and blocks at save time (recursion is the cheap way
  to blow up output), and keeps only the `range` global and a small allowlist of filters;
- bounds every loop (`range` checks the render deadline on each step), every string-producing
  operator and filter, and the total output, so no template can run long or allocate much.
"""

import functools
import threading
import time

import regex
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

MAX_SOURCE = 20_000
MAX_OUTPUT = 65_536
MAX_RANGE = 10_000
RENDER_SECONDS = 0.5
PATTERN_SECONDS = 0.05
FORBIDDEN_NODES = {
    nodes.Macro: "macros", nodes.CallBlock: "call blocks", nodes.Include: "includes", nodes.Import: "imports",
    nodes.FromImport: "imports", nodes.Extends: "template inheritance", nodes.Block: "blocks",
}
SAFE_FILTERS = ("upper", "lower", "title", "capitalize", "trim", "default", "d", "replace", "truncate", "join",
                "length", "first", "last", "int", "string", "list", "sort", "unique", "wordcount", "indent")


class TemplateError(ValueError):
    """A template is invalid or failed to render; `errors` maps fields to messages."""

    def __init__(self, message, errors=None):
        super().__init__(message)
        self.errors = errors or {}


class _Budget:
    def __init__(self):
        self.deadline = time.monotonic() + RENDER_SECONDS

    def check(self):
        if time.monotonic() > self.deadline:
            raise TemplateError(f"The template took longer than {RENDER_SECONDS} s to render.")


def _bounded(value):
    if isinstance(value, (str, list, tuple)) and len(value) > MAX_OUTPUT:
        raise TemplateError(f"The template produced more than {MAX_OUTPUT} characters.")
    return value


class _Environment(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+"})

    def __init__(self):
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
        self.globals = {"range": self._range}
        self.filters = {name: self._bounded_filter(self.filters[name]) for name in SAFE_FILTERS}
        self.tests = {name: self.tests[name] for name in ("defined", "undefined", "none", "number", "string", "sameas")}
        self._local = threading.local()

    @property
    def budget(self):
        return self._local.budget

    @budget.setter
    def budget(self, value):
        self._local.budget = value

    def _range(self, *args):
        values = range(*args)
        if len(values) > MAX_RANGE:
            raise TemplateError(f"range() is limited to {MAX_RANGE} items.")
        for value in values:
            self.budget.check()
            yield value

    def _bounded_filter(self, function):
        def wrapper(*args, **kwargs):
            self.budget.check()
            return _bounded(function(*args, **kwargs))

        for attribute in ("jinja_pass_arg",):
            if hasattr(function, attribute):
                setattr(wrapper, attribute, getattr(function, attribute))
        return wrapper

    def call_binop(self, context, operator, left, right):
        self.budget.check()
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise TemplateError("Exponents above 64 are not allowed.")
        if operator == "*":
            sequence, times = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(sequence, (str, list, tuple)) and isinstance(times, int) and len(sequence) * times > MAX_OUTPUT:
                raise TemplateError(f"The template produced more than {MAX_OUTPUT} characters.")
        return _bounded(super().call_binop(context, operator, left, right))


_environment = _Environment()


@functools.lru_cache(maxsize=512)
def _compile(source):
    return _environment.from_string(source)


def parse(source, *, field):
    """Check syntax and forbidden constructs; return the variable names the template uses."""
    if len(source) > MAX_SOURCE:
        raise TemplateError("Template too long.", {field: [f"At most {MAX_SOURCE} characters."]})
    try:
        tree = _environment.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError("Template syntax error.", {field: [f"line {exc.lineno}: {exc.message}"]}) from None
    for node_type, what in FORBIDDEN_NODES.items():
        found = next(tree.find_all(node_type), None)
        if found is not None:
            raise TemplateError("Unsupported template construct.",
                                {field: [f"line {found.lineno}: {what} are not allowed in issue templates"]})
    return meta.find_undeclared_variables(tree) - set(_environment.globals)


def render(source, variables):
    """Render one template string with bounded time and output."""
    _environment.budget = budget = _Budget()
    try:
        template = _compile(source)
        output, size = [], 0
        for chunk in template.generate(**variables):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateError(f"The template produced more than {MAX_OUTPUT} characters.")
            budget.check()
            output.append(chunk)
        return "".join(output)
    except TemplateError:
        raise
    except SecurityError as exc:
        raise TemplateError(f"Refused by the template sandbox: {exc}") from None
    except UndefinedError as exc:
        raise TemplateError(f"Undefined value: {exc.message}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError, RecursionError, MemoryError) as exc:
        raise TemplateError(f"The template failed to render: {type(exc).__name__}: {exc}"[:300]) from None


def check_pattern(pattern):
    """Return an error message when `pattern` is not a valid regular expression."""
    try:
        regex.compile(pattern)
    except regex.error as exc:
        return f"Not a valid regular expression: {exc}"
    return None


def matches(pattern, value):
    """Whether `value` fully matches `pattern`; a pattern too slow to decide counts as no match."""
    try:
        return regex.fullmatch(pattern, value, timeout=PATTERN_SECONDS) is not None
    except TimeoutError:
        return False


def search(pattern, text):
    """Whether `pattern` occurs in `text`; a pattern too slow to decide counts as no match."""
    try:
        return regex.search(pattern, text or "", timeout=PATTERN_SECONDS) is not None
    except TimeoutError:
        return False

"""Sandboxed Jinja2 for issue templates and automation texts: no Python internals, bounded time and memory.

Jinja's ImmutableSandboxedEnvironment blocks attribute access to internals and mutation. On top of it this engine:
- refuses macros, includes, imports, inheritance, blocks, and filters or tests outside a small allowlist at save
  time, naming them (recursion is the cheap way to blow up output);
- sizes every value before it is built and refuses it when too large: each operator (`+ - * / // % **`), `~`,
  list/tuple/dict literal, filter, method call and format string (`%` and `str.format`, widths included) is
  estimated from its operands first. Strings and containers stay under MAX_VALUE (containers counted the way
  `str()` would print them, shared parts each time), integers under MAX_INT_BITS, and everything one render builds
  under MAX_WORK, so neither a single C-level operation nor a long chain of small ones can allocate much;
- only calls what it knows the cost of (`range`, loop helpers, and an allowlist of str/bytes/int/list/dict methods);
- checks the deadline at every loop step, call, operator and filter; renders inside `shared_budget()` (one
  automation run) share one deadline and one work allowance.
"""

import _string
import collections.abc
import contextlib
import contextvars
import re
import string
import time

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError
from jinja2.runtime import LoopContext, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from api import patterns

MAX_SOURCE = 20_000
MAX_OUTPUT = 65_536
MAX_VALUE = 262_144
MAX_WORK = 4_000_000
MAX_INT_BITS = 8_192
MAX_RANGE = 10_000
RENDER_SECONDS = 0.5
FORBIDDEN_NODES = {
    nodes.Macro: "macros",
    nodes.CallBlock: "call blocks",
    nodes.Include: "includes",
    nodes.Import: "imports",
    nodes.FromImport: "imports",
    nodes.Extends: "template inheritance",
    nodes.Block: "blocks",
}
SAFE_FILTERS = (
    "upper",
    "lower",
    "title",
    "capitalize",
    "trim",
    "default",
    "d",
    "replace",
    "truncate",
    "join",
    "length",
    "first",
    "last",
    "int",
    "string",
    "list",
    "sort",
    "unique",
    "wordcount",
    "indent",
)
SAFE_TESTS = ("defined", "undefined", "none", "number", "string", "sameas")

# Methods whose result is no bigger than their object (case mappings at most three times: 'ß'.upper() == 'SS').
_STRING_METHODS = frozenset(
    {
        "capitalize",
        "casefold",
        "lower",
        "upper",
        "swapcase",
        "title",
        "strip",
        "lstrip",
        "rstrip",
        "removeprefix",
        "removesuffix",
        "count",
        "find",
        "rfind",
        "index",
        "rindex",
        "startswith",
        "endswith",
        "isalnum",
        "isalpha",
        "isascii",
        "isdecimal",
        "isdigit",
        "isidentifier",
        "islower",
        "isnumeric",
        "isprintable",
        "isspace",
        "istitle",
        "isupper",
        "split",
        "rsplit",
        "splitlines",
        "partition",
        "rpartition",
        "encode",
        "decode",
        "hex",
        "center",
        "ljust",
        "rjust",
        "zfill",
        "expandtabs",
        "replace",
        "join",
        "translate",  # sized from their arguments
    }
)
_OTHER_METHODS = {
    int: frozenset({"bit_length", "bit_count", "conjugate", "as_integer_ratio", "is_integer", "to_bytes"}),
    float: frozenset({"conjugate", "as_integer_ratio", "is_integer", "hex"}),
    list: frozenset({"count", "index", "copy"}),
    tuple: frozenset({"count", "index"}),
    dict: frozenset({"get", "items", "keys", "values", "copy"}),
}
_VIEWS = (collections.abc.KeysView, collections.abc.ValuesView, collections.abc.ItemsView)
_PERCENT_SPEC = re.compile(r"%(?:\(([^)]*)\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.?)", re.DOTALL)
_FORMATTER = string.Formatter()


class TemplateError(ValueError):
    """A template is invalid or failed to render; `errors` maps fields to messages."""

    def __init__(self, message, errors=None):
        super().__init__(message)
        self.errors = errors or {}


def _too_large(what=f"a value larger than {MAX_VALUE} characters or items"):
    return TemplateError(f"Refused: the template would build {what}.")


class _Budget:
    """Render time and work: one per render, or one shared by the renders of `shared_budget()`."""

    def __init__(self, seconds):
        self.seconds = self.remaining = seconds
        self.work = 0
        self.started = None
        self.deadline = time.monotonic() + seconds

    def start(self):
        self.started = time.monotonic()
        self.deadline = self.started + self.remaining

    def stop(self):
        # Only time spent rendering counts: a shared budget does not shrink while a tracker call is in flight.
        self.remaining -= time.monotonic() - self.started
        self.started = None

    def check(self):
        if time.monotonic() > self.deadline:
            raise TemplateError(f"The template took longer than {self.seconds} s to render.")

    def spend(self, size):
        self.check()
        self.work += size
        if self.work > MAX_WORK:
            raise TemplateError(f"Refused: the template would build more than {MAX_WORK} characters in all.")


_budget = contextvars.ContextVar("template_budget", default=None)


def _current_budget():
    # Outside a render (Jinja folding constants while compiling) the same limits apply to a throwaway budget.
    return _budget.get() or _Budget(RENDER_SECONDS)


@contextlib.contextmanager
def shared_budget(seconds=RENDER_SECONDS):
    """Every render inside this block shares one time and work allowance (all texts of one automation run, or the
    title and body of one template); inside an outer shared budget, the outer one goes on counting."""
    if _budget.get() is not None:
        yield
        return
    token = _budget.set(_Budget(seconds))
    try:
        yield
    finally:
        _budget.reset(token)


# ---- sizes, estimated before anything is built --------------------------------------------------------------------


def _weight(value, limit=MAX_VALUE):
    """About how many characters str() of `value` prints, shared parts counted each time; stops once past `limit`."""
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, (str, bytes)):
            total += len(item) + 2
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, float):
            total += 24
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset, *_VIEWS)):
            total += 2 + 2 * len(item)
            stack.extend(item)
        else:
            total += 80
    return total


def _size(value):
    """Characters of a string, or the printed weight of anything else."""
    if isinstance(value, (str, bytes)):
        return len(value)
    return _weight(value)


def _limited(size, what=None):
    if size > MAX_VALUE:
        raise _too_large(what) if what else _too_large()
    return size


def _number(digits):
    return int(digits) if len(digits) <= 9 else MAX_VALUE + 1


def _field_size(value, spec_numbers, as_repr):
    """Characters one formatted field may take: its value printed (or repr'd) plus any width or precision."""
    if isinstance(value, bool) or value is None:
        size = 8
    elif isinstance(value, int):
        size = 2 * (value.bit_length() + 3)  # binary digits, grouping separators
    elif isinstance(value, float):
        size = 450  # '%f' of 1e308, with separators
    else:
        size = _weight(value) * (10 if as_repr else 1)  # repr escapes: '\U0001f600' is 10 characters
    return size + sum(spec_numbers) + 100


def _percent_size(fmt, args):
    """Characters `fmt % args` builds (printf-style)."""
    if isinstance(fmt, bytes):
        fmt = fmt.decode("latin-1")
    positional = list(args) if isinstance(args, tuple) else [args]
    size, index = len(fmt), 0
    for match in _PERCENT_SPEC.finditer(fmt):
        key, width, precision, kind = match.groups()
        if kind == "%":
            continue
        numbers = []
        for part in (width, precision):
            if part == "*":
                star = positional[index] if index < len(positional) else 0
                index += 1
                numbers.append(star if isinstance(star, int) and star > 0 else 0)
            elif part:
                numbers.append(_number(part))
        if key is not None:
            value = args.get(key) if isinstance(args, collections.abc.Mapping) else None
        else:
            value = positional[index] if index < len(positional) else None
            index += 1
        size += _field_size(value, numbers, kind in ("r", "a"))
    return _limited(size, f"a formatted string of more than {MAX_VALUE} characters")


def _format_size(fmt, args, kwargs):
    """Characters `fmt.format(*args, **kwargs)` builds."""
    size, automatic = 0, 0
    for literal, field, spec, conversion in _FORMATTER.parse(fmt):
        size += len(literal)
        if field is None:
            continue
        if spec and "{" in spec:
            raise TemplateError("Refused: replacement fields inside a format specification are not allowed.")
        first, _rest = _string.formatter_field_name_split(field)
        if first == "":
            value = args[automatic] if automatic < len(args) else None
            automatic += 1
        elif isinstance(first, int):
            value = args[first] if first < len(args) else None
        else:
            value = kwargs.get(first) if isinstance(kwargs, collections.abc.Mapping) else None
        size += _field_size(value, [_number(digits) for digits in re.findall(r"\d+", spec or "")], conversion in ("r", "a"))
    return _limited(size, f"a formatted string of more than {MAX_VALUE} characters")


def _int_bits(operator, left, right):
    bits = max(left.bit_length(), right.bit_length()) + 1
    if operator == "*":
        bits = left.bit_length() + right.bit_length()
    elif operator == "**":
        bits = 64 if right < 0 or abs(left) <= 1 else left.bit_length() * right
    if bits > MAX_INT_BITS:
        raise TemplateError(f"Refused: the template would compute a number of more than {MAX_INT_BITS} bits.")
    return bits // 8


def _binop_size(operator, left, right):
    """What `left operator right` would build, refused before it is built when too large."""
    if operator == "%" and isinstance(left, (str, bytes)):
        return _percent_size(left, right)
    if isinstance(left, int) and isinstance(right, int):
        return _int_bits(operator, left, right)
    if operator == "*":
        sequence, times = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(sequence, (str, bytes, list, tuple)) and isinstance(times, int):
            return _limited((_size(sequence) if sequence else 0) * max(times, 0))
    if operator == "+" and all(isinstance(side, (str, bytes, list, tuple)) for side in (left, right)):
        return _limited(_size(left) + _size(right))
    return 0


def _argument(args, kwargs, position, name, default=None):
    if len(args) > position:
        return args[position]
    return kwargs.get(name, default)


def _replace_size(text, old, new, count):
    length = _size(text)
    if not isinstance(old, (str, bytes)) or not isinstance(new, (str, bytes)):
        return length
    occurrences = length + 1 if not old or not isinstance(text, (str, bytes)) else text.count(old)
    if isinstance(count, int) and count >= 0:
        occurrences = min(occurrences, count)
    return _limited(length + occurrences * max(len(new) - len(old), 0))


def _join_size(separator, items):
    return _limited(sum(_size(item) for item in items) + max(len(items) - 1, 0) * _size(separator))


def _string_method_size(target, name, args, kwargs):
    length = len(target)
    if name in ("center", "ljust", "rjust", "zfill"):
        width = _argument(args, kwargs, 0, "width", 0)
        return _limited(max(length, width)) if isinstance(width, int) else length
    if name == "expandtabs":
        tabsize = _argument(args, kwargs, 0, "tabsize", 8)
        tab = "\t" if isinstance(target, str) else b"\t"
        return _limited(length + target.count(tab) * max(tabsize, 0)) if isinstance(tabsize, int) else length
    if name == "replace":
        return _replace_size(
            target, _argument(args, kwargs, 0, "old"), _argument(args, kwargs, 1, "new"), _argument(args, kwargs, 2, "count", -1)
        )
    if name == "translate":
        table = _argument(args, kwargs, 0, "table")
        if isinstance(table, collections.abc.Mapping):
            longest = max((len(value) for value in table.values() if isinstance(value, (str, bytes))), default=1)
            return _limited(length * max(longest, 1))
        return length
    return 3 * length


# ---- the environment --------------------------------------------------------------------------------------------


class _CodeGenerator(CodeGenerator):
    """Routes `~`, container literals and loop iterables through the environment's bounded helpers."""

    def visit_Concat(self, node, frame):
        self.write("environment.bounded_concat((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")

    def _bounded_literal(self, visit, node, frame):
        self.write("environment.bounded_literal(")
        visit(node, frame)
        self.write(")")

    def visit_List(self, node, frame):
        self._bounded_literal(super().visit_List, node, frame)

    def visit_Dict(self, node, frame):
        self._bounded_literal(super().visit_Dict, node, frame)

    def visit_Tuple(self, node, frame):
        if node.ctx == "load":
            self._bounded_literal(super().visit_Tuple, node, frame)
        else:
            super().visit_Tuple(node, frame)

    def visit_For(self, node, frame):
        # Jinja allows no custom node types: the iterable becomes a call of environment.guard_iter.
        guard = nodes.EnvironmentAttribute("guard_iter", lineno=node.lineno)
        if not (isinstance(node.iter, nodes.Call) and node.iter.node == guard):
            node.iter = nodes.Call(guard, [node.iter], [], None, None, lineno=node.lineno)
        super().visit_For(node, frame)


def _bounded_result(value):
    """A second line of defence after a call: nothing larger than the limits leaves it."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise TemplateError(f"Refused: the template would compute a number of more than {MAX_INT_BITS} bits.")
    if isinstance(value, (str, bytes, list, tuple, dict)) and _size(value) > MAX_VALUE:
        raise _too_large()
    return value


class _Environment(ImmutableSandboxedEnvironment):
    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self):
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False, finalize=self._finalize)
        self.globals = {"range": self._range}
        self.filters = {name: self._bounded_filter(name, self.filters[name]) for name in SAFE_FILTERS}
        self.tests = {name: self.tests[name] for name in SAFE_TESTS}

    @staticmethod
    def _finalize(value):
        if not isinstance(value, str) and _weight(value, MAX_OUTPUT) > MAX_OUTPUT:
            raise TemplateError(f"The template produced more than {MAX_OUTPUT} characters.")
        return value

    def _range(self, *args):
        values = range(*args)
        if len(values) > MAX_RANGE:
            raise TemplateError(f"range() is limited to {MAX_RANGE} items.")
        budget = _current_budget()
        for value in values:
            budget.check()
            yield value

    def guard_iter(self, iterable):
        """A loop's iterable, checking the deadline before each step."""
        budget = _current_budget()
        for item in iterable:
            budget.check()
            yield item

    def bounded_concat(self, parts):
        """`a ~ b`: sized before it is joined."""
        size = _limited(sum(_size(part) for part in parts))
        _current_budget().spend(size)
        return "".join(map(str, parts))

    def bounded_literal(self, value):
        """A list, tuple or dict literal: references are cheap, but printing or comparing it is not."""
        _limited(_weight(value))
        _current_budget().spend(len(value))
        return value

    def concat(self, parts):
        """Joins the output of `{% set %}...{% endset %}` and `{% filter %}` blocks, stopping at MAX_VALUE."""
        collected, size = [], 0
        for part in parts:
            size += len(part)
            if size > MAX_VALUE:
                raise _too_large()
            collected.append(part)
        _current_budget().spend(size)
        return "".join(collected)

    def _bounded_filter(self, name, function):
        pass_arg = getattr(function, "jinja_pass_arg", None)

        def wrapper(*args, **kwargs):
            budget = _current_budget()
            budget.check()
            values = args[1:] if pass_arg is not None else args
            value = values[0] if values else None
            if name == "join":
                items = list(value)
                budget.spend(_join_size(_argument(values, kwargs, 1, "d", ""), items))
                args = (*args[: len(args) - len(values)], items, *values[1:])
            elif name == "replace":
                budget.spend(
                    _replace_size(
                        value,
                        _argument(values, kwargs, 1, "old"),
                        _argument(values, kwargs, 2, "new"),
                        _argument(values, kwargs, 3, "count"),
                    )
                )
            elif name == "indent":
                width = _argument(values, kwargs, 1, "width", 4)
                lines = value.count("\n") + 1 if isinstance(value, str) else _size(value) + 1
                budget.spend(_limited(_size(value) + lines * (width if isinstance(width, int) else _size(width))))
            elif name in (
                "upper",
                "lower",
                "title",
                "capitalize",
                "trim",
                "truncate",
                "wordcount",
                "string",
                "sort",
                "unique",
                "list",
            ):
                budget.spend(_limited(_size(value)) + sum(_size(other) for other in values[1:]))
            return _bounded_result(function(*args, **kwargs))

        if pass_arg is not None:
            wrapper.jinja_pass_arg = pass_arg
        return wrapper

    def call_binop(self, context, operator, left, right):
        budget = _current_budget()
        budget.check()
        budget.spend(_binop_size(operator, left, right))
        return _bounded_result(super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value):
        """`str.format`/`format_map`, sized (widths included) before formatting."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt, is_map = value.__self__, value.__name__ == "format_map"

        def bounded_format(*args, **kwargs):
            budget = _current_budget()
            budget.check()
            format_args, format_kwargs = ((), args[0]) if is_map and len(args) == 1 else (args, kwargs)
            budget.spend(_format_size(fmt, format_args, format_kwargs))
            return wrapped(*args, **kwargs)

        bounded_format.bounded_format = True
        return bounded_format

    def _call_size(self, obj, args, kwargs):
        """What calling `obj` would build; refuses any callable whose cost is not known."""
        if isinstance(obj, (Undefined, LoopContext)) or getattr(obj, "__func__", None) in (
            _Environment._range,
            _Environment.guard_iter,
        ):
            return 0, args
        owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
        if isinstance(owner, LoopContext) or getattr(obj, "bounded_format", False):
            return 0, args
        if isinstance(owner, (str, bytes)) and name in _STRING_METHODS:
            if name == "join":
                items = list(_argument(args, kwargs, 0, "iterable", ()))
                return _join_size(owner, items), (items,)
            return _string_method_size(owner, name, args, kwargs), args
        for kind, methods in _OTHER_METHODS.items():
            if isinstance(owner, kind) and name in methods:
                if name == "to_bytes":
                    length = _argument(args, kwargs, 0, "length", 1)
                    return (_limited(length) if isinstance(length, int) else 0), args
                return len(owner) if isinstance(owner, (list, tuple, dict)) else 0, args
        kind = owner if isinstance(owner, type) else type(owner)
        what = f"{kind.__name__}.{name}" if owner is not None and name else (name or type(obj).__name__)
        raise SecurityError(f"calling {what}() is not allowed in templates")

    def call(__self, __context, __obj, *args, **kwargs):  # Jinja's own signature: no clash with keyword arguments
        budget = _current_budget()
        budget.check()
        plain = {key: value for key, value in kwargs.items() if key not in ("_loop_vars", "_block_vars")}
        size, args = __self._call_size(__obj, args, plain)
        budget.spend(size)
        return _bounded_result(super().call(__context, __obj, *args, **kwargs))


_environment = _Environment()


# Compiled templates kept by total source length: a 20,000-character template compiles to about 1.5 MB.
_templates = patterns.SizedCache(400_000)


def _compile(source):
    return _templates.get(source, _environment.from_string, lambda key, value: len(key) + 100)


@contextlib.contextmanager
def _compile_errors(field: str) -> collections.abc.Iterator[None]:
    """A template Jinja cannot parse or compile is a TemplateError on `field`."""
    try:
        yield
    except TemplateSyntaxError as exc:
        raise TemplateError("Template syntax error.", {field: [f"line {exc.lineno}: {exc.message}"]}) from None
    except (RecursionError, MemoryError):
        raise TemplateError("Template too deeply nested.", {field: ["Too deeply nested."]}) from None


def _problems(tree: nodes.Template) -> list[str]:
    """The forbidden constructs, filters and tests a parsed template uses."""
    problems = []
    for node_type, what in FORBIDDEN_NODES.items():
        found = next(tree.find_all(node_type), None)
        if found is not None:
            problems.append(f"line {found.lineno}: {what} are not allowed in issue templates")
    for node_type, kind, allowed in ((nodes.Filter, "filter", _environment.filters), (nodes.Test, "test", _environment.tests)):
        for node in tree.find_all(node_type):
            if node.name not in allowed:
                problems.append(
                    f"line {node.lineno}: the {kind} '{node.name}' is not allowed (allowed: {', '.join(sorted(allowed))})"
                )
    return problems


def parse(source: str, *, field: str) -> set[str]:
    """Check syntax, forbidden constructs, filters and tests, and compile; return the variable names used."""
    if len(source) > MAX_SOURCE:
        raise TemplateError("Template too long.", {field: [f"At most {MAX_SOURCE} characters."]})
    with _compile_errors(field):
        tree = _environment.parse(source)
    problems = _problems(tree)
    if problems:
        raise TemplateError("Unsupported template construct.", {field: list(dict.fromkeys(problems))})
    with _compile_errors(field):
        _compile(source)
        return meta.find_undeclared_variables(tree) - set(_environment.globals)


def render(source, variables):
    """Render one template string with bounded time, memory and output (within any shared budget)."""
    token = _budget.set(_Budget(RENDER_SECONDS)) if _budget.get() is None else None
    budget = _budget.get()
    try:
        template = _compile(source)  # bounded by MAX_SOURCE, cached, done at save: not part of the render's time
        budget.start()
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
        raise TemplateError(f"Refused by the template sandbox: {str(exc)[:200]}") from None
    except UndefinedError as exc:
        raise TemplateError(f"Undefined value: {exc.message[:200]}") from None
    except TemplateSyntaxError as exc:
        raise TemplateError(f"Template syntax error: line {exc.lineno}: {exc.message}"[:300]) from None
    except (TypeError, ValueError, ArithmeticError, LookupError, RecursionError, MemoryError) as exc:
        raise TemplateError(f"The template failed to render: {type(exc).__name__}: {str(exc)[:200]}") from None
    finally:
        if budget.started is not None:
            budget.stop()
        if token is not None:
            _budget.reset(token)


def check_pattern(pattern):
    """Return an error message when `pattern` is not a valid regular expression of bounded size."""
    return patterns.problem(pattern)

"""User regular expressions (template variable patterns, automation conditions): bounded before they are compiled.

The `regex` module unrolls counted repeats when it compiles, so `(?:a{3000}){1000}` (17 characters) builds
hundreds of megabytes. A pattern is parsed first with the module's own parser (so every syntax it knows is read
exactly as it will be compiled) and refused when the product of its nested repeat counts, summed over the pattern,
exceeds MAX_EXPANSION. Compiled patterns are cached; matching always runs with a timeout.

The parser is regex's internal API (regex is pinned in requirements.txt): if an upgrade changes it, parsing fails
and every pattern is refused (fail closed), and test/test_sandbox_patterns.py's bombs say so.
"""

import collections
import contextlib
import contextvars
import threading
import time

import regex
from regex import _regex_core

MAX_EXPANSION = 10_000
MATCH_SECONDS = 0.05
CACHE_WEIGHT = 200_000  # compiled patterns kept, by expansion: about 40 MB at most (an 8,000 expansion is 2 MB)


class SizedCache:
    """A thread-safe LRU cache bounded by the total weight of its entries, not their count."""

    def __init__(self, limit):
        self.limit, self.weight, self.entries, self.lock = limit, 0, collections.OrderedDict(), threading.Lock()

    def get(self, key, build, weigh):
        with self.lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key][0]
        value = build(key)
        weight = weigh(key, value)
        with self.lock:
            if key not in self.entries and weight <= self.limit:
                self.entries[key] = (value, weight)
                self.weight += weight
                while self.weight > self.limit:
                    _, (_, dropped) = self.entries.popitem(last=False)
                    self.weight -= dropped
        return value


class PatternError(ValueError):
    """A pattern that is not valid, or too large to compile safely."""


class PatternTimeout(ValueError):
    """A pattern that could not be decided within its time."""


def _parse(pattern):
    # The parse step of regex's own compile (regex/_main.py `_compile`), without the compile that unrolls repeats.
    flags = 0
    while True:
        source = _regex_core.Source(pattern)
        info = _regex_core.Info(flags, source.char_type, {})
        source.ignore_space = bool(info.flags & regex.VERBOSE)
        try:
            parsed = _regex_core._parse_pattern(source, info)
        except _regex_core._UnscopedFlagSet:
            flags = info.global_flags
            continue
        if not source.at_end():
            raise regex.error("unbalanced parenthesis", pattern, source.pos)
        return parsed


def _children(node):
    for name in ("items", "branches"):
        yield from getattr(node, name, None) or ()
    for name in ("subpattern", "yes_item", "no_item"):
        child = getattr(node, name, None)
        if child is not None:
            yield child


def expansion(pattern):
    """How many nodes compiling `pattern` may build: each node counts once per repetition of what encloses it."""
    total, stack = 0, [(_parse(pattern), 1)]
    while stack:
        node, times = stack.pop()
        total += times * max(len(getattr(node, "characters", None) or ()), 1)
        if total > MAX_EXPANSION:
            break
        if hasattr(node, "min_count"):
            counts = [count for count in (node.min_count, getattr(node, "max_count", None)) if isinstance(count, int)]
            times *= max([1, *counts])
        stack.extend((child, times) for child in _children(node))
    return total


def _build(pattern):
    try:
        size = expansion(pattern)
        if size > MAX_EXPANSION:
            return (
                None,
                (
                    f"The pattern is too large: its repeats expand to more than {MAX_EXPANSION} items "
                    "(nested counted repeats multiply)."
                ),
                1,
            )
        return regex.compile(pattern, cache_pattern=False), None, size
    except regex.error as exc:
        return None, f"Not a valid regular expression: {exc}", 1
    except (ValueError, TypeError, OverflowError, RecursionError, MemoryError, AttributeError, IndexError) as exc:
        # AttributeError/IndexError: what the parser raises on odd input, or if its internals ever change (fail closed).
        return None, f"Not a valid regular expression ({type(exc).__name__}).", 1


_cache = SizedCache(CACHE_WEIGHT)


def _compile(pattern):
    compiled, message, _size = _cache.get(pattern, _build, lambda key, value: value[2] + len(key))
    return compiled, message


def problem(pattern):
    """Why `pattern` is refused, or None when it is a valid pattern of bounded size."""
    return _compile(pattern)[1]


def compile_pattern(pattern):
    """The compiled pattern (cached); PatternError when it is refused."""
    compiled, message = _compile(pattern)
    if compiled is None:
        raise PatternError(message)
    return compiled


class _Allowance:
    def __init__(self, seconds, outer):
        self.remaining = seconds if outer is None else min(seconds, outer.remaining)
        self.outer = outer

    def spend(self, seconds):
        self.remaining -= seconds
        if self.outer is not None:
            self.outer.spend(seconds)


_allowance = contextvars.ContextVar("pattern_allowance", default=None)


@contextlib.contextmanager
def allowance(seconds):
    """Matches inside this block share `seconds` of matching time (all rules of one event, one automation run)."""
    token = _allowance.set(_Allowance(seconds, _allowance.get()))
    try:
        yield
    finally:
        _allowance.reset(token)


def _run(method, pattern, text):
    current = _allowance.get()
    timeout = MATCH_SECONDS if current is None else min(MATCH_SECONDS, current.remaining)
    if timeout <= 0:
        raise PatternTimeout("Not checked: the time allowed for checking patterns ran out.")
    compiled = compile_pattern(pattern)
    started = time.monotonic()
    try:
        # concurrent: the GIL is released while matching (the text is an immutable str), so other threads run on.
        return getattr(compiled, method)(text, timeout=timeout, concurrent=True) is not None
    except TimeoutError:
        raise PatternTimeout(f"The pattern took longer than {timeout:.3g} s to check.") from None
    finally:
        if current is not None:
            current.spend(time.monotonic() - started)


def fullmatch(pattern, text):
    """Whether all of `text` matches; PatternError if refused, PatternTimeout if too slow to decide."""
    return _run("fullmatch", pattern, text)


def search(pattern, text):
    """Whether `pattern` occurs in `text`; PatternError if refused, PatternTimeout if too slow to decide."""
    return _run("search", pattern, text or "")

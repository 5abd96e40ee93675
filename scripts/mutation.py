#!/usr/bin/env python
"""Mutation testing for the riskiest modules: plant one small bug at a time, run the tests that reach it, count survivors.

Run it through scripts/mutation.sh (one PostgreSQL server for the whole run). Per module: a baseline run of the mapped
tests with per-test coverage says which tests execute each line; every mutant then runs only those tests (`-x`) in a
process forked from one that already imported pytest and the third-party libraries. The mutated module is served by an
import hook, so no file on disk changes and the checkout can be shared with people working in it.
"""

import argparse
import ast
import contextlib
import fnmatch
import glob
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Module -> the test files that exercise it. Globs let new test files named after an area join without an edit here;
# a pattern that matches nothing is ignored.
MODULE_TESTS = {
    "api/trackers/resilience.py": [
        "test/test_outbound_resilience.py",
        "test/test_provider_contract.py",
        "test/test_trackers.py",
        "test/test_errors.py",
        "test/test_outbound_policy.py",
        "test/test_resilience*.py",
        "test/test_tracker_*.py",
    ],
    "api/url_policy.py": [
        "test/test_outbound_policy.py",
        "test/test_trackers.py",
        "test/test_subscriptions.py",
        "test/test_url_policy*.py",
    ],
    "api/template_engine.py": [
        "test/test_issue_templates.py",
        "test/test_template_import.py",
        "test/test_webhooks.py",
        "test/test_template_engine*.py",
        "test/test_automation*.py",
        "test/test_sandbox_bombs.py",
    ],
    "api/auth.py": [
        "test/test_auth.py",
        "test/test_users.py",
        "test/test_security.py",
        "test/test_login_limits.py",
        "test/test_perf_queries.py",
        "test/test_perf_auth.py",
        "test/test_auth_*.py",
    ],
    "api/ratelimit.py": [
        "test/test_security.py",
        "test/test_login_limits.py",
        "test/test_http_contract.py",
        "test/test_ratelimit*.py",
        "test/test_rate_limit*.py",
    ],
    "api/services/webhooks.py": [
        "test/test_webhooks.py",
        "test/test_webhook_replay.py",
        "test/test_builtin_events.py",
        "test/test_webhook_*.py",
        "test/test_jira_webhooks.py",
    ],
    "api/services/automations.py": [
        "test/test_webhooks.py",
        "test/test_webhook_replay.py",
        "test/test_builtin_events.py",
        "test/test_automation*.py",
    ],
    "api/services/subscriptions.py": [
        "test/test_subscriptions.py",
        "test/test_builtin_events.py",
        "test/test_outbound_policy.py",
        "test/test_subscription_*.py",
    ],
    "api/services/idempotency.py": [
        "test/test_issues_api.py",
        "test/test_issue_templates.py",
        "test/test_subscriptions.py",
        "test/test_idempotency*.py",
    ],
}

EQUIVALENTS_FILE = ROOT / "scripts" / "mutation_equivalents.txt"
MUTATION_DB = "tg_mutation"
LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
# A mutant whose tests need more than FACTOR x their baseline time (plus SLACK seconds) counts as a timeout (detected).
TIMEOUT_FACTOR, TIMEOUT_SLACK = 3.0, 15.0
PYTEST_EXTRA = []  # --pytest-args, for the baseline and every mutant
STOP = []  # set by SIGINT/SIGTERM: finish with a summary of the mutants run so far


def _stop(signum, frame):
    STOP.append(signum)


# ---------------------------------------------------------------------------------------------------------------- mutants


@dataclass
class Mutant:
    module: str
    index: int
    op: str
    lineno: int
    end_lineno: int
    function: str
    before: str
    after: str
    source: str = field(repr=False)
    status: str = "pending"
    tests_run: int = 0
    seconds: float = 0.0
    detail: str = ""
    usage_lines: list | None = None  # module-level constant: the lines in functions that read it
    # The first line of the innermost statement holding the mutant: coverage records a multi-line condition or
    # literal on that line only, so a mutant on a continuation line is reached by the tests reaching it.
    statement_line: int | None = None

    @property
    def description(self):
        return f"{self.before} -> {self.after}"

    @property
    def location(self):
        return f"{self.module}:{self.lineno}"


_COMPARE_SWAPS = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_BINOP_SWAPS = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.Mult,
    ast.Pow: ast.Mult,
    ast.BitOr: ast.BitAnd,
    ast.BitAnd: ast.BitOr,
}


def _short(text, limit=90):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Generator(ast.NodeVisitor):
    """Walks a module and lists (node, replacement text, operator) edits; annotations, docstrings and logging are skipped."""

    def __init__(self):
        self.edits = []
        self.scope = []

    def add(self, node, replacement, op, function=None):
        self.edits.append((node, replacement, op, function or ".".join(self.scope) or "<module>"))

    # scopes and things never mutated
    def _visit_body_owner(self, node):
        self.scope.append(node.name)
        for decorator in node.decorator_list:
            self.visit(decorator)
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                self.visit(base)
        else:
            for default in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
                self.visit(default)
        self._visit_block(node.body)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _visit_body_owner

    def _visit_block(self, body):
        for position, statement in enumerate(body):
            if position == 0 and _is_docstring(statement):
                continue
            self.visit(statement)

    def visit_Module(self, node):
        self._visit_block(node.body)

    def visit_Import(self, node):
        return

    visit_ImportFrom = visit_Import

    def visit_AnnAssign(self, node):
        if node.value is not None:
            self.visit(node.value)
            self._delete(node)

    def _negate(self, test):
        if _negation_elsewhere(test):
            return
        self.add(test, f"not ({ast.unparse(test)})", "negate-condition")

    def visit_If(self, node):
        if _is_main_guard(node) or _is_type_checking(node):
            return
        self._negate(node.test)
        self.generic_visit(node)

    def visit_While(self, node):
        self._negate(node.test)
        self.generic_visit(node)

    def visit_IfExp(self, node):
        self._negate(node.test)
        self.generic_visit(node)

    def visit_JoinedStr(self, node):
        for value in node.values:  # mutate the expressions inside an f-string, never its literal parts
            if isinstance(value, ast.FormattedValue):
                self.visit(value.value)

    def visit_Compare(self, node):
        for position, operator in enumerate(node.ops):
            swap = _COMPARE_SWAPS.get(type(operator))
            if swap:
                ops = list(node.ops)
                ops[position] = swap()
                self.add(node, ast.unparse(ast.Compare(left=node.left, ops=ops, comparators=node.comparators)), "compare")
        self.generic_visit(node)

    def visit_BoolOp(self, node):
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        self.add(node, ast.unparse(ast.BoolOp(op=other, values=node.values)), "boolean")
        self.generic_visit(node)

    def visit_UnaryOp(self, node):
        if isinstance(node.op, ast.Not):
            self.add(node, ast.unparse(node.operand), "remove-not")
        elif isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
            self.add(node, ast.unparse(node.operand), "sign")
            return
        self.generic_visit(node)

    def visit_BinOp(self, node):
        swap = _BINOP_SWAPS.get(type(node.op))
        if swap:
            self.add(node, ast.unparse(ast.BinOp(left=node.left, op=swap(), right=node.right)), "arithmetic")
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        swap = _BINOP_SWAPS.get(type(node.op))
        if swap:
            self.add(node, ast.unparse(ast.AugAssign(target=node.target, op=swap(), value=node.value)), "arithmetic")
        self.visit(node.value)

    def visit_Constant(self, node):
        value = node.value
        if isinstance(value, bool):
            self.add(node, repr(not value), "constant")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            self.add(node, repr(value + 1), "constant")
        elif isinstance(value, str):
            self.add(node, repr(f"XX{value}XX"), "constant")

    def visit_Call(self, node):
        if _is_logging_call(node):
            return
        self.generic_visit(node)

    def visit_Return(self, node):
        if node.value is not None and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            self.add(node, "return None", "return-none")
        self.generic_visit(node)

    def visit_Expr(self, node):
        if isinstance(node.value, ast.Call) and _is_logging_call(node.value):
            return
        if not isinstance(node.value, ast.Constant):
            self._delete(node)
        self.generic_visit(node)

    def _delete(self, node):
        self.add(node, "pass", "delete-statement")

    def visit_Assign(self, node):
        if not any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            self._delete(node)
            self.visit(node.value)

    def visit_Raise(self, node):
        self._delete(node)
        self.generic_visit(node)

    def visit_Break(self, node):
        self.add(node, "continue", "loop-control")

    def visit_Continue(self, node):
        self.add(node, "break", "loop-control")

    def visit_Delete(self, node):
        self._delete(node)


def _is_docstring(statement):
    value = getattr(statement, "value", None)
    return isinstance(statement, ast.Expr) and isinstance(value, ast.Constant) and isinstance(value.value, str)


def _negation_elsewhere(test):
    """`x == y`, `x is None`, `x in y` and `not x` already get their exact negation from the compare/remove-not operators."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return True
    exact = (ast.Eq, ast.NotEq, ast.Is, ast.IsNot, ast.In, ast.NotIn)
    return isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], exact)


def _is_main_guard(node):
    return isinstance(node.test, ast.Compare) and ast.unparse(node.test).startswith("__name__ ==")


def _is_type_checking(node):
    return ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _is_logging_call(call):
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr in LOG_METHODS):
        return False
    owner = ast.unparse(func.value).lower()
    return "log" in owner  # log.info, logger.warning, current_app.logger.error, logging.error


def _offsets(source):
    """Character offset of each line start, and a (line, byte column) -> character offset converter."""
    lines = source.splitlines(keepends=True)
    starts, total = [0], 0
    for line in lines:
        total += len(line)
        starts.append(total)

    def to_offset(lineno, byte_col):
        line = lines[lineno - 1]
        return starts[lineno - 1] + len(line.encode()[:byte_col].decode(errors="ignore"))

    return to_offset


def generate_mutants(module):
    """All mutants of `module` (a path relative to the repository) that compile and differ from the original."""
    source = (ROOT / module).read_text()
    tree = ast.parse(source)
    generator = _Generator()
    generator.visit(tree)
    to_offset = _offsets(source)
    original_dump = ast.dump(tree)
    usage = _constant_usage(module, tree)
    statements = sorted((node.lineno, node.end_lineno) for node in ast.walk(tree) if isinstance(node, ast.stmt))
    mutants, seen = [], set()
    for node, replacement, op, function in generator.edits:
        start = to_offset(node.lineno, node.col_offset)
        end = to_offset(node.end_lineno, node.end_col_offset)
        before = source[start:end]
        text = replacement if isinstance(node, ast.stmt) or replacement in ("pass",) else f"({replacement})"
        mutated = source[:start] + text + source[end:]
        key = (node.lineno, node.col_offset, replacement)
        if key in seen:
            continue
        seen.add(key)
        try:
            if ast.dump(ast.parse(mutated)) == original_dump:
                continue
            compile(mutated, str(ROOT / module), "exec")
        except SyntaxError:
            continue
        mutants.append(
            Mutant(
                module=module,
                index=len(mutants) + 1,
                op=op,
                lineno=node.lineno,
                end_lineno=node.end_lineno,
                function=function,
                before=_short(before),
                after=_short(replacement),
                source=mutated,
                usage_lines=usage.get(node.lineno),
                statement_line=max((first for first, last in statements if first <= node.lineno <= last), default=None),
            )
        )
    return mutants


def _constant_usage(module, tree):
    """Line of a module-level `NAME = ...` -> the lines inside functions that read NAME, when no other module uses it.

    Such a line runs at import, before any test; the tests that matter are those that reach the code reading it."""
    reads = {}
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            for node in ast.walk(function):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                    reads.setdefault(node.id, set()).add(node.lineno)
    others = "\n".join(path.read_text() for path in (ROOT / "api").rglob("*.py") if path != ROOT / module)
    usage = {}
    for statement in tree.body:
        targets = statement.targets if isinstance(statement, ast.Assign) else [getattr(statement, "target", None)]
        names = [target.id for target in targets if isinstance(target, ast.Name)]
        if not names or len(names) != len(targets) or not isinstance(statement, ast.Assign | ast.AnnAssign):
            continue
        if any(re.search(rf"\b{re.escape(name)}\b", others) for name in names):
            continue
        lines = sorted(set().union(*(reads.get(name, set()) for name in names)))
        for lineno in range(statement.lineno, statement.end_lineno + 1):
            usage[lineno] = lines
    return usage


def load_equivalents():
    """`module[:line] | function | before -> after  # why it is equivalent` lines, as a set of keys."""
    keys = {}
    if not EQUIVALENTS_FILE.exists():
        return keys
    for raw in EQUIVALENTS_FILE.read_text().splitlines():
        line, _, reason = raw.partition("  # ")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [part.strip() for part in line.split(" | ", 2)]
        if len(parts) == 3:
            keys[tuple(parts)] = reason.strip()
    return keys


# ------------------------------------------------------------------------------------------------- pytest-side plugin


class MutationPlugin:
    """Loaded into the baseline run and every mutant run: fast databases, test selection, per-test timings."""

    def __init__(self, selected=None, report=None):
        self.selected = selected  # node ids in the order to run them (None: everything collected, as collected)
        self.report = report
        self.results = {}

    def pytest_collection_modifyitems(self, session, config, items):
        if self.selected is not None:
            rank = {nodeid: position for position, nodeid in enumerate(self.selected)}
            config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in rank])
            items[:] = sorted((item for item in items if item.nodeid in rank), key=lambda item: rank[item.nodeid])

    def pytest_collection_finish(self, session):
        _reuse_database()

    def pytest_runtest_logreport(self, report):
        entry = self.results.setdefault(report.nodeid, {"seconds": 0.0, "outcome": "passed"})
        entry["seconds"] += report.duration
        if report.failed:
            entry["outcome"] = "failed"
        elif report.skipped and entry["outcome"] == "passed":
            entry["outcome"] = "skipped"

    def pytest_sessionfinish(self, session):
        if self.report:
            Path(self.report).write_text(json.dumps(self.results))
            Path(self.report).with_suffix(".modules").write_text("\n".join(list(sys.modules)))


def _reuse_database():
    """Every session uses one migrated database, emptied at the start, instead of creating and migrating its own."""
    name = os.environ.get("MUTATION_DB")
    conftest = sys.modules.get("test.conftest")
    if not name or conftest is None or getattr(conftest, "_mutation_patched", False):
        return
    if not (hasattr(conftest, "_create_database") and hasattr(conftest, "_drop_database")):
        return  # test/conftest.py changed its helpers: every session creates and migrates its own database (slower)
    create, drop, redirected = conftest._create_database, conftest._drop_database, set()

    def create_database(server_url, requested):
        if not requested.startswith("tg_test_"):
            return create(server_url, requested)  # e.g. the empty databases of the migration tests
        redirected.add(requested)
        url = sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:  # a mutant killed on timeout may have left sessions and rows behind
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            tables = (
                connection.execute(
                    sa.text(
                        "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = "
                        "'public' AND tablename <> 'alembic_version'"
                    )
                )
                .scalars()
                .all()
            )
            if tables:
                connection.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return url

    def drop_database(server_url, requested):
        if requested not in redirected:
            drop(server_url, requested)

    import sqlalchemy as sa

    conftest._create_database, conftest._drop_database = create_database, drop_database
    conftest._mutation_patched = True


def pytest_configure(config):
    """Entry point when loaded with `-p mutation` (the baseline run)."""
    if os.environ.get("MUTATION_REPORT"):
        config.pluginmanager.register(MutationPlugin(report=os.environ["MUTATION_REPORT"]), "mutation-report")


class _MutantFinder:
    """Serves one module from the mutated source instead of the file on disk."""

    def __init__(self, name, path, source):
        self.name, self.path, self.source = name, path, source

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        import importlib.util

        return importlib.util.spec_from_file_location(fullname, self.path, loader=self)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(compile(self.source, self.path, "exec"), module.__dict__)  # noqa: S102 - the point of the tool


# ----------------------------------------------------------------------------------------------------------- the runner


def _python_env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "scripts"), str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def create_database():
    """The migrated database every test session reuses (made by a child process: this one must not import `api`)."""
    code = f"""
import sqlalchemy as sa, os
from flask_migrate import upgrade
from api import create_app
from config import BASE_DIR, TestingConfig
server = os.environ["TEST_DATABASE_URL"]
engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
with engine.connect() as c:
    c.execute(sa.text('DROP DATABASE IF EXISTS "{MUTATION_DB}" WITH (FORCE)'))
    c.execute(sa.text('CREATE DATABASE "{MUTATION_DB}"'))
engine.dispose()
url = sa.engine.make_url(server).set(database="{MUTATION_DB}").render_as_string(hide_password=False)
app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url)
with app.app_context():
    upgrade(directory=str(BASE_DIR / "migrations"))
    from api.extensions import db
    db.engine.dispose()
"""
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_python_env(), check=True)


def mapped_files(module, overrides=None):
    patterns = overrides or MODULE_TESTS[module]
    files = []
    for pattern in patterns:
        for match in sorted(glob.glob(str(ROOT / pattern))):
            relative = str(Path(match).relative_to(ROOT))
            if relative not in files:
                files.append(relative)
    return files


def baseline(files, workdir):
    """Run the tests once with per-test coverage: which test reaches which line, how long each takes, which fail."""
    report, data_file = workdir / "baseline.json", workdir / "baseline.coverage"
    command = [
        sys.executable,
        "-m",
        "pytest",
        *files,
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "mutation",
        "--cov=api",
        "--cov-context=test",
        "--cov-report=",
        "--cov-branch",
        *PYTEST_EXTRA,
    ]
    print(f"baseline: {' '.join(files)}", flush=True)
    started = time.monotonic()
    result = subprocess.run(
        command,
        cwd=ROOT,
        env=_python_env(MUTATION_REPORT=str(report), COVERAGE_FILE=str(data_file)),
        capture_output=True,
        text=True,
    )
    print(f"baseline took {time.monotonic() - started:.1f}s (pytest exit {result.returncode})", flush=True)
    if result.returncode not in (0, 1):
        print(result.stdout[-3000:], flush=True)
    if not report.exists():
        sys.exit(f"baseline run failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    tests = json.loads(report.read_text())
    import coverage

    data = coverage.CoverageData(basename=str(data_file))
    data.read()
    return tests, data


def covering_tests(data, module, mutant, tests, kills):
    """Tests whose run reaches the mutant's lines; every mapped test when the line runs at import or in fixture setup."""
    lines = data.contexts_by_lineno(str(ROOT / module))
    passing = [nodeid for nodeid, info in tests.items() if info["outcome"] == "passed"]
    hit, everything = set(), False  # order: the tests that killed most mutants so far, those reaching the line, the rest
    reached = range(min(mutant.statement_line or mutant.lineno, mutant.lineno), mutant.end_lineno + 1)
    if mutant.usage_lines is not None:
        reached = mutant.usage_lines  # a constant read only inside this module's functions: the tests reaching the reads
    for lineno in reached:
        for context in lines.get(lineno, []):
            nodeid, _, phase = context.rpartition("|")
            if not nodeid or phase == "setup":
                everything = True
            else:
                hit.add(nodeid)
    chosen = passing if everything else [nodeid for nodeid in passing if nodeid in hit]
    return sorted(chosen, key=lambda nodeid: (-kills.get(nodeid, 0), nodeid not in hit, tests[nodeid]["seconds"]))


def _preload(modules_file):
    """Import the third-party modules the baseline session imported (pytest, Flask, jsonschema...) once, before forking."""
    ours = ("api", "test", "config", "app", "wsgi", "manage", "__main__", "mutation", "embedded_pg")
    for name in modules_file.read_text().splitlines():
        if name.split(".")[0] in ours or name in sys.modules:
            continue
        with contextlib.suppress(Exception):
            __import__(name)
    leaked = sorted(name for name in sys.modules if name.split(".")[0] in ("api", "test", "config"))
    if leaked:
        sys.exit(f"preloading imported the project's own modules ({', '.join(leaked[:5])}...): the mutants would not load")


def run_mutant(mutant, selected, files, timeout, logdir):
    """Fork, serve the mutated module, run the selected tests with -x; return killed / survived / timeout / error.

    With `mutant.source` None nothing is mutated: the check that the tests pass when run this way."""
    module_name = mutant.module[:-3].replace("/", ".")
    log = logdir / f"{mutant.module.replace('/', '_')}-{mutant.index}.log"
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # child
        _serve_and_test(mutant, module_name, selected, files, log)
    status, code = _wait(pid, started, timeout)
    if status == "pending":
        return status
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # anything the tests left running
    mutant.seconds = time.monotonic() - started
    mutant.tests_run = len(selected)
    if status is None:
        status = {0: "survived", 1: "killed", 2: "killed"}.get(code, "error")
        if status == "killed":
            mutant.detail = _first_failure(log)
        elif status == "error":
            mutant.detail = f"pytest exit {code}, see {log}"
    if status in ("survived", "timeout"):
        mutant.detail = mutant.detail or str(log)
    return status


def _wait(pid, started, timeout):
    """Wait for the forked run: (None, its exit code), ("timeout", None), or ("pending", None) when the run is stopped."""
    while True:
        done, wait_status = os.waitpid(pid, os.WNOHANG)
        if done:
            return None, os.waitstatus_to_exitcode(wait_status)
        if STOP or time.monotonic() - started > timeout:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return ("pending" if STOP else "timeout"), None
        time.sleep(0.02)


def _serve_and_test(mutant, module_name, selected, files, log):
    """In the forked child: serve the mutated module, run the selected tests with -x, exit with pytest's code."""
    code = 3
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.setpgid(0, 0)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        if mutant.source is not None:
            sys.meta_path.insert(0, _MutantFinder(module_name, str(ROOT / mutant.module), mutant.source))
        import pytest

        # Only the files holding the selected tests are collected: collecting the whole mapping costs seconds.
        paths = list(dict.fromkeys(nodeid.split("::")[0] for nodeid in selected)) or files
        code = pytest.main(
            [*paths, "-x", "-q", "-p", "no:cacheprovider", "-W", "ignore", *PYTEST_EXTRA],
            plugins=[MutationPlugin(selected=selected)],
        )
    except BaseException as exc:  # report anything in the log, exit non-zero
        print(f"mutation runner error: {exc!r}", file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(code))


def _first_failure(log):
    """The node id of the first failing test, else the last lines of the log (a failure at session level)."""
    lines = []
    with contextlib.suppress(OSError):
        lines = [line for line in Path(log).read_text(errors="replace").splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("FAILED ", "ERROR ")):
            return _short(line.split(" - ")[0].split(" ", 1)[1], 200)
    return "session failed: " + " / ".join(_short(line, 200) for line in lines[-4:])


def _diff(mutant):
    """The original lines and the mutated one (replacements are always one line)."""
    original = (ROOT / mutant.module).read_text().splitlines()[mutant.lineno - 1 : mutant.end_lineno]
    mutated = mutant.source.splitlines()[mutant.lineno - 1]
    lines = [f"      - {line.rstrip()}" for line in original[:6]]
    return "\n".join([*lines, f"      + {mutated.rstrip()}"])


def _detected(reports):
    """(module, index) of the mutants that earlier runs' report.json files count as killed (or equivalent).

    Indices are stable while the module's source is unchanged; a timeout is not taken as a kill here, so a rerun
    decides it again (a timeout on a loaded machine may only have been slow)."""
    return {
        (m["module"], m["index"])
        for report in reports
        for m in json.loads(Path(report).read_text())["mutants"]
        if m["status"] in ("killed", "equivalent")
    }


def _stale_equivalents(module, mutants, equivalents):
    """Entries for `module` that match none of its mutants: a pinned line that moved, or code that changed."""
    live = {
        key for m in mutants for key in ((f"{module}:{m.lineno}", m.function, m.description), (module, m.function, m.description))
    }
    return [key for key in equivalents if key[0].split(":")[0] == module and key not in live]


def _selected(mutants, args):
    """The mutants `--lines`, `--rerun` and `--limit` leave."""
    if args.lines:
        low, _, high = args.lines.partition("-")
        mutants = [m for m in mutants if int(low) <= m.lineno <= int(high or low)]
    if args.rerun:
        detected = _detected(args.rerun)
        mutants = [m for m in mutants if (m.module, m.index) not in detected]
    return mutants[: args.limit] if args.limit else mutants


def mutate_module(module, args, tests, data, logdir, equivalents, files):
    mutants = generate_mutants(module)
    for key in _stale_equivalents(module, mutants, equivalents):
        print(f"warning: stale equivalent, matches no mutant (re-pin or delete it): {' | '.join(key)}", flush=True)
    mutants = _selected(mutants, args)
    print(f"\n== {module}: {len(mutants)} mutants, tests: {' '.join(files)}", flush=True)
    started, kills = time.monotonic(), {}
    for number, mutant in enumerate(mutants, 1):
        if STOP:
            break
        # `module:line` pins an entry to one line, for a mutation whose text also occurs where it is not equivalent.
        keys = [(f"{module}:{mutant.lineno}", mutant.function, mutant.description), (module, mutant.function, mutant.description)]
        key = next((key for key in keys if key in equivalents), None)
        if key is not None:
            mutant.status, mutant.detail = "equivalent", equivalents[key]
        else:
            selected = covering_tests(data, module, mutant, tests, kills)
            if not selected:
                mutant.status = "no-tests"
            else:
                budget = sum(tests[nodeid]["seconds"] for nodeid in selected)
                mutant.status = run_mutant(mutant, selected, files, TIMEOUT_SLACK + TIMEOUT_FACTOR * budget, logdir)
                if mutant.status == "killed" and mutant.detail in tests:
                    kills[mutant.detail] = kills.get(mutant.detail, 0) + 1
        if mutant.status == "pending":
            break
        mark = {"killed": ".", "timeout": "T", "survived": "S", "no-tests": "N", "equivalent": "E", "error": "!"}[mutant.status]
        print(mark, end="" if number % 60 else f" {number}/{len(mutants)}\n", flush=True)
    elapsed = time.monotonic() - started
    print(flush=True)
    return mutants, elapsed


def summarise(module, mutants, elapsed):
    pending = sum(1 for m in mutants if m.status == "pending")
    mutants = [m for m in mutants if m.status != "pending"]
    if pending:
        print(f"{module}: interrupted, {pending} mutants not run; the figures below cover the {len(mutants)} that were")
    count = {
        status: sum(1 for m in mutants if m.status == status)
        for status in ("killed", "timeout", "survived", "no-tests", "equivalent", "error")
    }
    scored = len(mutants) - count["equivalent"] - count["error"]
    detected = count["killed"] + count["timeout"]
    score = 100.0 * detected / scored if scored else 100.0
    ran = [m for m in mutants if m.status in ("killed", "timeout", "survived", "error")]
    per_mutant = sum(m.seconds for m in ran) / len(ran) if ran else 0.0
    print(
        f"{module}: score {score:.1f}% ({detected}/{scored}) killed {count['killed']} timeout {count['timeout']} "
        f"survived {count['survived']} no-tests {count['no-tests']} equivalent {count['equivalent']} "
        f"error {count['error']} | {elapsed:.0f}s, {per_mutant:.1f}s per mutant run"
    )
    for mutant in mutants:
        if mutant.status in ("survived", "no-tests", "error"):
            print(
                f"  {mutant.status.upper():9} {mutant.location} [{mutant.op}] in {mutant.function}: {mutant.description}"
                + (f"  ({mutant.tests_run} tests)" if mutant.tests_run else "")
            )
            print(_diff(mutant))
            print(
                f"      equivalent? add to scripts/mutation_equivalents.txt: "
                f"{module} | {mutant.function} | {mutant.description}  # why"
            )
    return {
        "module": module,
        "score": round(score, 1),
        "detected": detected,
        "scored": scored,
        **count,
        "seconds": round(elapsed),
        "seconds_per_mutant": round(per_mutant, 2),
    }


def _print_mutants(modules, tests):
    for module in modules:
        print(f"{module}: {' '.join(mapped_files(module, tests))}")
        for mutant in generate_mutants(module):
            print(f"  {mutant.location} [{mutant.op}] {mutant.function}: {mutant.description}")


def _check_run(module, passing, union, tests, logdir):
    """The unmutated tests run the way mutants are run (forked, shared database) must pass, or nothing is measured."""
    check = Mutant(module=module, index=0, op="none", lineno=1, end_lineno=1, function="", before="", after="", source=None)
    status = run_mutant(check, passing, union, TIMEOUT_SLACK + TIMEOUT_FACTOR * sum(i["seconds"] for i in tests.values()), logdir)
    print(f"check run (no mutant, forked, shared database): {status} in {check.seconds:.1f}s", flush=True)
    if status != "survived":
        sys.exit(f"the tests do not pass when run the way mutants are run ({check.detail}); see the -0.log in {logdir}")


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="modules to mutate (default: all of MODULE_TESTS)")
    parser.add_argument("--tests", nargs="+", help="test files/globs instead of the mapping (one module only)")
    parser.add_argument("--lines", help="only mutants starting on these lines, e.g. 40-60")
    parser.add_argument(
        "--rerun",
        nargs="+",
        metavar="REPORT",
        help="only the mutants these earlier report.json files did not count as killed (same source)",
    )
    parser.add_argument("--limit", type=int, help="at most this many mutants per module (a quick check of the tooling)")
    parser.add_argument("--list", action="store_true", help="print the mutants and the mapping, run nothing")
    parser.add_argument("--no-check", action="store_true", help="skip the unmutated run through the mutant machinery")
    parser.add_argument("--pytest-args", default="", help="more pytest arguments for every run, e.g. '-p no:some_plugin'")
    parser.add_argument(
        "--out",
        default=os.environ.get("MUTATION_OUT", str(Path(tempfile.gettempdir()) / "mutation")),
        help="where the logs and report.json go (default $MUTATION_OUT or $TMPDIR/mutation)",
    )
    return parser.parse_args()


def main():
    args = _arguments()
    PYTEST_EXTRA.extend(shlex.split(args.pytest_args))
    modules = args.modules or list(MODULE_TESTS)
    for module in modules:
        if module not in MODULE_TESTS and not args.tests:
            sys.exit(f"{module} is not in MODULE_TESTS; pass --tests or add it to the mapping in {__file__}")
    if args.list:
        _print_mutants(modules, args.tests)
        return 0
    if not os.environ.get("TEST_DATABASE_URL"):
        sys.exit("TEST_DATABASE_URL is not set: run scripts/mutation.sh, which starts one PostgreSQL for the whole run")
    workdir = Path(args.out) / time.strftime("%Y%m%d-%H%M%S")
    logdir = workdir / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    files = {module: mapped_files(module, args.tests) for module in modules}
    union = [f for module in modules for f in files[module]]
    union = list(dict.fromkeys(union))
    create_database()
    os.environ["MUTATION_DB"] = MUTATION_DB
    tests, data = baseline(union, workdir)
    failing = sorted(nodeid for nodeid, info in tests.items() if info["outcome"] == "failed")
    if failing:
        print(f"baseline: {len(failing)} tests fail without any mutant; they are left out:\n  " + "\n  ".join(failing))
    _preload(workdir / "baseline.modules")
    passing = [nodeid for nodeid, info in tests.items() if info["outcome"] == "passed"]
    if not args.no_check:
        _check_run(modules[0], passing, union, tests, logdir)
    equivalents = load_equivalents()
    results, started = [], time.monotonic()
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    for module in modules:
        if STOP:
            break
        in_files = {
            nodeid: info
            for nodeid, info in tests.items()
            if any(fnmatch.fnmatch(nodeid.split("::")[0], f) for f in files[module])
        }
        mutants, elapsed = mutate_module(module, args, in_files, data, logdir, equivalents, files[module])
        results.append((module, mutants, elapsed))
    print("\n" + "=" * 100)
    summary = [summarise(module, mutants, elapsed) for module, mutants, elapsed in results]
    print(f"\ntotal {time.monotonic() - started:.0f}s; report {workdir / 'report.json'}")
    (workdir / "report.json").write_text(
        json.dumps(
            {
                "run_id": uuid.uuid4().hex[:8],
                "summary": summary,
                "mutants": [{k: v for k, v in asdict(m).items() if k != "source"} for _, ms, _ in results for m in ms],
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

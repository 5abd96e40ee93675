"""Pytest plugin: when `CI` is set, a skipped or xfail test fails the run (a skip hides a test that never ran)."""

import os

import pytest


def in_ci():
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


class SkipGuard:
    """Collects skips and xfails (collection included) and turns a green run red."""

    def __init__(self):
        self.reports = []

    def _note(self, report):
        if report.skipped or hasattr(report, "wasxfail"):
            self.reports.append(report)

    def pytest_collectreport(self, report):
        self._note(report)

    def pytest_runtest_logreport(self, report):
        self._note(report)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        if self.reports and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter):
        if not self.reports:
            return
        terminalreporter.section("skipped in CI", red=True, bold=True)
        for report in self.reports:
            reason = getattr(report, "wasxfail", "") or (report.longrepr[2] if isinstance(report.longrepr, tuple) else "")
            terminalreporter.line(f"{report.nodeid or report.fspath}: {reason}")
        terminalreporter.line(f"{len(self.reports)} skipped or xfail while CI is set: the run fails, every test must run in CI.")


def pytest_configure(config):
    if in_ci():
        config.pluginmanager.register(SkipGuard(), "ci-skip-guard")

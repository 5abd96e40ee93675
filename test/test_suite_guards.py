"""The suite's own guards: a skip or xfail fails a CI run, every test has a timeout, process-wide tracker state
does not leak from one test into the next, and the provider specs the tests read ship with the repository."""

import os
import subprocess
import sys
import textwrap

import pytest
import pytest_timeout

from api.trackers.base import TrackerBusy, TrackerCircuitOpen
from api.trackers.providers.github import etag_cache
from api.trackers.resilience import breaker, in_flight, reset_for_tests, shared_session
from config import BASE_DIR
from test.fakes.specs import BUNDLED_SPECS, SPECS_ENV, specs_dir
from test.helpers import wait_until

LEAK_KEY = "suite-guard-leak-check"


def run_pytest(tmp_path, source, ci):
    """Run pytest on one test file in a separate process with the CI guard loaded; (exit code, output)."""
    (tmp_path / "test_sample.py").write_text(textwrap.dedent(source))
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    env["PYTHONPATH"] = str(BASE_DIR)
    if ci is not None:
        env["CI"] = ci
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "test.ci_guard", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


PASSING_AND_SKIPPED = """
    import pytest

    def test_runs():
        pass

    @pytest.mark.skipif(True, reason="payloads not found")
    def test_skipped():
        pass
"""


def test_a_skipped_test_fails_the_run_when_ci_is_set(tmp_path):
    code, output = run_pytest(tmp_path, PASSING_AND_SKIPPED, ci="true")
    assert code == pytest.ExitCode.TESTS_FAILED, output
    assert "skipped in CI" in output and "test_skipped" in output and "payloads not found" in output


def test_a_skipped_test_only_reports_as_skipped_outside_ci(tmp_path):
    for ci in (None, "false"):
        code, output = run_pytest(tmp_path, PASSING_AND_SKIPPED, ci=ci)
        assert code == pytest.ExitCode.OK and "1 skipped" in output and "skipped in CI" not in output, output


@pytest.mark.parametrize(
    "source",
    [
        "import pytest\n\npytest.skip('no specs', allow_module_level=True)\n\ndef test_never_runs():\n    pass\n",
        "import pytest\n\n@pytest.mark.xfail(reason='known bug')\ndef test_expected_to_fail():\n    assert False\n",
        "import pytest\n\n@pytest.mark.xfail(reason='known bug')\ndef test_unexpectedly_passes():\n    pass\n",
        "import pytest\n\ndef test_skips_itself():\n    pytest.skip('not today')\n",
    ],
    ids=["module-level skip", "xfail", "xpass", "skip inside the test"],
)
def test_every_kind_of_skip_or_xfail_fails_the_run_when_ci_is_set(tmp_path, source):
    code, output = run_pytest(tmp_path, source, ci="true")
    assert code == pytest.ExitCode.TESTS_FAILED and "skipped in CI" in output, output


def test_a_real_failure_keeps_its_own_exit_code_in_ci(tmp_path):
    code, output = run_pytest(tmp_path, "def test_fails():\n    assert 1 == 2\n", ci="true")
    assert code == pytest.ExitCode.TESTS_FAILED and "skipped in CI" not in output, output


def test_every_test_has_a_timeout(request):
    settings = pytest_timeout.get_env_settings(request.config)
    assert settings.timeout == 60 and settings.method == "signal"
    assert pytest_timeout._get_item_settings(request.node).timeout == 60


def test_the_tests_read_the_provider_specs_shipped_in_the_repository(monkeypatch):
    monkeypatch.delenv(SPECS_ENV, raising=False)
    assert specs_dir() == BASE_DIR / "test" / "data" / "specs" == BUNDLED_SPECS
    for needed in (
        "github/issues-openapi.json",
        "trello/trello-openapi.json",
        "gitlab/api/issue.json",
        "github/webhooks/issues.opened.json",
        "gitlab/webhooks/issue-hook.json",
        "trello/webhooks/createCard.json",
        "README.md",
        "github/LICENSE.octokit-openapi.txt",
        "trello/webhooks/LICENSE.actionsflow.txt",
    ):
        assert (BUNDLED_SPECS / needed).is_file(), needed
    monkeypatch.setenv(SPECS_ENV, "/elsewhere/specs")
    assert str(specs_dir()) == "/elsewhere/specs"


def test_reset_for_tests_closes_the_circuit_frees_in_flight_slots_and_drops_pooled_sessions():
    for _ in range(3):
        breaker.record_failure(LEAK_KEY, threshold=3)
    held = in_flight.slot(LEAK_KEY, limit=1)
    held.__enter__()
    session = shared_session(7.0, 0)
    with pytest.raises(TrackerCircuitOpen):
        breaker.before_call(LEAK_KEY, threshold=3, reset_seconds=60)
    with pytest.raises(TrackerBusy), in_flight.slot(LEAK_KEY, limit=1):
        pass

    reset_for_tests()

    breaker.before_call(LEAK_KEY, threshold=3, reset_seconds=60)
    with in_flight.slot(LEAK_KEY, limit=1):
        pass
    assert shared_session(7.0, 0) is not session


def test_process_state_left_behind_by_a_test_part_1_leaves_it():
    for _ in range(3):
        breaker.record_failure(LEAK_KEY, threshold=3)
    in_flight.slot(LEAK_KEY, limit=1).__enter__()  # never released, like a call still hanging at teardown
    etag_cache.put(LEAK_KEY, '"etag"', {}, "body")
    assert breaker.is_open(LEAK_KEY)


def test_process_state_left_behind_by_a_test_part_2_starts_clean():
    # Runs after part 1 (file order): the autouse fixture must have cleared what part 1 left.
    assert not breaker.is_open(LEAK_KEY)
    with in_flight.slot(LEAK_KEY, limit=1):
        pass
    assert etag_cache.get(LEAK_KEY) is None


def test_wait_until_returns_the_truthy_value_or_fails_after_its_timeout():
    calls = []
    assert wait_until(lambda: calls.append(1) or (len(calls) >= 3 and "ready")) == "ready"
    assert len(calls) == 3
    with pytest.raises(AssertionError, match=r"never within 0\.1 s"):
        wait_until(lambda: False, timeout=0.1, message="never")

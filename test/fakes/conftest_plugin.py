"""pytest fixtures for the provider fakes: one server per session, state and knobs reset for every test.

For every contract variant with a fake (test/fakes/<slug>.py `CONTRACT_VARIANTS`, e.g. `github`, `jira_dc`) there are
`<variant>_fake_server` (session) and `<variant>_fake` (reset before and after each test); a new provider's fixtures
come from its variants without an edit here. Enable with `-p test.fakes.conftest_plugin` or
`pytest_plugins = ["test.fakes.conftest_plugin"]`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from test.fakes import FakeServer, contract_variants


def _fixtures(name: str, start) -> tuple:
    @pytest.fixture(scope="session", name=f"{name}_fake_server")
    def server() -> Iterator[FakeServer]:
        with start() as fake:
            yield fake

    @pytest.fixture(name=f"{name}_fake")
    def fake(request: pytest.FixtureRequest) -> Iterator[FakeServer]:
        running = request.getfixturevalue(f"{name}_fake_server")
        running.reset()
        yield running
        running.reset()

    server.__doc__ = f"The session's {name} fake server (prefer `{name}_fake`, which is reset per test)."
    fake.__doc__ = f"A running {name} fake with empty state, default knobs and an empty request log."
    return server, fake


for _name, _variant in contract_variants().items():
    if _variant.server is not None:
        globals()[f"{_name}_fake_server"], globals()[f"{_name}_fake"] = _fixtures(_name, _variant.server)

"""Offline HTTP fakes of GitHub, GitLab and Trello that the real client libraries can talk to.

Each fake is a stateful server on 127.0.0.1 (ephemeral port) with seeding helpers, fault knobs
(`latency`, `fail_next`, `rate_limit_next`, `drop_next`, `hang_next`; also over HTTP at
`{base_url}/_fake/control`) and a request log. pytest fixtures live in `test.fakes.conftest_plugin`.
"""

from __future__ import annotations

import sys
import threading

from test.fakes.base import FakeServer, RecordedRequest
from test.fakes.github import GitHubFake
from test.fakes.gitlab import GitLabFake
from test.fakes.trello import TrelloFake, TrelloHTTPService, trello_client

FAKES: dict[str, type[FakeServer]] = {"github": GitHubFake, "gitlab": GitLabFake, "trello": TrelloFake}


def serve(name: str, port: int = 0, host: str = "127.0.0.1") -> None:
    """Run one fake in the foreground until interrupted, for out-of-process benchmarks.

    `python -c "from test.fakes import serve; serve('github', port=8001)"` prints the base URL, then
    seed it with `POST {base_url}/_fake/seed` and steer it with `POST {base_url}/_fake/control`.
    """
    fake = FAKES[name](host, port).start()
    sys.stdout.write(f"{fake.base_url}\n")
    sys.stdout.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


__all__ = [
    "FAKES",
    "FakeServer",
    "GitHubFake",
    "GitLabFake",
    "RecordedRequest",
    "TrelloFake",
    "TrelloHTTPService",
    "serve",
    "trello_client",
]

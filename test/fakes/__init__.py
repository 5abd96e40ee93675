"""Offline HTTP fakes of the remote trackers that the real client libraries can talk to, one module per provider.

Each fake is a stateful server on 127.0.0.1 (ephemeral port) with seeding helpers, fault knobs
(`latency`, `fail_next`, `rate_limit_next`, `drop_next`, `hang_next`; also over HTTP at
`{base_url}/_fake/control`) and a request log. pytest fixtures live in `test.fakes.conftest_plugin`.
"""

from __future__ import annotations

import importlib
import sys
import threading
from pathlib import Path

from api.trackers.registry import all_providers
from test.fakes.base import FakeServer
from test.fakes.github import GitHubFake
from test.fakes.gitlab import GitLabFake
from test.fakes.trello import TrelloFake, trello_client


def provider_kit(slug: str):
    """test/fakes/<slug>.py, which holds the provider's fake and what the shared suites need of it (see test.fakes.kit)."""
    try:
        return importlib.import_module(f"{__name__}.{slug}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{slug}":
            return None
        raise


def fake_class(slug: str) -> type[FakeServer] | None:
    """The fake of a provider, found by module name: the FakeServer subclass defined in test/fakes/<slug>.py."""
    module = provider_kit(slug)
    found = (
        [
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, FakeServer)
            and value is not FakeServer
            and value.__module__ == module.__name__
        ]
        if module
        else []
    )
    return found[0] if len(found) == 1 else None


def _discover() -> dict[str, type[FakeServer]]:
    # Modules without exactly one fake of their own (base, kit, specs, builtin) are left out by fake_class.
    files = Path(__file__).parent.glob("*.py")
    modules = sorted(path.stem for path in files if not path.stem.startswith(("_", "test_", "conftest")))
    return {slug: cls for slug in modules if (cls := fake_class(slug)) is not None}


# Provider slug -> fake class, one per test/fakes/<slug>.py: a new provider's fake is picked up by its module name.
FAKES: dict[str, type[FakeServer]] = _discover()


def kit_items(attribute: str) -> list[tuple[str, object]]:
    """(slug, item) for every item of `attribute` (CONTRACT_VARIANTS, REQUEST_CHECKS, ...) of every registered provider."""
    return [(cls.slug, item) for cls in all_providers() for item in getattr(provider_kit(cls.slug), attribute, ())]


def contract_variants() -> dict:
    """Contract variant name -> ContractVariant, for every registered provider in registry order."""
    return {variant.name: variant for _, variant in kit_items("CONTRACT_VARIANTS")}


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
    "TrelloFake",
    "contract_variants",
    "kit_items",
    "provider_kit",
    "serve",
    "trello_client",
]

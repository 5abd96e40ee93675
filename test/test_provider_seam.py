"""The seam holds: no provider is named above api/trackers/providers/, so adding one edits nothing there."""

import json
import re
from pathlib import Path

from api.trackers.registry import all_providers

API = Path(__file__).resolve().parent.parent / "api"
ABOVE_PROVIDERS = [
    *API.glob("services/**/*.py"),
    *API.glob("resources/**/*.py"),
    *API.glob("schemas/**/*.py"),
    *API.glob("jobs*.py"),
    API / "tasks.py",
    API / "pipeline.py",
]


# Words of display names that name no provider on their own ("Jira (Cloud and Data Center)", "gitlab.com and self-hosted").
GENERIC = {"tracker", "cloud", "data", "center", "server", "and", "com", "self-hosted", "enterprise"}


def _provider_words():
    words = {"built-in"}
    for cls in all_providers():
        words.add(cls.slug)
        words.update(part for part in re.split(r"[^A-Za-z-]+", cls.display_name.lower()) if len(part) > 2)
    return words - GENERIC


def test_no_provider_is_named_in_services_resources_schemas_or_the_worker():
    words = _provider_words()
    pattern = re.compile(r"(?<![A-Za-z])(" + "|".join(sorted(map(re.escape, words))) + r")(?![A-Za-z])", re.IGNORECASE)
    found = []
    for path in ABOVE_PROVIDERS:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in pattern.finditer(line):
                found.append(f"{path.relative_to(API.parent)}:{number}: {match.group(0)}")
    assert not found, "provider names above api/trackers/providers/:\n" + "\n".join(found)


def test_the_check_knows_every_registered_provider():
    words = {word.lower() for word in _provider_words()}
    assert {"github", "gitlab", "trello", "gitea", "jira", "builtin", "built-in"} <= words


def test_the_spec_shows_an_example_body_for_every_provider_and_variant(client):
    description = client.get("/api/v1/swagger.json").get_json()["paths"]["/trackers/"]["post"]["description"]
    for cls in all_providers():
        for body in (cls.examples or {"": cls.example}).values():
            assert json.dumps(body) in description, cls.slug
    assert "jira (data_center)" in description and "gitea" in description

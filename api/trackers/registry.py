"""Provider slug -> class: the one list of providers, imported lazily so a client library loads only when needed."""

import importlib

from api.trackers.base import TrackerProvider

PROVIDERS = {
    "builtin": "api.trackers.providers.builtin:BuiltinProvider",
    "github": "api.trackers.providers.github:GithubProvider",
    "gitea": "api.trackers.providers.gitea:GiteaProvider",
    "gitlab": "api.trackers.providers.gitlab:GitlabProvider",
    "trello": "api.trackers.providers.trello:TrelloProvider",
    "jira": "api.trackers.providers.jira:JiraProvider",
}

_loaded: dict[str, type[TrackerProvider]] = {}


def provider_class(slug: str) -> type[TrackerProvider]:
    """The provider class for a slug; KeyError for an unknown one."""
    if slug not in _loaded:
        module_name, _, class_name = PROVIDERS[slug].partition(":")
        _loaded[slug] = getattr(importlib.import_module(module_name), class_name)
    return _loaded[slug]


def all_providers() -> list[type[TrackerProvider]]:
    """Every registered provider class, in registry order (imports them all)."""
    return [provider_class(slug) for slug in PROVIDERS]

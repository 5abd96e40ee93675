"""Every registered provider is complete: a fake, a spec, the seam attributes, a README row, every declared
capability implemented (not the base class's default), and what the shared suites need beside its fake (a contract
set-up, a request validator, webhook expectations for each real payload file)."""

import re
from pathlib import Path

import pytest

from api.trackers import registry
from api.trackers.base import Capability, TrackerProvider
from api.trackers.providers.github import GithubProvider
from api.trackers.registry import PROVIDERS, provider_class
from test.fakes import FAKES, fake_class, provider_kit

ROOT = Path(__file__).resolve().parent.parent
SPEC_DIRS = (ROOT / "test" / "data" / "specs", ROOT.parent / "shared" / "specs")
SEAM = ("slug", "name", "capabilities", "target_help", "credentials_help", "example", "display_name")
# The methods a capability needs: each must be the provider's own, not TrackerProvider's NotSupported/TypeError default.
NEEDS = {
    Capability.WEBHOOKS: ("create_webhook", "delete_webhook", "verify_webhook", "webhook_delivery", "normalize_webhook"),
    Capability.TEMPLATE_IMPORT: ("list_issue_template_files", "parse_issue_template_file"),
    Capability.COMMENT_EDIT: ("update_comment",),
    Capability.COMMENT_DELETE: ("delete_comment",),
    Capability.ISSUE_DELETE: ("delete_issue",),
    Capability.ATTACHMENTS: ("list_attachments", "add_attachment", "open_attachment", "delete_attachment"),
    Capability.PASSTHROUGH: ("passthrough_root",),
    Capability.PARENT: ("list_children",),
}
# The operations of the deeper issue model: each is either declared and implemented, or neither.
OPERATIONS = (
    Capability.COMMENT_EDIT,
    Capability.COMMENT_DELETE,
    Capability.ISSUE_DELETE,
    Capability.ATTACHMENTS,
    Capability.PASSTHROUGH,
    Capability.PARENT,
)
REMOTE = [slug for slug in PROVIDERS if not provider_class(slug).stores_issues_locally]


def unimplemented(cls):
    """The methods `cls` needs for its declared capabilities but still inherits from TrackerProvider."""
    return [
        name
        for capability in cls.capabilities
        for name in NEEDS.get(capability, ())
        if getattr(cls, name).__qualname__.startswith("TrackerProvider.")
    ]


def readme_rows():
    rows = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        match = re.match(r"^\| `([a-z0-9_]+)` \|(.*)$", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


@pytest.mark.parametrize("slug", PROVIDERS)
def test_provider_declares_every_seam_attribute(slug):
    cls = provider_class(slug)
    missing = [name for name in SEAM if not getattr(cls, name, None)]
    assert not missing, f"{slug} lacks {missing}"
    assert cls.slug == slug and cls.example["provider"] == slug
    assert cls.validate_target(cls.example["target"]) is None, "the example's target must be valid"
    assert cls.validate_credentials(cls.example.get("credentials") or {}) == {}, "the example's credentials must be valid"
    assert set(cls.example.get("credentials") or {}) <= set(cls.credential_keys())
    assert isinstance(cls.quiet_loggers, tuple) and isinstance(cls.webhook_body_signed, bool)


@pytest.mark.parametrize("slug", PROVIDERS)
def test_provider_implements_every_capability_it_declares(slug):
    assert unimplemented(provider_class(slug)) == []


@pytest.mark.parametrize("slug", PROVIDERS)
def test_provider_does_not_implement_what_it_does_not_declare(slug):
    """An operation implemented but not declared would hide behind not_supported: capabilities must say it."""
    cls = provider_class(slug)
    hidden = [
        capability.value
        for capability, names in NEEDS.items()
        if capability in OPERATIONS
        and capability not in cls.capabilities
        and any(not getattr(cls, name).__qualname__.startswith("TrackerProvider.") for name in names)
    ]
    assert hidden == []


@pytest.mark.parametrize("slug", PROVIDERS)
def test_option_enabled_capabilities_are_declared_with_an_option_the_provider_takes(slug):
    cls = provider_class(slug)
    for capability, option in cls.option_capabilities.items():
        assert capability in cls.capabilities
        assert cls.validate_options({option: None}).get(f"options.{option}") != ["Unknown option."], option
        assert capability not in cls.effective_capabilities({})


def test_meta_check_catches_a_declared_but_unimplemented_capability():
    class Hollow(provider_class("builtin")):
        capabilities = frozenset({*provider_class("builtin").capabilities, Capability.WEBHOOKS})

    assert unimplemented(Hollow) == list(NEEDS[Capability.WEBHOOKS])
    assert issubclass(Hollow, TrackerProvider)


@pytest.mark.parametrize("slug", REMOTE)
def test_remote_provider_has_a_fake_found_by_its_module_name(slug):
    assert slug in FAKES, f"no FakeServer subclass in test/fakes/{slug}.py"


@pytest.mark.parametrize("slug", REMOTE)
def test_remote_provider_has_its_spec_and_webhook_payloads(slug):
    folders = [base / slug for base in SPEC_DIRS if (base / slug).is_dir()]
    assert folders, f"no spec folder for {slug} under {[str(base) for base in SPEC_DIRS]}"
    files = [path for folder in folders for path in folder.rglob("*") if path.is_file()]
    assert any(path.suffix in (".json", ".yaml", ".yml") for path in files), f"no spec file for {slug}"
    if Capability.WEBHOOKS in provider_class(slug).capabilities:
        assert any(re.search("webhook|payload", str(path), re.IGNORECASE) for path in files), f"no webhook payloads for {slug}"


@pytest.mark.parametrize("slug", PROVIDERS)
def test_readme_trackers_table_has_a_row_naming_target_and_credentials(slug):
    cls = provider_class(slug)
    row = readme_rows().get(slug)
    assert row, f"README's trackers table has no `{slug}` row"
    target, credentials = row[0], row[1]
    assert target and target != "—"
    for key in cls.credential_keys():
        assert key in credentials, f"README's `{slug}` row does not name the credential {key!r}"
    if not cls.credential_keys():
        assert credentials.startswith("none")


def test_every_provider_quiet_logger_is_kept_at_warning():
    import logging

    from api.observability import configure_logging

    configure_logging("DEBUG")
    for slug in PROVIDERS:
        for name in provider_class(slug).quiet_loggers:
            assert logging.getLogger(name).level == logging.WARNING, f"{slug}'s logger {name!r} is not kept quiet"


def kit_gaps(slug):
    """What the shared suites cannot find for a registered provider in test/fakes/<slug>.py (see test/fakes/kit.py)."""
    cls, module = provider_class(slug), provider_kit(slug)
    remote = not cls.stores_issues_locally
    gaps = []
    if remote and fake_class(slug) is None:
        gaps.append(f"a fake (one FakeServer subclass in test/fakes/{slug}.py)")
    variants = getattr(module, "CONTRACT_VARIANTS", [])
    if not variants:
        gaps.append("a contract set-up (CONTRACT_VARIANTS)")
    if remote and any(variant.server is None for variant in variants):
        gaps.append("a fake server for every contract variant (ContractVariant.server)")
    checks = getattr(module, "REQUEST_CHECKS", [])
    if remote and not checks:
        gaps.append("a request validator (REQUEST_CHECKS)")
    unknown = [check.variant for check in checks if check.variant not in {variant.name for variant in variants}]
    if unknown:
        gaps.append(f"contract variants named by REQUEST_CHECKS: {unknown}")
    if Capability.WEBHOOKS in cls.capabilities:
        expected = {expectation.name for expectation in getattr(module, "WEBHOOK_EXPECTATIONS", [])}
        if not expected:
            gaps.append("webhook expectations (WEBHOOK_EXPECTATIONS)")
        uncovered = sorted(name for name in payload_files(slug) if name not in expected)
        if expected and uncovered:
            gaps.append(f"webhook expectations for the payload files {uncovered}")
    return gaps


def payload_files(slug):
    """The real webhook payloads of a provider, relative to test/data/specs/<slug>/webhooks/."""
    folder = SPEC_DIRS[0] / slug / "webhooks"
    return {str(path.relative_to(folder)) for path in folder.rglob("*.json")} if folder.is_dir() else set()


@pytest.mark.parametrize("slug", PROVIDERS)
def test_provider_has_what_the_shared_suites_need_beside_its_fake(slug):
    assert kit_gaps(slug) == [], f"{slug} lacks {kit_gaps(slug)}"


class Dummy(GithubProvider):
    """A provider registered with nothing beside it in test/fakes/."""

    slug = "dummy"


def test_meta_check_names_what_a_newly_registered_provider_lacks(monkeypatch):
    monkeypatch.setitem(registry.PROVIDERS, "dummy", f"{__name__}:Dummy")
    monkeypatch.setattr(registry, "_loaded", {})
    assert "dummy" in [cls.slug for cls in registry.all_providers()]
    assert kit_gaps("dummy") == [
        "a fake (one FakeServer subclass in test/fakes/dummy.py)",
        "a contract set-up (CONTRACT_VARIANTS)",
        "a request validator (REQUEST_CHECKS)",
        "webhook expectations (WEBHOOK_EXPECTATIONS)",
    ]

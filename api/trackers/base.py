"""The provider interface, the unified model, capabilities and the TrackerError tree.

Every tracker implements TrackerProvider; services call it and never see a provider's own objects,
nor its name: what differs between providers is asked of the class (the seam attributes and hooks below).
A provider instance is built per tracker connection from its decrypted configuration and used for one
request or job; it holds no state worth sharing.
"""

from __future__ import annotations

import abc
import enum
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from api.errors import ApiError

UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET", "__bool__": lambda self: False})()


# The normalized event types every provider's webhooks (and the local tracker's own changes) are mapped to.
EVENT_TYPES = (
    "issue.created", "issue.updated", "issue.closed", "issue.reopened", "issue.labeled", "issue.unlabeled",
    "issue.assigned", "issue.deleted", "comment.created", "comment.updated", "comment.deleted",
    "sync.linked", "sync.conflict", "sync.failed",  # a sync paired two issues, overwrote a value, or failed to write
)


class Capability(enum.Enum):
    ISSUES = "issues"
    COMMENTS = "comments"
    LABELS = "labels"
    MEMBERS = "members"
    DUE_DATE = "due_date"
    WEBHOOKS = "webhooks"
    TEMPLATE_IMPORT = "template_import"


# ---- errors: one HTTP status each, mapped here and nowhere else ---------------------------------

class TrackerError(ApiError):
    """A tracker call failed; subclasses say how, and so which status the API answers."""

    code, error, message = 502, "tracker_error", "The tracker failed to answer."
    default_retry_after = None

    def __init__(self, message=None, *, retry_after=None, **kwargs):
        super().__init__(message, **kwargs)
        retry_after = retry_after if retry_after is not None else self.default_retry_after
        if retry_after is not None:
            self.headers["Retry-After"] = str(max(1, int(retry_after)))


class TrackerAuthFailed(TrackerError):
    code, error, message = 502, "tracker_auth_failed", "The tracker rejected the stored credentials."


class TrackerNotFound(TrackerError):
    code, error, message = 404, "tracker_not_found", "Not found on the tracker."


class TrackerValidationError(TrackerError):
    code, error, message = 422, "tracker_validation_failed", "The tracker rejected the request."


class TrackerRateLimited(TrackerError):
    code, error, message = 503, "tracker_rate_limited", "The tracker's rate limit is exhausted; retry later."


class TrackerTimeout(TrackerError):
    code, error, message = 504, "tracker_timeout", "The tracker did not answer in time."


class TrackerUnavailable(TrackerError):
    code, error, message = 502, "tracker_unavailable", "The tracker could not be reached or failed."


class TrackerCircuitOpen(TrackerError):
    code, error, message = 503, "tracker_circuit_open", "The tracker failed repeatedly; calls are paused briefly."


class TrackerBusy(TrackerError):
    code, error, message = 503, "tracker_busy", "Too many calls to this tracker are already waiting; retry shortly."
    default_retry_after = 1


class NotSupported(TrackerError):
    code, error, message = 400, "not_supported", "Not supported by this provider."


class ManualWebhookSetup(TrackerError):
    """The provider takes this webhook only from its own admin screens: the message says what to paste there."""

    code, error, message = 400, "manual_setup_required", "Register this webhook in the tracker's own settings."


# ---- the unified model -------------------------------------------------------------------------

@dataclass
class Person:
    id: str
    username: str
    name: str | None = None


@dataclass
class Issue:
    id: str
    title: str
    description: str
    status: str  # "open" or "closed"
    remote_status: str
    labels: list[str]
    assignees: list[Person]
    author: Person | None
    url: str | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    due_date: date | None = None
    comments_count: int = 0
    remote_data: dict | None = None


@dataclass
class Comment:
    id: str
    body: str
    author: Person | None
    created_at: datetime
    updated_at: datetime | None


@dataclass
class Label:
    name: str
    color: str | None = None


@dataclass
class Page:
    items: list
    next_cursor: str | None = None


@dataclass
class IssueQuery:
    status: str | None = None  # "open", "closed" or None for both
    labels: list[str] = field(default_factory=list)  # all must match
    assignee: str | None = None  # username
    q: str | None = None  # text in title or description
    updated_since: datetime | None = None
    limit: int = 20
    cursor: str | None = None


@dataclass
class NewIssue:
    title: str
    description: str = ""
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)  # usernames
    due_date: date | None = None


@dataclass
class IssueChanges:
    """Fields to change; UNSET leaves a field alone."""

    title: Any = UNSET
    description: Any = UNSET
    status: Any = UNSET
    labels: Any = UNSET
    assignees: Any = UNSET
    due_date: Any = UNSET

    def set_fields(self):
        return {name: value for name, value in vars(self).items() if value is not UNSET}


@dataclass
class WebhookEvent:
    """One normalized event from a provider's webhook delivery."""

    type: str  # one of EVENT_TYPES
    issue_id: str | None
    issue: Issue | None = None
    comment: Comment | None = None
    changes: dict = field(default_factory=dict)


@dataclass
class WebhookRegistration:
    """What the gateway keeps about its webhook on a provider."""

    hook_id: str
    secret: str  # verifies deliveries (generated by the gateway, or the provider's app secret)
    callback_url: str


@dataclass
class TrackerConfig:
    """What a provider is built from: the stored connection, decrypted, plus call settings."""

    tracker_id: int | None
    target: str
    base_url: str | None = None
    credentials: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    timeout: float = 10.0
    retries: int = 2


# ---- the interface -----------------------------------------------------------------------------

class TrackerProvider(abc.ABC):
    """One tracker connection. Operations a provider lacks raise NotSupported via `require`."""

    slug: ClassVar[str]  # the registry key and the stored `provider`
    name: ClassVar[str]  # short, in messages: "GitHub refused the credentials."
    capabilities: ClassVar[frozenset[Capability]]
    default_base_url: ClassVar[str | None] = None

    # ---- the seam: what services, schemas, docs and the logging set-up ask instead of naming providers ----
    display_name: ClassVar[str] = ""  # "Gitea / Forgejo"; empty means `name`
    # Issues live in the gateway's database: no remote calls (no circuit breaker or in-flight cap), the gateway records
    # the events of its own changes (there are no webhooks), and no webhook echo needs marking.
    stores_issues_locally: ClassVar[bool] = False
    quiet_loggers: ClassVar[tuple[str, ...]] = ()  # client-library loggers that print URLs or tokens: kept at WARNING
    target_help: ClassVar[str] = ""  # what `target` is, for Swagger and the README
    credentials_help: ClassVar[str] = "none ({} or omitted)"
    options_help: ClassVar[str] = ""  # empty: takes none
    example: ClassVar[dict] = {}  # a POST /trackers/ body
    webhook_body_signed: ClassVar[bool] = False  # the webhook signature covers the raw body
    # For the spec: the credential keys it takes, and JSON-schema properties of its options (else the example's keys).
    credential_fields: ClassVar[tuple[str, ...]] = ()
    option_properties: ClassVar[dict] = {}
    # Statuses the provider uses for "your request is invalid" (422 to our caller); see error_for_status.
    validation_statuses: ClassVar[frozenset[int]] = frozenset({400, 409, 422})

    def __init__(self, config: TrackerConfig, *, session=None, actor: str | None = None):
        # `session` and `actor` (the caller's username) matter only to the built-in provider.
        self.config = config
        self.session = session
        self.actor = actor

    @classmethod
    def title(cls) -> str:
        """The name shown to people: display_name, else name."""
        return cls.display_name or cls.name

    @classmethod
    def credential_keys(cls) -> tuple[str, ...]:
        return cls.credential_fields or tuple((cls.example or {}).get("credentials") or {})

    @classmethod
    def option_schema(cls) -> dict:
        return cls.option_properties or {key: {} for key in (cls.example or {}).get("options") or {}}

    @classmethod
    def supports(cls, capability: Capability) -> bool:
        return capability in cls.capabilities

    def require(self, capability: Capability, what: str | None = None):
        """Raise NotSupported unless this provider has `capability`."""
        if capability not in self.capabilities:
            raise NotSupported(f"{what or capability.value.replace('_', ' ').capitalize()} is not supported by "
                               f"the {self.name} provider.")

    @classmethod
    @abc.abstractmethod
    def validate_target(cls, target: str) -> str | None:
        """Return an error message when `target` is malformed for this provider, else None."""

    @classmethod
    def validate_credentials(cls, credentials: dict) -> dict:
        """Return {field: [messages]} for missing or malformed credential fields."""
        return {}

    @classmethod
    def validate_options(cls, options: dict) -> dict:
        """Return {field: [messages]} for unknown or malformed provider options."""
        return {f"options.{key}": ["Unknown option."] for key in options}

    @abc.abstractmethod
    def verify(self) -> dict:
        """Check the credentials and the target; return a short description of the target."""

    @abc.abstractmethod
    def list_issues(self, query: IssueQuery) -> Page:
        """Issues matching `query`, most recently updated first."""

    @abc.abstractmethod
    def get_issue(self, issue_id: str) -> Issue:
        """One issue by its natural key."""

    @abc.abstractmethod
    def create_issue(self, data: NewIssue) -> Issue:
        """Create an issue."""

    @abc.abstractmethod
    def update_issue(self, issue_id: str, changes: IssueChanges) -> Issue:
        """Change some fields of an issue, status included."""

    @abc.abstractmethod
    def list_comments(self, issue_id: str, *, limit: int, cursor: str | None) -> Page:
        """Comments of an issue, oldest first."""

    @abc.abstractmethod
    def create_comment(self, issue_id: str, body: str) -> Comment:
        """Add a comment to an issue."""

    @abc.abstractmethod
    def list_labels(self) -> list[Label]:
        """Labels available on the target."""

    @abc.abstractmethod
    def list_members(self) -> list[Person]:
        """People who can be assigned."""

    # ---- webhooks (providers with Capability.WEBHOOKS override these) ----

    def create_webhook(self, callback_url: str) -> WebhookRegistration:
        """Register the gateway's callback on the provider for issue and comment events."""
        self.require(Capability.WEBHOOKS, "Webhooks")
        raise TypeError(f"{type(self).__name__} declares WEBHOOKS but does not implement it.")

    def delete_webhook(self, hook_id: str) -> None:
        """Remove the gateway's callback from the provider (a hook already gone is fine)."""
        self.require(Capability.WEBHOOKS, "Webhooks")
        raise TypeError(f"{type(self).__name__} declares WEBHOOKS but does not implement it.")

    def verify_webhook(self, headers, body: bytes, registration: WebhookRegistration) -> bool:
        """Whether a delivery is authentic (constant-time comparison)."""
        self.require(Capability.WEBHOOKS, "Webhooks")
        raise TypeError(f"{type(self).__name__} declares WEBHOOKS but does not implement it.")

    def webhook_delivery(self, headers, payload) -> tuple[str | None, str]:
        """The provider's delivery id (for de-duplication, None if it has none) and event name."""
        self.require(Capability.WEBHOOKS, "Webhooks")
        raise TypeError(f"{type(self).__name__} declares WEBHOOKS but does not implement it.")

    def normalize_webhook(self, event_name: str, payload) -> list[WebhookEvent]:
        """Turn a delivery into unified events; an event the gateway does not model yields []."""
        self.require(Capability.WEBHOOKS, "Webhooks")
        raise TypeError(f"{type(self).__name__} declares WEBHOOKS but does not implement it.")

    def list_issue_template_files(self) -> list[tuple[str, str]]:
        """The repository's own issue templates as (file name, text); providers with TEMPLATE_IMPORT override it."""
        self.require(Capability.TEMPLATE_IMPORT, "Importing issue templates")
        raise TypeError(f"{type(self).__name__} declares TEMPLATE_IMPORT but does not implement it.")

    @classmethod
    def parse_issue_template_file(cls, filename: str, text: str) -> dict:
        """One template file -> {name, description, title, body, labels, assignees}; ValueError when malformed."""
        raise NotSupported(f"Importing issue templates is not supported by the {cls.name} provider.")

    # ---- polling (events without webhooks) ----

    @classmethod
    def polling_applies(cls) -> bool:
        """Whether the gateway polls this provider for changes (not when it stores issues and records events itself)."""
        return not cls.stores_issues_locally

    def list_issues_updated_since(self, since: datetime | None, *, limit: int = 100, cursor: str | None = None) -> Page:
        """One page of issues (open and closed) updated at or after `since` (all with None), newest first."""
        return self.list_issues(IssueQuery(updated_since=since, limit=limit, cursor=cursor))

    def list_issue_ids(self, *, page_size: int = 100, max_pages: int = 1000) -> set[str]:
        """The ids of every issue on the target, for deletion detection; providers may answer more cheaply."""
        ids, cursor = set(), None
        for _ in range(max_pages):
            page = self.list_issues(IssueQuery(limit=page_size, cursor=cursor))
            ids.update(issue.id for issue in page.items)
            cursor = page.next_cursor
            if not cursor:
                return ids
        raise TrackerUnavailable(f"{self.name} listed more than {page_size * max_pages} issues; reconcile gave up.")

    # ---- HTTP failures: one status -> error mapping for every adapter ----

    @classmethod
    def error_for_status(cls, status: int | None, message: str = "", *, retry_after=None) -> TrackerError:
        """The TrackerError for a provider's HTTP error status; `message` is the provider's own short, safe text."""
        suffix = f": {message}" if message else "."
        if status == 429:
            return TrackerRateLimited(retry_after=retry_after)
        if status in (401, 403):
            return TrackerAuthFailed(f"{cls.name} refused the credentials{suffix}")
        if status in (404, 410):
            return TrackerNotFound(f"Not found on {cls.name}.")
        if status in cls.validation_statuses:
            return TrackerValidationError(f"{cls.name} rejected the request{suffix}")
        return TrackerUnavailable(f"{cls.name} answered {status}.")


def parse_time(value: str | None) -> datetime | None:
    """A provider timestamp: ISO 8601 (with Z) or GitLab webhooks' "2015-05-17 17:06:40 UTC"."""
    if not value:
        return None
    if value.endswith(" UTC"):
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def hmac_hex(secret: str, message: bytes, digest: str = "sha256") -> str:
    return hmac.new(secret.encode(), message, getattr(hashlib, digest)).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    """Constant-time string comparison that is False for a missing value."""
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())

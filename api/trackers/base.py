"""The provider interface, the unified model, capabilities and the TrackerError tree.

Every tracker implements TrackerProvider; services call it and never see a provider's own objects,
nor its name: what differs between providers is asked of the class (the seam attributes and hooks below).
A provider instance is built per tracker connection from its decrypted configuration and used for one
request or job; it holds no state worth sharing.
"""

from __future__ import annotations

import abc
import contextlib
import contextvars
import dataclasses
import enum
import hashlib
import hmac
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, ClassVar, cast

from api.errors import ApiError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET", "__bool__": lambda self: False})()


# The normalized event types every provider's webhooks (and the local tracker's own changes) are mapped to.
EVENT_TYPES = (
    "issue.created",
    "issue.updated",
    "issue.closed",
    "issue.reopened",
    "issue.labeled",
    "issue.unlabeled",
    "issue.assigned",
    "issue.deleted",
    "comment.created",
    "comment.updated",
    "comment.deleted",
    "attachment.created",
    "attachment.deleted",  # where the provider reports them (the built-in tracker does)
    "sync.linked",
    "sync.conflict",
    "sync.failed",  # a sync paired two issues, overwrote a value, or failed to write
)


class Capability(enum.Enum):
    ISSUES = "issues"
    COMMENTS = "comments"
    LABELS = "labels"
    MEMBERS = "members"
    DUE_DATE = "due_date"
    WEBHOOKS = "webhooks"
    TEMPLATE_IMPORT = "template_import"
    # The deeper issue model and operations (issue 13); "where a provider cannot, 400 not_supported".
    IN_PROGRESS = "in_progress"  # status_category "in_progress" (beside todo/done, which follow status)
    PRIORITY = "priority"
    ISSUE_TYPE = "issue_type"
    PARENT = "parent"  # parent_id and children
    COMMENT_EDIT = "comment_edit"
    COMMENT_DELETE = "comment_delete"
    ISSUE_DELETE = "issue_delete"
    ATTACHMENTS = "attachments"
    PASSTHROUGH = "passthrough"

    @classmethod
    def named(cls, *groups: str) -> frozenset[Capability]:
        """The capabilities whose values the space-separated `groups` name (a misspelt one fails at import)."""
        return frozenset(cls(name) for group in groups for name in group.split())


STATUS_CATEGORIES = ("todo", "in_progress", "done")
PRIORITIES = ("urgent", "high", "normal", "low")


# Options of providers whose workflow state and priority are labels (JSON-schema properties, and their check).
LABEL_WORKFLOW_OPTIONS = {
    "in_progress_label": {
        "type": "string",
        "minLength": 1,
        "maxLength": 100,
        "description": "the label meaning status_category in_progress (unset: in_progress not supported)",
    },
    "priority_labels": {
        "type": "object",
        "additionalProperties": False,
        "properties": {level: {"type": "string", "minLength": 1, "maxLength": 100} for level in PRIORITIES},
        "description": 'priority -> label, e.g. {"high": "priority::high"}',
    },
}
LABEL_WORKFLOW_HELP = (
    'in_progress_label (the label meaning in progress), priority_labels ({"urgent"|"high"|"normal"|"low": label})'
)


def label_workflow_option_errors(options: dict) -> dict:
    """{field: [messages]} for malformed in_progress_label / priority_labels options (others are not looked at)."""
    errors = {}
    label = options.get("in_progress_label")
    if "in_progress_label" in options and not (isinstance(label, str) and 0 < len(label.strip()) <= 100):
        errors["options.in_progress_label"] = ["A label name (1-100 characters)."]
    mapping = options.get("priority_labels")
    if "priority_labels" in options and not (
        isinstance(mapping, dict)
        and set(mapping) <= set(PRIORITIES)
        and all(isinstance(v, str) and 0 < len(v.strip()) <= 100 for v in mapping.values())
    ):
        errors["options.priority_labels"] = [f"An object mapping {', '.join(PRIORITIES)} to label names."]
    return errors


# ---- errors: one HTTP status each, mapped here and nowhere else ---------------------------------


class TrackerError(ApiError):
    """A tracker call failed; subclasses say how, and so which status the API answers."""

    code, error, message = 502, "tracker_error", "The tracker failed to answer."
    default_retry_after: int | None = None

    def __init__(self, message: str | None = None, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        retry_after = retry_after if retry_after is not None else self.default_retry_after
        if retry_after is not None:
            self.headers["Retry-After"] = str(max(1, int(retry_after)))


class TrackerAuthFailed(TrackerError):
    code, error, message = 502, "tracker_auth_failed", "The tracker rejected the stored credentials."


class TrackerForbidden(TrackerError):
    code, error, message = 403, "tracker_forbidden", "The tracker does not let the stored credentials do this."


# Inside an operation on someone's object (a comment), a provider's 403 is its refusal of that act, not of the token.
_permission_scoped = contextvars.ContextVar("permission_scoped", default=False)


@contextlib.contextmanager
def permission_scoped() -> Iterator[None]:
    """Within this block a provider's 403 answers 403 with the provider's reason (TrackerForbidden)."""
    token = _permission_scoped.set(True)
    try:
        yield
    finally:
        _permission_scoped.reset(token)


def in_permission_scope() -> bool:
    """Whether a permission_scoped operation is running (for providers that refuse such acts with another status)."""
    return _permission_scoped.get()


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
    created_at: datetime | None
    updated_at: datetime | None
    closed_at: datetime | None = None
    due_date: date | None = None
    comments_count: int = 0
    remote_data: dict | None = None
    status_category: str | None = None  # todo | in_progress | done; None: follows status (done <=> closed)
    priority: str | None = None  # urgent | high | normal | low | None
    remote_priority: str | None = None  # the provider's own value (a priority name, a label)
    issue_type: str | None = None
    parent_id: str | None = None

    def __post_init__(self) -> None:
        if self.status == "closed":
            self.status_category = "done"
        elif self.status_category in (None, "done"):
            self.status_category = "todo"


@dataclass
class Comment:
    id: str
    body: str
    author: Person | None
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], author: Person | None) -> Comment:
        """A comment from a provider's JSON with `id`, `body` and ISO `created_at` / `updated_at` (GitHub, Gitea, GitLab)."""
        return cls(
            id=str(raw["id"]),
            body=raw.get("body") or "",
            author=author,
            created_at=parse_time(raw.get("created_at")),
            updated_at=parse_time(raw.get("updated_at")),
        )


@dataclass
class Attachment:
    id: str
    filename: str
    content_type: str | None
    size: int | None
    author: Person | None
    created_at: datetime | None
    url: str | None = None


@dataclass
class AttachmentContent:
    """An attachment's bytes as an iterator of chunks (never the whole file at once); `close` releases the source."""

    filename: str
    content_type: str
    size: int | None
    chunks: Any
    close: Any = None

    @classmethod
    def streamed(cls, attachment: Attachment, response: Any) -> AttachmentContent:
        """`attachment`'s bytes from a streaming requests response, 64 KiB at a time; closing closes the response."""
        return cls(
            filename=attachment.filename,
            content_type=cast(str, attachment.content_type),
            size=attachment.size,
            chunks=response.iter_content(64 * 1024),
            close=response.close,
        )


@dataclass
class Upload:
    """A file to attach: a binary stream read chunk by chunk, its checked size, sanitized name and sniffed type."""

    filename: str
    content_type: str
    size: int
    stream: Any


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
    status_category: str | None = None
    priority: str | None = None
    parent_id: str | None = None


@dataclass
class NewIssue:
    title: str
    description: str = ""
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)  # usernames
    due_date: date | None = None
    priority: str | None = None
    issue_type: str | None = None
    parent_id: str | None = None


@dataclass
class IssueChanges:
    """Fields to change; UNSET leaves a field alone."""

    title: Any = UNSET
    description: Any = UNSET
    status: Any = UNSET
    labels: Any = UNSET
    assignees: Any = UNSET
    due_date: Any = UNSET
    status_category: Any = UNSET
    priority: Any = UNSET
    parent_id: Any = UNSET

    def set_fields(self) -> dict[str, Any]:
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
    examples: ClassVar[dict[str, dict]] = {}  # named variants of it where one is not enough (e.g. cloud, data_center)
    webhook_body_signed: ClassVar[bool] = False  # the webhook signature covers the raw body
    # For the spec: the credential keys it takes, and JSON-schema properties of its options (else the example's keys).
    credential_fields: ClassVar[tuple[str, ...]] = ()
    option_properties: ClassVar[dict] = {}
    # Statuses the provider uses for "your request is invalid" (422 to our caller); see error_for_status.
    validation_statuses: ClassVar[frozenset[int]] = frozenset({400, 409, 422})
    # A capability offered only once a tracker option is set: {Capability.IN_PROGRESS: "in_progress_label"}.
    option_capabilities: ClassVar[dict] = {}
    # Unified fields the provider maps itself ("status_category", "priority"); the rest go through labels (see enrich).
    native_fields: ClassVar[frozenset[str]] = frozenset()
    # The passthrough lets '%2F' through inside one path segment (the provider's ids hold a '/', e.g. GitLab's
    # url-encoded project path `group%2Fproject`); every other percent-encoding stays refused.
    passthrough_encoded_slash: ClassVar[bool] = False
    # Its webhooks report an issue's deletion (Jira jira:issue_deleted, Trello deleteCard); else the gateway records the
    # issue.deleted of its own deletes even in webhook mode.
    webhook_reports_deletes: ClassVar[bool] = False

    def __init__(self, config: TrackerConfig, *, session: Session | None = None, actor: str | None = None) -> None:
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
    def effective_capabilities(cls, options: dict | None = None) -> frozenset[Capability]:
        """The declared capabilities less those whose enabling option (option_capabilities) is not set."""
        options = options or {}
        return frozenset(
            capability
            for capability in cls.capabilities
            if not (capability in cls.option_capabilities and not options.get(cls.option_capabilities[capability]))
        )

    def require(self, capability: Capability, what: str | None = None) -> None:
        """Raise NotSupported unless this provider has `capability` (and the option it needs is set)."""
        if capability not in self.effective_capabilities(self.config.options):
            raise NotSupported(
                f"{what or capability.value.replace('_', ' ').capitalize()} is not supported by the {self.name} provider."
            )

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

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, registration: WebhookRegistration) -> bool:
        """Whether a delivery is authentic (constant-time comparison)."""
        self.require(Capability.WEBHOOKS, "Webhooks")
        raise TypeError(f"{type(self).__name__} declares WEBHOOKS but does not implement it.")

    def webhook_delivery(self, headers: Mapping[str, str], payload: dict) -> tuple[str | None, str]:
        """The provider's delivery id (for de-duplication, None if it has none) and event name."""
        self.require(Capability.WEBHOOKS, "Webhooks")
        raise TypeError(f"{type(self).__name__} declares WEBHOOKS but does not implement it.")

    def normalize_webhook(self, event_name: str, payload: dict) -> list[WebhookEvent]:
        """Turn a delivery into unified events; an event the gateway does not model yields []."""
        self.require(Capability.WEBHOOKS, "Webhooks")
        raise TypeError(f"{type(self).__name__} declares WEBHOOKS but does not implement it.")

    def complete_webhook_events(self, events: list[WebhookEvent], read_issue: Callable[[str], Issue]) -> list[WebhookEvent]:
        """Normalized events whose delivery named their issue otherwise than polls do, renamed; by default unchanged.

        normalize_webhook reads the payload only (no credentials); a provider whose deliveries lack the issue's id
        overrides this and reads what it needs through `read_issue(issue_id) -> Issue` (a guarded tracker call).
        """
        return events

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
        ids: set[str] = set()
        cursor: str | None = None
        for _ in range(max_pages):
            page = self.list_issues(IssueQuery(limit=page_size, cursor=cursor))
            ids.update(issue.id for issue in page.items)
            cursor = page.next_cursor
            if not cursor:
                return ids
        raise TrackerUnavailable(f"{self.name} listed more than {page_size * max_pages} issues; reconcile gave up.")

    def list_comments_updated_since(self, since: datetime | None, *, limit: int = 100, cursor: str | None = None) -> Page | None:
        """One page of (issue id, comment) of every issue, updated at or after `since`; None: the provider has no such list.

        Providers that leave an issue's update time alone when one of its comments is edited override it, so that a
        poll sees the edit (see lists_comments_by_update_time).
        """
        return None

    @classmethod
    def lists_comments_by_update_time(cls) -> bool:
        """Whether list_comments_updated_since answers here (the provider overrides the base's None)."""
        return cls.list_comments_updated_since is not TrackerProvider.list_comments_updated_since

    # ---- the deeper model: status category and priority through configured labels unless native ----

    def _in_progress_label(self) -> str | None:
        return self.config.options.get("in_progress_label") or None

    def _priority_labels(self) -> dict:
        value = self.config.options.get("priority_labels")
        return value if isinstance(value, dict) else {}

    def workflow_labels(self) -> tuple[str | None, dict]:
        """(the label meaning in_progress, {priority: label}) where those follow labels here; None and {} where native."""
        return (
            None if "status_category" in self.native_fields else self._in_progress_label(),
            {} if "priority" in self.native_fields else self._priority_labels(),
        )

    def enrich(self, issue: Issue) -> Issue:
        """Fill status_category and priority from the configured labels (native fields are the provider's own)."""
        lowered = {name.lower(): name for name in issue.labels}
        label = self._in_progress_label()
        if "status_category" not in self.native_fields and issue.status != "closed" and label and label.lower() in lowered:
            issue.status_category = "in_progress"
        if "priority" not in self.native_fields:
            for level in PRIORITIES:
                name = self._priority_labels().get(level)
                if name and name.lower() in lowered:
                    issue.priority, issue.remote_priority = level, lowered[name.lower()]
                    break
        return issue

    def _priority_label(self, level: str) -> str:
        self.require(Capability.PRIORITY, "Priority")
        label = self._priority_labels().get(level)
        if not label:
            raise NotSupported(
                f"Priority {level!r} has no label configured (options.priority_labels) on this {self.name} tracker."
            )
        return label

    def prepare_query(self, query: IssueQuery) -> IssueQuery | None:
        """The query the provider is asked (filters mapped onto status and labels); None when nothing can match."""
        query = dataclasses.replace(query, labels=list(query.labels))
        category = query.status_category
        if category and "status_category" not in self.native_fields:
            status = "closed" if category == "done" else "open"
            if query.status and query.status != status:
                return None
            query.status = status
            if category == "in_progress":
                self.require(Capability.IN_PROGRESS, "The in_progress status category")
                query.labels.append(self._in_progress_label() or "")
        if query.priority and "priority" not in self.native_fields:
            query.labels.append(self._priority_label(query.priority))
        if query.parent_id is not None:
            self.require(Capability.PARENT, "Parent issues")
        return query

    @staticmethod
    def keep(issue: Issue, query: IssueQuery) -> bool:
        """Whether an (enriched) issue matches the unified filters the provider could only approximate."""
        return (not query.status_category or issue.status_category == query.status_category) and (
            not query.priority or issue.priority == query.priority
        )

    def prepare_new(self, data: NewIssue) -> NewIssue:
        """A new issue with unified fields the provider does not take natively turned into labels, or refused."""
        data = dataclasses.replace(data, labels=list(data.labels))
        if data.priority and "priority" not in self.native_fields:
            data.labels.append(self._priority_label(data.priority))
            data.priority = None
        if data.issue_type:
            self.require(Capability.ISSUE_TYPE, "Issue types")
        if data.parent_id:
            self.require(Capability.PARENT, "Parent issues")
        return data

    def prepare_changes(self, issue_id: str, changes: IssueChanges) -> IssueChanges:
        """Changes with status_category/priority turned into status and labels unless the provider maps them itself."""
        fields = changes.set_fields()
        if "parent_id" in fields:
            self.require(Capability.PARENT, "Parent issues")
        category = fields.get("status_category") if "status_category" not in self.native_fields else None
        by_labels_priority = "priority" in fields and "priority" not in self.native_fields
        if not category and not by_labels_priority:
            return changes
        changes = dataclasses.replace(changes)
        labels = fields.get("labels")
        labels = list(labels if labels is not None else self.get_issue(issue_id).labels)
        if category:
            status = "closed" if category == "done" else "open"
            if fields.get("status", status) != status:
                raise TrackerValidationError(
                    "status and status_category disagree.", errors={"status_category": [f"{category!r} means status {status!r}."]}
                )
            label = self._in_progress_label()
            if category == "in_progress":
                self.require(Capability.IN_PROGRESS, "The in_progress status category")
            if label:
                labels = [name for name in labels if name.lower() != label.lower()]
                if category == "in_progress":
                    labels.append(label)
            changes.status, changes.status_category = status, UNSET
        if by_labels_priority:
            level = fields["priority"]
            wanted = self._priority_label(level) if level else None
            if not level:
                self.require(Capability.PRIORITY, "Priority")
            configured = {name.lower() for name in self._priority_labels().values() if name}
            labels = [name for name in labels if name.lower() not in configured] + ([wanted] if wanted else [])
            changes.priority = UNSET
        changes.labels = list(dict.fromkeys(labels))
        return changes

    def list_children(self, issue_id: str, *, limit: int, cursor: str | None) -> Page:
        """Issues whose parent is `issue_id`."""
        self.require(Capability.PARENT, "Parent and child issues")
        raise TypeError(f"{type(self).__name__} declares PARENT but does not implement list_children.")

    # ---- comment edit/delete, issue delete ----

    def update_comment(self, issue_id: str, comment_id: str, body: str) -> Comment:
        """Change a comment's text."""
        self.require(Capability.COMMENT_EDIT, "Editing comments")
        raise TypeError(f"{type(self).__name__} declares COMMENT_EDIT but does not implement it.")

    def delete_comment(self, issue_id: str, comment_id: str) -> None:
        """Delete a comment."""
        self.require(Capability.COMMENT_DELETE, "Deleting comments")
        raise TypeError(f"{type(self).__name__} declares COMMENT_DELETE but does not implement it.")

    def delete_issue(self, issue_id: str) -> None:
        """Delete an issue for good."""
        self.require(Capability.ISSUE_DELETE, "Deleting issues")
        raise TypeError(f"{type(self).__name__} declares ISSUE_DELETE but does not implement it.")

    # ---- attachments ----

    def list_attachments(self, issue_id: str) -> list[Attachment]:
        """An issue's attachments, oldest first."""
        self.require(Capability.ATTACHMENTS, "Attachments")
        raise TypeError(f"{type(self).__name__} declares ATTACHMENTS but does not implement it.")

    def add_attachment(self, issue_id: str, upload: Upload) -> Attachment:
        """Attach a file, read from `upload.stream` without holding it all in memory where the provider allows."""
        self.require(Capability.ATTACHMENTS, "Attachments")
        raise TypeError(f"{type(self).__name__} declares ATTACHMENTS but does not implement it.")

    def open_attachment(self, issue_id: str, attachment_id: str) -> AttachmentContent:
        """An attachment's bytes as chunks, fetched with the stored credentials."""
        self.require(Capability.ATTACHMENTS, "Attachments")
        raise TypeError(f"{type(self).__name__} declares ATTACHMENTS but does not implement it.")

    def delete_attachment(self, issue_id: str, attachment_id: str) -> None:
        """Remove an attachment."""
        self.require(Capability.ATTACHMENTS, "Attachments")
        raise TypeError(f"{type(self).__name__} declares ATTACHMENTS but does not implement it.")

    # ---- passthrough ----

    def passthrough_root(self) -> tuple[str, dict, dict]:
        """(API root URL, auth headers, auth query parameters) for a raw call relative to the provider's API root."""
        self.require(Capability.PASSTHROUGH, "The passthrough")
        raise TypeError(f"{type(self).__name__} declares PASSTHROUGH but does not implement it.")

    # ---- HTTP failures: one status -> error mapping for every adapter ----

    @classmethod
    def error_for_status(cls, status: int | None, message: str = "", *, retry_after: float | None = None) -> TrackerError:
        """The TrackerError for a provider's HTTP error status; `message` is the provider's own short, safe text."""
        suffix = f": {message}" if message else "."
        if status == 429:
            return TrackerRateLimited(retry_after=retry_after)
        if status == 403 and _permission_scoped.get():
            return TrackerForbidden(f"{cls.name} refused{suffix}")
        if status in (401, 403):
            return TrackerAuthFailed(f"{cls.name} refused the credentials{suffix}")
        if status in (404, 410):
            return TrackerNotFound(f"Not found on {cls.name}.")
        if status in cls.validation_statuses:
            return TrackerValidationError(f"{cls.name} rejected the request{suffix}")
        return TrackerUnavailable(f"{cls.name} answered {status}.")


def multipart_upload(field_name: str, upload: Upload, **fields: str) -> tuple[Any, str]:
    """A streaming multipart/form-data body (file read as it is sent, never all at once) and its Content-Type."""
    from requests_toolbelt import MultipartEncoder  # type: ignore[import-untyped]  # shipped with python-gitlab

    encoder = MultipartEncoder(fields={**fields, field_name: (upload.filename, upload.stream, upload.content_type)})
    return encoder, encoder.content_type


def guess_type(filename: str) -> str:
    import mimetypes

    return mimetypes.guess_type(filename or "")[0] or "application/octet-stream"


def same_origin(url: str | None, root: str | None) -> bool:
    """Whether `url` is on the scheme and host of `root` (credentials are sent nowhere else)."""
    from urllib.parse import urlsplit

    a, b = urlsplit(url or ""), urlsplit(root or "")
    return bool(a.scheme) and (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower())


_NUMERIC_ID = re.compile(r"[0-9]{1,19}")


def numeric_id(value: object, *, what: str = "Issue", bits: int = 31) -> int:
    """A provider's numeric id from a path segment: plain ASCII digits below 2**bits, else that object is not found."""
    text = str(value)
    if not _NUMERIC_ID.fullmatch(text) or int(text) >= 2**bits:
        raise TrackerNotFound(f"{what} {text[:50]} not found.")
    return int(text)


def parse_time(value: str | None) -> datetime | None:
    """A provider timestamp: ISO 8601 (with Z) or GitLab webhooks' "2015-05-17 17:06:40 UTC"."""
    if not value:
        return None
    if value.endswith(" UTC"):
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def utc_z(moment: datetime) -> str:
    """`moment` as ISO 8601 in UTC to the second with a Z (a naive one is UTC); strftime's %Y would not pad year 781."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def hmac_hex(secret: str, message: bytes, digest: str = "sha256") -> str:
    return hmac.new(secret.encode(), message, getattr(hashlib, digest)).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    """Constant-time string comparison that is False for a missing value."""
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())

"""Jira Cloud (REST v3, Atlassian Document Format) and Jira Data Center (REST v2, wiki markup) through the `jira` client.

The client's own ResilientSession (its sleeping retries, its cookie jar) is replaced by `_SharedSession`, which sends
every call over the gateway's shared resilient session with this connection's credentials. Calls the client has no
fitting method for (search pages, comment pages, transitions lookups, createmeta, webhooks) use that same session
through the client's `_get_json` / `_session`, so no Jira call bypasses the shared session.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import re
import secrets
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from api.schemas.base import decode_cursor, encode_cursor
from api.trackers.base import (
    PRIORITIES,
    Attachment,
    AttachmentContent,
    Capability,
    Comment,
    Issue,
    IssueChanges,
    IssueQuery,
    Label,
    ManualWebhookSetup,
    NewIssue,
    NotSupported,
    Page,
    Person,
    TrackerError,
    TrackerNotFound,
    TrackerProvider,
    TrackerUnavailable,
    TrackerValidationError,
    Upload,
    WebhookEvent,
    WebhookRegistration,
    guess_type,
    hmac_hex,
    in_permission_scope,
    multipart_upload,
    numeric_id,
    parse_time,
    same,
    same_origin,
)
from api.trackers.providers.jira_markup import (
    MarkupTooLarge,
    adf_to_markdown,
    markdown_to_adf,
    markdown_to_wiki,
    wiki_to_markdown,
)
from api.trackers.resilience import provider_message, retry_after_seconds, shared_session, transport_errors

if TYPE_CHECKING:
    import requests
    from jira import JIRA, JIRAError

    from api.trackers.resilience import TimeoutSession

TARGET = re.compile(r"^[A-Z][A-Z0-9_]{0,49}$")
ISSUE_KEY = re.compile(r"^([A-Z][A-Z0-9_]{0,49})-([1-9]\d{0,9})$")
ISSUE_NUMBER = re.compile(r"^[1-9]\d{0,17}$")
LABEL = re.compile(r"^\S{1,255}$")
CLOUD = "cloud"
DATA_CENTER = "data_center"
DEPLOYMENTS = (CLOUD, DATA_CENTER)
STRING_OPTIONS = ("issue_type", "closed_transition", "open_transition")
ISSUE_FIELDS = [
    "summary",
    "description",
    "status",
    "labels",
    "assignee",
    "reporter",
    "created",
    "updated",
    "resolutiondate",
    "duedate",
    "comment",
    "project",
    "issuetype",
    "priority",
    "parent",
]
# Jira's stock priority names -> the unified priority (options.priority_map replaces it for a site's own names).
DEFAULT_PRIORITY_MAP = {"Highest": "urgent", "High": "high", "Medium": "normal", "Low": "low", "Lowest": "low"}
MAX_PRIORITY_NAMES = 50
# The unified status category <-> Jira's status category (key, and its name in JQL).
CATEGORY_KEYS = {"todo": ("new", "To Do"), "in_progress": ("indeterminate", "In Progress"), "done": ("done", "Done")}
MAX_PAGES = 10  # labels/members: at most 10 pages
PAGE_SIZE = 100
DC_MEMBERS = 1000
# Lucene's special characters mean nothing to a user typing words; they are blanked so a text search stays a
# text search (the value is quoted and escaped for JQL in any case).
LUCENE_SPECIAL = re.compile(r'[+\-&|!(){}\[\]^"~*?\\/:]')
JQL_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

log = logging.getLogger(__name__)

_deployments: dict[str, str] = {}  # base URL -> detected deployment (serverInfo is asked once per process)
_deployments_lock = threading.Lock()
MAX_REMEMBERED_DEPLOYMENTS = 1000


def jql_string(value: object) -> str:
    """A JQL string literal: double-quoted, with backslash, quote and control characters escaped."""
    text = JQL_CONTROL.sub(" ", str(value))
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _SharedSession:
    """What the jira client calls `_session`: each request goes through the shared resilient session (timeouts,
    retries for idempotent methods only, the URL policy with the checked address pinned, no redirects, no cookies)
    with this connection's auth, and failures raise the client's JIRAError as its own session would."""

    def __init__(self, session: TimeoutSession, auth: Any, headers: Mapping[str, str]) -> None:
        self._shared = session
        self.auth = auth
        self.headers = dict(headers)

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        headers = {**self.headers, **(kwargs.pop("headers", None) or {})}
        kwargs.pop("proxies", None)
        kwargs.pop("allow_redirects", None)
        response = self._shared.request(method.upper(), url, headers=headers, auth=self.auth, allow_redirects=False, **kwargs)
        from jira.resilientsession import raise_on_error

        raise_on_error(response)
        return response

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, data: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", url, data=data, **kwargs)

    def put(self, url: str, data: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("PUT", url, data=data, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", url, **kwargs)

    def close(self) -> None:
        pass  # the pooled session outlives this client


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _time(value: object) -> datetime | None:
    """A Jira timestamp, or None for a missing or malformed one (provider data is not trusted to parse)."""
    with contextlib.suppress(TypeError, ValueError):
        return parse_time(value) if isinstance(value, str) else None
    return None


def _date(value: object) -> date | None:
    with contextlib.suppress(TypeError, ValueError):
        return date.fromisoformat(value) if isinstance(value, str) and value else None
    return None


def _int(value: object) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _person(raw: object, deployment: str) -> Person | None:
    if not isinstance(raw, dict) or not raw:
        return None
    if deployment == CLOUD or (raw.get("accountId") and not raw.get("name")):
        account = str(raw.get("accountId") or "")
        return Person(id=account, username=account, name=raw.get("displayName"))
    return Person(
        id=str(raw.get("key") or raw.get("name") or ""),
        username=raw.get("name") or raw.get("key") or "",
        name=raw.get("displayName"),
    )


class JiraProvider(TrackerProvider):
    slug = "jira"
    name = "Jira"
    display_name = "Jira (Cloud and Data Center)"
    stores_issues_locally = False
    quiet_loggers = ("jira",)  # the client logs request URLs and response bodies at INFO/DEBUG
    target_help = "The Jira project key, e.g. PROJ."
    credentials_help = (
        'Jira Cloud: {"email": "...", "api_token": "..."} (HTTP basic); Jira Data Center: '
        '{"token": "..."} (a personal access token, sent as Authorization: Bearer ...).'
    )
    options_help = (
        'deployment: "cloud" | "data_center" (default: Cloud for *.atlassian.net, else serverInfo '
        "deploymentType); issue_type: the issue type name for new issues (default: the project's first "
        "standard type); closed_transition / open_transition: workflow transition names for status changes "
        "(default: the first transition into, or out of, the Done category); priority_map: Jira priority "
        "name -> urgent|high|normal|low (default: Highest urgent, High high, Medium normal, Low and Lowest "
        "low; setting a unified priority picks the first name mapped to it)."
    )
    example = {
        "name": "Jira Cloud",
        "provider": "jira",
        "target": "PROJ",
        "base_url": "https://example.atlassian.net",
        "credentials": {"email": "me@example.com", "api_token": "..."},
        "options": {"issue_type": "Task"},
    }
    examples = {
        "cloud": example,
        "data_center": {
            "name": "Jira DC",
            "provider": "jira",
            "target": "PROJ",
            "base_url": "https://jira.example.com",
            "credentials": {"token": "..."},
            "options": {"deployment": "data_center"},
        },
    }
    webhook_body_signed = True
    credential_fields = ("email", "api_token", "token")
    option_properties = {
        "deployment": {"type": "string", "enum": list(DEPLOYMENTS)},
        **{key: {"type": "string", "minLength": 1, "maxLength": 255} for key in STRING_OPTIONS},
        "priority_map": {
            "type": "object",
            "maxProperties": MAX_PRIORITY_NAMES,
            "additionalProperties": {"type": "string", "enum": list(PRIORITIES)},
            "description": 'Jira priority name -> unified priority, e.g. {"Blocker": "urgent"}',
        },
    }
    capabilities = Capability.named(
        "issues comments labels members due_date webhooks",
        "in_progress priority issue_type parent",
        "comment_edit comment_delete issue_delete attachments passthrough",
    )
    native_fields = frozenset({"status_category", "priority"})  # Jira's own status category and priorities
    webhook_reports_deletes = True  # jira:issue_deleted
    COMMENT_EVENTS = {
        "comment_created": "comment.created",
        "comment_updated": "comment.updated",
        "comment_deleted": "comment.deleted",
    }
    ATTACHMENT_EVENTS = {"attachment_created": "attachment.created", "attachment_deleted": "attachment.deleted"}
    HOOK_EVENTS = [
        "jira:issue_created",
        "jira:issue_updated",
        "jira:issue_deleted",
        "comment_created",
        "comment_updated",
        "comment_deleted",
        "attachment_created",
        "attachment_deleted",
    ]

    # ---- configuration ---------------------------------------------------------------------------------------

    @classmethod
    def validate_target(cls, target: str) -> str | None:
        return None if TARGET.match(target or "") else "Must be a Jira project key such as PROJ (upper case)."

    @classmethod
    def validate_credentials(cls, credentials: dict) -> dict:
        errors = {f"credentials.{key}": ["Unknown field."] for key in credentials if key not in ("email", "api_token", "token")}
        cloud = any(key in credentials for key in ("email", "api_token"))
        if cloud and "token" in credentials:
            errors["credentials"] = ['Either {"email", "api_token"} (Cloud) or {"token"} (Data Center), not both.']
        elif cloud:
            for key in ("email", "api_token"):
                if not isinstance(credentials.get(key), str) or not credentials[key].strip():
                    errors[f"credentials.{key}"] = [f"A Jira Cloud {key.replace('_', ' ')} is required."]
        elif not isinstance(credentials.get("token"), str) or not credentials["token"].strip():
            errors["credentials.token"] = [
                'A Jira personal access token is required (or "email" and "api_token" for Jira Cloud).'
            ]
        return errors

    @classmethod
    def validate_options(cls, options: dict) -> dict:
        errors = {
            f"options.{key}": ["Unknown option."] for key in options if key not in ("deployment", "priority_map", *STRING_OPTIONS)
        }
        if "deployment" in options and options["deployment"] not in DEPLOYMENTS:
            errors["options.deployment"] = ['"cloud" or "data_center".']
        for key in STRING_OPTIONS:
            if key in options and not (isinstance(options[key], str) and 0 < len(options[key].strip()) <= 255):
                errors[f"options.{key}"] = ["A non-empty name (at most 255 characters)."]
        mapping = options.get("priority_map")
        if "priority_map" in options and not (
            isinstance(mapping, dict)
            and 0 < len(mapping) <= MAX_PRIORITY_NAMES
            and all(isinstance(name, str) and 0 < len(name.strip()) <= 255 for name in mapping)
            and all(value in PRIORITIES for value in mapping.values())
        ):
            errors["options.priority_map"] = [
                f"An object mapping Jira priority names to {', '.join(PRIORITIES)} (1-{MAX_PRIORITY_NAMES} names)."
            ]
        return errors

    @classmethod
    def parse_issue_template_file(cls, filename: str, text: str) -> dict:
        raise NotSupported("Importing issue templates is not supported by the Jira provider.")

    @property
    def _base_url(self) -> str:
        return (self.config.base_url or "").rstrip("/")

    @property
    def deployment(self) -> str:
        """ "cloud" or "data_center": the option, else the host, else the server's own deploymentType."""
        chosen = (self.config.options or {}).get("deployment")
        if chosen in DEPLOYMENTS:
            return chosen
        host = (urlsplit(self._base_url).hostname or "").lower()
        if host.endswith((".atlassian.net", ".jira.com")):
            return CLOUD
        with _deployments_lock:
            known = _deployments.get(self._base_url)
        if known:
            return known
        info = self._call("GET", "serverInfo", version="2")
        found = CLOUD if str(info.get("deploymentType") or "").lower() == "cloud" else DATA_CENTER
        with _deployments_lock:
            if len(_deployments) >= MAX_REMEMBERED_DEPLOYMENTS:
                _deployments.clear()
            _deployments[self._base_url] = found
        return found

    @property
    def _cloud(self) -> bool:
        return self.deployment == CLOUD

    # ---- transport -------------------------------------------------------------------------------------------

    def _client(self, version: str) -> JIRA:
        clients = self.__dict__.setdefault("_clients", {})
        if version not in clients:
            clients[version] = self._new_client(version)
        return clients[version]

    def _new_client(self, version: str) -> JIRA:
        # The jira client library is imported when a Jira tracker is first used, not at start-up.
        from jira import JIRA
        from jira.client import TokenAuth

        credentials = self.config.credentials or {}
        auth: TokenAuth | tuple[str, str]
        if credentials.get("token"):
            auth = TokenAuth(credentials["token"])
        else:
            auth = (credentials.get("email") or "", credentials.get("api_token") or "")
        client = JIRA(
            server=self._base_url,
            options={"rest_api_version": version, "check_update": False},
            get_server_info=False,
            max_retries=0,
            timeout=self.config.timeout,
            logging=False,
        )
        own = client._session
        client._session = _SharedSession(
            shared_session(self.config.timeout, self.config.retries),
            auth,  # type: ignore[assignment]
            client._options["headers"],
        )
        own.close()
        return client

    @property
    def _version(self) -> str:
        return "3" if self._cloud else "2"

    def _jira(self) -> JIRA:
        return self._client(self._version)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        version: str | None = None,
        root: str | None = None,
    ) -> Any:
        """One REST call through the client's session; `root` replaces /rest/api/<v>/ (e.g. the webhooks API)."""
        with self._translate():
            client = self._client(version or self._version)
            url = f"{self._base_url}{root}{path}" if root else client._get_url(path)
            kwargs: dict[str, Any] = {"params": params} if params else {}
            if body is not None:
                kwargs["data"] = json.dumps(body)
            response = client._session.request(method, url, **kwargs)
            if response.status_code == 204 or not response.content:
                return {}
            try:
                return response.json()
            except ValueError:
                raise TrackerUnavailable("Jira answered with something that is not JSON.") from None

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            with transport_errors():
                yield
        except Exception as exc:
            jira = sys.modules.get("jira")  # nothing raises its JIRAError before the jira client library is imported
            if jira is None or not isinstance(exc, jira.JIRAError):
                raise
            raise self._error(exc) from None

    @classmethod
    def _error(cls, exc: JIRAError) -> TrackerError:
        status = exc.status_code or 0
        response = exc.response
        details = []
        with contextlib.suppress(ValueError, AttributeError):
            data = response.json()  # type: ignore[union-attr]  # no response: the AttributeError is suppressed
            if isinstance(data, dict):
                details = [str(m) for m in (data.get("errorMessages") or [])[:10] if isinstance(m, str)]
                errors = data["errors"] if isinstance(data.get("errors"), dict) else {}
                details += [f"{field}: {value}" for field, value in list(errors.items())[:10]]
                if not details and isinstance(data.get("message"), str):
                    details = [data["message"]]
        message = provider_message("; ".join(details))
        if status == 400 and in_permission_scope() and "permission" in message.lower():
            status = 403  # Jira Cloud refuses an edit or delete of someone else's comment with a 400
        if status == 410:  # an API Jira has removed (Cloud's old search): the gateway's fault, not a missing issue
            return TrackerUnavailable(f"Jira answered 410: {message}" if message else "Jira answered 410.")
        headers = dict(response.headers) if response is not None else {}
        return cls.error_for_status(status, message, retry_after=retry_after_seconds(headers) if status == 429 else None)

    # ---- conversions -----------------------------------------------------------------------------------------

    @staticmethod
    def _text_out(value: object) -> str:
        """Markdown for a Jira description or comment body (ADF on Cloud v3, wiki markup elsewhere)."""
        if isinstance(value, dict):
            return adf_to_markdown(value)
        return wiki_to_markdown(value) if value else ""

    def _text_in(self, markdown: str) -> dict | str:
        try:
            return markdown_to_adf(markdown) if self._cloud else markdown_to_wiki(markdown)
        except MarkupTooLarge as exc:
            raise TrackerValidationError(str(exc)) from None

    def _to_issue(self, raw: dict, deployment: str | None = None) -> Issue:
        deployment = deployment or self.deployment
        fields = _dict(raw.get("fields"))
        status = _dict(fields.get("status"))
        category = str(_dict(status.get("statusCategory")).get("key") or "").lower()
        assignee = _person(fields.get("assignee"), deployment)
        priority = str(_dict(fields.get("priority")).get("name") or "") or None
        # Webhook deliveries are read without the tracker's base URL: the issue's own REST link gives the site.
        site = self._base_url or str(raw.get("self") or "").partition("/rest/")[0]
        return Issue(
            id=str(raw.get("key") or raw.get("id")),
            title=str(fields.get("summary") or ""),
            description=self._text_out(fields.get("description")),
            status="closed" if category == "done" else "open",
            remote_status=str(status.get("name") or ""),
            labels=[str(label) for label in fields.get("labels") or [] if isinstance(label, str)],
            assignees=[assignee] if assignee else [],
            author=_person(fields.get("reporter") or fields.get("creator"), deployment),
            url=f"{site}/browse/{raw['key']}" if raw.get("key") and site.startswith(("https://", "http://")) else None,
            created_at=_time(fields.get("created")),
            updated_at=_time(fields.get("updated")),
            closed_at=_time(fields.get("resolutiondate")),
            due_date=_date(fields.get("duedate")),
            comments_count=_int(_dict(fields.get("comment")).get("total")),
            status_category="in_progress" if category == "indeterminate" else None,
            priority=self._priority_level(priority),
            remote_priority=priority,
            issue_type=str(_dict(fields.get("issuetype")).get("name") or "") or None,
            parent_id=str(_dict(fields.get("parent")).get("key") or "") or None,
            remote_data=raw,
        )

    def _to_comment(self, raw: dict, deployment: str | None = None) -> Comment:
        deployment = deployment or self.deployment
        return Comment(
            id=str(raw.get("id")),
            body=self._text_out(raw.get("body")),
            author=_person(raw.get("author"), deployment),
            created_at=_time(raw.get("created")),
            updated_at=_time(raw.get("updated")),
        )

    # ---- helpers ---------------------------------------------------------------------------------------------

    def _priority_map(self) -> dict[str, str]:
        mapping = (self.config.options or {}).get("priority_map")
        return mapping if isinstance(mapping, dict) and mapping else DEFAULT_PRIORITY_MAP

    def _priority_level(self, name: str | None) -> str | None:
        """The unified priority of a Jira priority name (None for a name the map does not know)."""
        if not name:
            return None
        return {key.lower(): level for key, level in self._priority_map().items()}.get(name.lower())

    def _priority_names(self, level: str) -> list[str]:
        """The Jira priority names meaning `level`, the one to set first."""
        names = [name for name, mapped in self._priority_map().items() if mapped == level]
        if not names:
            raise TrackerValidationError(
                f"No Jira priority is mapped to {level!r} (options.priority_map).",
                errors={"priority": [f"No Jira priority name maps to {level!r}."]},
            )
        return names

    def _priority(self, level: str | None) -> dict[str, str] | None:
        return {"name": self._priority_names(level)[0]} if level else None

    def _parent(self, parent_id: str | None) -> dict[str, str] | None:
        """The parent field for an issue of this project (Jira refuses a parent its hierarchy does not allow: 422)."""
        if not parent_id:
            return None
        try:
            return {"key": self._fetch(self._key(parent_id))["key"]}
        except TrackerNotFound:
            raise TrackerValidationError(
                f"No issue {parent_id} in the Jira project.", errors={"parent_id": ["No such issue on this tracker."]}
            ) from None

    def _key(self, issue_id: str) -> str:
        """The issue key for an id of this tracker's project; other projects' issues are not found here."""
        issue_id = str(issue_id)
        match = ISSUE_KEY.match(issue_id)
        if match and match.group(1) == self.config.target:
            return issue_id
        if ISSUE_NUMBER.match(issue_id):
            return self._fetch(issue_id)["key"]
        raise TrackerNotFound(f"Issue {issue_id} not found.")

    def _fetch(self, issue_id: str) -> dict:
        raw = self._call("GET", f"issue/{issue_id}", params={"fields": ",".join(ISSUE_FIELDS)})
        if ((raw.get("fields") or {}).get("project") or {}).get("key") != self.config.target or not raw.get("key"):
            raise TrackerNotFound(f"Issue {issue_id} not found.")
        return raw

    def _people(self) -> list[dict]:
        if self._cloud:
            people: list[dict] = []
            for page in range(MAX_PAGES):
                batch = self._call(
                    "GET",
                    "user/assignable/search",
                    params={"project": self.config.target, "startAt": page * PAGE_SIZE, "maxResults": PAGE_SIZE},
                )
                people += batch if isinstance(batch, list) else []
                if not isinstance(batch, list) or len(batch) < PAGE_SIZE:
                    break
            return people
        batch = self._call("GET", "user/assignable/search", params={"project": self.config.target, "maxResults": DC_MEMBERS})
        return batch if isinstance(batch, list) else []

    def _assignee(self, usernames: list[str]) -> dict[str, str] | None:
        """The Jira assignee value for a unified assignee list (Jira issues have at most one assignee)."""
        if len(usernames) > 1:
            raise TrackerValidationError(
                "A Jira issue has one assignee.", errors={"assignees": ["Jira issues take at most one assignee."]}
            )
        if not usernames:
            return None
        wanted = usernames[0].lower()
        for raw in self._people():
            person = _person(raw, self.deployment)
            if person and wanted in {str(value).lower() for value in (person.username, person.id) if value}:
                return {"accountId": person.id} if self._cloud else {"name": person.username}
        raise TrackerValidationError(
            f"Not assignable in the Jira project: {usernames[0]}.", errors={"assignees": [f"Unknown member: {usernames[0]}"]}
        )

    @staticmethod
    def _labels(labels: list[str]) -> list[str]:
        bad = [label for label in labels if not LABEL.match(label)]
        if bad:
            raise TrackerValidationError(
                "Jira labels cannot contain spaces.", errors={"labels": [f"Not a Jira label: {label}" for label in bad[:10]]}
            )
        return list(labels)

    def _issue_type(self) -> dict[str, str]:
        wanted = (self.config.options or {}).get("issue_type")
        if wanted:
            return {"name": wanted}
        raw = self._call("GET", f"issue/createmeta/{self.config.target}/issuetypes", params={"startAt": 0, "maxResults": 50})
        types = raw if isinstance(raw, list) else (raw.get("issueTypes") or raw.get("values") or [])
        standard = [t for t in types if isinstance(t, dict) and not t.get("subtask")]
        if not standard:
            raise TrackerValidationError("The Jira project offers no issue type to create issues with.")
        return {"id": str(standard[0]["id"])}

    def _transition(self, key: str, status: str) -> None:
        """Move an issue into (or out of) the Done category through a transition its workflow offers."""
        raw = self._fetch(key)
        category = (((raw["fields"].get("status") or {}).get("statusCategory") or {}).get("key") or "").lower()
        if (category == "done") == (status == "closed"):
            return
        offered = self._call("GET", f"issue/{key}/transitions").get("transitions") or []
        named = (self.config.options or {}).get("closed_transition" if status == "closed" else "open_transition")

        def target_category(transition: dict) -> str:
            return (((transition.get("to") or {}).get("statusCategory") or {}).get("key") or "").lower()

        if named:
            chosen = [t for t in offered if str(t.get("name") or "").lower() == named.lower()]
        elif status == "closed":
            chosen = [t for t in offered if target_category(t) == "done"]
        else:
            chosen = sorted((t for t in offered if target_category(t) != "done"), key=lambda t: target_category(t) != "new")
        if not chosen:
            names = ", ".join(sorted({str(t.get("name")) for t in offered})) or "none"
            wanted = f'"{named}"' if named else ("into Done" if status == "closed" else "out of Done")
            raise TrackerValidationError(
                f"The Jira workflow offers no transition {wanted} for {key}; available: {names}.",
                errors={"status": [f"Available transitions: {names}"]},
            )
        self._call("POST", f"issue/{key}/transitions", body={"transition": {"id": str(chosen[0]["id"])}})

    def _search(self, jql: str, *, limit: int, cursor: str | None, fields: list[str]) -> tuple[list[dict], str | None]:
        """One page of a JQL search: Cloud's search/jql with nextPageToken, DC's search with startAt."""
        if self._cloud:
            params = {"jql": jql, "maxResults": limit, "fields": ",".join(fields)}
            if cursor:
                params["nextPageToken"] = decode_cursor(cursor, types=(str,))[0]
            raw = self._call("GET", "search/jql", params=params)
            token = raw.get("nextPageToken")
            more = token and not raw.get("isLast")
            return raw.get("issues") or [], (encode_cursor([str(token)]) if more else None)
        start = decode_cursor(cursor, types=(int,))[0] if cursor else 0
        raw = self._call("GET", "search", params={"jql": jql, "startAt": start, "maxResults": limit, "fields": ",".join(fields)})
        issues = raw.get("issues") or []
        more = issues and start + len(issues) < int(raw.get("total") or 0)
        return issues, (encode_cursor([start + len(issues)]) if more else None)

    # ---- the interface ---------------------------------------------------------------------------------------

    def verify(self) -> dict:
        raw = self._call("GET", f"project/{self.config.target}")
        return {"provider": self.slug, "target": raw.get("key"), "url": f"{self._base_url}/browse/{raw.get('key')}"}

    def _jql_clauses(self, query: IssueQuery) -> list[str]:
        """The query's filters as JQL clauses (updated_since apart)."""
        clauses = [f"project = {jql_string(self.config.target)}"]
        if query.status:
            clauses.append(f"statusCategory {'=' if query.status == 'closed' else '!='} {jql_string('Done')}")
        if query.status_category:
            if query.status_category == "in_progress":
                self.require(Capability.IN_PROGRESS, "The in_progress status category")
            clauses.append(f"statusCategory = {jql_string(CATEGORY_KEYS[query.status_category][1])}")
        clauses += [f"labels = {jql_string(label)}" for label in query.labels]
        if query.priority:
            clauses.append(f"priority in ({', '.join(jql_string(name) for name in self._priority_names(query.priority))})")
        if query.parent_id:
            clauses.append(f"parent = {jql_string(self._key(query.parent_id))}")
        if query.assignee:
            clauses.append(f"assignee = {jql_string(query.assignee)}")
        if query.q:
            words = " ".join(LUCENE_SPECIAL.sub(" ", query.q).split())
            if words:
                clauses.append(f"text ~ {jql_string(words)}")
        return clauses

    def list_issues(self, query: IssueQuery) -> Page:
        clauses = self._jql_clauses(query)
        since = None
        if query.updated_since:
            # JQL dates are read in the Jira user's time zone; minutes relative to now are not, so the search asks
            # for a little more and the exact bound is applied here.
            since = query.updated_since if query.updated_since.tzinfo else query.updated_since.replace(tzinfo=UTC)
            minutes = (datetime.now(UTC) - since).total_seconds() / 60
            relative = f"-{math.ceil(minutes) + 1}m" if minutes >= 0 else f"{max(0, math.floor(-minutes) - 1)}m"
            clauses.append(f"updated >= {jql_string(relative)}")
        jql = " AND ".join(clauses) + " ORDER BY updated DESC, key DESC"
        deployment = self.deployment
        raw_issues, next_cursor = self._search(jql, limit=query.limit, cursor=query.cursor, fields=ISSUE_FIELDS)
        issues = [self._to_issue(raw, deployment) for raw in raw_issues]
        if since is not None:
            issues = [issue for issue in issues if issue.updated_at is None or issue.updated_at >= since]
        return Page(items=issues, next_cursor=next_cursor)

    def get_issue(self, issue_id: str) -> Issue:
        issue_id = str(issue_id)
        if not ((match := ISSUE_KEY.match(issue_id)) and match.group(1) == self.config.target) and not ISSUE_NUMBER.match(
            issue_id
        ):
            raise TrackerNotFound(f"Issue {issue_id} not found.")
        return self._to_issue(self._fetch(issue_id))

    def create_issue(self, data: NewIssue) -> Issue:
        fields: dict[str, Any] = {
            "project": {"key": self.config.target},
            "summary": data.title,
            "issuetype": {"name": data.issue_type} if data.issue_type else self._issue_type(),
        }
        if data.description:
            fields["description"] = self._text_in(data.description)
        if data.labels:
            fields["labels"] = self._labels(data.labels)
        if data.assignees:
            fields["assignee"] = self._assignee(data.assignees)
        if data.due_date:
            fields["duedate"] = data.due_date.isoformat()
        if data.priority:
            fields["priority"] = self._priority(data.priority)
        if data.parent_id:
            fields["parent"] = self._parent(data.parent_id)
        with self._translate():
            # The client's create_issue: POST /issue, then GET of the new issue (prefetch), both on the shared session.
            created = self._jira().create_issue(fields=fields, prefetch=False)
        return self._to_issue(self._fetch(created.key))

    def _changed_fields(self, changed: dict[str, Any]) -> dict[str, Any]:
        """The Jira fields a PUT sets for the changed unified fields (status apart)."""
        fields: dict[str, Any] = {}
        if "title" in changed:
            fields["summary"] = changed["title"]
        if "description" in changed:
            fields["description"] = self._text_in(changed["description"]) if changed["description"] else None
        if "labels" in changed:
            fields["labels"] = self._labels(changed["labels"] or [])
        if "assignees" in changed:
            fields["assignee"] = self._assignee(changed["assignees"] or [])
        if "due_date" in changed:
            fields["duedate"] = changed["due_date"].isoformat() if changed["due_date"] else None
        if "priority" in changed:
            fields["priority"] = self._priority(changed["priority"])
        if "parent_id" in changed:
            fields["parent"] = self._parent(changed["parent_id"])
        return fields

    def update_issue(self, issue_id: str, changes: IssueChanges) -> Issue:
        key = self._key(issue_id)
        changed = changes.set_fields()
        fields = self._changed_fields(changed)
        category = changed.get("status_category")
        if category and changed.get("status", "closed" if category == "done" else "open") != (
            "closed" if category == "done" else "open"
        ):
            raise TrackerValidationError(
                "status and status_category disagree.",
                errors={"status_category": [f"{category!r} and status {changed['status']!r}."]},
            )
        if fields:
            self._call("PUT", f"issue/{key}", body={"fields": fields})
        if category:
            self._to_category(key, category)
        elif "status" in changed:
            self._transition(key, changed["status"])
        return self._to_issue(self._fetch(key))

    def _to_category(self, key: str, category: str) -> None:
        """Move an issue into a status of the unified category's Jira status category, through an offered transition."""
        wanted = CATEGORY_KEYS[category][0]
        raw = self._fetch(key)
        current = (((raw["fields"].get("status") or {}).get("statusCategory") or {}).get("key") or "").lower()
        if current == wanted:
            return
        offered = self._call("GET", f"issue/{key}/transitions").get("transitions") or []
        chosen = [t for t in offered if (((t.get("to") or {}).get("statusCategory") or {}).get("key") or "").lower() == wanted]
        if not chosen:
            names = ", ".join(sorted({str(t.get("name")) for t in offered})) or "none"
            raise TrackerValidationError(
                f"The Jira workflow offers no transition into {CATEGORY_KEYS[category][1]} for {key}; available: {names}.",
                errors={"status_category": [f"Available transitions: {names}"]},
            )
        self._call("POST", f"issue/{key}/transitions", body={"transition": {"id": str(chosen[0]["id"])}})

    def list_children(self, issue_id: str, *, limit: int, cursor: str | None) -> Page:
        key = self._key(issue_id)
        deployment = self.deployment
        raw_issues, next_cursor = self._search(
            f"parent = {jql_string(key)} ORDER BY created ASC, key ASC", limit=limit, cursor=cursor, fields=ISSUE_FIELDS
        )
        return Page(items=[self._to_issue(raw, deployment) for raw in raw_issues], next_cursor=next_cursor)

    def list_comments(self, issue_id: str, *, limit: int, cursor: str | None) -> Page:
        key = self._key(issue_id)
        start = decode_cursor(cursor, types=(int,))[0] if cursor else 0
        raw = self._call("GET", f"issue/{key}/comment", params={"startAt": start, "maxResults": limit, "orderBy": "created"})
        comments = raw.get("comments") or []
        more = comments and start + len(comments) < int(raw.get("total") or 0)
        deployment = self.deployment
        return Page(
            items=[self._to_comment(c, deployment) for c in comments],
            next_cursor=encode_cursor([start + len(comments)]) if more else None,
        )

    def create_comment(self, issue_id: str, body: str) -> Comment:
        key = self._key(issue_id)
        with self._translate():
            comment = self._jira().add_comment(key, self._text_in(body))
        return self._to_comment(comment.raw)

    # ---- comment edit/delete, issue delete, passthrough (issue 13) ----

    def _comment_path(self, issue_id: str, comment_id: str) -> str:
        return f"issue/{self._key(issue_id)}/comment/{numeric_id(comment_id, what='Comment', bits=63)}"

    def update_comment(self, issue_id: str, comment_id: str, body: str) -> Comment:
        return self._to_comment(self._call("PUT", self._comment_path(issue_id, comment_id), body={"body": self._text_in(body)}))

    def delete_comment(self, issue_id: str, comment_id: str) -> None:
        self._call("DELETE", self._comment_path(issue_id, comment_id))

    def delete_issue(self, issue_id: str) -> None:
        self._call("DELETE", f"issue/{self._key(issue_id)}")  # Jira refuses (400) an issue with sub-tasks

    # ---- attachments: Jira's own ----

    def _to_attachment(self, raw: dict) -> Attachment:
        filename = str(raw.get("filename") or "attachment")
        return Attachment(
            id=str(raw.get("id")),
            filename=filename,
            content_type=raw.get("mimeType") or guess_type(filename),
            size=_int(raw.get("size")),
            author=_person(raw.get("author"), self.deployment),
            created_at=_time(raw.get("created")),
            url=raw.get("content"),
        )

    def _attachments(self, key: str) -> list[dict]:
        raw = self._call("GET", f"issue/{key}", params={"fields": "attachment,project"})
        if ((raw.get("fields") or {}).get("project") or {}).get("key") != self.config.target:
            raise TrackerNotFound(f"Issue {key} not found.")
        return [item for item in raw["fields"].get("attachment") or [] if isinstance(item, dict)]

    def _attachment_of(self, issue_id: str, attachment_id: str) -> dict:
        found = next((item for item in self._attachments(self._key(issue_id)) if str(item.get("id")) == str(attachment_id)), None)
        if found is None:
            raise TrackerNotFound(f"Attachment {attachment_id} not found.")
        return found

    def list_attachments(self, issue_id: str) -> list[Attachment]:
        return [self._to_attachment(raw) for raw in self._attachments(self._key(issue_id))]

    def add_attachment(self, issue_id: str, upload: Upload) -> Attachment:
        key = self._key(issue_id)
        body, content_type = multipart_upload("file", upload)
        with self._translate():
            client = self._jira()
            response = client._session.request(
                "POST",
                client._get_url(f"issue/{key}/attachments"),
                data=body,
                headers={"Content-Type": content_type, "X-Atlassian-Token": "no-check"},
            )
        return self._to_attachment(response.json()[0])

    def open_attachment(self, issue_id: str, attachment_id: str) -> AttachmentContent:
        attachment = self._to_attachment(self._attachment_of(issue_id, attachment_id))
        with self._translate():
            client = self._jira()
            if self._cloud:  # the content endpoint redirects to Atlassian's media service unless told not to
                url, params = client._get_url(f"attachment/content/{attachment.id}"), {"redirect": "false"}
            elif same_origin(attachment.url, self._base_url):
                url, params = cast(str, attachment.url), None  # same_origin is False for a missing URL
            else:
                raise TrackerUnavailable("Jira pointed the download at another host; the credentials are not sent there.")
            response = client._session.request("GET", url, params=params, stream=True)
        return AttachmentContent.streamed(attachment, response)

    def delete_attachment(self, issue_id: str, attachment_id: str) -> None:
        self._call("DELETE", f"attachment/{self._attachment_of(issue_id, attachment_id)['id']}")

    def passthrough_root(self) -> tuple[str, dict, dict]:
        credentials = self.config.credentials or {}
        if credentials.get("token"):
            auth = f"Bearer {credentials['token']}"
        else:
            pair = f"{credentials.get('email') or ''}:{credentials.get('api_token') or ''}".encode()
            auth = "Basic " + base64.b64encode(pair).decode()
        return f"{self._base_url}/rest/api/{self._version}", {"Authorization": auth}, {}

    def list_labels(self) -> list[Label]:
        names: set[str] = set()
        if self._cloud:
            for page in range(MAX_PAGES):
                raw = self._call("GET", "label", params={"startAt": page * PAGE_SIZE * 10, "maxResults": PAGE_SIZE * 10})
                names.update(str(value) for value in raw.get("values") or [])
                if raw.get("isLast", True):
                    break
        # The labels in use in the project (Data Center has no label listing at all).
        issues, _ = self._search(
            f"project = {jql_string(self.config.target)} AND labels IS NOT EMPTY ORDER BY updated DESC",
            limit=PAGE_SIZE,
            cursor=None,
            fields=["labels"],
        )
        for raw in issues:
            names.update(str(label) for label in (raw.get("fields") or {}).get("labels") or [])
        return [Label(name=name) for name in sorted(names)]

    def list_members(self) -> list[Person]:
        deployment = self.deployment
        return [person for person in (_person(raw, deployment) for raw in self._people()) if person]

    # ---- webhooks --------------------------------------------------------------------------------------------

    def create_webhook(self, callback_url: str) -> WebhookRegistration:
        if self._cloud:
            raise ManualWebhookSetup(
                "Jira Cloud lets only a site administrator register a signed webhook, and not through an API token: "
                f"in Jira settings > System > WebHooks, create one with the URL {callback_url}, the JQL filter "
                f"'project = {self.config.target}', the issue (created, updated, deleted), comment (created, "
                "updated, deleted) and attachment (created, deleted) events, and the secret below."
            )
        secret = secrets.token_urlsafe(32)
        hook = self._call(
            "POST",
            "webhook",
            root="/rest/webhooks/1.0/",
            body={
                "name": f"Ticket Gateway ({self.config.target})",
                "url": callback_url,
                "events": self.HOOK_EVENTS,
                "filters": {"issue-related-events-section": f"project = {jql_string(self.config.target)}"},
                "excludeBody": False,
                "secret": secret,
            },
        )
        hook_id = str(hook.get("self") or "").rstrip("/").rsplit("/", 1)[-1]
        if not hook_id.isdigit():
            raise TrackerUnavailable("Jira did not say which webhook it created.")
        return WebhookRegistration(hook_id=hook_id, secret=secret, callback_url=callback_url)

    def delete_webhook(self, hook_id: str) -> None:
        if not str(hook_id).isdigit() or self._cloud:
            return
        with contextlib.suppress(TrackerNotFound):
            self._call("DELETE", f"webhook/{hook_id}", root="/rest/webhooks/1.0/")

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, registration: WebhookRegistration) -> bool:
        return same(headers.get("X-Hub-Signature"), "sha256=" + hmac_hex(registration.secret, body))

    def webhook_delivery(self, headers: Mapping[str, str], payload: dict) -> tuple[str | None, str]:
        return headers.get("X-Atlassian-Webhook-Identifier"), str(payload.get("webhookEvent") or "unknown")

    def _hook_issue(self, raw: object, deployment: str) -> Issue | None:
        if not isinstance(raw, dict) or not (raw.get("key") or raw.get("id")):
            return None
        return self._to_issue(raw, deployment)

    @staticmethod
    def _hook_deployment(payload: dict) -> str:
        # Webhook bodies are REST v2 shaped on both; Cloud people carry an accountId, Data Center ones a key.
        for holder in (
            payload.get("user"),
            payload.get("comment", {}).get("author") if isinstance(payload.get("comment"), dict) else None,
        ):
            if isinstance(holder, dict):
                return CLOUD if holder.get("accountId") else DATA_CENTER
        return DATA_CENTER

    def _attachment_events(self, name: str, payload: dict, issue: Issue | None, deployment: str) -> list[WebhookEvent]:
        """Jira's attachment_created/deleted: the attachment, and its issue where the delivery names one."""
        raw = payload.get("attachment")
        if not isinstance(raw, dict) or not raw.get("id"):
            return []
        issue_id = issue.id if issue else (str(raw["issueId"]) if str(raw.get("issueId") or "").isdigit() else None)
        filename = str(raw.get("filename") or "attachment")
        author = _person(raw.get("author"), deployment)
        attachment = {
            "id": str(raw["id"]),
            "filename": filename,
            "content_type": raw.get("mimeType") or guess_type(filename),
            "size": _int(raw.get("size")),
            "author": author.username if author else None,
            "created_at": raw.get("created") if isinstance(raw.get("created"), str) else None,
        }
        return [
            WebhookEvent(type=self.ATTACHMENT_EVENTS[name], issue_id=issue_id, issue=issue, changes={"attachment": attachment})
        ]

    def normalize_webhook(self, event_name: str, payload: dict) -> list[WebhookEvent]:
        name = str(payload.get("webhookEvent") or event_name or "")
        deployment = self._hook_deployment(payload)
        issue = self._hook_issue(payload.get("issue"), deployment)
        if issue is not None and not issue.id.startswith(f"{self.config.target}-"):
            return []  # an admin webhook without a project filter reports every project; this tracker is one
        if name in self.COMMENT_EVENTS:
            return self._comment_events(name, payload, issue, deployment)
        if name in self.ATTACHMENT_EVENTS:
            return self._attachment_events(name, payload, issue, deployment)
        if issue is None:
            return []
        if name == "jira:issue_created":
            return [WebhookEvent(type="issue.created", issue_id=issue.id, issue=issue)]
        if name == "jira:issue_deleted":
            return [WebhookEvent(type="issue.deleted", issue_id=issue.id, issue=issue)]
        if name == "jira:issue_updated":
            return [self._issue_updated_event(payload, issue)]
        return []

    def _comment_events(self, name: str, payload: dict, issue: Issue | None, deployment: str) -> list[WebhookEvent]:
        raw = payload.get("comment")
        if not isinstance(raw, dict):
            return []
        issue_id = issue.id if issue else None
        if issue_id is None:
            # Data Center comment events carry no issue: its id is in the comment's self link.
            found = re.search(r"/issue/(\d+)/comment/", str(raw.get("self") or ""))
            issue_id = found.group(1) if found else None
        return [
            WebhookEvent(
                type=self.COMMENT_EVENTS[name], issue_id=issue_id, issue=issue, comment=self._to_comment(raw, deployment)
            )
        ]

    @staticmethod
    def _issue_updated_event(payload: dict, issue: Issue) -> WebhookEvent:
        """The changelog's fields as changes; the event type from the field that says most (status, labels, assignee)."""
        items = [item for item in ((payload.get("changelog") or {}).get("items") or []) if isinstance(item, dict)]
        by_field = {str(item.get("field") or "").lower(): item for item in items}
        changes = {field: {"from": item.get("fromString"), "to": item.get("toString")} for field, item in by_field.items()}
        event_type = "issue.updated"
        if "status" in by_field or "resolution" in by_field:
            resolution = by_field.get("resolution")
            if issue.status == "closed":
                event_type = "issue.closed"
            elif resolution is not None and resolution.get("fromString") and not resolution.get("toString"):
                event_type = "issue.reopened"
        elif "labels" in by_field:
            before = set(str(by_field["labels"].get("fromString") or "").split())
            after = set(str(by_field["labels"].get("toString") or "").split())
            event_type = "issue.labeled" if after - before else "issue.unlabeled"
        elif "assignee" in by_field and (by_field["assignee"].get("to") or by_field["assignee"].get("toString")):
            event_type = "issue.assigned"
        return WebhookEvent(type=event_type, issue_id=issue.id, issue=issue, changes=changes)

    def complete_webhook_events(self, events: list[WebhookEvent], read_issue: Callable[[str], Issue]) -> list[WebhookEvent]:
        """Data Center comment deliveries name their issue by number only (`.../issue/10013/comment/...`): one read of
        it gives its key, as every other event and the index use, and the issue itself.

        An issue the read does not find here (another project's, from an admin webhook without a filter, or deleted
        since) drops its events; when Jira cannot answer, the events keep the number rather than wait or go missing.
        """
        read: dict[str, Issue | str | None]
        completed: list[WebhookEvent]
        read, completed = {}, []
        for item in events:
            number = item.issue_id if item.issue is None and ISSUE_NUMBER.match(item.issue_id or "") else None
            if number is None:
                completed.append(item)
                continue
            if number not in read:
                try:
                    read[number] = read_issue(number)
                except TrackerNotFound:
                    read[number] = None
                except TrackerError as exc:
                    log.warning(
                        "issue %s of a webhook delivery could not be read (%s); its events keep the number",
                        number,
                        exc.error,
                        extra={"tracker_id": self.config.tracker_id},
                    )
                    read[number] = number
            found = read[number]
            if found is None:
                continue
            completed.append(
                WebhookEvent(type=item.type, issue_id=found.id, issue=found, comment=item.comment, changes=item.changes)
                if isinstance(found, Issue)
                else item
            )
        return completed

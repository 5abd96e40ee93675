"""GitHub (and GitHub Enterprise) through PyGithub."""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import math
import re
import secrets
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeGuard, cast

from api.schemas.base import decode_cursor, encode_cursor
from api.trackers.base import (
    LABEL_WORKFLOW_HELP,
    LABEL_WORKFLOW_OPTIONS,
    Capability,
    Comment,
    Issue,
    IssueChanges,
    IssueQuery,
    Label,
    NewIssue,
    NotSupported,
    Page,
    Person,
    TrackerError,
    TrackerNotFound,
    TrackerProvider,
    TrackerValidationError,
    WebhookEvent,
    WebhookRegistration,
    hmac_hex,
    label_workflow_option_errors,
    numeric_id,
    parse_time,
    same,
    utc_z,
)
from api.trackers.resilience import provider_message, retry_after_seconds, shared_session, transport_errors
from api.trackers.template_files import parse_front_matter

if TYPE_CHECKING:
    from github import Github
    from github.GithubException import GithubException
    from github.Repository import Repository
    from github.Requester import RequestsResponse
    from urllib3.util.retry import Retry

TARGET = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
MAX_LIST = 1000  # labels/members beyond this are not worth a page-by-page crawl in one request
MAX_TEMPLATES = 50


class _EtagCache:
    """Process-wide LRU of GET responses by (URL, credentials), bounded in bytes, for conditional requests."""

    def __init__(self, max_bytes: int = 16 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple, tuple[str, dict, str]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> tuple[str, dict, str] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple, etag: str, headers: dict, body: str) -> None:
        with self._lock:
            if key in self._entries:
                self._size -= len(self._entries.pop(key)[2])
            self._entries[key] = (etag, headers, body)
            self._size += len(body)
            while self._size > self.max_bytes and self._entries:
                self._size -= len(self._entries.popitem(last=False)[1][2])

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0


etag_cache = _EtagCache()


class _CachedResponse:
    """A 304 turned back into the 200 it confirms, so PyGithub sees a normal response."""

    def __init__(self, headers: dict, body: str) -> None:
        self.status = 200
        self.headers = headers
        self._body = body

    def getheaders(self) -> Iterable[tuple[str, str]]:
        return self.headers.items()

    def read(self) -> str:
        return self._body


_in_provider = contextvars.ContextVar("github_provider_call", default=False)


class _Connection:
    """PyGithub connection over the shared pooled session, sending If-None-Match for repeated GETs:
    a 304 costs no rate limit and returns the cached body.

    PyGithub only lets connection classes be injected process-wide, so outside this provider's own
    calls the injected class hands back PyGithub's default connection unchanged.
    """

    protocol = "https"
    default: Any = None  # PyGithub's own class, set by _inject_connections

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if not _in_provider.get():
            return cls.default(*args, **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        host: str,
        port: int | None = None,
        strict: bool = False,
        timeout: int | None = None,
        retry: int | Retry | None = None,
        pool_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.host, self.timeout = host, timeout
        self.port = port or (443 if self.protocol == "https" else 80)
        self.retries = retry if isinstance(retry, int) else (getattr(retry, "total", None) or 0)

    def request(self, verb: str, url: str, input: Any, headers: dict[str, str], stream: bool = False) -> None:
        self.verb, self.url, self.input, self.headers = verb, url, input, headers

    def getresponse(self) -> _CachedResponse | RequestsResponse:
        session = shared_session(self.timeout or 10.0, self.retries)
        url = f"{self.protocol}://{self.host}:{self.port}{self.url}"
        headers = dict(self.headers)
        key = cached = None
        caller_is_conditional = any(name.lower() in ("if-none-match", "if-modified-since") for name in headers)
        # A caller's own conditional request (PyGithub's update()) must see the real 304.
        if self.verb == "GET" and not caller_is_conditional:
            credential = hashlib.sha256(headers.get("Authorization", "").encode()).hexdigest()
            key = (url, credential)
            cached = etag_cache.get(key)
            if cached:
                headers["If-None-Match"] = cached[0]
        response = session.request(self.verb, url, headers=headers, data=self.input, timeout=self.timeout, allow_redirects=False)
        if response.status_code == 304 and cached:
            return _CachedResponse({**cached[1], **response.headers}, cached[2])
        if key and response.status_code == 200 and response.headers.get("ETag"):
            etag_cache.put(key, response.headers["ETag"], dict(response.headers), response.text)
        from github.Requester import RequestsResponse

        return RequestsResponse(response)

    def close(self) -> None:
        pass  # the pooled session outlives this connection


class _HttpConnection(_Connection):
    protocol = "http"


_inject_lock = threading.Lock()
_injected = False


def _inject_connections() -> None:
    """Install the connection classes in PyGithub once, before its first call (no call may go out uninjected)."""
    global _injected
    if _injected:
        return
    with _inject_lock:
        if not _injected:
            from github.Requester import HTTPRequestsConnectionClass, HTTPSRequestsConnectionClass, Requester

            _Connection.default, _HttpConnection.default = HTTPSRequestsConnectionClass, HTTPRequestsConnectionClass
            Requester.injectConnectionClasses(_HttpConnection, _Connection)  # type: ignore[arg-type]
            _injected = True


def _is_github_error(exc: BaseException) -> TypeGuard[GithubException]:
    github = sys.modules.get("github")  # nothing raises PyGithub's errors before PyGithub is imported
    return github is not None and isinstance(exc, github.GithubException)


def _person(raw: dict | None) -> Person | None:
    if not raw:
        return None
    return Person(id=str(raw.get("id")), username=cast(str, raw.get("login")), name=raw.get("name"))


class GithubProvider(TrackerProvider):
    slug = "github"
    name = "GitHub"
    display_name = "GitHub (and GitHub Enterprise)"
    quiet_loggers = ("github",)
    target_help = "'owner/repo'"
    credentials_help = '{"token": "..."} required (a personal access token)'
    example = {
        "name": "Website repo",
        "provider": "github",
        "target": "octo-org/website",
        "base_url": None,
        "credentials": {"token": "ghp_..."},
        "options": {},
    }
    webhook_body_signed = True  # X-Hub-Signature-256
    credential_fields = ("token",)
    options_help = LABEL_WORKFLOW_HELP
    option_properties = LABEL_WORKFLOW_OPTIONS
    option_capabilities = {Capability.IN_PROGRESS: "in_progress_label", Capability.PRIORITY: "priority_labels"}
    validation_statuses = frozenset({422})
    # No issue delete (closing stays a PATCH) and no attachment API: both answer not_supported. Issue types are the
    # owner's (`type` by name); parents are GitHub's sub-issues.
    capabilities = Capability.named(
        "issues comments labels members webhooks template_import",
        "in_progress priority issue_type parent",
        "comment_edit comment_delete passthrough",
    )
    ISSUE_ACTIONS: ClassVar[dict[str | None, str]] = {  # looked up with a delivery's action, which may be missing
        "opened": "issue.created",
        "closed": "issue.closed",
        "reopened": "issue.reopened",
        "labeled": "issue.labeled",
        "unlabeled": "issue.unlabeled",
        "assigned": "issue.assigned",
        "deleted": "issue.deleted",
    }
    COMMENT_ACTIONS = {"created": "comment.created", "edited": "comment.updated", "deleted": "comment.deleted"}
    TEMPLATE_DIR = ".github/ISSUE_TEMPLATE"
    default_base_url = "https://api.github.com"

    @classmethod
    def validate_target(cls, target: str) -> str | None:
        return None if TARGET.match(target or "") else "Must be 'owner/repo'."

    @classmethod
    def validate_credentials(cls, credentials: dict) -> dict:
        errors = {f"credentials.{key}": ["Unknown field."] for key in credentials if key != "token"}
        if not (credentials.get("token") or "").strip():
            errors["credentials.token"] = ["A GitHub token is required."]
        return errors

    @classmethod
    def validate_options(cls, options: dict) -> dict:
        errors = {f"options.{key}": ["Unknown option."] for key in options if key not in LABEL_WORKFLOW_OPTIONS}
        return {**errors, **label_workflow_option_errors(options)}

    def _client(self, per_page: int = 30) -> Github:
        # PyGithub is imported when a GitHub tracker is first used, not at start-up (a worker serving none never loads it).
        from github import Auth, Github

        _inject_connections()
        # lazy: objects are fetched only when read, so edit/comment skip the GET; PyGithub's own
        # client-side throttling is off because the gateway answers interactive requests.
        return Github(
            base_url=self.config.base_url or self.default_base_url,
            auth=Auth.Token(self.config.credentials.get("token", "")),
            timeout=math.ceil(self.config.timeout),
            retry=self.config.retries,
            per_page=per_page,
            lazy=True,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )

    def _repo(self, per_page: int = 30) -> Repository:
        return self._client(per_page).get_repo(self.config.target)

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        token = _in_provider.set(True)
        try:
            with transport_errors():
                yield
        except Exception as exc:
            if not _is_github_error(exc):
                raise
            raise self._error(exc) from None
        finally:
            _in_provider.reset(token)

    @classmethod
    def parse_issue_template_file(cls, filename: str, text: str) -> dict:
        return parse_front_matter(text)

    @classmethod
    def _error(cls, exc: GithubException) -> TrackerError:
        headers = {key.lower(): value for key, value in (exc.headers or {}).items()}
        data = exc.data if isinstance(exc.data, dict) else {}
        # Only GitHub's own short message is echoed, never a body that is not GitHub's JSON.
        message = provider_message(data.get("message"))
        status = exc.status
        if status == 403 and (headers.get("x-ratelimit-remaining") == "0" or "rate limit" in message.lower()):
            status = 429  # GitHub's primary rate limit answers 403
        if status == 422:
            details = [
                provider_message(e.get("message") or f"{e.get('field')}: {e.get('code')}")
                for e in data.get("errors", [])[:10]
                if isinstance(e, dict)
            ]
            message = provider_message("; ".join(part for part in [message, *details] if part))
        retry_after = retry_after_seconds(headers, reset_header="x-ratelimit-reset") if status == 429 else None
        return cls.error_for_status(status, message, retry_after=retry_after)

    def _to_issue(self, raw: dict) -> Issue:
        return Issue(
            id=str(raw["number"]),
            title=raw.get("title") or "",
            description=raw.get("body") or "",
            status="closed" if raw.get("state") == "closed" else "open",
            remote_status=raw.get("state") or "",
            labels=[label["name"] if isinstance(label, dict) else label for label in raw.get("labels") or []],
            assignees=cast(list[Person], [_person(person) for person in raw.get("assignees") or []]),
            author=_person(raw.get("user")),
            url=raw.get("html_url"),
            created_at=parse_time(raw.get("created_at")),
            updated_at=parse_time(raw.get("updated_at")),
            closed_at=parse_time(raw.get("closed_at")),
            comments_count=raw.get("comments") or 0,
            issue_type=(raw.get("type") or {}).get("name") if isinstance(raw.get("type"), dict) else None,
            parent_id=self._parent_number(raw.get("parent_issue_url")),
            remote_data=raw,
        )

    def _parent_number(self, url: str | None) -> str | None:
        """The parent's number when `parent_issue_url` points into this repository (another repo's parent is no id here)."""
        prefix = f"/repos/{self.config.target}/issues/".lower()
        head, _, number = str(url or "").rpartition("/")
        if not number.isdigit() or not (head + "/").lower().endswith(prefix):
            return None
        return number

    @staticmethod
    def _to_comment(raw: dict) -> Comment:
        return Comment.from_json(raw, _person(raw.get("user")))

    @staticmethod
    def _page_number(cursor: str | None) -> int:
        return decode_cursor(cursor, types=(int,))[0] if cursor else 1

    @staticmethod
    def _number(issue_id: str | int) -> int:
        return numeric_id(issue_id)

    def _get(self, path: str, params: dict[str, Any]) -> tuple[Any, bool]:
        """One GET as raw JSON through PyGithub's requester, with the next page from the Link header.

        Lists are read this way because a lazy PyGithub object completes itself with one more request
        per item when its raw data is read.
        """
        headers, data = self._client().requester.requestJsonAndCheck("GET", path, parameters=params)
        links = {key.lower(): value for key, value in (headers or {}).items()}.get("link", "")
        return data, 'rel="next"' in links

    def _page(self, path: str, params: dict[str, Any], page: int) -> tuple[Any, str | None]:
        data, more = self._get(path, {**params, "page": page})
        return data, (encode_cursor([page + 1]) if more else None)

    def _all(self, path: str) -> list[dict]:
        items: list[dict] = []
        for page in range(1, MAX_LIST // 100 + 1):
            data, more = self._get(path, {"per_page": 100, "page": page})
            items += data
            if not more:
                break
        return items

    def verify(self) -> dict:
        with self._translate():
            raw = self._repo().raw_data
            return {"provider": self.slug, "target": raw.get("full_name"), "url": raw.get("html_url")}

    def list_issues(self, query: IssueQuery) -> Page:
        if query.parent_id is not None:
            return self._children_matching(query)
        page = self._page_number(query.cursor)
        with self._translate():
            if query.q:
                terms = [query.q, f"repo:{self.config.target}", "is:issue"]
                if query.status:
                    terms.append(f"is:{query.status}")
                terms += [f'label:"{label}"' for label in query.labels]
                if query.assignee:
                    terms.append(f"assignee:{query.assignee}")
                if query.updated_since:
                    terms.append(f"updated:>={utc_z(query.updated_since)}")
                data, next_cursor = self._page(
                    "/search/issues", {"q": " ".join(terms), "sort": "updated", "order": "desc", "per_page": query.limit}, page
                )
                raw_items = data.get("items", [])
            else:
                params = {"state": query.status or "all", "sort": "updated", "direction": "desc", "per_page": query.limit}
                if query.labels:
                    params["labels"] = ",".join(query.labels)
                if query.assignee:
                    params["assignee"] = query.assignee
                if query.updated_since:
                    params["since"] = utc_z(query.updated_since)
                raw_items, next_cursor = self._page(f"/repos/{self.config.target}/issues", params, page)
        issues = [self._to_issue(raw) for raw in raw_items if not raw.get("pull_request")]
        return Page(items=issues, next_cursor=next_cursor)

    def _children_matching(self, query: IssueQuery) -> Page:
        """A parent's sub-issues filtered here (GitHub's issue list has no parent filter): pages may come back short."""
        page = self.list_children(cast(str, query.parent_id), limit=query.limit, cursor=query.cursor)
        words = (query.q or "").lower().split()

        def matches(issue: Issue) -> bool:
            text = f"{issue.title}\n{issue.description}".lower()
            return (
                (not query.status or issue.status == query.status)
                and {label.lower() for label in query.labels} <= {label.lower() for label in issue.labels}
                and (not query.assignee or query.assignee.lower() in {p.username.lower() for p in issue.assignees})
                and (not query.updated_since or cast(datetime, issue.updated_at) >= query.updated_since)
                and all(word in text for word in words)
            )

        return Page(items=[issue for issue in page.items if matches(issue)], next_cursor=page.next_cursor)

    def get_issue(self, issue_id: str) -> Issue:
        number = self._number(issue_id)
        with self._translate():
            raw = self._repo().get_issue(number).raw_data
        if raw.get("pull_request"):
            raise TrackerNotFound(f"Issue {issue_id} not found (it is a pull request).")
        return self._to_issue(raw)

    def create_issue(self, data: NewIssue) -> Issue:
        if data.due_date is not None:
            raise NotSupported("Due dates are not supported by the GitHub provider.")
        body = {"title": data.title, "body": data.description, "labels": data.labels, "assignees": data.assignees}
        if data.issue_type:
            body["type"] = data.issue_type  # GitHub drops it silently without push access
        parent = self._parent_issue(data.parent_id) if data.parent_id else None
        with self._translate():
            _headers, raw = self._client().requester.requestJsonAndCheck(
                "POST", f"/repos/{self.config.target}/issues", input=body
            )
            if parent:
                self._sub_issues("POST", parent, {"sub_issue_id": raw["id"]})
                raw = {**raw, "parent_issue_url": parent["url"]}
        return self._to_issue(raw)

    def _raw_issue(self, issue_id: str | int) -> dict:
        with self._translate():
            _headers, raw = self._client().requester.requestJsonAndCheck(
                "GET", f"/repos/{self.config.target}/issues/{self._number(issue_id)}"
            )
        if raw.get("pull_request"):
            raise TrackerNotFound(f"Issue {issue_id} not found (it is a pull request).")
        return raw

    def _parent_issue(self, parent_id: str) -> dict:
        """The parent issue's raw data; a parent that does not exist here is a 422 on parent_id."""
        try:
            return self._raw_issue(parent_id)
        except TrackerNotFound:
            raise TrackerValidationError(
                f"No issue {parent_id} in {self.config.target}.", errors={"parent_id": ["No such issue on this tracker."]}
            ) from None

    def _sub_issues(self, method: str, parent: dict, body: dict) -> None:
        """Add (POST …/sub_issues) or remove (DELETE …/sub_issue) a sub-issue of `parent`."""
        path = f"/repos/{self.config.target}/issues/{parent['number']}/sub_issue{'s' if method == 'POST' else ''}"
        self._client().requester.requestJsonAndCheck(method, path, input=body)

    def _set_parent(self, issue_id: str | int, parent_id: str | None) -> None:
        child = self._raw_issue(issue_id)
        current = self._parent_number(child.get("parent_issue_url"))
        if parent_id and str(parent_id) == current:
            return
        with self._translate():
            if parent_id:
                parent = self._parent_issue(parent_id)
                self._sub_issues("POST", parent, {"sub_issue_id": child["id"], "replace_parent": True})
            elif current:
                self._sub_issues("DELETE", {"number": current}, {"sub_issue_id": child["id"]})

    def update_issue(self, issue_id: str, changes: IssueChanges) -> Issue:
        fields = changes.set_fields()
        if "due_date" in fields:
            raise NotSupported("Due dates are not supported by the GitHub provider.")
        names = {"title": "title", "description": "body", "status": "state", "labels": "labels", "assignees": "assignees"}
        patch = {names[name]: value for name, value in fields.items() if name in names}
        number = self._number(issue_id)
        if "parent_id" in fields:
            self._set_parent(number, fields["parent_id"])
            if not patch:
                return self._to_issue(self._raw_issue(number))
        with self._translate():
            client = self._client()
            url = f"/repos/{self.config.target}/issues/{number}"
            # PyGithub's Issue.edit() leaves raw_data stale; the PATCH response is the issue as it now is.
            _headers, raw = client.requester.requestJsonAndCheck("PATCH", url, input=patch)
            return self._to_issue(raw)

    def list_children(self, issue_id: str, *, limit: int, cursor: str | None) -> Page:
        number = self._number(issue_id)
        # The cursor keeps the page size too: GitHub's pages are numbered, so page 2 means something only at one size.
        page, per_page = decode_cursor(cursor, types=(int, int)) if cursor else (1, limit)
        with self._translate():
            raw_items, more = self._get(
                f"/repos/{self.config.target}/issues/{number}/sub_issues", {"per_page": per_page, "page": page}
            )
        return Page(
            items=[self._to_issue(raw) for raw in raw_items], next_cursor=encode_cursor([page + 1, per_page]) if more else None
        )

    def list_comments(self, issue_id: str, *, limit: int, cursor: str | None) -> Page:
        number = self._number(issue_id)
        with self._translate():
            raw_items, next_cursor = self._page(
                f"/repos/{self.config.target}/issues/{number}/comments", {"per_page": limit}, self._page_number(cursor)
            )
        return Page(items=[self._to_comment(raw) for raw in raw_items], next_cursor=next_cursor)

    def list_comments_updated_since(self, since: datetime | None, *, limit: int = 100, cursor: str | None = None) -> Page | None:
        """One page of (issue id, comment) of every issue, updated at or after `since`, oldest update first.

        A comment edit does not touch its issue's `updated_at` on GitHub: only this listing shows it to a poll.
        """
        params = {"sort": "updated", "direction": "asc", "per_page": limit}
        if since is not None:
            params["since"] = utc_z(since)
        with self._translate():
            raw_items, next_cursor = self._page(f"/repos/{self.config.target}/issues/comments", params, self._page_number(cursor))
        return Page(
            items=[(str(raw.get("issue_url") or "").rsplit("/", 1)[-1], self._to_comment(raw)) for raw in raw_items],
            next_cursor=next_cursor,
        )

    def create_comment(self, issue_id: str, body: str) -> Comment:
        number = self._number(issue_id)
        with self._translate():
            comment = self._repo().get_issue(number).create_comment(body)
            return self._to_comment(comment.raw_data)

    def _comment_path(self, issue_id: str, comment_id: str) -> str:
        """The comment's path, once GitHub shows it belongs to this issue (comment ids are repository-wide)."""
        number = self._number(issue_id)
        if not str(comment_id).isdigit():
            raise TrackerNotFound(f"Comment {comment_id} not found.")
        path = f"/repos/{self.config.target}/issues/comments/{int(comment_id)}"
        _headers, raw = self._client().requester.requestJsonAndCheck("GET", path)
        if not str(raw.get("issue_url") or "").endswith(f"/issues/{number}"):
            raise TrackerNotFound(f"Comment {comment_id} not found on issue {issue_id}.")
        return path

    def update_comment(self, issue_id: str, comment_id: str, body: str) -> Comment:
        with self._translate():
            path = self._comment_path(issue_id, comment_id)
            _headers, raw = self._client().requester.requestJsonAndCheck("PATCH", path, input={"body": body})
        return self._to_comment(raw)

    def delete_comment(self, issue_id: str, comment_id: str) -> None:
        with self._translate():
            self._client().requester.requestJsonAndCheck("DELETE", self._comment_path(issue_id, comment_id))

    def passthrough_root(self) -> tuple[str, dict, dict]:
        return (
            self.config.base_url or self.default_base_url,
            {"Authorization": f"token {self.config.credentials.get('token', '')}", "Accept": "application/vnd.github+json"},
            {},
        )

    def list_labels(self) -> list[Label]:
        with self._translate():
            labels = self._all(f"/repos/{self.config.target}/labels")
        return [Label(name=raw["name"], color=f"#{raw['color']}" if raw.get("color") else None) for raw in labels]

    def list_members(self) -> list[Person]:
        with self._translate():
            people = self._all(f"/repos/{self.config.target}/assignees")
        return cast(list[Person], [_person(raw) for raw in people])

    def list_issue_template_files(self) -> list[tuple[str, str]]:
        with self._translate():
            try:
                entries = self._repo().get_contents(self.TEMPLATE_DIR)
            except Exception as exc:
                if _is_github_error(exc) and getattr(exc, "status", None) == 404:
                    return []
                raise
            entries = entries if isinstance(entries, list) else [entries]
            files = [entry for entry in entries if entry.type == "file"][:MAX_TEMPLATES]
            return [(entry.name, entry.decoded_content.decode("utf-8", "replace")) for entry in files]

    def create_webhook(self, callback_url: str) -> WebhookRegistration:
        secret = secrets.token_urlsafe(32)
        with self._translate():
            hook = self._repo().create_hook(
                "web",
                {"url": callback_url, "content_type": "json", "secret": secret, "insecure_ssl": "0"},
                events=["issues", "issue_comment"],
                active=True,
            )
            return WebhookRegistration(hook_id=str(hook.id), secret=secret, callback_url=callback_url)

    def delete_webhook(self, hook_id: str) -> None:
        if not str(hook_id).isdigit():
            return
        with contextlib.suppress(TrackerNotFound), self._translate():
            self._repo().get_hook(int(hook_id)).delete()

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, registration: WebhookRegistration) -> bool:
        return same(headers.get("X-Hub-Signature-256"), "sha256=" + hmac_hex(registration.secret, body))

    def webhook_delivery(self, headers: Mapping[str, str], payload: dict) -> tuple[str | None, str]:
        return headers.get("X-GitHub-Delivery"), headers.get("X-GitHub-Event") or "unknown"

    def normalize_webhook(self, event_name: str, payload: dict) -> list[WebhookEvent]:
        event = event_name
        raw_issue = payload.get("issue")
        if event not in ("issues", "issue_comment") or not isinstance(raw_issue, dict) or raw_issue.get("pull_request"):
            return []
        issue = self._to_issue(raw_issue)
        action = payload.get("action")
        if event == "issue_comment":
            if action not in self.COMMENT_ACTIONS:
                return []
            return [
                WebhookEvent(
                    type=self.COMMENT_ACTIONS[action],
                    issue_id=issue.id,
                    issue=issue,
                    comment=self._to_comment(payload["comment"]),
                    changes=payload.get("changes") or {},
                )
            ]
        changes = dict(payload.get("changes") or {})
        if payload.get("label"):
            changes["label"] = payload["label"].get("name")
        if payload.get("assignee"):
            changes["assignee"] = payload["assignee"].get("login")
        return [
            WebhookEvent(type=self.ISSUE_ACTIONS.get(action, "issue.updated"), issue_id=issue.id, issue=issue, changes=changes)
        ]

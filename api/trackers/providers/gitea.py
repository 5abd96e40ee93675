"""Gitea and Forgejo (gitea.com, Codeberg, self-hosted) through a thin client over their REST API `/api/v1`.

No client library: the maintained Python Gitea clients are generated or thinly kept wrappers with their own HTTP
stack, and the dozen calls needed here are plain JSON over the shared resilient session (timeouts, bounded retries,
the URL policy on every call, no redirects, no cookies) like every other provider.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any, ClassVar, cast
from urllib.parse import quote

import requests
import yaml

from api.schemas.base import decode_cursor, encode_cursor
from api.trackers.base import (
    LABEL_WORKFLOW_HELP,
    LABEL_WORKFLOW_OPTIONS,
    Attachment,
    AttachmentContent,
    Capability,
    Comment,
    Issue,
    IssueChanges,
    IssueQuery,
    Label,
    NewIssue,
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
    label_workflow_option_errors,
    multipart_upload,
    numeric_id,
    parse_time,
    same,
    same_origin,
    utc_z,
)
from api.trackers.resilience import provider_message, retry_after_seconds, shared_session, transport_errors
from api.trackers.template_files import parse_front_matter

SEGMENT = r"[A-Za-z0-9_.-]{1,100}"
TARGET = re.compile(rf"^{SEGMENT}/{SEGMENT}$")
MAX_PAGE_SIZE = 50  # Gitea's default MaxResponseItems: a larger `limit` is silently cut to it
MAX_PAGES = 20  # labels: at most 20 pages of 50
MAX_PAGE_NUMBER = 10**6
MAX_TEMPLATES = 50
# The hook types that make Gitea send `issues` and `issue_comment` deliveries (label, assignee and milestone
# changes are separate hook types that still arrive as X-Gitea-Event: issues).
HOOK_EVENTS = ("issues", "issue_assign", "issue_label", "issue_milestone", "issue_comment")
END_OF_DAY = time(23, 59, 59)


def _person(raw: dict | None) -> Person | None:
    if not raw:
        return None
    return Person(
        id=str(raw.get("id")), username=cast(str, raw.get("login") or raw.get("username")), name=raw.get("full_name") or None
    )


def _due_date(value: str | None) -> date | None:
    """The calendar date of a Gitea deadline.

    Gitea keeps a deadline as 23:59:59 of the day in the zone it was given in and answers in the server's zone:
    ours are sent as 23:59:59 UTC, so such a value is read in UTC; one set in Gitea's UI is read as written.
    """
    moment = parse_time(value) if value else None
    if moment is None:
        return None
    in_utc = moment.astimezone(UTC)
    return in_utc.date() if in_utc.time() == END_OF_DAY else moment.date()


class GiteaProvider(TrackerProvider):
    slug = "gitea"
    name = "Gitea"
    display_name: ClassVar[str] = "Gitea / Forgejo"
    stores_issues_locally: ClassVar[bool] = False
    quiet_loggers: ClassVar[tuple[str, ...]] = ()  # no client library of its own; urllib3 is kept quiet globally
    target_help: ClassVar[str] = "'owner/repo'"
    credentials_help: ClassVar[str] = '{"token": "..."} (an access token, sent as Authorization: token ...)'
    options_help: ClassVar[str] = LABEL_WORKFLOW_HELP
    option_properties: ClassVar[dict] = LABEL_WORKFLOW_OPTIONS
    option_capabilities: ClassVar[dict] = {Capability.IN_PROGRESS: "in_progress_label", Capability.PRIORITY: "priority_labels"}
    example: ClassVar[dict] = {
        "name": "Codeberg repo",
        "provider": "gitea",
        "target": "forgejo/forgejo",
        "base_url": "https://codeberg.org",
        "credentials": {"token": "<access token>"},
        "options": {},
    }
    webhook_body_signed: ClassVar[bool] = True
    validation_statuses: ClassVar[frozenset[int]] = frozenset({400, 409, 412, 422, 423})  # 412/423: locked, dependencies
    capabilities = Capability.named(
        "issues comments labels members due_date webhooks template_import",
        "in_progress priority",
        "comment_edit comment_delete issue_delete attachments passthrough",
    )
    ISSUE_ACTIONS: ClassVar[dict[str | None, str]] = {  # looked up with a delivery's action, which may be missing
        "opened": "issue.created",
        "closed": "issue.closed",
        "reopened": "issue.reopened",
        "deleted": "issue.deleted",
        "assigned": "issue.assigned",
        # Gitea sends the labels as they now are, not which one changed: an edit of the label set reads
        # as labeled unless it left none.
        "label_updated": "issue.labeled",
        "label_cleared": "issue.unlabeled",
    }
    COMMENT_ACTIONS = {"created": "comment.created", "edited": "comment.updated", "deleted": "comment.deleted"}
    default_base_url = "https://gitea.com"

    @classmethod
    def validate_target(cls, target: str) -> str | None:
        if TARGET.match(target or "") and not any(part.strip(".") == "" for part in target.split("/")):
            return None
        return "Must be 'owner/repo'."

    @classmethod
    def validate_credentials(cls, credentials: dict) -> dict:
        errors = {f"credentials.{key}": ["Unknown field."] for key in credentials if key != "token"}
        if not (credentials.get("token") or "").strip():
            errors["credentials.token"] = ["A Gitea/Forgejo access token is required."]
        return errors

    @classmethod
    def validate_options(cls, options: dict) -> dict:
        errors = {f"options.{key}": ["Unknown option."] for key in options if key not in LABEL_WORKFLOW_OPTIONS}
        return {**errors, **label_workflow_option_errors(options)}

    @classmethod
    def parse_issue_template_file(cls, filename: str, text: str) -> dict:
        """Same front matter as GitHub's templates (name, about, title, labels, assignees)."""
        return parse_front_matter(text)

    # ---- HTTP ----

    @property
    def _api(self) -> str:
        root = (self.config.base_url or self.default_base_url).rstrip("/")
        # The instance root is expected; strip an /api/v1 a user may have pasted.
        return re.sub(r"/api/v1$", "", root) + "/api/v1"

    @property
    def _repo_path(self) -> str:
        owner, _, repo = self.config.target.partition("/")
        return f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}"

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.config.credentials.get('token', '')}"}

    def _call(
        self,
        method: str,
        path: str | None,
        *,
        params: dict | None = None,
        body: Any = None,
        data: Any = None,
        content_type: str | None = None,
        url: str | None = None,
        stream: bool = False,
    ) -> requests.Response:
        headers = {**self._auth(), "Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        session = shared_session(self.config.timeout, self.config.retries)
        with transport_errors():
            response = session.request(
                method,
                url or self._api + cast(str, path),
                params=params,
                json=body,
                data=data,
                headers=headers,
                timeout=self.config.timeout,
                allow_redirects=False,
                stream=stream,
            )
        if response.status_code >= 400:
            raise self._error(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> tuple[Any, requests.Response]:
        response = self._call(method, path, **kwargs)
        try:
            return response.json(), response
        except ValueError:
            raise TrackerUnavailable("Gitea answered with something that is not JSON.") from None

    @classmethod
    def _error(cls, response: requests.Response) -> TrackerError:
        try:
            data = response.json()
        except ValueError:
            data = None
        # Only Gitea's own short message is echoed ({"message": ..., "url": ...}), never a body that is not its JSON.
        message = provider_message(data.get("message")) if isinstance(data, dict) else ""
        return cls.error_for_status(
            response.status_code, message, retry_after=retry_after_seconds(response.headers, reset_header="X-RateLimit-Reset")
        )

    # ---- converters ----

    @staticmethod
    def _to_issue(raw: dict) -> Issue:
        assignees = raw.get("assignees") or ([raw["assignee"]] if raw.get("assignee") else [])
        return Issue(
            id=str(raw["number"]),
            title=raw.get("title") or "",
            description=raw.get("body") or "",
            status="closed" if raw.get("state") == "closed" else "open",
            remote_status=raw.get("state") or "",
            labels=[label["name"] for label in raw.get("labels") or [] if isinstance(label, dict)],
            assignees=cast(list[Person], [_person(person) for person in assignees]),
            author=_person(raw.get("user")),
            url=raw.get("html_url"),
            created_at=parse_time(raw.get("created_at")),
            updated_at=parse_time(raw.get("updated_at")),
            closed_at=parse_time(raw.get("closed_at")),
            due_date=_due_date(raw.get("due_date")),
            comments_count=raw.get("comments") or 0,
            remote_data=raw,
        )

    @staticmethod
    def _to_comment(raw: dict) -> Comment:
        return Comment.from_json(raw, _person(raw.get("user")))

    @staticmethod
    def _index(issue_id: str) -> int:
        return numeric_id(issue_id, bits=63)

    @staticmethod
    def _cursor(cursor: str | None, limit: int) -> tuple[int, int]:
        """(page, page size) to ask for: later pages keep the first page's size, so no item is skipped."""
        if not cursor:
            return 1, max(1, min(limit, MAX_PAGE_SIZE))
        page, size = decode_cursor(cursor, types=(int, int))
        return max(1, min(page, MAX_PAGE_NUMBER)), max(1, min(size, MAX_PAGE_SIZE))

    @staticmethod
    def _has_next(response: requests.Response, page: int, size: int, count: int) -> bool:
        if 'rel="next"' in response.headers.get("Link", ""):
            return True
        total = response.headers.get("X-Total-Count", "")
        return total.isascii() and total.isdigit() and int(total) > (page - 1) * size + count

    def _label_ids(self, names: list[str]) -> list[Any]:
        known: dict[str, Any] = {}
        for label in self._all_labels():
            known.setdefault(label["name"].lower(), label["id"])
        unknown = [name for name in names if name.lower() not in known]
        if unknown:
            raise TrackerValidationError(
                f"No such labels in the Gitea repository: {', '.join(unknown)}.",
                errors={"labels": [f"Unknown label: {name}" for name in unknown]},
            )
        return list(dict.fromkeys(known[name.lower()] for name in names))

    def _all_labels(self) -> list[dict]:
        labels: list[dict]
        labels, page = [], 1
        for _ in range(MAX_PAGES):
            batch, response = self._json("GET", f"{self._repo_path}/labels", params={"page": page, "limit": MAX_PAGE_SIZE})
            labels += batch
            if not batch or not self._has_next(response, page, MAX_PAGE_SIZE, len(batch)):
                break
            page += 1
        return labels

    # ---- operations ----

    def verify(self) -> dict:
        raw, _ = self._json("GET", self._repo_path)
        return {"provider": self.slug, "target": raw.get("full_name"), "url": raw.get("html_url")}

    def list_issues(self, query: IssueQuery) -> Page:
        """Issues only (`type=issues` keeps pull requests out), newest first: Gitea orders this list by creation."""
        page, size = self._cursor(query.cursor, query.limit)
        params = {"type": "issues", "state": query.status or "all", "page": page, "limit": size}
        if query.labels:
            params["labels"] = ",".join(query.labels)
        if query.assignee:
            params["assigned_by"] = query.assignee
        if query.q:
            params["q"] = query.q
        if query.updated_since:
            params["since"] = utc_z(query.updated_since)
        try:
            raw_items, response = self._json("GET", f"{self._repo_path}/issues", params=params)
        except TrackerNotFound:
            if not query.assignee:
                raise
            return Page(items=[])  # Gitea answers 404 for an assignee who does not exist: nobody's issues
        issues = [self._to_issue(raw) for raw in raw_items if not raw.get("pull_request")]
        if query.labels:
            # Gitea drops label names it does not know from the filter instead of matching nothing.
            wanted = {name.lower() for name in query.labels}
            issues = [issue for issue in issues if wanted <= {name.lower() for name in issue.labels}]
        more = self._has_next(response, page, size, len(raw_items))
        return Page(items=issues, next_cursor=encode_cursor([page + 1, size]) if more and raw_items else None)

    def get_issue(self, issue_id: str) -> Issue:
        raw, _ = self._json("GET", f"{self._repo_path}/issues/{self._index(issue_id)}")
        if raw.get("pull_request"):
            raise TrackerNotFound(f"Issue {issue_id} not found (it is a pull request).")
        return self._to_issue(raw)

    @staticmethod
    def _deadline(value: date) -> str:
        return utc_z(datetime.combine(value, END_OF_DAY, tzinfo=UTC))

    def create_issue(self, data: NewIssue) -> Issue:
        body: dict[str, Any] = {"title": data.title, "body": data.description}
        if data.labels:
            body["labels"] = self._label_ids(data.labels)
        if data.assignees:
            body["assignees"] = list(data.assignees)
        if data.due_date:
            body["due_date"] = self._deadline(data.due_date)
        raw, _ = self._json("POST", f"{self._repo_path}/issues", body=body)
        return self._to_issue(raw)

    def update_issue(self, issue_id: str, changes: IssueChanges) -> Issue:
        fields = changes.set_fields()
        path = f"{self._repo_path}/issues/{self._index(issue_id)}"
        if "labels" in fields:
            # Gitea's issue edit takes no labels: the label set is replaced on its own (by ids).
            ids = self._label_ids(fields["labels"]) if fields["labels"] else []
            self._call("PUT", f"{path}/labels", body={"labels": ids})
        body = {}
        if "title" in fields:
            body["title"] = fields["title"]
        if "description" in fields:
            body["body"] = fields["description"]
        if "status" in fields:
            body["state"] = "closed" if fields["status"] == "closed" else "open"
        if "assignees" in fields:
            body["assignees"] = list(fields["assignees"])  # [] clears them
        if "due_date" in fields:
            if fields["due_date"]:
                body["due_date"] = self._deadline(fields["due_date"])
            else:
                body["unset_due_date"] = True
        if not body:
            return self.get_issue(issue_id)
        raw, _ = self._json("PATCH", path, body=body)  # answers 201 with the issue as it now is
        return self._to_issue(raw)

    def list_comments(self, issue_id: str, *, limit: int, cursor: str | None) -> Page:
        # Gitea's issue comment list is not paginated: it answers every comment, oldest first.
        offset = decode_cursor(cursor, types=(int,))[0] if cursor else 0
        offset = max(0, offset)
        raw_items, _ = self._json("GET", f"{self._repo_path}/issues/{self._index(issue_id)}/comments")
        window = raw_items[offset : offset + limit]
        more = offset + limit < len(raw_items)
        return Page(
            items=[self._to_comment(raw) for raw in window], next_cursor=encode_cursor([offset + limit]) if more else None
        )

    def list_comments_updated_since(
        self, since: datetime | None, *, limit: int = MAX_PAGE_SIZE, cursor: str | None = None
    ) -> Page | None:
        """One page of (issue id, comment) of every issue, updated at or after `since` (Gitea orders them by creation).

        Editing a comment leaves its issue's `updated_at` alone on Gitea: only this listing shows the edit to a poll.
        A pull request's comments have no `issue_url` and are left out.
        """
        page, size = self._cursor(cursor, limit)
        params: dict[str, Any] = {"page": page, "limit": size}
        if since is not None:
            params["since"] = utc_z(since)
        raw_items, response = self._json("GET", f"{self._repo_path}/issues/comments", params=params)
        items = [(str(raw["issue_url"]).rsplit("/", 1)[-1], self._to_comment(raw)) for raw in raw_items if raw.get("issue_url")]
        more = self._has_next(response, page, size, len(raw_items))
        return Page(items=items, next_cursor=encode_cursor([page + 1, size]) if more and raw_items else None)

    def create_comment(self, issue_id: str, body: str) -> Comment:
        raw, _ = self._json("POST", f"{self._repo_path}/issues/{self._index(issue_id)}/comments", body={"body": body})
        return self._to_comment(raw)

    def list_labels(self) -> list[Label]:
        def color(value: str | None) -> str | None:
            return None if not value else value if value.startswith("#") else f"#{value}"

        return [Label(name=raw["name"], color=color(raw.get("color"))) for raw in self._all_labels()]

    def list_members(self) -> list[Person]:
        people, _ = self._json("GET", f"{self._repo_path}/assignees")
        return cast(list[Person], [_person(raw) for raw in people])

    def list_issue_template_files(self) -> list[tuple[str, str]]:
        """The repository's Markdown templates (.gitea/ and .github/ ISSUE_TEMPLATE), as Gitea parsed them,
        written back as front matter + body; issue forms come back with their file name only (they are skipped)."""
        try:
            templates, _ = self._json("GET", f"{self._repo_path}/issue_templates")
        except TrackerNotFound:
            return []
        files = []
        for template in templates[:MAX_TEMPLATES]:
            filename = str(template.get("file_name") or template.get("name") or "template.md")
            if not filename.lower().endswith(".md"):
                files.append((filename, ""))
                continue
            meta = {
                "name": template.get("name") or "",
                "about": template.get("about") or "",
                "title": template.get("title") or "",
                "labels": list(template.get("labels") or []),
                "assignees": list(template.get("assignees") or []),
            }
            front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=False)
            files.append((filename, f"---\n{front}---\n{template.get('content') or ''}"))
        return files

    # ---- comment edit/delete, issue delete ----

    def _own_comment(self, issue_id: str, comment_id: str) -> str:
        """The comment's path, once Gitea shows it belongs to this issue."""
        index = self._index(issue_id)
        path = f"{self._repo_path}/issues/comments/{numeric_id(comment_id, what='Comment', bits=63)}"
        raw, _ = self._json("GET", path)
        if not str(raw.get("issue_url") or "").endswith(f"/issues/{index}"):
            raise TrackerNotFound(f"Comment {comment_id} not found on issue {issue_id}.")
        return path

    def update_comment(self, issue_id: str, comment_id: str, body: str) -> Comment:
        raw, _ = self._json("PATCH", self._own_comment(issue_id, comment_id), body={"body": body})
        return self._to_comment(raw)

    def delete_comment(self, issue_id: str, comment_id: str) -> None:
        self._call("DELETE", self._own_comment(issue_id, comment_id))

    def delete_issue(self, issue_id: str) -> None:
        self._call("DELETE", f"{self._repo_path}/issues/{self._index(issue_id)}")

    # ---- attachments: the issue's assets ----

    def _to_attachment(self, raw: dict) -> Attachment:
        name = raw.get("name") or "attachment"
        return Attachment(
            id=str(raw["id"]),
            filename=name,
            content_type=guess_type(name),
            size=raw.get("size"),
            author=None,
            created_at=parse_time(raw.get("created_at")),
            url=raw.get("browser_download_url"),
        )

    def _assets(self, issue_id: str) -> str:
        return f"{self._repo_path}/issues/{self._index(issue_id)}/assets"

    def _asset(self, issue_id: str, attachment_id: str) -> str:
        return f"{self._assets(issue_id)}/{numeric_id(attachment_id, what='Attachment', bits=63)}"

    def list_attachments(self, issue_id: str) -> list[Attachment]:
        raw_items, _ = self._json("GET", self._assets(issue_id))
        return [self._to_attachment(raw) for raw in raw_items]

    def add_attachment(self, issue_id: str, upload: Upload) -> Attachment:
        body, content_type = multipart_upload("attachment", upload)
        raw, _ = self._json(
            "POST", self._assets(issue_id), params={"name": upload.filename}, data=body, content_type=content_type
        )
        return self._to_attachment(raw)

    def open_attachment(self, issue_id: str, attachment_id: str) -> AttachmentContent:
        raw, _ = self._json("GET", self._asset(issue_id, attachment_id))
        attachment = self._to_attachment(raw)
        if not same_origin(attachment.url, self._api):
            raise TrackerUnavailable("Gitea pointed the download at another host; the token is not sent there.")
        response = self._call("GET", None, url=attachment.url, stream=True)
        return AttachmentContent.streamed(attachment, response)

    def delete_attachment(self, issue_id: str, attachment_id: str) -> None:
        self._call("DELETE", self._asset(issue_id, attachment_id))

    def passthrough_root(self) -> tuple[str, dict, dict]:
        return self._api, self._auth(), {}

    # ---- webhooks ----

    def create_webhook(self, callback_url: str) -> WebhookRegistration:
        secret = secrets.token_urlsafe(32)
        hook, _ = self._json(
            "POST",
            f"{self._repo_path}/hooks",
            body={
                "type": "gitea",
                "active": True,
                "events": list(HOOK_EVENTS),
                "config": {"url": callback_url, "content_type": "json", "secret": secret},
            },
        )
        return WebhookRegistration(hook_id=str(hook["id"]), secret=secret, callback_url=callback_url)

    def delete_webhook(self, hook_id: str) -> None:
        if not str(hook_id).isdigit():
            return
        with contextlib.suppress(TrackerNotFound):
            self._call("DELETE", f"{self._repo_path}/hooks/{hook_id}")

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, registration: WebhookRegistration) -> bool:
        # Forgejo sends its own header beside Gitea's; both carry the hex HMAC-SHA256 of the body.
        signature = headers.get("X-Forgejo-Signature") or headers.get("X-Gitea-Signature")
        return same(signature, hmac_hex(registration.secret, body))

    def webhook_delivery(self, headers: Mapping[str, str], payload: dict) -> tuple[str | None, str]:
        key = headers.get("X-Forgejo-Delivery") or headers.get("X-Gitea-Delivery")
        return key, headers.get("X-Forgejo-Event") or headers.get("X-Gitea-Event") or "unknown"

    def _hook_issue(self, payload: dict) -> Issue | None:
        raw = payload.get("issue")
        if not isinstance(raw, dict) or "number" not in raw or raw.get("pull_request") or payload.get("is_pull"):
            return None
        issue = self._to_issue(raw)
        if not issue.url and isinstance(payload.get("repository"), dict) and payload["repository"].get("html_url"):
            issue.url = f"{payload['repository']['html_url']}/issues/{issue.id}"
        issue.remote_data = payload
        return issue

    def normalize_webhook(self, event_name: str, payload: dict) -> list[WebhookEvent]:
        issue = self._hook_issue(payload)
        if issue is None:
            return []
        action = payload.get("action")
        if event_name == "issue_comment":
            if action not in self.COMMENT_ACTIONS or not isinstance(payload.get("comment"), dict):
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
        if event_name != "issues":
            return []
        changes = dict(payload.get("changes") or {})
        if action in ("label_updated", "label_cleared"):
            changes["labels"] = issue.labels
            if action == "label_updated" and not issue.labels:
                return [WebhookEvent(type="issue.unlabeled", issue_id=issue.id, issue=issue, changes=changes)]
        if action == "assigned" and issue.assignees:
            changes["assignee"] = issue.assignees[-1].username
        return [
            WebhookEvent(type=self.ISSUE_ACTIONS.get(action, "issue.updated"), issue_id=issue.id, issue=issue, changes=changes)
        ]

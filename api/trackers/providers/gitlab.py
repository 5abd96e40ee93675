"""GitLab (gitlab.com or self-hosted) through python-gitlab."""

from __future__ import annotations

import contextlib
import re
import secrets
import sys
from collections.abc import Iterator, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar, cast
from urllib.parse import quote, unquote

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
    TrackerAuthFailed,
    TrackerError,
    TrackerNotFound,
    TrackerProvider,
    TrackerValidationError,
    Upload,
    WebhookEvent,
    WebhookRegistration,
    guess_type,
    label_workflow_option_errors,
    numeric_id,
    parse_time,
    same,
)
from api.trackers.resilience import (
    last_response_headers,
    provider_message,
    retry_after_seconds,
    shared_session,
    transport_errors,
)
from api.trackers.template_files import parse_plain_markdown

if TYPE_CHECKING:
    import gitlab
    import requests
    from gitlab.exceptions import GitlabError

TARGET = re.compile(r"^(\d+|[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+)$")
MAX_PAGES = 10  # labels/members: at most 10 pages of 100
MAX_TEMPLATES = 50


def _person(raw: dict | None) -> Person | None:
    if not raw:
        return None
    return Person(id=str(raw.get("id")), username=cast(str, raw.get("username")), name=raw.get("name"))


# A project upload linked from a note: [name](/uploads/<32 hex secret>/<file name>)
UPLOAD_LINK = re.compile(r"\[[^\]\n]{0,300}\]\((/uploads/([0-9a-f]{32})/([^)\s/]{1,300}))\)")
ATTACHMENT_NOTE = "Attachment: "


class GitlabProvider(TrackerProvider):
    slug = "gitlab"
    name = "GitLab"
    display_name = "GitLab (gitlab.com and self-hosted)"
    quiet_loggers = ("gitlab",)
    target_help = "a numeric project id or a 'group/project' path"
    credentials_help = '{"token": "..."} required (a personal, project or group access token)'
    example = {
        "name": "Backend project",
        "provider": "gitlab",
        "target": "octo-group/backend",
        "base_url": None,
        "credentials": {"token": "glpat-..."},
        "options": {},
    }
    webhook_body_signed = False  # X-Gitlab-Token is a shared secret, not a signature of the body
    credential_fields = ("token",)
    options_help = LABEL_WORKFLOW_HELP
    option_properties = LABEL_WORKFLOW_OPTIONS
    option_capabilities = {Capability.IN_PROGRESS: "in_progress_label", Capability.PRIORITY: "priority_labels"}
    capabilities = Capability.named(
        "issues comments labels members due_date webhooks template_import",
        "in_progress priority issue_type",
        "comment_edit comment_delete issue_delete attachments passthrough",
    )
    ISSUE_ACTIONS: ClassVar[dict[str, str]] = {"open": "issue.created", "close": "issue.closed", "reopen": "issue.reopened"}
    TEMPLATE_DIR = ".gitlab/issue_templates"
    default_base_url = "https://gitlab.com"
    passthrough_encoded_slash = True  # projects/group%2Fproject/...: GitLab's own way of naming a project by path

    @classmethod
    def validate_target(cls, target: str) -> str | None:
        return None if TARGET.match(target or "") else "Must be a numeric project id or a 'group/project' path."

    @classmethod
    def validate_credentials(cls, credentials: dict) -> dict:
        errors = {f"credentials.{key}": ["Unknown field."] for key in credentials if key != "token"}
        if not (credentials.get("token") or "").strip():
            errors["credentials.token"] = ["A GitLab access token is required."]
        return errors

    @classmethod
    def validate_options(cls, options: dict) -> dict:
        errors = {f"options.{key}": ["Unknown option."] for key in options if key not in LABEL_WORKFLOW_OPTIONS}
        return {**errors, **label_workflow_option_errors(options)}

    @property
    def _project_path(self) -> str:
        return f"/projects/{quote(self.config.target, safe='')}"

    @property
    def _root(self) -> str:
        # The instance root is expected; strip an /api/v4 a user may have pasted.
        return re.sub(r"/api/v4/?$", "", self.config.base_url or self.default_base_url)

    def _client(self) -> gitlab.Gitlab:
        # python-gitlab is imported when a GitLab tracker is first used, not at start-up.
        import gitlab

        base_url = self._root
        return gitlab.Gitlab(
            url=base_url,
            private_token=self.config.credentials.get("token", ""),
            timeout=self.config.timeout,
            retry_transient_errors=False,
            session=shared_session(self.config.timeout, self.config.retries),
        )

    def _request(
        self, verb: str, path: str, *, query: dict[str, Any] | None = None, data: dict[str, Any] | None = None
    ) -> requests.Response:
        """One API call through python-gitlab; 429s surface at once instead of sleeping in the library."""
        with self._translate():
            response = self._client().http_request(
                verb, path, query_data=query or {}, post_data=data, obey_rate_limit=False, max_retries=0
            )
            return response

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            with transport_errors():
                yield
        except Exception as exc:
            errors = sys.modules.get("gitlab.exceptions")  # nothing raises them before python-gitlab is imported
            if errors is None or not isinstance(exc, errors.GitlabAuthenticationError | errors.GitlabHttpError):
                raise
            if isinstance(exc, errors.GitlabAuthenticationError):
                raise TrackerAuthFailed("GitLab refused the credentials.") from None
            raise self._error(cast("GitlabError", exc)) from None

    @classmethod
    def parse_issue_template_file(cls, filename: str, text: str) -> dict:
        return parse_plain_markdown(filename, text)

    @classmethod
    def _error(cls, exc: GitlabError) -> TrackerError:
        status = exc.response_code
        # python-gitlab hands over the raw body when it is not JSON with a message: echo only a short line.
        raw = exc.error_message
        if isinstance(raw, dict):  # field errors: {"title": ["can't be blank"]}
            raw = "; ".join(
                f"{field} {' '.join(map(str, value)) if isinstance(value, list) else value}"
                for field, value in list(raw.items())[:10]
            )
        retry_after = retry_after_seconds(last_response_headers(), reset_header="RateLimit-Reset") if status == 429 else None
        return cls.error_for_status(status, provider_message(raw), retry_after=retry_after)

    def _to_issue(self, raw: dict) -> Issue:
        return Issue(
            id=str(raw["iid"]),
            title=raw.get("title") or "",
            description=raw.get("description") or "",
            status="closed" if raw.get("state") == "closed" else "open",
            remote_status=raw.get("state") or "",
            labels=[label["name"] if isinstance(label, dict) else label for label in raw.get("labels") or []],
            assignees=cast(list[Person], [_person(person) for person in raw.get("assignees") or []]),
            author=_person(raw.get("author")),
            url=raw.get("web_url"),
            created_at=parse_time(raw.get("created_at")),
            updated_at=parse_time(raw.get("updated_at")),
            closed_at=parse_time(raw.get("closed_at")),
            due_date=date.fromisoformat(raw["due_date"]) if raw.get("due_date") else None,
            comments_count=raw.get("user_notes_count") or 0,
            issue_type=raw.get("issue_type") or None,
            remote_data=raw,
        )

    @staticmethod
    def _to_comment(raw: dict) -> Comment:
        return Comment.from_json(raw, _person(raw.get("author")))

    @staticmethod
    def _iid(issue_id: str) -> int:
        return numeric_id(issue_id)

    @staticmethod
    def _page(cursor: str | None) -> int:
        return decode_cursor(cursor, types=(int,))[0] if cursor else 1

    @staticmethod
    def _next(response: requests.Response) -> str | None:
        next_page = response.headers.get("X-Next-Page")
        return encode_cursor([int(next_page)]) if next_page and next_page.isascii() and next_page.isdigit() else None

    def _all(self, path: str, query: dict[str, Any] | None = None) -> list[dict]:
        items: list[dict]
        items, page = [], 1
        for _ in range(MAX_PAGES):
            response = self._request("get", path, query={**(query or {}), "per_page": 100, "page": page})
            items += response.json()
            next_page = response.headers.get("X-Next-Page")
            if not next_page or not (next_page.isascii() and next_page.isdigit()):
                break
            page = int(next_page)
        return items

    def _assignee_ids(self, usernames: list[str]) -> list[int]:
        members = {person.username.lower(): person.id for person in self.list_members()}
        unknown = [name for name in usernames if name.lower() not in members]
        if unknown:
            raise TrackerValidationError(
                f"Not members of the GitLab project: {', '.join(unknown)}.",
                errors={"assignees": [f"Unknown member: {name}" for name in unknown]},
            )
        return [int(members[name.lower()]) for name in usernames]

    def verify(self) -> dict:
        raw = self._request("get", self._project_path).json()
        return {"provider": self.slug, "target": raw.get("path_with_namespace"), "url": raw.get("web_url")}

    def list_issues(self, query: IssueQuery) -> Page:
        params = {"order_by": "updated_at", "sort": "desc", "per_page": query.limit, "page": self._page(query.cursor)}
        if query.status:
            params["state"] = "opened" if query.status == "open" else "closed"
        if query.labels:
            params["labels"] = ",".join(query.labels)
        if query.assignee:
            params["assignee_username"] = query.assignee
        if query.q:
            params["search"] = query.q
        if query.updated_since:
            params["updated_after"] = query.updated_since.isoformat()
        response = self._request("get", f"{self._project_path}/issues", query=params)
        return Page(items=[self._to_issue(raw) for raw in response.json()], next_cursor=self._next(response))

    def get_issue(self, issue_id: str) -> Issue:
        return self._to_issue(self._request("get", f"{self._project_path}/issues/{self._iid(issue_id)}").json())

    def create_issue(self, data: NewIssue) -> Issue:
        body: dict[str, Any] = {"title": data.title, "description": data.description}
        if data.labels:
            body["labels"] = ",".join(data.labels)
        if data.assignees:
            body["assignee_ids"] = self._assignee_ids(data.assignees)
        if data.due_date:
            body["due_date"] = data.due_date.isoformat()
        if data.issue_type:
            body["issue_type"] = data.issue_type  # issue, incident, test_case or task: GitLab refuses others
        return self._to_issue(self._request("post", f"{self._project_path}/issues", data=body).json())

    def update_issue(self, issue_id: str, changes: IssueChanges) -> Issue:
        fields = changes.set_fields()
        body = {}
        if "title" in fields:
            body["title"] = fields["title"]
        if "description" in fields:
            body["description"] = fields["description"]
        if "status" in fields:
            body["state_event"] = "close" if fields["status"] == "closed" else "reopen"
        if "labels" in fields:
            body["labels"] = ",".join(fields["labels"])
        if "assignees" in fields:
            body["assignee_ids"] = self._assignee_ids(fields["assignees"]) or [0]  # [0] clears assignees
        if "due_date" in fields:
            body["due_date"] = fields["due_date"].isoformat() if fields["due_date"] else ""
        path = f"{self._project_path}/issues/{self._iid(issue_id)}"
        return self._to_issue(self._request("put", path, data=body).json())

    def list_comments(self, issue_id: str, *, limit: int, cursor: str | None) -> Page:
        params = {"sort": "asc", "order_by": "created_at", "per_page": limit, "page": self._page(cursor)}
        response = self._request("get", f"{self._project_path}/issues/{self._iid(issue_id)}/notes", query=params)
        # System notes ("changed the description") are GitLab's activity log, not comments.
        comments = [self._to_comment(raw) for raw in response.json() if not raw.get("system")]
        return Page(items=comments, next_cursor=self._next(response))

    def create_comment(self, issue_id: str, body: str) -> Comment:
        path = f"{self._project_path}/issues/{self._iid(issue_id)}/notes"
        return self._to_comment(self._request("post", path, data={"body": body}).json())

    def _note_path(self, issue_id: str, comment_id: str) -> str:
        return f"{self._project_path}/issues/{self._iid(issue_id)}/notes/{numeric_id(comment_id, what='Comment')}"

    def update_comment(self, issue_id: str, comment_id: str, body: str) -> Comment:
        return self._to_comment(self._request("put", self._note_path(issue_id, comment_id), data={"body": body}).json())

    def delete_comment(self, issue_id: str, comment_id: str) -> None:
        self._request("delete", self._note_path(issue_id, comment_id))

    def delete_issue(self, issue_id: str) -> None:
        self._request("delete", f"{self._project_path}/issues/{self._iid(issue_id)}")

    # ---- attachments: project uploads, each linked from a note on the issue ----

    def _linked_uploads(self, issue_id: str) -> list[tuple[Any, ...]]:
        """(note, link path, secret, quoted name) of every upload linked from the issue's notes, oldest first."""
        notes = self._all(f"{self._project_path}/issues/{self._iid(issue_id)}/notes", {"sort": "asc", "order_by": "created_at"})
        return [
            (note, *match.groups())
            for note in notes
            if not note.get("system")
            for match in UPLOAD_LINK.finditer(note.get("body") or "")
        ]

    def _to_attachment(self, note: dict, link: str, secret: str, name: str) -> Attachment:
        project = self.config.target if not self.config.target.isdigit() else f"-/project/{self.config.target}"
        filename = unquote(name)
        return Attachment(
            id=secret,
            filename=filename,
            content_type=guess_type(filename),
            size=None,
            author=_person(note.get("author")),
            created_at=parse_time(note.get("created_at")),
            url=f"{self._root}/{project}{link}",
        )

    def _find_upload(self, issue_id: str, attachment_id: str) -> tuple[Any, ...]:
        found = next((item for item in self._linked_uploads(issue_id) if item[2] == str(attachment_id)), None)
        if found is None:
            raise TrackerNotFound(f"Attachment {attachment_id} not found.")
        return found

    def list_attachments(self, issue_id: str) -> list[Attachment]:
        return [self._to_attachment(*item) for item in self._linked_uploads(issue_id)]

    def add_attachment(self, issue_id: str, upload: Upload) -> Attachment:
        iid = self._iid(issue_id)
        with self._translate():  # python-gitlab streams `files` as multipart
            raw = (
                self._client()
                .http_request(
                    "post",
                    f"{self._project_path}/uploads",
                    obey_rate_limit=False,
                    max_retries=0,
                    files={"file": (upload.filename, upload.stream, upload.content_type)},
                )
                .json()
            )
        match = UPLOAD_LINK.search(raw.get("markdown") or "")
        if match is None:
            raise TrackerValidationError("GitLab did not answer the upload's Markdown link.")
        note = self._request(
            "post", f"{self._project_path}/issues/{iid}/notes", data={"body": f"{ATTACHMENT_NOTE}{match.group(0)}"}
        ).json()
        attachment = self._to_attachment(note, *match.groups())
        attachment.size = upload.size
        return attachment

    def open_attachment(self, issue_id: str, attachment_id: str) -> AttachmentContent:
        note, link, secret, name = self._find_upload(issue_id, attachment_id)
        attachment = self._to_attachment(note, link, secret, name)
        with self._translate():
            response = self._client().http_request(
                "get", f"{self._project_path}/uploads/{secret}/{name}", streamed=True, obey_rate_limit=False, max_retries=0
            )
        return AttachmentContent.streamed(attachment, response)

    def delete_attachment(self, issue_id: str, attachment_id: str) -> None:
        note, _link, secret, name = self._find_upload(issue_id, attachment_id)
        self._request("delete", f"{self._project_path}/uploads/{secret}/{name}")
        if (note.get("body") or "").startswith(ATTACHMENT_NOTE) and len(UPLOAD_LINK.findall(note["body"])) == 1:
            self._request("delete", f"{self._project_path}/issues/{self._iid(issue_id)}/notes/{note['id']}")

    def passthrough_root(self) -> tuple[str, dict, dict]:
        return f"{self._root}/api/v4", {"PRIVATE-TOKEN": self.config.credentials.get("token", "")}, {}

    def list_labels(self) -> list[Label]:
        return [Label(name=raw["name"], color=raw.get("color")) for raw in self._all(f"{self._project_path}/labels")]

    def list_members(self) -> list[Person]:
        return cast(list[Person], [_person(raw) for raw in self._all(f"{self._project_path}/members/all")])

    def list_issue_template_files(self) -> list[tuple[str, str]]:
        project = self._request("get", self._project_path).json()
        try:
            with self._translate():
                tree = (
                    self._client()
                    .http_request(
                        "get",
                        f"{self._project_path}/repository/tree",
                        query_data={"path": self.TEMPLATE_DIR, "per_page": 100},
                        obey_rate_limit=False,
                        max_retries=0,
                    )
                    .json()
                )
        except TrackerNotFound:
            return []
        ref = project.get("default_branch") or "HEAD"
        files = []
        for entry in [entry for entry in tree if entry.get("type") == "blob"][:MAX_TEMPLATES]:
            path = f"{self._project_path}/repository/files/{quote(entry['path'], safe='')}/raw"
            files.append((entry["name"], self._request("get", path, query={"ref": ref}).text))
        return files

    def create_webhook(self, callback_url: str) -> WebhookRegistration:
        secret = secrets.token_urlsafe(32)
        hook = self._request(
            "post",
            f"{self._project_path}/hooks",
            data={
                "url": callback_url,
                "token": secret,
                "issues_events": True,
                "note_events": True,
                "push_events": False,
                "enable_ssl_verification": callback_url.startswith("https://"),
            },
        ).json()
        return WebhookRegistration(hook_id=str(hook["id"]), secret=secret, callback_url=callback_url)

    def delete_webhook(self, hook_id: str) -> None:
        if not str(hook_id).isdigit():
            return
        with contextlib.suppress(TrackerNotFound):
            self._request("delete", f"{self._project_path}/hooks/{hook_id}")

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, registration: WebhookRegistration) -> bool:
        return same(headers.get("X-Gitlab-Token"), registration.secret)

    def webhook_delivery(self, headers: Mapping[str, str], payload: dict) -> tuple[str | None, str]:
        key = headers.get("X-Gitlab-Event-UUID") or headers.get("Idempotency-Key")
        return key, headers.get("X-Gitlab-Event") or str(payload.get("object_kind") or "unknown")

    @staticmethod
    def _hook_issue(attributes: dict, payload: dict) -> Issue:
        labels: Any = payload.get("labels") if payload.get("labels") is not None else attributes.get("labels") or []
        return Issue(
            id=str(attributes["iid"]),
            title=attributes.get("title") or "",
            description=attributes.get("description") or "",
            status="closed" if attributes.get("state") == "closed" else "open",
            remote_status=attributes.get("state") or "",
            labels=[label.get("title") or label.get("name") or "" for label in labels if isinstance(label, dict)],
            assignees=[
                Person(
                    id=str(person.get("id") or person.get("username")), username=person.get("username"), name=person.get("name")
                )
                for person in payload.get("assignees") or []
            ],
            author=None,
            url=attributes.get("url") or attributes.get("web_url"),
            created_at=parse_time(attributes.get("created_at")),
            updated_at=parse_time(attributes.get("updated_at")),
            closed_at=parse_time(attributes.get("closed_at")),
            due_date=date.fromisoformat(attributes["due_date"]) if attributes.get("due_date") else None,
            remote_data=payload,
        )

    def normalize_webhook(self, event_name: str, payload: dict) -> list[WebhookEvent]:
        kind = payload.get("object_kind")
        attributes = payload.get("object_attributes") or {}
        if kind in ("issue", "work_item") and "iid" in attributes:
            issue = self._hook_issue(attributes, payload)
            changes = payload.get("changes") or {}
            event_type = self.ISSUE_ACTIONS.get(str(attributes.get("action")), "issue.updated")
            if event_type == "issue.updated" and "labels" in changes:
                before = {label.get("title") for label in changes["labels"].get("previous") or []}
                after = {label.get("title") for label in changes["labels"].get("current") or []}
                event_type = "issue.labeled" if after - before else "issue.unlabeled"
            elif event_type == "issue.updated" and "assignees" in changes:
                before = {p.get("username") for p in changes["assignees"].get("previous") or []}
                after = {p.get("username") for p in changes["assignees"].get("current") or []}
                if after - before:
                    event_type = "issue.assigned"
            return [WebhookEvent(type=event_type, issue_id=issue.id, issue=issue, changes=changes)]
        if kind == "note" and attributes.get("noteable_type") == "Issue" and payload.get("issue"):
            issue = self._hook_issue(payload["issue"], {"assignees": [], **payload, "labels": None})
            user = payload.get("user") or {}
            comment = Comment(
                id=str(attributes.get("id")),
                body=attributes.get("note") or "",
                author=Person(id=str(user.get("id")), username=user.get("username") or "", name=user.get("name"))
                if user
                else None,
                created_at=parse_time(attributes.get("created_at")),
                updated_at=parse_time(attributes.get("updated_at")),
            )
            event_type = "comment.updated" if attributes.get("action") == "update" else "comment.created"
            return [WebhookEvent(type=event_type, issue_id=issue.id, issue=issue, comment=comment)]
        return []

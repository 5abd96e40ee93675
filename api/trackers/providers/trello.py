"""Trello boards through py-trello: a card is an issue, lists map to open/closed."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, cast

from api.schemas.base import decode_cursor, encode_cursor
from api.trackers.base import (
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
    multipart_upload,
    parse_time,
    same,
    same_origin,
)
from api.trackers.resilience import (
    last_response_headers,
    provider_message,
    retry_after_seconds,
    shared_session,
    transport_errors,
)

if TYPE_CHECKING:
    import requests
    from trello import TrelloClient

    from api.trackers.resilience import TimeoutSession

TARGET = re.compile(r"^([A-Za-z0-9]{8}|[0-9a-f]{24})$")
CARD_ID = re.compile(r"^([A-Za-z0-9]{8}|[0-9a-f]{24})$")
# Trello's 401 for a valid token refused one object (not a bad key or token).
PERMISSION_REFUSED = re.compile(r"^unauthorized( \w+)? permission requested")
TRELLO_API = "https://api.trello.com"
DONE_NAMES = {"done", "closed"}
RATE_WINDOW_SECONDS = 10
ACTIONS_PER_PAGE = 50
MAX_ACTION_PAGES = 20


class _HttpService:
    """py-trello's `http_service`: sends its calls to `base_url` over the shared pooled session."""

    def __init__(self, session: TimeoutSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        if self.base_url != TRELLO_API and url.startswith(TRELLO_API):
            url = self.base_url + url[len(TRELLO_API) :]
        kwargs.pop("proxies", None)
        return self.session.request(method, url, **kwargs)


def _created_at(card_id: str) -> datetime:
    # A Trello id starts with the creation time as 8 hex digits of Unix seconds.
    return datetime.fromtimestamp(int(card_id[:8], 16), tz=UTC)


class TrelloProvider(TrackerProvider):
    slug = "trello"
    name = "Trello"
    display_name = "Trello"
    target_help = "a board id (24 hex) or short link (8 letters/digits)"
    credentials_help = '{"api_key": "...", "token": "..."} required; "api_secret" optional (verifies webhook signatures)'
    options_help = (
        "open_lists (list ids or names counted as open), closed_list (where closing moves a card), "
        "default_list (where new cards go), in_progress_lists (lists meaning status_category in_progress), "
        'priority_labels ({"urgent"|"high"|"normal"|"low": label})'
    )
    example = {
        "name": "Roadmap board",
        "provider": "trello",
        "target": "4d5ea62fd76aa1136000000c",
        "base_url": None,
        "credentials": {"api_key": "...", "token": "..."},
        "options": {"closed_list": "Done"},
    }
    webhook_body_signed = True  # X-Trello-Webhook signs the body and the callback URL
    credential_fields = ("api_key", "token", "api_secret")
    option_properties = {
        "open_lists": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "closed_list": {"type": "string", "minLength": 1},
        "default_list": {"type": "string", "minLength": 1},
        "in_progress_lists": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "priority_labels": LABEL_WORKFLOW_OPTIONS["priority_labels"],
    }
    validation_statuses = frozenset({400, 422})
    capabilities = Capability.named(
        "issues comments labels members due_date webhooks",
        "in_progress priority",
        "comment_edit comment_delete issue_delete attachments passthrough",
    )
    option_capabilities = {Capability.IN_PROGRESS: "in_progress_lists", Capability.PRIORITY: "priority_labels"}
    native_fields = frozenset({"status_category"})  # a card's list says it
    webhook_reports_deletes = True  # deleteCard
    # Where Trello serves attachment downloads for its own API host (a self-hosted stand-in serves them itself).
    DOWNLOAD_HOSTS = ("https://trello.com", "https://api.trello.com")
    ACTIONS = {
        "createCard": "issue.created",
        "deleteCard": "issue.deleted",
        "addLabelToCard": "issue.labeled",
        "removeLabelFromCard": "issue.unlabeled",
        "addMemberToCard": "issue.assigned",
        "commentCard": "comment.created",
        "updateComment": "comment.updated",
        "deleteComment": "comment.deleted",
        "addAttachmentToCard": "attachment.created",
        "deleteAttachmentFromCard": "attachment.deleted",
    }
    default_base_url = TRELLO_API
    OPTIONS = ("open_lists", "closed_list", "default_list", "in_progress_lists", "priority_labels")

    @classmethod
    def validate_target(cls, target: str) -> str | None:
        return None if TARGET.match(target or "") else "Must be a Trello board id (24 hex) or short link (8 characters)."

    @classmethod
    def validate_credentials(cls, credentials: dict) -> dict:
        # api_secret (the app's secret) is optional: only webhook signatures need it.
        errors = {
            f"credentials.{key}": ["Unknown field."] for key in credentials if key not in ("api_key", "token", "api_secret")
        }
        for key in ("api_key", "token"):
            if not (credentials.get(key) or "").strip():
                errors[f"credentials.{key}"] = [f"A Trello {key.replace('_', ' ')} is required."]
        return errors

    @classmethod
    def validate_options(cls, options: dict) -> dict:
        errors = {f"options.{key}": ["Unknown option."] for key in options if key not in cls.OPTIONS}
        lists = options.get("open_lists")
        if lists is not None and (not isinstance(lists, list) or not all(isinstance(v, str) and v for v in lists)):
            errors["options.open_lists"] = ["A list of Trello list ids or names."]
        for key in ("closed_list", "default_list"):
            if key in options and not (isinstance(options[key], str) and options[key]):
                errors[f"options.{key}"] = ["A Trello list id or name."]
        doing = options.get("in_progress_lists")
        if doing is not None and (not isinstance(doing, list) or not all(isinstance(v, str) and v for v in doing)):
            errors["options.in_progress_lists"] = ["A list of Trello list ids or names."]
        errors.update(label_workflow_option_errors({k: v for k, v in options.items() if k == "priority_labels"}))
        return errors

    def _client(self) -> TrelloClient:
        # py-trello is imported when a Trello tracker is first used, not at start-up (a worker serving none never loads it).
        from trello import TrelloClient

        credentials = self.config.credentials
        # Without OAuth, py-trello sends api_secret as the `token` query parameter.
        return TrelloClient(
            api_key=credentials.get("api_key", ""),
            api_secret=credentials.get("token", ""),
            http_service=_HttpService(
                shared_session(self.config.timeout, self.config.retries), self.config.base_url or self.default_base_url
            ),
        )

    def _fetch(
        self, path: str, method: str = "GET", query: dict[str, Any] | None = None, body: dict[str, Any] | None = None
    ) -> Any:
        with self._translate():
            return self._client().fetch_json(path, http_method=method, query_params=query or {}, post_args=body)

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            with transport_errors():
                yield
        except Exception as exc:
            errors = sys.modules.get("trello.exceptions")  # nothing raises them before py-trello is imported
            if errors is None or not isinstance(exc, errors.Unauthorized | errors.ResourceUnavailable):
                raise
            # py-trello keeps only the status and "<body> at <url>"; the URL carries the key and token.
            text = provider_message(str(getattr(exc, "_msg", "")).split(" at http")[0])
            if isinstance(exc, errors.Unauthorized):
                # A valid token refused one object (someone else's comment) is Trello's 401 "unauthorized ... permission
                # requested": its 403, so within a permission-scoped operation the answer is 403 with that reason.
                if PERMISSION_REFUSED.search(text):
                    raise self._error(403, text) from None
                raise TrackerAuthFailed("Trello refused the API key or token.") from None
            raise self._error(getattr(exc, "_status", None), text) from None

    @classmethod
    def _error(cls, status: int | None, text: str) -> TrackerError:
        # Trello sends no Retry-After; its token limits are counted over 10-second windows.
        retry_after = (retry_after_seconds(last_response_headers()) or RATE_WINDOW_SECONDS) if status == 429 else None
        return cls.error_for_status(status, text, retry_after=retry_after)

    # ---- board context ----

    def _board_path(self, suffix: str = "") -> str:
        return f"/boards/{self.config.target}{suffix}"

    def _lists(self) -> list[dict]:
        return self._fetch(self._board_path("/lists"), query={"filter": "all", "fields": "id,name,closed"})

    def _resolve_list(self, lists: list[dict], ref: str) -> dict | None:
        return next((item for item in lists if ref in (item["id"], item["name"])), None)

    def _closed_list_ids(self, lists: list[dict]) -> set[str]:
        options = self.config.options
        if options.get("open_lists"):
            open_ids = {item["id"] for ref in options["open_lists"] if (item := self._resolve_list(lists, ref))}
            return {item["id"] for item in lists if item["id"] not in open_ids}
        if options.get("closed_list"):
            item = self._resolve_list(lists, options["closed_list"])
            return {item["id"]} if item else set()
        return {item["id"] for item in lists if item["name"].strip().lower() in DONE_NAMES}

    def _members(self) -> list[dict]:
        return self._fetch(self._board_path("/members"))

    def _person(self, raw: dict) -> Person:
        # A member the board no longer lists ({"id": ...} in _to_issue) has no username: list_issues allows for it.
        return Person(id=raw["id"], username=raw.get("username"), name=raw.get("fullName"))  # type: ignore[arg-type]

    def _in_progress_list_ids(self, lists: list[dict]) -> list[str]:
        refs = self.config.options.get("in_progress_lists") or []
        return [item["id"] for ref in refs if (item := self._resolve_list(lists, ref))]

    def _to_issue(self, card: dict, lists: list[dict], members: list[dict]) -> Issue:
        list_names = {item["id"]: item["name"] for item in lists}
        closed = card.get("closed") or card.get("idList") in self._closed_list_ids(lists)
        people = {member["id"]: member for member in members}
        doing = not closed and card.get("idList") in self._in_progress_list_ids(lists)
        return Issue(
            status_category="in_progress" if doing else None,
            id=card["id"],
            title=card.get("name") or "",
            description=card.get("desc") or "",
            status="closed" if closed else "open",
            remote_status="archived" if card.get("closed") else list_names.get(card.get("idList"), ""),
            labels=[label.get("name") or label.get("color") or "" for label in card.get("labels") or []],
            assignees=[self._person(people.get(member_id, {"id": member_id})) for member_id in card.get("idMembers") or []],
            author=None,
            url=card.get("url") or card.get("shortUrl"),
            created_at=_created_at(card["id"]),
            updated_at=parse_time(card.get("dateLastActivity")) or _created_at(card["id"]),
            closed_at=None,
            due_date=date.fromisoformat(card["due"][:10]) if card.get("due") else None,
            comments_count=(card.get("badges") or {}).get("comments", 0),
            remote_data=card,
        )

    def _card_id(self, issue_id: str) -> str:
        if not CARD_ID.match(str(issue_id)):
            raise TrackerNotFound(f"Issue {issue_id} not found.")
        return issue_id

    def _label_ids(self, names: list[str]) -> list[str]:
        labels = self._fetch(self._board_path("/labels"))
        by_name = {label["name"]: label["id"] for label in labels if label.get("name")}
        unknown = [name for name in names if name not in by_name]
        if unknown:
            raise TrackerValidationError(
                f"Labels not on the Trello board: {', '.join(unknown)}.",
                errors={"labels": [f"Unknown label: {name}" for name in unknown]},
            )
        return [by_name[name] for name in names]

    def _member_ids(self, usernames: list[str], members: list[dict]) -> list[str]:
        by_name = {member["username"].lower(): member["id"] for member in members if member.get("username")}
        unknown = [name for name in usernames if name.lower() not in by_name]
        if unknown:
            raise TrackerValidationError(
                f"Not members of the Trello board: {', '.join(unknown)}.",
                errors={"assignees": [f"Unknown member: {name}" for name in unknown]},
            )
        return [by_name[name.lower()] for name in usernames]

    def _target_list(self, lists: list[dict], option: str) -> str:
        ref = self.config.options.get(option)
        item = self._resolve_list(lists, ref) if ref else None
        if item is None:
            closed = self._closed_list_ids(lists)
            item = next((entry for entry in lists if not entry.get("closed") and entry["id"] not in closed), None)
        if item is None:
            raise TrackerValidationError("The Trello board has no open list to put cards in.")
        return item["id"]

    # ---- the interface ----

    def verify(self) -> dict:
        board = self._fetch(self._board_path(), query={"fields": "id,name,url"})
        return {"provider": self.slug, "target": board.get("name"), "url": board.get("url")}

    def list_issues(self, query: IssueQuery) -> Page:
        offset = decode_cursor(query.cursor, types=(int,))[0] if query.cursor else 0
        cards = self._fetch(self._board_path("/cards/all"))
        lists, members = self._lists(), self._members()
        issues = [self._to_issue(card, lists, members) for card in cards]
        needle = query.q.lower() if query.q else None
        wanted_labels = set(query.labels)
        if query.status_category == "in_progress":
            self.require(Capability.IN_PROGRESS, "The in_progress status category")
        selected = [
            issue
            for issue in issues
            if (not query.status or issue.status == query.status)
            and (not query.status_category or issue.status_category == query.status_category)
            and wanted_labels <= set(issue.labels)
            and (not query.assignee or any(p.username and p.username.lower() == query.assignee.lower() for p in issue.assignees))
            and (not needle or needle in issue.title.lower() or needle in issue.description.lower())
            and (not query.updated_since or cast(datetime, issue.updated_at) >= query.updated_since)
        ]
        selected.sort(key=lambda issue: (issue.updated_at, issue.id), reverse=True)
        window = selected[offset : offset + query.limit]
        more = offset + query.limit < len(selected)
        return Page(items=window, next_cursor=encode_cursor([offset + query.limit]) if more else None)

    def get_issue(self, issue_id: str) -> Issue:
        card = self._fetch(f"/cards/{self._card_id(issue_id)}")
        return self._to_issue(card, self._lists(), self._members())

    def create_issue(self, data: NewIssue) -> Issue:
        lists, members = self._lists(), self._members()
        body: dict[str, Any] = {"idList": self._target_list(lists, "default_list"), "name": data.title, "desc": data.description}
        if data.labels:
            body["idLabels"] = ",".join(self._label_ids(data.labels))
        if data.assignees:
            body["idMembers"] = ",".join(self._member_ids(data.assignees, members))
        if data.due_date:
            body["due"] = data.due_date.isoformat()
        card = self._fetch("/cards", method="POST", body=body)
        return self._to_issue(card, lists, members)

    def update_issue(self, issue_id: str, changes: IssueChanges) -> Issue:
        card_id = self._card_id(issue_id)
        fields = changes.set_fields()
        lists, members = self._lists(), self._members()
        body = self._card_fields(fields, members)
        if fields.get("status_category"):
            self._to_category(card_id, fields, body, lists)
        if "status" in fields:
            self._to_status(card_id, fields["status"], body, lists)
        card = self._fetch(f"/cards/{card_id}", method="PUT", body=body) if body else self._fetch(f"/cards/{card_id}")
        return self._to_issue(card, lists, members)

    def _card_fields(self, fields: dict[str, Any], members: list[dict]) -> dict[str, Any]:
        """The card fields a PUT sets for the changed unified fields (status apart)."""
        body: dict[str, Any] = {}
        if "title" in fields:
            body["name"] = fields["title"]
        if "description" in fields:
            body["desc"] = fields["description"]
        if "labels" in fields:
            body["idLabels"] = ",".join(self._label_ids(fields["labels"]))
        if "assignees" in fields:
            body["idMembers"] = ",".join(self._member_ids(fields["assignees"], members))
        if "due_date" in fields:
            body["due"] = fields["due_date"].isoformat() if fields["due_date"] else None
        return body

    def _to_category(self, card_id: str, fields: dict[str, Any], body: dict[str, Any], lists: list[dict]) -> None:
        """In progress moves the card to an in-progress list; the other categories become a status (fields["status"])."""
        category = fields["status_category"]
        wanted = "closed" if category == "done" else "open"
        if fields.get("status", wanted) != wanted:
            raise TrackerValidationError(
                "status and status_category disagree.", errors={"status_category": [f"{category!r} means status {wanted!r}."]}
            )
        if category == "in_progress":
            self.require(Capability.IN_PROGRESS, "The in_progress status category")
            doing = self._in_progress_list_ids(lists)
            if not doing:
                raise TrackerValidationError("None of options.in_progress_lists is a list of the board.")
            body["idList"], body["closed"] = doing[0], False
            fields.pop("status", None)
            return
        fields["status"] = wanted
        if category == "todo":
            current = self._fetch(f"/cards/{card_id}", query={"fields": "idList"})
            if current.get("idList") in self._in_progress_list_ids(lists):
                body["idList"] = self._target_list(lists, "default_list")

    def _to_status(self, card_id: str, status: str, body: dict[str, Any], lists: list[dict]) -> None:
        current = self._fetch(f"/cards/{card_id}", query={"fields": "idList,closed"})
        closed_ids = self._closed_list_ids(lists)
        if status == "closed":
            if self.config.options.get("closed_list") or (closed_ids and not self.config.options.get("open_lists")):
                body["idList"] = self._target_list_closed(lists, closed_ids)
            else:
                body["closed"] = True
        else:
            body["closed"] = False
            if current.get("idList") in closed_ids:
                body["idList"] = self._target_list(lists, "default_list")

    def _target_list_closed(self, lists: list[dict], closed_ids: set[str]) -> str:
        ref = self.config.options.get("closed_list")
        item = self._resolve_list(lists, ref) if ref else None
        return item["id"] if item else sorted(closed_ids)[0]

    def list_comments(self, issue_id: str, *, limit: int, cursor: str | None) -> Page:
        offset = decode_cursor(cursor, types=(int,))[0] if cursor else 0
        card_id, actions = self._card_id(issue_id), []
        for page in range(MAX_ACTION_PAGES):  # Trello pages card actions 50 at a time, newest first
            batch = self._fetch(f"/cards/{card_id}/actions", query={"filter": "commentCard", "page": page})
            actions += batch
            if len(batch) < ACTIONS_PER_PAGE:
                break
        actions = sorted(actions, key=lambda action: action.get("date") or "")
        window = actions[offset : offset + limit]
        more = offset + limit < len(actions)
        return Page(
            items=[self._to_comment(action) for action in window], next_cursor=encode_cursor([offset + limit]) if more else None
        )

    def _to_comment(self, action: dict) -> Comment:
        creator = action.get("memberCreator")
        data = action.get("data") or {}
        return Comment(
            id=action["id"],
            body=data.get("text") or "",
            author=self._person(creator) if creator else None,
            created_at=parse_time(action.get("date")),
            updated_at=parse_time(data.get("dateLastEdited")) or parse_time(action.get("date")),
        )

    def create_comment(self, issue_id: str, body: str) -> Comment:
        action = self._fetch(f"/cards/{self._card_id(issue_id)}/actions/comments", method="POST", body={"text": body})
        return self._to_comment(action)

    # ---- comment edit/delete, card delete ----

    def _comment_path(self, issue_id: str, comment_id: str) -> str:
        if not CARD_ID.match(str(comment_id)):
            raise TrackerNotFound(f"Comment {comment_id} not found.")
        return f"/cards/{self._card_id(issue_id)}/actions/{comment_id}/comments"

    def update_comment(self, issue_id: str, comment_id: str, body: str) -> Comment:
        return self._to_comment(self._fetch(self._comment_path(issue_id, comment_id), method="PUT", body={"text": body}))

    def delete_comment(self, issue_id: str, comment_id: str) -> None:
        self._fetch(self._comment_path(issue_id, comment_id), method="DELETE")

    def delete_issue(self, issue_id: str) -> None:
        self._fetch(f"/cards/{self._card_id(issue_id)}", method="DELETE")

    # ---- attachments: the card's own ----

    @property
    def _api_root(self) -> str:
        return (self.config.base_url or self.default_base_url).rstrip("/") + "/1"

    def _oauth(self) -> dict[str, str]:
        credentials = self.config.credentials
        return {
            "Authorization": f'OAuth oauth_consumer_key="{credentials.get("api_key", "")}", '
            f'oauth_token="{credentials.get("token", "")}"'
        }

    def _raw(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One call outside py-trello (uploads, downloads): the OAuth header, never the key in a URL."""
        headers = {**self._oauth(), **kwargs.pop("headers", {})}
        with transport_errors():
            response = shared_session(self.config.timeout, self.config.retries).request(
                method, url, headers=headers, timeout=self.config.timeout, allow_redirects=False, **kwargs
            )
        if response.status_code >= 400:
            text = provider_message(response.text[:200]) if not kwargs.get("stream") else ""
            response.close()
            raise self._error(response.status_code, text)
        return response

    def _to_attachment(self, raw: dict, members: Iterable[dict] = ()) -> Attachment:
        name = raw.get("name") or raw.get("fileName") or "attachment"
        member = next((m for m in members if m["id"] == raw.get("idMember")), None)
        return Attachment(
            id=raw["id"],
            filename=name,
            content_type=raw.get("mimeType") or guess_type(name),
            size=raw.get("bytes"),
            author=self._person(member) if member else None,
            created_at=parse_time(raw.get("date")),
            url=raw.get("url"),
        )

    def _attachment_id(self, attachment_id: str) -> str:
        if not CARD_ID.match(str(attachment_id)):
            raise TrackerNotFound(f"Attachment {attachment_id} not found.")
        return attachment_id

    def list_attachments(self, issue_id: str) -> list[Attachment]:
        raw_items = self._fetch(f"/cards/{self._card_id(issue_id)}/attachments")
        members = self._members() if raw_items else []
        return [self._to_attachment(raw, members) for raw in raw_items if raw.get("isUpload", True)]

    def add_attachment(self, issue_id: str, upload: Upload) -> Attachment:
        body, content_type = multipart_upload("file", upload, name=upload.filename, mimeType=upload.content_type)
        response = self._raw(
            "POST",
            f"{self._api_root}/cards/{self._card_id(issue_id)}/attachments",
            data=body,
            headers={"Content-Type": content_type, "Accept": "application/json"},
        )
        return self._to_attachment(response.json(), self._members())

    def open_attachment(self, issue_id: str, attachment_id: str) -> AttachmentContent:
        raw = self._fetch(f"/cards/{self._card_id(issue_id)}/attachments/{self._attachment_id(attachment_id)}")
        attachment = self._to_attachment(raw)
        allowed = (self._api_root, *(self.DOWNLOAD_HOSTS if not self.config.base_url else ()))
        if not raw.get("isUpload", True) or not any(same_origin(attachment.url, root) for root in allowed):
            raise TrackerValidationError("This attachment is a link, not a file Trello keeps; open its url instead.")
        response = self._raw("GET", cast(str, attachment.url), stream=True)
        return AttachmentContent.streamed(attachment, response)

    def delete_attachment(self, issue_id: str, attachment_id: str) -> None:
        self._fetch(f"/cards/{self._card_id(issue_id)}/attachments/{self._attachment_id(attachment_id)}", method="DELETE")

    def passthrough_root(self) -> tuple[str, dict, dict]:
        return self._api_root, self._oauth(), {}

    def list_labels(self) -> list[Label]:
        labels = self._fetch(self._board_path("/labels"))
        return [Label(name=label.get("name") or "", color=label.get("color")) for label in labels]

    def list_members(self) -> list[Person]:
        return [self._person(member) for member in self._members()]

    def create_webhook(self, callback_url: str) -> WebhookRegistration:
        secret = self.config.credentials.get("api_secret")
        if not secret:
            raise TrackerValidationError(
                "Trello signs webhooks with the app secret: add credentials.api_secret.",
                errors={"credentials.api_secret": ["Required for webhooks."]},
            )
        board = self._fetch(self._board_path(), query={"fields": "id"})
        hook = self._fetch(
            "/webhooks",
            method="POST",
            body={"callbackURL": callback_url, "idModel": board["id"], "description": "Ticket Gateway"},
        )
        return WebhookRegistration(hook_id=hook["id"], secret=secret, callback_url=callback_url)

    def delete_webhook(self, hook_id: str) -> None:
        if not CARD_ID.match(str(hook_id)):
            return
        with contextlib.suppress(TrackerNotFound):
            self._fetch(f"/webhooks/{hook_id}", method="DELETE")

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, registration: WebhookRegistration) -> bool:
        # Trello: base64(HMAC-SHA1(app secret, raw body + the exact callback URL)).
        digest = hmac.new(registration.secret.encode(), body + registration.callback_url.encode(), hashlib.sha1).digest()
        return same(headers.get("X-Trello-Webhook"), base64.b64encode(digest).decode())

    def webhook_delivery(self, headers: Mapping[str, str], payload: dict) -> tuple[str | None, str]:
        action = payload.get("action") or {}
        return action.get("id"), action.get("type") or "unknown"

    def _list_is_closed(self, item: dict | None) -> bool:
        if not item:
            return False
        refs = {item.get("id"), item.get("name")}
        options = self.config.options
        if options.get("open_lists"):
            return not refs & set(options["open_lists"])
        if options.get("closed_list"):
            return options["closed_list"] in refs
        return (item.get("name") or "").strip().lower() in DONE_NAMES

    def normalize_webhook(self, event_name: str, payload: dict) -> list[WebhookEvent]:
        action = payload.get("action") or {}
        data = action.get("data") or {}
        card = data.get("card")
        if not isinstance(card, dict) or not CARD_ID.match(str(card.get("id", ""))):
            return []
        kind = str(action.get("type") or "")
        old = data.get("old") or {}
        list_item = data.get("listAfter") or data.get("list")
        closed = bool(card.get("closed")) or self._list_is_closed(list_item)
        event_type = self.ACTIONS.get(kind, "issue.updated")
        if kind == "updateCard" and "closed" in old:
            event_type = "issue.closed" if card.get("closed") else "issue.reopened"
        elif kind == "updateCard" and data.get("listAfter"):
            was_closed, now_closed = self._list_is_closed(data.get("listBefore")), self._list_is_closed(data["listAfter"])
            if now_closed != was_closed:
                event_type = "issue.closed" if now_closed else "issue.reopened"
        creator = action.get("memberCreator")
        person = self._person(creator) if creator else None
        when = parse_time(action.get("date")) or _created_at(card["id"])
        issue = Issue(
            id=card["id"],
            title=card.get("name") or "",
            description=card.get("desc") or "",
            status="closed" if closed else "open",
            remote_status="archived" if card.get("closed") else (list_item or {}).get("name", ""),
            labels=[data["label"]["name"]] if kind == "addLabelToCard" and data.get("label", {}).get("name") else [],
            assignees=[],
            author=None,
            url=None,
            created_at=_created_at(card["id"]),
            updated_at=when,
            due_date=date.fromisoformat(card["due"][:10]) if card.get("due") else None,
            remote_data=payload,
        )
        comment = None
        if event_type.startswith("comment."):
            body = data.get("text") or (data.get("action") or {}).get("text") or ""
            comment = Comment(id=str(action.get("id") or ""), body=body, author=person, created_at=when, updated_at=when)
        changes = dict(old)
        if kind in ("addLabelToCard", "removeLabelFromCard"):
            changes["label"] = (data.get("label") or {}).get("name")
        if kind == "addMemberToCard":
            changes["assignee"] = (data.get("member") or {}).get("username") or data.get("idMember")
        if event_type.startswith("attachment."):
            raw = data["attachment"] if isinstance(data.get("attachment"), dict) else {}
            name = str(raw.get("name") or "attachment")
            changes["attachment"] = {
                "id": str(raw.get("id") or ""),
                "filename": name,
                "url": raw.get("url"),
                "content_type": guess_type(name),
                "author": person and person.username,
                "created_at": action.get("date"),
            }
        return [WebhookEvent(type=event_type, issue_id=card["id"], issue=issue, comment=comment, changes=changes)]

"""A stateful fake of Jira Cloud (REST v3, ADF, search/jql with nextPageToken) and Jira Data Center (REST v2, wiki
strings, search with startAt/total), only the routes the gateway's Jira provider calls.

Cloud: HTTP basic with an account e-mail and API token, people by `accountId`, 410 on the removed `/search`.
Data Center: bearer personal access tokens, people by `name`/`key`, admin webhooks under /rest/webhooks/1.0/webhook.
Both: the error shape `{"errorMessages": [], "errors": {}}`, a small workflow (To Do -> In Progress -> Done, Reopen),
a JQL subset parsed the way Jira reads it (quoted strings with backslash escapes), 429 with Retry-After.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from werkzeug.wrappers import Response

from test.fakes import kit
from test.fakes.base import Call, FakeServer, HTTPError, iso_millis, json_response, route, utcnow
from test.fakes.kit import ContractVariant, RequestCheck, Setup, WebhookExpectation, check_against_spec, drive_deeper_operations

CLOUD, DATA_CENTER = "cloud", "data_center"
CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}
STATUSES = {"10000": ("To Do", "new"), "3": ("In Progress", "indeterminate"), "10001": ("Done", "done")}
# id -> (name, from statuses, to status)
WORKFLOW = {
    "11": ("Start Progress", ("10000",), "3"),
    "21": ("Done", ("10000", "3"), "10001"),
    "31": ("Stop Progress", ("3",), "10000"),
    "41": ("Reopen", ("10001",), "10000"),
}
ISSUE_TYPES = [("10002", "Task", False), ("10003", "Sub-task", True), ("10004", "Bug", False)]
# Jira's stock priorities (id, name), as a new site has them.
PRIORITIES = [("1", "Highest"), ("2", "High"), ("3", "Medium"), ("4", "Low"), ("5", "Lowest")]
SETTABLE = {"project", "summary", "description", "issuetype", "labels", "assignee", "duedate", "priority", "parent"}
GONE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration "
    "guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)


def _stamp(moment: datetime | None) -> str | None:
    return iso_millis(moment and moment.astimezone(UTC), "+0000")


def errors_body(messages: list[str] | None = None, errors: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Jira's one error shape."""
    return {"errorMessages": list(messages or []), "errors": dict(errors or {})}


def _error(status: int, *messages: str, **errors: str) -> HTTPError:
    return HTTPError(json_response(errors_body(list(messages), errors), status))


def adf_text(node: Any) -> str:
    """The plain text of an ADF node (for searching)."""
    if isinstance(node, str):
        return node
    if not isinstance(node, dict):
        return ""
    return str(node.get("text") or "") + " ".join(adf_text(child) for child in node.get("content") or [])


@dataclass
class _User:
    name: str
    key: str
    account_id: str
    display_name: str
    email: str


@dataclass
class _Comment:
    id: int
    author: str
    body: Any
    created: datetime
    updated: datetime


@dataclass
class _Issue:
    id: int
    key: str
    project: str
    summary: str
    description: Any
    issuetype: str
    status: str
    reporter: str
    created: datetime
    updated: datetime
    labels: list[str] = field(default_factory=list)
    assignee: str | None = None
    duedate: str | None = None
    priority: str | None = None  # a PRIORITIES id; None where the project's screens carry no priority
    parent: int | None = None  # the parent issue's id
    resolutiondate: datetime | None = None
    comments: list[_Comment] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)  # {id, filename, mimeType, data, author, created}


@dataclass
class _Project:
    id: int
    key: str
    name: str
    members: list[str] = field(default_factory=list)
    counter: int = 0


@dataclass
class _State:
    users: dict[str, _User] = field(default_factory=dict)
    basic: dict[tuple[str, str], str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    projects: dict[str, _Project] = field(default_factory=dict)
    issues: dict[int, _Issue] = field(default_factory=dict)
    labels: set[str] = field(default_factory=set)
    webhooks: dict[int, dict[str, Any]] = field(default_factory=dict)
    admins: set[str] = field(default_factory=set)
    ids: dict[str, int] = field(default_factory=dict)
    clock: datetime | None = None

    def next_id(self, kind: str, start: int = 10000) -> int:
        self.ids[kind] = self.ids.get(kind, start) + 1
        return self.ids[kind]


# ---- a JQL subset ------------------------------------------------------------------------------

_TOKEN = re.compile(r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<op>!=|>=|<=|!~|=|~|>|<|\(|\)|,)|(?P<word>[^\s"=!~<>(),]+))')
KEYWORDS = {"AND", "OR", "NOT", "IN", "IS", "EMPTY", "NULL", "ORDER", "BY", "ASC", "DESC"}


class JqlError(ValueError):
    pass


def jql_tokens(text: str) -> list[tuple[str, str]]:
    """(kind, value) tokens; quoted strings are unescaped the way Jira reads them."""
    tokens, position = [], 0
    while position < len(text):
        if not text[position:].strip():
            break
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise JqlError(f"Error in the JQL Query: unexpected character at position {position}.")
        position = match.end()
        if match.group("string") is not None:
            tokens.append(("value", re.sub(r"\\(.)", r"\1", match.group("string")[1:-1])))
        elif match.group("op") is not None:
            tokens.append(("op", match.group("op")))
        elif match.group("word").upper() in KEYWORDS:
            tokens.append(("kw", match.group("word").upper()))
        else:
            tokens.append(("value", match.group("word")))
    return tokens


class _Parser:
    def __init__(self, tokens):
        self.tokens, self.index = tokens, 0

    def peek(self, kind=None, value=None):
        if self.index >= len(self.tokens):
            return None
        token = self.tokens[self.index]
        if (kind and token[0] != kind) or (value and token[1] != value):
            return None
        return token

    def take(self, kind=None, value=None):
        token = self.peek(kind, value)
        if token is None:
            raise JqlError(f"Error in the JQL Query: expecting {value or kind} at token {self.index}.")
        self.index += 1
        return token

    def query(self):
        condition = None if self.peek("kw", "ORDER") else self.expr()
        order = []
        if self.peek("kw", "ORDER"):
            self.take("kw", "ORDER")
            self.take("kw", "BY")
            order = self.separated(self.sort_key, "op", ",")
        if self.index != len(self.tokens):
            raise JqlError("Error in the JQL Query: unexpected text after the query.")
        return condition, order

    def separated(self, item, kind, value):
        """`item()`, then again after each separator token (kind, value)."""
        items = [item()]
        while self.peek(kind, value):
            self.take()
            items.append(item())
        return items

    def expr(self):
        """Clauses joined by AND (the gateway sends no OR, NOT or parentheses): one as itself, several as ("and", items)."""
        items = self.separated(self.factor, "kw", "AND")
        return ("and", items) if len(items) > 1 else items[0]

    def sort_key(self):
        name = self.take("value")[1].lower()
        return name, (self.take()[1] if self.peek("kw", "ASC") or self.peek("kw", "DESC") else "ASC")

    def factor(self):
        name = self.take("value")[1].lower()
        if self.peek("kw", "IS"):
            self.take()
            negate = bool(self.peek("kw", "NOT")) and self.take()
            self.take("kw") if self.peek("kw", "EMPTY") or self.peek("kw", "NULL") else self.take("kw", "EMPTY")
            return ("empty", name, not negate)
        if self.peek("kw", "NOT") or self.peek("kw", "IN"):
            negate = bool(self.peek("kw", "NOT")) and self.take()
            self.take("kw", "IN")
            self.take("op", "(")
            values = self.separated(lambda: self.take("value")[1], "op", ",")
            self.take("op", ")")
            return ("in", name, values, bool(negate))
        operator = self.take("op")[1]
        if operator in "(),":
            raise JqlError("Error in the JQL Query: expecting an operator.")
        return ("cmp", name, operator, self.take("value")[1])


def parse_jql(text: str):
    """(condition tree, [(field, direction)])."""
    return _Parser(jql_tokens(text)).query()


class JiraFake(FakeServer):
    """Jira Cloud or Data Center (`flavour`), served over real HTTP."""

    name = "jira"
    control_knobs = {**FakeServer.control_knobs, "redirect_next": "redirect_next"}
    seed_operations = ("add_user", "add_basic_auth", "add_token", "add_project", "add_issue", "add_label")

    def __init__(self, host: str = "127.0.0.1", port: int = 0, flavour: str = CLOUD) -> None:
        if flavour not in (CLOUD, DATA_CENTER):
            raise ValueError("flavour is 'cloud' or 'data_center'")
        self.flavour = flavour
        self._redirects: list[str] = []
        super().__init__(host, port)

    @property
    def cloud(self) -> bool:
        return self.flavour == CLOUD

    @property
    def version(self) -> str:
        return "3" if self.cloud else "2"

    def _new_state(self) -> _State:
        self._redirects = []
        return _State()

    def redirect_next(self, location: str) -> None:
        """Answer the next API request with a 302 to `location` (a proxy or a moved site would)."""
        with self.lock:
            self._redirects.append(location)

    def _before_dispatch(self, call: Call) -> Response | None:
        if self._redirects:
            return Response(status=302, headers={"Location": self._redirects.pop(0)})
        return None

    # -- seeding -----------------------------------------------------------------------------

    def add_user(self, name: str, display_name: str | None = None) -> dict[str, Any]:
        """A person; Cloud identifies them by a generated accountId, Data Center by name and key."""
        with self.lock:
            if name not in self.state.users:
                account = f"5b10ac8d82e05b22cc7d{len(self.state.users) + 1:04d}"
                self.state.users[name] = _User(
                    name, f"JIRAUSER{10000 + len(self.state.users)}", account, display_name or name.title(), f"{name}@example.com"
                )
            return self._user_json(self.state.users[name])

    def add_basic_auth(self, email: str, api_token: str, name: str = "admin") -> dict[str, Any]:
        """Cloud credentials: an account e-mail and an API token."""
        user = self.add_user(name)
        with self.lock:
            self.state.basic[(email, api_token)] = name
        return user

    def add_token(self, token: str, name: str = "admin", admin: bool = True) -> dict[str, Any]:
        """A Data Center personal access token (bearer); only administrators may manage webhooks."""
        user = self.add_user(name)
        with self.lock:
            self.state.tokens[token] = name
            if admin:
                self.state.admins.add(name)
        return user

    def add_project(self, key: str, name: str | None = None, members: list[str] | None = None) -> dict[str, Any]:
        """A project whose assignable users are `members`."""
        with self.lock:
            for member in members or []:
                self.add_user(member)
            project = _Project(self.state.next_id("project"), key, name or key.title(), list(members or []))
            self.state.projects[key] = project
            return self._project_json(project)

    def add_label(self, name: str) -> None:
        """A label known to the (Cloud) site."""
        with self.lock:
            self.state.labels.add(name)

    def add_issue(self, project: str, summary: str, reporter: str | None = None, **fields: Any) -> dict[str, Any]:
        """An issue in `project` (description as the flavour stores it: ADF on Cloud, a string on DC)."""
        with self.lock:
            target = self.state.projects[project]
            reporter = reporter or (target.members or ["admin"])[0]
            self.add_user(reporter)
            issue = self._new_issue(target, summary, reporter)
            for name, value in fields.items():
                setattr(issue, name, value)
            return self._issue_json(issue, None)

    def _new_issue(self, project: _Project, summary: str, reporter: str) -> _Issue:
        project.counter += 1
        now = self._tick()
        issue = _Issue(
            self.state.next_id("issue"),
            f"{project.key}-{project.counter}",
            project.key,
            summary,
            None,
            ISSUE_TYPES[0][0],
            "10000",
            reporter,
            now,
            now,
        )
        self.state.issues[issue.id] = issue
        return issue

    def _tick(self) -> datetime:
        """Now, strictly later than the last stamp handed out (Jira keeps milliseconds)."""
        now = utcnow()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if self.state.clock is not None and now <= self.state.clock:
            now = self.state.clock + timedelta(milliseconds=1)
        self.state.clock = now
        return now

    # -- provider hooks ------------------------------------------------------------------------

    def _authenticate(self, call: Call) -> _User | None:
        scheme, _, credential = (call.header("Authorization") or "").partition(" ")
        name = None
        if self.cloud and scheme.lower() == "basic":
            try:
                email, _, token = base64.b64decode(credential.strip()).decode().partition(":")
            except ValueError:
                email = token = ""
            name = self.state.basic.get((email, token))
        elif not self.cloud and scheme.lower() == "bearer":
            name = self.state.tokens.get(credential.strip())
        if name is None:
            raise _error(401, "You are not authenticated. Authentication required to perform this operation.")
        return self.state.users[name]

    def _not_found(self, call: Call) -> Response:
        return json_response(errors_body([f"No resource found for {call.method} {call.path}"]), 404)

    def _bad_json(self, call: Call) -> Response:
        return json_response(errors_body(["Unexpected character: was expecting a JSON value."]), 400)

    def _failure_body(self, status: int) -> Any:
        return errors_body(["Internal server error"])

    def _rate_limited_response(self, call: Call, retry_after: float, status: int | None) -> Response:
        headers = {
            "Retry-After": str(math.ceil(retry_after)),
            "X-RateLimit-Limit": "350",
            "X-RateLimit-Remaining": "0",
            "RateLimit-Reason": "jira-burst-based",
        }
        return json_response(errors_body(["Rate limit exceeded."]), status or 429, headers)

    # -- rendering -----------------------------------------------------------------------------

    def api(self, path: str = "") -> str:
        return f"{self.base_url}/rest/api/{self.version}/{path}"

    def _user_json(self, user: _User) -> dict[str, Any]:
        avatars = {size: f"{self.base_url}/avatar/{user.key}?s={size[:2]}" for size in ("48x48", "24x24", "16x16", "32x32")}
        if self.cloud:  # Cloud names people by accountId only; Data Center by name and key, with their e-mail
            link, who = f"user?accountId={user.account_id}", {"accountId": user.account_id, "accountType": "atlassian"}
        else:
            link, who = f"user?username={user.name}", {"name": user.name, "key": user.key, "emailAddress": user.email}
        common = {"avatarUrls": avatars, "displayName": user.display_name, "active": True, "timeZone": "Etc/UTC"}
        return {"self": self.api(link), **who, **common}

    def _status_json(self, status_id: str) -> dict[str, Any]:
        name, category = STATUSES[status_id]
        return {
            "self": self.api(f"status/{status_id}"),
            "description": "",
            "iconUrl": f"{self.base_url}/status.png",
            "name": name,
            "id": status_id,
            "statusCategory": {"self": self.api(f"statuscategory/{CATEGORIES[category]['id']}"), **CATEGORIES[category]},
        }

    def _project_json(self, project: _Project) -> dict[str, Any]:
        return {
            "self": self.api(f"project/{project.id}"),
            "id": str(project.id),
            "key": project.key,
            "name": project.name,
            "avatarUrls": {},
            "archived": False,
            "description": "",
        }

    def _issuetype_json(self, type_id: str) -> dict[str, Any]:
        _, name, subtask = next(t for t in ISSUE_TYPES if t[0] == type_id)
        return {
            "self": self.api(f"issuetype/{type_id}"),
            "id": type_id,
            "name": name,
            "subtask": subtask,
            "description": "",
            "iconUrl": f"{self.base_url}/issuetype.png",
            "avatarId": 10318,
        }

    def _priority_json(self, priority_id: str) -> dict[str, Any]:
        name = dict(PRIORITIES)[priority_id]
        return {
            "self": self.api(f"priority/{priority_id}"),
            "iconUrl": f"{self.base_url}/images/icons/priorities/{name.lower()}.svg",
            "name": name,
            "id": priority_id,
        }

    def _comment_json(self, issue: _Issue, comment: _Comment) -> dict[str, Any]:
        author = self._user_json(self.state.users[comment.author])
        body = {
            "self": self.api(f"issue/{issue.id}/comment/{comment.id}"),
            "id": str(comment.id),
            "author": author,
            "body": comment.body,
            "updateAuthor": author,
            "created": _stamp(comment.created),
            "updated": _stamp(comment.updated),
        }
        if self.cloud:
            body["jsdPublic"] = True
        return body

    def _issue_json(self, issue: _Issue, wanted: list[str] | None) -> dict[str, Any]:
        project = self.state.projects[issue.project]
        fields = {
            "summary": issue.summary,
            "description": issue.description,
            "status": self._status_json(issue.status),
            "labels": list(issue.labels),
            "assignee": self._user_json(self.state.users[issue.assignee]) if issue.assignee else None,
            "reporter": self._user_json(self.state.users[issue.reporter]),
            "created": _stamp(issue.created),
            "updated": _stamp(issue.updated),
            "resolutiondate": _stamp(issue.resolutiondate),
            "duedate": issue.duedate,
            "issuetype": self._issuetype_json(issue.issuetype),
            "priority": self._priority_json(issue.priority) if issue.priority else None,
            "project": self._project_json(project),
            "comment": {
                "comments": [self._comment_json(issue, c) for c in issue.comments],
                "maxResults": len(issue.comments),
                "total": len(issue.comments),
                "startAt": 0,
            },
            "attachment": [self._attachment_json(a) for a in issue.attachments],
        }
        parent = self.state.issues.get(issue.parent) if issue.parent else None
        if parent is not None:  # as Jira shows it: the parent's id, key and a few of its fields
            fields["parent"] = {
                "id": str(parent.id),
                "key": parent.key,
                "self": self.api(f"issue/{parent.id}"),
                "fields": {
                    "summary": parent.summary,
                    "status": self._status_json(parent.status),
                    "issuetype": self._issuetype_json(parent.issuetype),
                },
            }
        if wanted is not None and not {"*all", "*navigable"} & set(wanted):
            fields = {name: value for name, value in fields.items() if name in wanted}
        return {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": str(issue.id),
            "self": self.api(f"issue/{issue.id}"),
            "key": issue.key,
            "fields": fields,
        }

    # -- request helpers -----------------------------------------------------------------------

    def _check_version(self, version: str) -> None:
        if version != self.version:
            raise _error(404, f"No REST API version {version} here.")

    def _issue(self, ident: str) -> _Issue:
        for issue in self.state.issues.values():
            if ident in (issue.key, str(issue.id)):
                return issue
        raise _error(404, "Issue does not exist or you do not have permission to see it.")

    def _project(self, ident: str) -> _Project:
        for project in self.state.projects.values():
            if ident in (project.key, str(project.id)):
                return project
        raise _error(404, f"No project could be found with key '{ident}'.")

    def _fields_param(self, call: Call) -> list[str] | None:
        raw = call.query.getlist("fields")
        if not raw:
            return None
        return [part.strip() for value in raw for part in value.split(",") if part.strip()]

    def _person(self, value: Any, project: _Project) -> str | None:
        if value is None:
            return None
        key = "accountId" if self.cloud else "name"
        if not isinstance(value, dict) or not isinstance(value.get(key), str):
            raise _error(400, assignee=f"Specify the user by {key}.")
        for user in self.state.users.values():
            if value[key] == (user.account_id if self.cloud else user.name) and user.name in project.members:
                return user.name
        raise _error(400, assignee=f"User '{value[key]}' cannot be assigned issues.")

    def _rich_text(self, name: str, value: Any) -> Any:
        if value is None:
            return None
        if self.cloud and not (isinstance(value, dict) and value.get("type") == "doc" and value.get("version") == 1):
            raise _error(400, **{name: "Operation value must be an Atlassian Document (see the Atlassian Document Format)."})
        if not self.cloud and not isinstance(value, str):
            raise _error(400, **{name: "Operation value must be a string"})
        return value

    def _comment_body(self, call: Call) -> Any:
        body = call.body.get("body") if isinstance(call.body, dict) else None
        if body is None or (isinstance(body, str) and not body.strip()):
            raise _error(400, comment="Comment body can not be empty!")
        return self._rich_text("comment", body)

    def _apply(self, issue: _Issue, fields: Mapping[str, Any], project: _Project) -> None:
        unknown = [name for name in fields if name not in SETTABLE]
        if unknown:
            raise _error(
                400,
                **{name: f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown." for name in unknown},
            )
        for name in ("summary", "description", "labels", "assignee", "priority", "parent", "duedate"):
            if name in fields:
                getattr(self, f"_set_{name}")(issue, fields[name], project)

    def _set_summary(self, issue: _Issue, value: Any, project: _Project) -> None:
        if not isinstance(value, str) or not value.strip():
            raise _error(400, summary="You must specify a summary of the issue.")
        if len(value) > 255:
            raise _error(400, summary="Summary must be less than 255 characters.")
        issue.summary = value

    def _set_description(self, issue: _Issue, value: Any, project: _Project) -> None:
        issue.description = self._rich_text("description", value)

    def _set_labels(self, issue: _Issue, value: Any, project: _Project) -> None:
        labels = value or []
        if not isinstance(labels, list) or not all(isinstance(v, str) and v and not re.search(r"\s", v) for v in labels):
            raise _error(400, labels="The label can't contain spaces.")
        issue.labels = list(dict.fromkeys(labels))
        self.state.labels.update(labels)

    def _set_assignee(self, issue: _Issue, value: Any, project: _Project) -> None:
        issue.assignee = self._person(value, project)

    def _set_priority(self, issue: _Issue, ref: Any, project: _Project) -> None:
        found = next(
            (
                pid
                for pid, name in PRIORITIES
                if isinstance(ref, dict) and (str(ref.get("id") or "") == pid or str(ref.get("name") or "") == name)
            ),
            None,
        )
        if ref is not None and found is None:
            raise _error(400, priority="Specify the Priority (name) in the string format")
        issue.priority = found

    def _set_parent(self, issue: _Issue, ref: Any, project: _Project) -> None:
        if ref is None:
            issue.parent = None
            return
        ident = str(ref.get("key") or ref.get("id") or "") if isinstance(ref, dict) else ""
        parent = next((i for i in self.state.issues.values() if ident in (i.key, str(i.id))), None)
        if parent is None or parent.project != project.key:
            raise _error(400, parent="Could not find issue by id or key.")
        if parent.id == issue.id or parent.parent is not None:  # one level: a sub-issue has no children
            raise _error(400, parent="The parent issue cannot be a sub-issue or the issue itself.")
        issue.parent = parent.id

    def _set_duedate(self, issue: _Issue, value: Any, project: _Project) -> None:
        try:
            issue.duedate = date.fromisoformat(value).isoformat() if value else None
        except (TypeError, ValueError):
            raise _error(400, duedate="Error parsing date string: " + str(value)[:40]) from None

    # -- routes --------------------------------------------------------------------------------

    @route("GET", "/rest/api/{version}/serverInfo")
    def _api_server_info(self, call: Call, version: str) -> Response:
        """GET serverInfo (any version: clients ask it to learn which one to use)."""
        return json_response(
            {
                "baseUrl": self.base_url,
                "version": "1001.0.0-SNAPSHOT" if self.cloud else "10.3.24",
                "versionNumbers": [1001, 0, 0] if self.cloud else [10, 3, 24],
                "deploymentType": "Cloud" if self.cloud else "Server",
                "buildNumber": 100282,
                "buildDate": "2026-06-01T00:00:00.000+0000",
                "serverTime": _stamp(utcnow()),
                "scmInfo": "0" * 40,
                "serverTitle": "Jira",
            }
        )

    @route("GET", "/rest/api/{version}/project/{ident}")
    def _api_project(self, call: Call, version: str, ident: str) -> Response:
        self._check_version(version)
        return json_response(self._project_json(self._project(ident)))

    @route("GET", "/rest/api/{version}/issue/createmeta/{ident}/issuetypes")
    def _api_createmeta(self, call: Call, version: str, ident: str) -> Response:
        self._check_version(version)
        self._project(ident)
        types = [self._issuetype_json(type_id) for type_id, _, _ in ISSUE_TYPES]
        if self.cloud:
            return json_response({"issueTypes": types, "maxResults": 50, "startAt": 0, "total": len(types)})
        return json_response({"maxResults": 50, "startAt": 0, "total": len(types), "isLast": True, "values": types})

    @route("POST", "/rest/api/{version}/issue")
    def _api_create_issue(self, call: Call, version: str) -> Response:
        self._check_version(version)
        fields = (call.body or {}).get("fields") if isinstance(call.body, dict) else None
        if not isinstance(fields, dict):
            raise _error(400, "Issue fields are required.")
        project_ref = fields.get("project") or {}
        project = (
            self._project(str(project_ref.get("key") or project_ref.get("id") or ""))
            if isinstance(project_ref, dict) and project_ref
            else None
        )
        if project is None:
            raise _error(400, project="Specify a valid project ID or key")
        type_ref = fields.get("issuetype") or {}
        issue_type = next(
            (
                t
                for t in ISSUE_TYPES
                if isinstance(type_ref, dict)
                and (type_ref.get("id") == t[0] or str(type_ref.get("name") or "").lower() == t[1].lower())
            ),
            None,
        )
        if issue_type is None:
            raise _error(400, issuetype="Specify an issue type")
        if not isinstance(fields.get("summary"), str) or not fields["summary"].strip():
            raise _error(400, summary="You must specify a summary of the issue.")
        issue = _Issue(0, "", project.key, "", None, issue_type[0], "10000", call.principal.name, utcnow(), utcnow())
        self._apply(issue, fields, project)  # validate everything before the issue exists
        created = self._new_issue(project, issue.summary, call.principal.name)
        for name in ("description", "labels", "assignee", "duedate", "issuetype", "priority", "parent"):
            setattr(created, name, getattr(issue, name))
        return json_response({"id": str(created.id), "key": created.key, "self": self.api(f"issue/{created.id}")}, 201)

    @route("GET", "/rest/api/{version}/issue/{ident}")
    def _api_get_issue(self, call: Call, version: str, ident: str) -> Response:
        self._check_version(version)
        return json_response(self._issue_json(self._issue(ident), self._fields_param(call)))

    @route("PUT", "/rest/api/{version}/issue/{ident}")
    def _api_update_issue(self, call: Call, version: str, ident: str) -> Response:
        self._check_version(version)
        issue = self._issue(ident)
        fields = (call.body or {}).get("fields") if isinstance(call.body, dict) else None
        if not isinstance(fields, dict) or "project" in fields or "issuetype" in fields:
            raise _error(400, "Only fields that are on the edit screen can be set.")
        self._apply(issue, fields, self.state.projects[issue.project])
        issue.updated = self._tick()
        return Response(status=204)

    def _offered(self, issue: _Issue) -> list[tuple[str, str, str]]:
        return [(tid, name, to) for tid, (name, sources, to) in WORKFLOW.items() if issue.status in sources]

    @route("GET", "/rest/api/{version}/issue/{ident}/transitions")
    def _api_transitions(self, call: Call, version: str, ident: str) -> Response:
        self._check_version(version)
        issue = self._issue(ident)
        extra = {"hasScreen": False, "isGlobal": False, "isInitial": False, "isConditional": False, "isAvailable": True}
        extra = extra if self.cloud else {"fields": {}}  # Data Center lists the fields of the transition's screen
        transitions = [{"id": tid, "name": name, "to": self._status_json(to), **extra} for tid, name, to in self._offered(issue)]
        return json_response({**({"expand": "transitions"} if self.cloud else {}), "transitions": transitions})

    @route("POST", "/rest/api/{version}/issue/{ident}/transitions")
    def _api_transition(self, call: Call, version: str, ident: str) -> Response:
        self._check_version(version)
        issue = self._issue(ident)
        wanted = ((call.body or {}).get("transition") or {}).get("id") if isinstance(call.body, dict) else None
        chosen = next((to for tid, _, to in self._offered(issue) if tid == str(wanted)), None)
        if chosen is None:
            raise _error(400, f"Transition id '{wanted}' is not valid for this issue.")
        issue.status = chosen
        issue.resolutiondate = self._tick() if STATUSES[chosen][1] == "done" else None
        issue.updated = self.state.clock
        return Response(status=204)

    @route("GET", "/rest/api/{version}/issue/{ident}/comment")
    def _api_comments(self, call: Call, version: str, ident: str) -> Response:
        self._check_version(version)
        issue = self._issue(ident)
        start = max(0, int(call.query.get("startAt") or 0))
        limit = min(5000, max(1, int(call.query.get("maxResults") or 5000)))
        comments = sorted(issue.comments, key=lambda c: (c.created, c.id), reverse=call.query.get("orderBy") == "-created")
        page = comments[start : start + limit]
        return json_response(
            {
                "startAt": start,
                "maxResults": limit,
                "total": len(comments),
                "comments": [self._comment_json(issue, c) for c in page],
            }
        )

    @route("POST", "/rest/api/{version}/issue/{ident}/comment")
    def _api_add_comment(self, call: Call, version: str, ident: str) -> Response:
        self._check_version(version)
        issue = self._issue(ident)
        body = self._comment_body(call)
        now = self._tick()
        comment = _Comment(self.state.next_id("comment"), call.principal.name, body, now, now)
        issue.comments.append(comment)
        issue.updated = now
        return json_response(self._comment_json(issue, comment), 201)

    def _attachment_json(self, item: dict[str, Any]) -> dict[str, Any]:
        content = (
            self.api(f"attachment/content/{item['id']}")
            if self.cloud
            else f"{self.base_url}/secure/attachment/{item['id']}/{item['filename']}"
        )
        return {
            "self": self.api(f"attachment/{item['id']}"),
            "id": str(item["id"]),
            "filename": item["filename"],
            "author": self._user_json(self.state.users[item["author"]]),
            "created": _stamp(item["created"]),
            "size": len(item["data"]),
            "mimeType": item["mimeType"],
            "content": content,
        }

    def _attachment(self, attachment_id: int) -> tuple[_Issue, dict[str, Any]]:
        for issue in self.state.issues.values():
            for item in issue.attachments:
                if item["id"] == attachment_id:
                    return issue, item
        raise _error(404, f"The attachment with id '{attachment_id}' does not exist")

    @route("POST", "/rest/api/{version}/issue/{ident}/attachments")
    def _api_add_attachments(self, call: Call, version: str, ident: str) -> Response:
        """Multipart `file` (one or more); Jira refuses it without X-Atlassian-Token: no-check (XSRF check)."""
        self._check_version(version)
        issue = self._issue(ident)
        if (call.header("X-Atlassian-Token") or "").lower() != "no-check":
            return Response("XSRF check failed", status=403, mimetype="text/plain")
        uploads = call.request.files.getlist("file")
        if not uploads:
            raise _error(400, "No attachments were provided.")
        added = []
        for upload in uploads:
            item = {
                "id": self.state.next_id("attachment"),
                "filename": upload.filename or "file",
                "mimeType": upload.mimetype or "application/octet-stream",
                "data": upload.read(),
                "author": call.principal.name,
                "created": self._tick(),
            }
            issue.attachments.append(item)
            added.append(self._attachment_json(item))
        return json_response(added)

    @route("GET", "/rest/api/{version}/attachment/content/{attachment_id:int}")
    def _api_attachment_content(self, call: Call, version: str, attachment_id: int) -> Response:
        """Cloud: a 303 to the media service unless redirect=false, which answers the bytes."""
        self._check_version(version)
        item = self._attachment(attachment_id)[1]
        if call.query.get("redirect") != "false":
            return Response(status=303, headers={"Location": f"https://api.media.atlassian.com/file/{item['id']}/binary"})
        return Response(item["data"], mimetype=item["mimeType"])

    @route("GET", "/secure/attachment/{attachment_id:int}/{filename}")
    def _secure_attachment(self, call: Call, attachment_id: int, filename: str) -> Response:
        """Data Center: the file at its `content` URL."""
        item = self._attachment(attachment_id)[1]
        return Response(item["data"], mimetype=item["mimeType"])

    @route("DELETE", "/rest/api/{version}/attachment/{attachment_id:int}")
    def _api_delete_attachment(self, call: Call, version: str, attachment_id: int) -> Response:
        self._check_version(version)
        issue, item = self._attachment(attachment_id)
        issue.attachments.remove(item)
        return Response(status=204)

    def _comment(self, call: Call, issue: _Issue, comment_id: int) -> _Comment:
        comment = next((c for c in issue.comments if c.id == comment_id), None)
        if comment is None:
            raise _error(404, f"Can not find a comment for the id: {comment_id}.")
        if comment.author != call.principal.name:  # the "Edit/Delete Own Comments" permission only
            # Cloud documents a 400 for this; Data Center documents no refusal status and answers 403.
            raise _error(400 if self.flavour == CLOUD else 403, "You do not have the permission to edit this comment.")
        return comment

    @route("PUT", "/rest/api/{version}/issue/{ident}/comment/{comment_id:int}")
    def _api_edit_comment(self, call: Call, version: str, ident: str, comment_id: int) -> Response:
        self._check_version(version)
        issue = self._issue(ident)
        comment = self._comment(call, issue, comment_id)
        comment.body, comment.updated = self._comment_body(call), self._tick()
        return json_response(self._comment_json(issue, comment))

    @route("DELETE", "/rest/api/{version}/issue/{ident}/comment/{comment_id:int}")
    def _api_delete_comment(self, call: Call, version: str, ident: str, comment_id: int) -> Response:
        self._check_version(version)
        issue = self._issue(ident)
        issue.comments.remove(self._comment(call, issue, comment_id))
        return Response(status=204)

    @route("DELETE", "/rest/api/{version}/issue/{ident}")
    def _api_delete_issue(self, call: Call, version: str, ident: str) -> Response:
        self._check_version(version)
        issue = self._issue(ident)
        if any(other.parent == issue.id for other in self.state.issues.values()) and call.query.get("deleteSubtasks") != "true":
            raise _error(400, "The issue has subtasks; delete them first or set deleteSubtasks=true.")
        del self.state.issues[next(k for k, v in self.state.issues.items() if v is issue)]
        return Response(status=204)

    @route("GET", "/rest/api/{version}/label")
    def _api_labels(self, call: Call, version: str) -> Response:
        self._check_version(version)
        if not self.cloud:
            return self._not_found(call)
        labels = sorted(self.state.labels)
        start = max(0, int(call.query.get("startAt") or 0))
        limit = min(1000, max(1, int(call.query.get("maxResults") or 1000)))
        values = labels[start : start + limit]
        return json_response(
            {
                "self": self.api("label"),
                "maxResults": limit,
                "startAt": start,
                "total": len(labels),
                "isLast": start + limit >= len(labels),
                "values": values,
            }
        )

    @route("GET", "/rest/api/{version}/user/assignable/search")
    def _api_assignable(self, call: Call, version: str) -> Response:
        self._check_version(version)
        project = self._project(call.query.get("project") or "")
        start = max(0, int(call.query.get("startAt") or 0)) if self.cloud else 0
        limit = min(1000, max(1, int(call.query.get("maxResults") or 50)))
        people = [self._user_json(self.state.users[name]) for name in project.members]
        return json_response(people[start : start + limit])

    # -- search --------------------------------------------------------------------------------

    def _search(self, call: Call) -> tuple[list[_Issue], list[str] | None]:
        try:
            condition, order = parse_jql(call.query.get("jql") or "")
        except JqlError as exc:
            raise _error(400, str(exc)) from None
        issues = [issue for issue in self.state.issues.values() if condition is None or self._matches(issue, condition)]
        for name, direction in reversed(order or [("created", "DESC")]):
            issues.sort(key=lambda issue, name=name: self._sort_key(issue, name), reverse=direction == "DESC")
        return issues, self._fields_param(call)

    @route("GET", "/rest/api/{version}/search")
    def _api_search(self, call: Call, version: str) -> Response:
        if self.cloud:
            return json_response(errors_body([GONE]), 410)
        self._check_version(version)
        issues, fields = self._search(call)
        start = max(0, int(call.query.get("startAt") or 0))
        limit = min(1000, max(1, int(call.query.get("maxResults") or 50)))
        page = issues[start : start + limit]
        return json_response(
            {
                "expand": "schema,names",
                "startAt": start,
                "maxResults": limit,
                "total": len(issues),
                "issues": [self._issue_json(issue, fields) for issue in page],
            }
        )

    @route("GET", "/rest/api/{version}/search/jql")
    def _api_search_jql(self, call: Call, version: str) -> Response:
        if not self.cloud:
            return self._not_found(call)
        self._check_version(version)
        issues, fields = self._search(call)
        token = call.query.get("nextPageToken")
        start = 0
        if token:
            try:
                start = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
            except (ValueError, KeyError, TypeError):
                raise _error(400, "The nextPageToken is invalid.") from None
        limit = min(5000, max(1, int(call.query.get("maxResults") or 50)))
        page = issues[start : start + limit]
        # search/jql returns only ids unless fields are asked for.
        body: dict[str, Any] = {"issues": [self._issue_json(issue, fields or ["id"]) for issue in page]}
        if start + limit < len(issues):
            body["nextPageToken"] = base64.urlsafe_b64encode(json.dumps({"offset": start + limit}).encode()).decode()
            body["isLast"] = False
        else:
            body["isLast"] = True
        return json_response(body)

    def _sort_key(self, issue: _Issue, name: str) -> Any:
        if name in ("key", "issuekey", "id"):
            return issue.id
        if name in ("updated", "created"):
            return getattr(issue, name)
        raise _error(400, f"Not able to sort using field '{name}'.")

    def _field_values(self, issue: _Issue, name: str) -> list[str] | None:
        """The comparable values of a field (None: not a field this fake knows)."""
        category = STATUSES[issue.status][1]
        user = self.state.users.get(issue.assignee) if issue.assignee else None
        return {
            "project": [issue.project],
            "key": [issue.key],
            "issuekey": [issue.key],
            "status": [STATUSES[issue.status][0], issue.status],
            "statuscategory": [CATEGORIES[category]["name"], category],
            "labels": list(issue.labels),
            "priority": [dict(PRIORITIES)[issue.priority], issue.priority] if issue.priority else [],
            "parent": [parent.key, str(parent.id)] if (parent := self.state.issues.get(issue.parent or 0)) else [],
            "assignee": [user.account_id if self.cloud else user.name] if user else [],
            "summary": [issue.summary],
            "description": [adf_text(issue.description)],
            "text": [issue.summary, adf_text(issue.description), *(adf_text(c.body) for c in issue.comments)],
        }.get(name)

    def _moment(self, value: str) -> datetime:
        """A time relative to now (`-5m`), the only kind the gateway sends."""
        relative = re.fullmatch(r"([+-]?)(\d+)([mhdw])", value.strip())
        if relative is None:
            raise _error(400, f"Date value '{value}' for field 'updated' is invalid.")
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[relative.group(3)]
        delta = timedelta(**{unit: int(relative.group(2))})
        return utcnow() - delta if relative.group(1) == "-" else utcnow() + delta

    def _matches(self, issue: _Issue, node: tuple) -> bool:
        kind = node[0]
        if kind == "and":
            return all(self._matches(issue, child) for child in node[1])
        name = node[1]
        if name in ("updated", "created"):
            return self._matches_time(issue, node)
        values = self._field_values(issue, name)
        if values is None:
            raise _error(400, f"Field '{name}' does not exist or you do not have permission to view it.")
        if kind == "empty":
            return (not values) == node[2]
        lowered = [value.lower() for value in values]
        if kind == "in":
            found = any(value.lower() in lowered for value in node[2])
            return found != node[3]
        return self._matches_value(name, lowered, node[2], node[3])

    def _matches_time(self, issue: _Issue, node: tuple) -> bool:
        kind, name = node[0], node[1]
        if kind != "cmp" or node[2] not in (">=", "<=", ">", "<", "="):
            raise _error(400, f"The operator is not supported by the '{name}' field.")
        stamp, bound = getattr(issue, name), self._moment(node[3])
        return {">=": stamp >= bound, "<=": stamp <= bound, ">": stamp > bound, "<": stamp < bound, "=": stamp == bound}[node[2]]

    @staticmethod
    def _matches_value(name: str, lowered: list[str], operator: str, value: str) -> bool:
        if operator in ("~", "!~"):
            if name not in ("summary", "description", "text"):
                raise _error(400, f"The operator '{operator}' is not supported by the '{name}' field.")
            words = value.lower().split()
            found = any(all(word in text for word in words) for text in lowered) if words else False
            return found if operator == "~" else not found
        if operator == "=":
            return value.lower() in lowered
        if operator == "!=":
            return value.lower() not in lowered
        raise _error(400, f"The operator '{operator}' is not supported by the '{name}' field.")

    # -- webhooks (Data Center admin webhooks) -------------------------------------------------

    @route("POST", "/rest/webhooks/1.0/webhook")
    def _api_create_webhook(self, call: Call) -> Response:
        if self.cloud:
            return self._not_found(call)
        if call.principal.name not in self.state.admins:
            raise _error(403, "You are not authorized to perform this action. Administrator privileges are required.")
        body = call.body if isinstance(call.body, dict) else {}
        if not isinstance(body.get("url"), str) or not body["url"].startswith(("http://", "https://")):
            raise _error(400, url="A valid URL is required.")
        hook_id = self.state.next_id("webhook", start=0)
        hook = {
            **body,
            "self": f"{self.base_url}/rest/webhooks/1.0/webhook/{hook_id}",
            "enabled": True,
            "lastUpdatedUser": call.principal.key,
            "lastUpdatedDisplayName": call.principal.display_name,
            "lastUpdated": int(utcnow().timestamp() * 1000),
        }
        self.state.webhooks[hook_id] = hook
        shown = {key: value for key, value in hook.items() if key != "secret"}
        return json_response(shown, 201)

    @route("DELETE", "/rest/webhooks/1.0/webhook/{hook_id:int}")
    def _api_delete_webhook(self, call: Call, hook_id: int) -> Response:
        if self.cloud or hook_id not in self.state.webhooks:
            return self._not_found(call)
        del self.state.webhooks[hook_id]
        return Response(status=204)

    def webhooks(self) -> list[dict[str, Any]]:
        """The admin webhooks registered so far (secrets included)."""
        with self.lock:
            return [dict(hook) for hook in self.state.webhooks.values()]


__all__ = ["CLOUD", "DATA_CENTER", "JiraFake", "adf_text", "errors_body", "parse_jql"]


# ---- test kit (test/fakes/kit.py): how the shared suites drive Jira, Cloud and Data Center ----

EMAIL, API_TOKEN, PAT = "me@example.com", "cloud-api-token", "dc-pat"


def _tracker(fake, flavour: str, token: str, project: str, members: list[str], email: str = EMAIL) -> dict[str, Any]:
    """A tracker body for `project`, its first member's credentials seeded on the fake. Cloud is named explicitly (the
    fake is not on *.atlassian.net); Data Center is found from serverInfo."""
    if flavour == "cloud":
        fake.add_basic_auth(email, token, name=members[0])
        connection = {"credentials": {"email": email, "api_token": token}, "options": {"deployment": "cloud"}}
    else:
        fake.add_token(token, name=members[0])
        connection = {"credentials": {"token": token}, "options": {}}
    fake.add_project(project, members=members)
    return {"provider": "jira", "target": project, "base_url": fake.base_url, **connection}


def _member(fake, name: str) -> str:
    """How the gateway names a person: Cloud by accountId, Data Center by user name."""
    return fake.add_user(name).get("accountId") or name


def _setups(flavour: str, secret: str) -> tuple[Callable, Callable, Callable]:
    """The flavour's contract set-up, secrets-audit set-up and request-check set-up."""
    cloud = flavour == "cloud"

    def contract(fake, connect, user):
        tracker = connect(**_tracker(fake, flavour, "jira-api-token" if cloud else "jira-pat", "APP", ["alice"]))
        return Setup(tracker, member=_member(fake, "alice"))

    def audit(fake, mark):
        token = f"jira-{mark}-{'apitoken' if cloud else 'pat'}"
        return _tracker(fake, flavour, token, "AUD", ["me"], email="audit@example.com"), {secret: token}

    def request_setup(fake, connect):
        tracker = connect(**_tracker(fake, flavour, API_TOKEN if cloud else PAT, "APP", ["alice", "bob"]))
        return tracker, _member(fake, "bob")

    return contract, audit, request_setup


def _request_drive(client, user, tracker, member):
    """Jira's drive also covers markup, due dates, clearing assignees, a JQL-breaking search, priorities, parents and
    the deeper operations (comment edit and delete, attachments, issue delete)."""
    base = f"/api/v1/trackers/{tracker['id']}"
    issue = client.post(
        f"{base}/issues",
        json={"title": "T", "description": "# D\n\n- a\n- b", "labels": ["bug"], "assignees": [member], "due_date": "2031-02-03"},
        headers=user.headers,
    )
    assert issue.status_code == 201, issue.get_json()
    issue = issue.get_json()
    for change in (
        {"title": "T2"},
        {"description": "D2 `code`"},
        {"labels": ["bug", "ui"]},
        {"assignees": []},
        {"assignees": [member]},
        {"due_date": None},
        {"status": "closed"},
        {"status": "open"},
    ):
        response = client.patch(f"{base}/issues/{issue['id']}", json=change, headers=user.headers)
        assert response.status_code == 200, (change, response.get_json())
    assert client.post(f"{base}/issues/{issue['id']}/comments", json={"body": "c **b**"}, headers=user.headers).status_code == 201
    for query in (
        {},
        {"status": "open", "labels": "bug", "assignee": member, "updated_since": "2020-01-01T00:00:00Z"},
        {"q": 'T2 " OR project = OTHER'},
        {"limit": 1},
    ):
        assert client.get(f"{base}/issues", query_string=query, headers=user.headers).status_code == 200
    assert client.get(f"{base}/issues/{issue['id']}/comments", headers=user.headers).status_code == 200
    assert client.get(f"{base}/labels", headers=user.headers).status_code == 200
    assert client.get(f"{base}/members", headers=user.headers).status_code == 200
    # Priorities by name and the parent field: set on create and PATCH, filtered, and the children searched.
    child = client.post(f"{base}/issues", json={"title": "C", "priority": "high", "parent_id": issue["id"]}, headers=user.headers)
    assert child.status_code == 201 and child.get_json()["remote_priority"] == "High", child.get_json()
    for change in ({"priority": "urgent"}, {"priority": None}, {"parent_id": None}, {"parent_id": issue["id"]}):
        response = client.patch(f"{base}/issues/{child.get_json()['id']}", json=change, headers=user.headers)
        assert response.status_code == 200, (change, response.get_json())
    for query in ({"priority": "low"}, {"parent_id": issue["id"]}):
        assert client.get(f"{base}/issues", query_string=query, headers=user.headers).status_code == 200
    assert client.get(f"{base}/issues/{issue['id']}/children", headers=user.headers).status_code == 200
    drive_deeper_operations(client, user, tracker)
    return base


def _register_webhook(client, user, tracker):
    """Data Center registers an admin webhook (Cloud's are pasted by an admin, see test_jira_webhooks)."""
    base = f"/api/v1/trackers/{tracker['id']}"
    assert client.post(f"{base}/webhook", headers=user.headers).status_code == 201
    assert client.delete(f"{base}/webhook", headers=user.headers).status_code == 200


def _check_requests(flavour):
    def check(fake, root):
        from test.fakes.jira_spec import UNDOCUMENTED, flavour_spec, path_template

        spec = flavour_spec(root, flavour)
        checked = check_against_spec(fake, spec, lambda path: path_template(spec, path, flavour), skip=UNDOCUMENTED)
        if flavour == "cloud":
            assert not any(r.path in ("/rest/api/2/search", "/rest/api/3/search") for r in fake.requests), (
                "Cloud must not call the removed search"
            )
        scheme = "Basic " if flavour == "cloud" else "Bearer "
        assert all(r.headers.get("authorization", "").startswith(scheme) for r in fake.requests)
        return checked

    return check


def _expected(flavour):
    from test.fakes.jira_spec import CONTENT_URL

    cloud = flavour == "cloud"
    prefix = "/rest/api/3" if cloud else "/api/2"
    issue = f"{prefix}/issue/{{issueIdOrKey}}"
    return frozenset(
        {
            ("POST", f"{prefix}/issue"),
            ("PUT", issue),
            ("DELETE", issue),
            ("POST", f"{issue}/transitions"),
            ("POST", f"{issue}/comment"),
            ("PUT", f"{issue}/comment/{{id}}"),
            ("DELETE", f"{issue}/comment/{{id}}"),
            ("GET", f"{prefix}/search/jql" if cloud else f"{prefix}/search"),
            ("POST", f"{issue}/attachments"),
            ("GET", f"{prefix}/attachment/content/{{id}}" if cloud else CONTENT_URL),
            ("DELETE", f"{prefix}/attachment/{{id}}"),
        }
    )


def _check_events(payload, events, provider):
    for event in events:
        raw_issue = payload.get("issue")
        if raw_issue:
            assert event.issue_id == raw_issue["key"] and event.issue.title == raw_issue["fields"]["summary"]
            category = raw_issue["fields"]["status"]["statusCategory"]["key"]
            assert event.issue.status == ("closed" if category == "done" else "open")
            assert event.issue.remote_status == raw_issue["fields"]["status"]["name"]
            site = raw_issue["self"].partition("/rest/")[0]
            assert event.issue.url == f"{site}/browse/{raw_issue['key']}"
        if event.type.startswith("comment."):
            assert event.comment.id == payload["comment"]["id"]
            author = payload["comment"]["author"]
            # Cloud people are their accountId; Data Center ones their user name.
            assert event.comment.author.username == (author.get("accountId") or author["name"])
            assert event.comment.body == payload["comment"]["body"].replace("\r\n", "\n").strip("\n")


# Both deployments: everything but importing issue templates (Jira has none to import).
JIRA_CAPABILITIES = kit.capability_set(
    "issues comments labels members due_date webhooks in_progress priority issue_type parent"
    " comment_edit comment_delete issue_delete attachments passthrough"
)


def _kit():
    variants, checks = [], []
    for flavour, server, secret, after in (
        ("cloud", CLOUD, "jira cloud api token", None),
        ("dc", DATA_CENTER, "jira dc token", _register_webhook),
    ):
        contract, audit, request_setup = _setups(flavour, secret)
        variants.append(
            ContractVariant(
                f"jira_{flavour}",
                setup=contract,
                audit=audit,
                capabilities=JIRA_CAPABILITIES,
                server=lambda server=server: JiraFake(flavour=server),
            )
        )
        checks.append(
            RequestCheck(
                f"jira_{flavour}",
                setup=request_setup,
                check=_check_requests(flavour),
                expected=_expected(flavour),
                drive=_request_drive,
                after=after,
            )
        )
    expectations = [
        WebhookExpectation(name, event, types, target, _check_events)
        for name, event, target, types in (
            ("jira_issue_created.json", "jira:issue_created", "TES", ("issue.created",)),
            ("jira_issue_updated.json", "jira:issue_updated", "TES", ("issue.closed",)),
            ("jira_issue_updated.edited.json", "jira:issue_updated", "TES", ("issue.updated",)),
            ("jira_issue_deleted.json", "jira:issue_deleted", "IDT", ("issue.deleted",)),
            ("comment_created.json", "comment_created", "TES", ("comment.created",)),
            ("comment_updated.json", "comment_updated", "TES", ("comment.updated",)),
            ("comment_deleted.json", "comment_deleted", "KT", ("comment.deleted",)),
            ("dc/jira_issue_updated.json", "jira:issue_updated", "TES", ("issue.closed",)),
            ("dc/comment_created.json", "comment_created", "TES", ("comment.created",)),
            ("dc/comment_updated.json", "comment_updated", "TES", ("comment.updated",)),
            ("dc/comment_deleted.json", "comment_deleted", "TES", ("comment.deleted",)),
        )
    ]
    return variants, checks, expectations


CONTRACT_VARIANTS, REQUEST_CHECKS, WEBHOOK_EXPECTATIONS = _kit()

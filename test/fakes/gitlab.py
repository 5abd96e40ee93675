"""Offline stand-in for the GitLab REST API v4 (projects, issues, notes, labels, members, hooks, repository files)."""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, unquote

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Response

from test.fakes import kit
from test.fakes.base import (
    Call,
    Counters,
    FakeServer,
    HTTPError,
    iso_millis,
    json_response,
    page_of,
    parse_timestamp,
    route,
    split_list,
    text_response,
    utcnow,
)
from test.fakes.kit import ContractVariant, RequestCheck, Setup, WebhookExpectation, drive_deeper_operations, path_template

API = "/api/v4"
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50
# What a PUT of an issue may change, GitLab's list a PUT naming none of them is refused with; the fake applies only what
# clients send (ISSUE_APPLIED) and refuses the rest loudly rather than ignore it.
ISSUE_EDITABLE = (
    "title",
    "description",
    "state_event",
    "labels",
    "add_labels",
    "remove_labels",
    "assignee_ids",
    "assignee_id",
    "milestone_id",
    "due_date",
    "confidential",
    "discussion_locked",
)
ISSUE_APPLIED = frozenset(ISSUE_EDITABLE) - {"add_labels", "remove_labels", "assignee_id", "confidential", "discussion_locked"}
HOOK_EVENTS = (
    "push_events",
    "issues_events",
    "confidential_issues_events",
    "merge_requests_events",
    "tag_push_events",
    "note_events",
    "confidential_note_events",
    "job_events",
    "pipeline_events",
    "wiki_page_events",
    "deployment_events",
    "releases_events",
    "milestone_events",
    "feature_flag_events",
    "repository_update_events",
    "resource_access_token_events",
)

# The rate-limit headers of GitLab's throttled answer that do not depend on the time.
THROTTLED = {"RateLimit-Name": "throttle_authenticated_api", "RateLimit-Limit": "2000", "RateLimit-Observed": "2001"}
# What GitLab answers for the parts of its objects the fake does not model.
BLANK_PROFILE = {
    **dict.fromkeys(("bio", "location", "linkedin", "twitter", "discord", "website_url", "organization", "job_title"), ""),
    **dict.fromkeys(("public_email", "pronouns", "work_information", "local_time"), None),
    **dict.fromkeys(("bot", "two_factor_enabled", "external", "private_profile"), False),
    **dict.fromkeys(("can_create_group", "can_create_project"), True),
    **dict.fromkeys(("followers", "following"), 0),
    **dict.fromkeys(("theme_id", "color_scheme_id"), 1),
    "projects_limit": 100000,
    "identities": (),
}
LABEL_DEFAULTS = {"text_color": "#FFFFFF", "subscribed": False, "is_project_label": True, "archived": False}
PROJECT_DEFAULTS = {
    **dict.fromkeys(("readme_url", "avatar_url"), None),
    **dict.fromkeys(("tag_list", "topics"), ()),
    **dict.fromkeys(("forks_count", "star_count"), 0),
    "issues_enabled": True,
    "archived": False,
}
ISSUE_DEFAULTS = {
    **dict.fromkeys(("merge_requests_count", "upvotes", "downvotes", "blocking_issues_count"), 0),
    **dict.fromkeys(("moved_to_id", "service_desk_reply_to"), None),
    "severity": "UNKNOWN",
    "imported": False,
    "imported_from": "none",
    "time_stats": {"time_estimate": 0, "total_time_spent": 0, "human_time_estimate": None, "human_total_time_spent": None},
    "task_completion_status": {"count": 0, "completed_count": 0},
}
NOTE_DEFAULTS = {
    **dict.fromkeys(("resolvable", "confidential", "internal", "imported"), False),
    **dict.fromkeys(("type", "attachment"), None),
    "noteable_type": "Issue",
    "commands_changes": {},
    "imported_from": "none",
}
HOOK_DEFAULTS = {
    **dict.fromkeys(("push_events_branch_filter", "custom_webhook_template"), ""),
    **dict.fromkeys(("url_variables", "custom_headers"), ()),
    "branch_filter_strategy": "wildcard",
    "alert_status": "executable",
    "disabled_until": None,
}


def _git_sha(*parts: str) -> str:
    return hashlib.sha1("\0".join(parts).encode(), usedforsecurity=False).hexdigest()


def _header(value: Any) -> str:
    """A value as GitLab writes it in an X-Gitlab-* header (booleans in lower case)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass
class _User:
    id: int
    username: str
    name: str
    email: str
    created_at: datetime


@dataclass
class _Label:
    id: int
    name: str
    color: str
    description: str | None
    priority: int | None = None


@dataclass
class _Milestone:
    id: int
    iid: int
    title: str
    description: str | None
    due_date: str | None
    created_at: datetime
    state: str = "active"
    closed_at: datetime | None = None


@dataclass
class _Note:
    id: int
    issue_iid: int
    body: str
    author: int
    system: bool
    created_at: datetime
    updated_at: datetime


@dataclass
class _Issue:
    id: int
    iid: int
    title: str
    author: int
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    labels: list[str] = field(default_factory=list)
    assignees: list[int] = field(default_factory=list)
    milestone: int | None = None
    due_date: str | None = None
    confidential: bool = False
    state: str = "opened"
    closed_at: datetime | None = None
    closed_by: int | None = None
    discussion_locked: bool = False
    duplicate_of: int | None = None
    issue_type: str = "issue"


@dataclass
class _Hook:
    id: int
    url: str
    name: str
    description: str
    token: str | None
    events: dict[str, bool]
    enable_ssl_verification: bool
    created_at: datetime


@dataclass
class _Project:
    id: int
    namespace: str
    path: str
    name: str
    description: str | None
    visibility: str
    default_branch: str
    created_at: datetime
    members: dict[int, int] = field(default_factory=dict)
    labels: dict[str, _Label] = field(default_factory=dict)
    milestones: dict[int, _Milestone] = field(default_factory=dict)
    issues: dict[int, _Issue] = field(default_factory=dict)
    notes: dict[int, _Note] = field(default_factory=dict)
    hooks: dict[int, _Hook] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)  # secret -> {id, filename, data, ...}

    @property
    def path_with_namespace(self) -> str:
        return f"{self.namespace}/{self.path}"


@dataclass
class _State(Counters):
    projects: dict[int, _Project] = field(default_factory=dict)


class GitLabFake(FakeServer):
    """Stateful fake of a GitLab instance; python-gitlab: `gitlab.Gitlab(url=fake.base_url, private_token=...)`."""

    name = "gitlab"
    api_prefix = API
    seed_operations = (
        "add_user",
        "add_token",
        "add_project",
        "add_member",
        "add_label",
        "add_milestone",
        "add_issue",
        "add_note",
        "add_file",
    )
    state: _State
    state_type = _State

    # -- seeding -------------------------------------------------------------------------------

    def add_user(self, username: str, name: str | None = None, email: str | None = None) -> dict[str, Any]:
        """Create (or return) a user."""
        with self.lock:
            user = self._user_named(username)
            if user is None:
                email = email or f"{username}@example.com"
                user = _User(self.state.next_id("user"), username, name or username.title(), email, utcnow())
                self.state.users[user.id] = user
            return self._user_json(user, full=True)

    def add_token(self, token: str, username: str = "root") -> dict[str, Any]:
        """Accept `token` (PRIVATE-TOKEN or Bearer) as credentials of `username` (created if missing)."""
        with self.lock:
            user = self._seed_user(username)
            self.state.tokens[token] = user.id
            return self._user_json(user, full=True)

    def add_project(
        self, path_with_namespace: str, visibility: str = "private", description: str | None = None, default_branch: str = "main"
    ) -> dict[str, Any]:
        """Create project `group/project`; a user named like the namespace, if any, becomes its owner."""
        namespace, _, path = path_with_namespace.rpartition("/")
        if not namespace or visibility not in ("private", "internal", "public"):
            raise ValueError("need 'namespace/path' and visibility private|internal|public")
        with self.lock:
            name = path.replace("-", " ").title()
            project = _Project(
                self.state.next_id("project"), namespace, path, name, description, visibility, default_branch, utcnow()
            )
            owner = self._user_named(namespace)
            if owner is not None:
                project.members[owner.id] = OWNER
            self.state.projects[project.id] = project
            return self._project_json(project, None)

    def add_member(self, project: int | str, username: str, access_level: int = DEVELOPER) -> dict[str, Any]:
        """Give `username` (created if missing) `access_level` (10 guest .. 50 owner) on the project."""
        with self.lock:
            target = self._seed_project(project)
            user = self._seed_user(username)
            target.members[user.id] = access_level
            return self._member_json(target, user)

    def add_label(
        self, project: int | str, name: str, color: str = "#6699cc", description: str | None = None, priority: int | None = None
    ) -> dict[str, Any]:
        """Create a project label."""
        with self.lock:
            target = self._seed_project(project)
            label = _Label(self.state.next_id("label"), name, color, description, priority)
            target.labels[name.lower()] = label
            return self._label_json(target, label, counts=True)

    def add_milestone(
        self, project: int | str, title: str, description: str | None = None, due_date: str | None = None, state: str = "active"
    ) -> dict[str, Any]:
        """Create a project milestone (`active` or `closed`); use its `id` as `milestone_id`."""
        if state not in ("active", "closed"):
            raise ValueError("state must be 'active' or 'closed'")
        with self.lock:
            target = self._seed_project(project)
            now = utcnow()
            closed = now if state == "closed" else None
            milestone = _Milestone(
                self.state.next_id("milestone"), len(target.milestones) + 1, title, description, due_date, now, state, closed
            )
            target.milestones[milestone.id] = milestone
            return self._milestone_json(target, milestone)

    def add_issue(
        self,
        project: int | str,
        title: str,
        description: str | None = None,
        labels: Iterable[str] = (),
        assignees: Iterable[str] = (),
        state: str = "opened",
        author: str | None = None,
        due_date: str | None = None,
        milestone_id: int | None = None,
        confidential: bool = False,
        created_at: datetime | str | None = None,
        updated_at: datetime | str | None = None,
        closed_at: datetime | str | None = None,
        duplicate_of: int | None = None,
    ) -> dict[str, Any]:
        """Create an issue directly in state (missing labels and users are created).

        `duplicate_of` is the iid of the issue this one was closed as a duplicate of.
        """
        if state not in ("opened", "closed") or (duplicate_of is not None and state != "closed"):
            raise ValueError("state must be 'opened' or 'closed'; only closed issues can be duplicates")
        with self.lock:
            target = self._seed_project(project)
            creator = self._seed_user(author) if author else self._default_author(target)
            issue = self._new_issue(target, title, creator.id, parse_timestamp(created_at) or utcnow(), description=description)
            issue.labels = [self._ensure_label(target, name).name for name in labels]
            issue.assignees = [self._seed_user(username).id for username in assignees]
            issue.milestone, issue.due_date = milestone_id, due_date
            issue.confidential, issue.duplicate_of = confidential, duplicate_of
            if state == "closed":
                issue.state, issue.closed_at, issue.closed_by = state, parse_timestamp(closed_at) or issue.created_at, creator.id
            issue.updated_at = parse_timestamp(updated_at) or issue.closed_at or issue.created_at
            target.issues[issue.iid] = issue
            return self._issue_json(target, issue, single=True)

    def add_note(
        self,
        project: int | str,
        iid: int,
        body: str,
        author: str | None = None,
        system: bool = False,
        created_at: datetime | str | None = None,
    ) -> dict[str, Any]:
        """Add a note (comment, or a system note with `system=True`) to issue `iid`."""
        with self.lock:
            target = self._seed_project(project)
            issue = target.issues[iid]
            creator = self._seed_user(author) if author else self._default_author(target)
            note = self._new_note(target, issue, body, creator, system, parse_timestamp(created_at))
            return self._note_json(target, issue, note)

    def add_file(self, project: int | str, path: str, content: str | bytes) -> dict[str, Any]:
        """Commit a file to the default branch."""
        with self.lock:
            target = self._seed_project(project)
            clean = path.strip("/")
            target.files[clean] = content.encode() if isinstance(content, str) else content
            return self._file_json(target, clean, target.default_branch)

    def _seed_project(self, project: int | str) -> _Project:
        found = self._find_project(str(project))
        if found is None:
            raise KeyError(f"no project {project!r}; call add_project first")
        return found

    def _new_issue(self, project: _Project, title: str, author: int, created: datetime, **fields: Any) -> _Issue:
        """A new issue with the project's next iid, not stored yet."""
        return _Issue(self.state.next_id("issue"), max(project.issues, default=0) + 1, title, author, created, created, **fields)

    def _new_note(
        self, project: _Project, issue: _Issue, body: str, author: _User, system: bool = False, created: datetime | None = None
    ) -> _Note:
        """A new note on `issue` (created now unless `created` says when), stored."""
        created = created or utcnow()
        note = _Note(self.state.next_id("note"), issue.iid, body, author.id, system, created, created)
        project.notes[note.id] = note
        return note

    def _default_author(self, project: _Project) -> _User:
        owners = [user_id for user_id, level in project.members.items() if level == OWNER]
        if owners:
            return self.state.users[owners[0]]
        return self._seed_user("root")

    def _user_named(self, username: str) -> _User | None:
        return next((u for u in self.state.users.values() if u.username.lower() == username.lower()), None)

    def _find_project(self, ident: str) -> _Project | None:
        if ident.isdigit():
            return self.state.projects.get(int(ident))
        return next((p for p in self.state.projects.values() if p.path_with_namespace.lower() == ident.lower()), None)

    def _ensure_label(self, project: _Project, name: str) -> _Label:
        label = project.labels.get(name.lower())
        if label is None:
            label = _Label(self.state.next_id("label"), name, "#6699cc", None)
            project.labels[name.lower()] = label
        return label

    # -- provider hooks ------------------------------------------------------------------------

    def _authenticate(self, call: Call) -> _User | None:
        token = call.header("PRIVATE-TOKEN") or call.query.get("private_token")
        scheme, _, credential = (call.header("Authorization") or "").partition(" ")
        if token is None and scheme.lower() == "bearer":
            token = credential.strip()
        if token is None:
            return None
        user_id = self.state.tokens.get(token)
        if user_id is None:
            raise HTTPError(json_response({"message": "401 Unauthorized"}, 401))
        return self.state.users[user_id]

    def _not_found(self, call: Call) -> Response:
        if self._route_exists(call.path):
            return json_response({"error": "405 Not Allowed"}, 405)
        return json_response({"error": "404 Not Found"}, 404)

    def _bad_json(self, call: Call) -> Response:
        return json_response({"error": "The provided content-type 'application/json' is not supported."}, 400)

    def _failure_body(self, status: int) -> Any:
        return {"message": f"{status} {HTTP_STATUS_CODES.get(status, 'Error')}"}

    def _rate_limited_response(self, call: Call, retry_after: float, status: int | None) -> Response:
        now = utcnow()
        wait = math.ceil(retry_after)
        reset = math.ceil(now.timestamp()) + wait
        headers = {**THROTTLED, "RateLimit-Remaining": "0", "Retry-After": str(wait), "RateLimit-Reset": str(reset)}
        headers["RateLimit-ResetTime"] = format_datetime(datetime.fromtimestamp(reset, now.tzinfo), usegmt=True)
        return text_response("Retry later\n", status or 429, headers)

    # -- errors and parameters -----------------------------------------------------------------

    @staticmethod
    def _not_found_error(what: str) -> HTTPError:
        return HTTPError(json_response({"message": f"404 {what} Not Found"}, 404))

    @staticmethod
    def _bad_request(error: str) -> HTTPError:
        return HTTPError(json_response({"error": error}, 400))

    @staticmethod
    def _forbidden() -> HTTPError:
        return HTTPError(json_response({"message": "403 Forbidden"}, 403))

    def _int_list(self, params: Mapping[str, Any], name: str) -> list[int]:
        value = params[name]
        items = value if isinstance(value, list) else split_list(value) if value not in (None, "") else []
        try:
            return [int(item) for item in items]
        except (TypeError, ValueError):
            raise self._bad_request(f"{name} is invalid") from None

    def _bool(self, params: Mapping[str, Any], name: str) -> bool:
        value = params[name]
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "1"):
            return True
        if str(value).lower() in ("false", "0"):
            return False
        raise self._bad_request(f"{name} is invalid")

    def _due_date(self, params: Mapping[str, Any]) -> str | None:
        value = params["due_date"]
        if value in (None, ""):
            return None
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise self._bad_request("due_date is invalid") from None

    def _time_filter(self, params: Mapping[str, Any], name: str) -> datetime | None:
        if name not in params:
            return None
        moment = parse_timestamp(params[name])
        if moment is None:
            raise self._bad_request(f"{name} is invalid")
        return moment

    def _choice(self, params: Mapping[str, Any], name: str, allowed: Iterable[str], default: str) -> str:
        value = params.get(name, default)
        if value not in allowed:
            raise self._bad_request(f"{name} does not have a valid value")
        return value

    # -- access --------------------------------------------------------------------------------

    def _access(self, project: _Project, user: _User | None) -> int | None:
        """Access level of `user`: member level, 0 for a reader of a non-private project, None when hidden."""
        if user is not None and user.id in project.members:
            return project.members[user.id]
        if project.visibility == "public" or (project.visibility == "internal" and user is not None):
            return 0
        return None

    def _project(self, call: Call, ident: str, need: int | None = None) -> _Project:
        project = self._find_project(ident)
        access = self._access(project, call.principal) if project else None
        if project is None or access is None:
            raise self._not_found_error("Project")
        if need is not None:
            if call.principal is None:
                raise HTTPError(json_response({"message": "401 Unauthorized"}, 401))
            if access < need:
                raise self._forbidden()
        return project

    def _issue(self, project: _Project, iid: int) -> _Issue:
        issue = project.issues.get(iid)
        if issue is None:
            raise self._not_found_error("Issue")
        return issue

    # -- rendering -----------------------------------------------------------------------------

    def _user_json(self, user: _User, full: bool = False) -> dict[str, Any]:
        basic = {
            "id": user.id,
            "username": user.username,
            "name": user.name,
            "state": "active",
            "locked": False,
            "avatar_url": f"{self.base_url}/uploads/-/system/user/avatar/{user.id}/avatar.png",
            "web_url": f"{self.base_url}/{user.username}",
        }
        if not full:
            return basic
        seen = dict.fromkeys(("created_at", "last_sign_in_at", "confirmed_at", "current_sign_in_at"), iso_millis(user.created_at))
        emails = dict.fromkeys(("email", "commit_email"), user.email)
        return {**basic, **BLANK_PROFILE, **seen, **emails, "last_activity_on": user.created_at.date().isoformat()}

    def _project_json(self, project: _Project, viewer: _User | None) -> dict[str, Any]:
        api = f"{self.api_url}/projects/{project.id}"
        web = f"{self.base_url}/{project.path_with_namespace}"
        level = project.members.get(viewer.id) if viewer else None
        access = {"access_level": level, "notification_level": 3} if level else None
        ns = project.namespace
        group = {"id": project.id, "name": ns, "path": ns.rpartition("/")[2], "kind": "group", "full_path": ns, "parent_id": None}
        links = {rel: f"{api}/{rel}" for rel in ("issues", "merge_requests", "labels", "events", "members", "cluster_agents")}
        return {
            **PROJECT_DEFAULTS,
            "id": project.id,
            "description": project.description,
            "name": project.name,
            "name_with_namespace": f"{ns} / {project.name}",
            "path": project.path,
            "path_with_namespace": project.path_with_namespace,
            "created_at": iso_millis(project.created_at),
            "default_branch": project.default_branch,
            "ssh_url_to_repo": f"git@127.0.0.1:{project.path_with_namespace}.git",
            "http_url_to_repo": f"{web}.git",
            "web_url": web,
            "last_activity_at": iso_millis(max([project.created_at, *(i.updated_at for i in project.issues.values())])),
            "namespace": {**group, "avatar_url": None, "web_url": f"{self.base_url}/groups/{ns}"},
            "visibility": project.visibility,
            "open_issues_count": sum(issue.state == "opened" for issue in project.issues.values()),
            "empty_repo": not project.files,
            "_links": {"self": api, **links, "repo_branches": f"{api}/repository/branches"},
            "permissions": {"project_access": access, "group_access": None},
        }

    def _label_json(self, project: _Project, label: _Label, counts: bool) -> dict[str, Any]:
        text = {"description": label.description, "description_html": label.description or ""}
        body = {**LABEL_DEFAULTS, "id": label.id, "name": label.name, "color": label.color, "priority": label.priority, **text}
        if counts:
            tagged = [issue for issue in project.issues.values() if label.name in issue.labels]
            body["open_issues_count"] = sum(issue.state == "opened" for issue in tagged)
            body["closed_issues_count"] = sum(issue.state == "closed" for issue in tagged)
            body["open_merge_requests_count"] = 0
        return body

    def _milestone_json(self, project: _Project, milestone: _Milestone) -> dict[str, Any]:
        expired = milestone.due_date is not None and date.fromisoformat(milestone.due_date) < utcnow().date()
        return {
            "id": milestone.id,
            "iid": milestone.iid,
            "project_id": project.id,
            "title": milestone.title,
            "description": milestone.description,
            "state": milestone.state,
            "created_at": iso_millis(milestone.created_at),
            "updated_at": iso_millis(milestone.closed_at or milestone.created_at),
            "closed_at": iso_millis(milestone.closed_at),
            "due_date": milestone.due_date,
            "start_date": None,
            "expired": expired,
            "web_url": f"{self.base_url}/{project.path_with_namespace}/-/milestones/{milestone.iid}",
        }

    def _issue_json(self, project: _Project, issue: _Issue, single: bool) -> dict[str, Any]:
        api = f"{self.api_url}/projects/{project.id}"
        own = f"{api}/issues/{issue.iid}"
        assignees = [self._user_json(self.state.users[user_id]) for user_id in issue.assignees]
        milestone = project.milestones.get(issue.milestone) if issue.milestone else None
        user_notes = sum(1 for n in project.notes.values() if n.issue_iid == issue.iid and not n.system)
        duplicate = f"{api}/issues/{issue.duplicate_of}" if issue.duplicate_of else None
        links = {"self": own, "notes": f"{own}/notes", "award_emoji": f"{own}/award_emoji", "project": api}
        reference = f"#{issue.iid}"
        return {
            **ISSUE_DEFAULTS,
            **({"subscribed": True} if single else {"has_tasks": False, "task_status": "0 of 0 checklist items completed"}),
            "id": issue.id,
            "iid": issue.iid,
            "project_id": project.id,
            "title": issue.title,
            "description": issue.description,
            "state": issue.state,
            "created_at": iso_millis(issue.created_at),
            "updated_at": iso_millis(issue.updated_at),
            "closed_at": iso_millis(issue.closed_at),
            "closed_by": self._user_json(self.state.users[issue.closed_by]) if issue.closed_by else None,
            "labels": list(issue.labels),
            "milestone": self._milestone_json(project, milestone) if milestone else None,
            "assignees": assignees,
            "author": self._user_json(self.state.users[issue.author]),
            "type": issue.issue_type.upper(),
            "assignee": assignees[0] if assignees else None,
            "user_notes_count": user_notes,
            "due_date": issue.due_date,
            "confidential": issue.confidential,
            "discussion_locked": issue.discussion_locked,
            "issue_type": issue.issue_type,
            "web_url": f"{self.base_url}/{project.path_with_namespace}/-/issues/{issue.iid}",
            "references": {"short": reference, "relative": reference, "full": f"{project.path_with_namespace}{reference}"},
            "_links": {**links, "closed_as_duplicate_of": duplicate},
        }

    def _note_json(self, project: _Project, issue: _Issue, note: _Note) -> dict[str, Any]:
        author = self.state.users[note.author]
        return {
            **NOTE_DEFAULTS,
            "id": note.id,
            "body": note.body,
            # The documented note example carries the author's email and creation date as well.
            "author": {**self._user_json(author), "email": author.email, "created_at": iso_millis(author.created_at)},
            "created_at": iso_millis(note.created_at),
            "updated_at": iso_millis(note.updated_at),
            "system": note.system,
            "noteable_id": issue.id,
            "noteable_iid": issue.iid,
            "project_id": project.id,
        }

    def _member_json(self, project: _Project, user: _User) -> dict[str, Any]:
        membership = {"created_at": iso_millis(project.created_at), "expires_at": None, "membership_state": "active"}
        return {**self._user_json(user), "access_level": project.members[user.id], **membership}

    def _hook_json(self, project: _Project, hook: _Hook) -> dict[str, Any]:
        named = {"id": hook.id, "url": hook.url, "name": hook.name, "description": hook.description, "project_id": project.id}
        ssl = {"enable_ssl_verification": hook.enable_ssl_verification, "created_at": iso_millis(hook.created_at)}
        return {**HOOK_DEFAULTS, **named, **hook.events, **ssl}

    def _file_json(self, project: _Project, path: str, ref: str) -> dict[str, Any]:
        content = project.files[path]
        commit = _git_sha(str(project.id), ref)
        return {
            "file_name": path.rsplit("/", 1)[-1],
            "file_path": path,
            "size": len(content),
            "encoding": "base64",
            "content_sha256": hashlib.sha256(content).hexdigest(),
            "ref": ref,
            "blob_id": _git_sha(path, content.decode("utf-8", "replace")),
            "commit_id": commit,
            "last_commit_id": commit,
            "execute_filemode": False,
            "content": base64.b64encode(content).decode(),
        }

    def _paged(self, call: Call, items: list[Any], render: Callable[[Any], Any]) -> Response:
        page = page_of(call, items, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)
        numbers = {"X-Page": page.page, "X-Per-Page": page.per_page, "X-Total": page.total, "X-Total-Pages": page.last_page}
        headers = {name: str(number) for name, number in numbers.items()}
        headers["X-Next-Page"] = str(page.page + 1) if page.page < page.last_page else ""
        headers["X-Prev-Page"] = str(page.page - 1) if 1 < page.page <= page.last_page else ""
        headers["Link"] = self.link_header(call, page, always_bounds=True)
        return json_response([render(item) for item in page.items], headers=headers)

    # -- users ---------------------------------------------------------------------------------

    @route("GET", f"{API}/user")
    def _api_get_current_user(self, call: Call) -> Response:
        """GET /user."""
        if call.principal is None:
            return json_response({"message": "401 Unauthorized"}, 401)
        return json_response(self._user_json(call.principal, full=True))

    # -- projects ------------------------------------------------------------------------------

    @route("GET", f"{API}/projects/{{ident}}")
    def _api_get_project(self, call: Call, ident: str) -> Response:
        """GET /projects/:id (numeric id or URL-encoded path)."""
        return json_response(self._project_json(self._project(call, ident), call.principal))

    @route("GET", f"{API}/projects/{{ident}}/members")
    @route("GET", f"{API}/projects/{{ident}}/members/all")
    def _api_list_members(self, call: Call, ident: str) -> Response:
        """GET /projects/:id/members[/all]."""
        project = self._project(call, ident)
        users = [self.state.users[user_id] for user_id in sorted(project.members)]
        return self._paged(call, users, lambda user: self._member_json(project, user))

    # -- labels --------------------------------------------------------------------------------

    @route("GET", f"{API}/projects/{{ident}}/labels")
    def _api_list_labels(self, call: Call, ident: str) -> Response:
        """GET /projects/:id/labels (`with_counts`)."""
        project = self._project(call, ident)
        params = call.merged_params()
        counts = "with_counts" in params and self._bool(params, "with_counts")
        labels = sorted(project.labels.values(), key=lambda label: label.name.lower())
        return self._paged(call, labels, lambda label: self._label_json(project, label, counts))

    # -- issues --------------------------------------------------------------------------------

    @route("GET", f"{API}/projects/{{ident}}/issues")
    def _api_list_issues(self, call: Call, ident: str) -> Response:
        """GET /projects/:id/issues with GitLab's filters, ordering and offset pagination."""
        project = self._project(call, ident)
        params = call.merged_params()
        state = self._choice(params, "state", ("opened", "closed", "all"), "all")
        issues = [i for i in project.issues.values() if state == "all" or i.state == state]
        issues = self._filter_labels(issues, params.get("labels"))
        issues = self._filter_assignee(issues, params)
        if params.get("search"):  # over title and description, every term
            terms = params["search"].lower().split()
            issues = [i for i in issues if all(term in f"{i.title}\n{i.description or ''}".lower() for term in terms)]
        after = self._time_filter(params, "updated_after")
        if after is not None:
            issues = [i for i in issues if i.updated_at >= after]
        issues = self._ordered(params, issues)
        return self._paged(call, issues, lambda issue: self._issue_json(project, issue, single=False))

    def _ordered(self, params: Mapping[str, Any], items: list[Any]) -> list[Any]:
        """Issues or notes in the `order_by` (created_at or updated_at) and `sort` (default desc) a request asks for."""
        order_by = self._choice(params, "order_by", ("created_at", "updated_at"), "created_at")
        descending = self._choice(params, "sort", ("asc", "desc"), "desc") == "desc"
        return sorted(items, key=lambda item: (getattr(item, order_by), item.id), reverse=descending)

    @staticmethod
    def _filter_labels(issues: list[_Issue], labels: Any) -> list[_Issue]:
        names = [name.lower() for name in split_list(labels)]
        if names in (["none"], ["any"]):  # issues without any label, or with some
            return [issue for issue in issues if bool(issue.labels) == (names == ["any"])]
        return [issue for issue in issues if set(names) <= {label.lower() for label in issue.labels}]

    def _filter_assignee(self, issues: list[_Issue], params: Mapping[str, Any]) -> list[_Issue]:
        usernames = params.get("assignee_username", [])
        for username in usernames if isinstance(usernames, list) else [usernames]:
            user = self._user_named(username)
            issues = [i for i in issues if user is not None and user.id in i.assignees]
        return issues

    @route("POST", f"{API}/projects/{{ident}}/issues")
    def _api_create_issue(self, call: Call, ident: str) -> Response:
        """POST /projects/:id/issues."""
        project = self._project(call, ident, need=0)
        params = call.merged_params()
        if "title" not in params or params["title"] is None:
            raise self._bad_request("title is missing")
        if not str(params["title"]).strip():
            return json_response({"message": {"title": ["can't be blank"]}}, 400)
        issue = self._new_issue(project, str(params["title"]), call.principal.id, utcnow(), description=params.get("description"))
        self._apply_fields(project, issue, params, call.principal, creating=True)
        if params.get("issue_type") is not None:
            if params["issue_type"] not in ("issue", "incident", "test_case", "task"):
                raise self._bad_request("issue_type does not have a valid value")
            issue.issue_type = params["issue_type"]
        project.issues[issue.iid] = issue
        return json_response(self._issue_json(project, issue, single=True), 201)

    @route("GET", f"{API}/projects/{{ident}}/issues/{{iid:int}}")
    def _api_get_issue(self, call: Call, ident: str, iid: int) -> Response:
        """GET /projects/:id/issues/:issue_iid."""
        project = self._project(call, ident)
        return json_response(self._issue_json(project, self._issue(project, iid), single=True))

    @route("PUT", f"{API}/projects/{{ident}}/issues/{{iid:int}}")
    def _api_update_issue(self, call: Call, ident: str, iid: int) -> Response:
        """PUT /projects/:id/issues/:issue_iid."""
        project = self._project(call, ident, need=0)
        issue = self._issue(project, iid)
        if (project.members.get(call.principal.id) or 0) < REPORTER and issue.author != call.principal.id:
            raise self._forbidden()
        params = call.merged_params()
        if not any(name in params for name in ISSUE_EDITABLE):
            raise self._bad_request(f"{', '.join(ISSUE_EDITABLE)} are missing, at least one parameter must be provided")
        if unapplied := sorted(set(params) & set(ISSUE_EDITABLE) - ISSUE_APPLIED):
            raise self._bad_request(f"the stand-in does not apply {', '.join(unapplied)}")
        if "title" in params and not str(params["title"] or "").strip():
            return json_response({"message": {"title": ["can't be blank"]}}, 400)
        if "state_event" in params and params["state_event"] not in ("close", "reopen"):
            raise self._bad_request("state_event does not have a valid value")
        if "title" in params:
            issue.title = str(params["title"])
        if "description" in params:
            issue.description = params["description"]
        self._apply_fields(project, issue, params, call.principal, creating=False)
        self._apply_state_event(project, issue, params.get("state_event"), call.principal)
        issue.updated_at = utcnow()
        return json_response(self._issue_json(project, issue, single=True))

    def _apply_fields(self, project: _Project, issue: _Issue, params: Mapping[str, Any], actor: _User, creating: bool) -> None:
        before_labels, before_assignees = list(issue.labels), list(issue.assignees)
        self._apply_labels(project, issue, params)
        self._apply_assignees_and_milestone(project, issue, params)
        if "due_date" in params:
            issue.due_date = self._due_date(params)
        if creating:
            return
        added_labels = [name for name in issue.labels if name not in before_labels]
        removed_labels = [name for name in before_labels if name not in issue.labels]
        changes = [f"added ~{project.labels[n.lower()].id} label" for n in added_labels]
        changes += [f"removed ~{project.labels[n.lower()].id} label" for n in removed_labels if n.lower() in project.labels]
        changes += [f"assigned to @{self.state.users[i].username}" for i in issue.assignees if i not in before_assignees]
        changes += [f"unassigned @{self.state.users[i].username}" for i in before_assignees if i not in issue.assignees]
        for text in changes:
            self._new_note(project, issue, text, actor, system=True)

    def _apply_labels(self, project: _Project, issue: _Issue, params: Mapping[str, Any]) -> None:
        if "labels" in params:
            issue.labels = list(dict.fromkeys(self._ensure_label(project, n).name for n in split_list(params["labels"])))

    def _apply_assignees_and_milestone(self, project: _Project, issue: _Issue, params: Mapping[str, Any]) -> None:
        ids = self._int_list(params, "assignee_ids") if "assignee_ids" in params else None
        if ids is not None:
            # Like GitLab: 0 clears, users without access to the project are silently dropped.
            issue.assignees = [i for i in dict.fromkeys(ids) if i in self.state.users and i in project.members]
        if "milestone_id" in params:
            milestone = params["milestone_id"]
            if milestone in (None, "", 0, "0"):
                issue.milestone = None
            elif str(milestone).isdigit() and int(milestone) in project.milestones:
                issue.milestone = int(milestone)
            else:
                raise self._not_found_error("Milestone")

    def _apply_state_event(self, project: _Project, issue: _Issue, event: str | None, actor: _User) -> None:
        if event == "close" and issue.state == "opened":
            issue.state, issue.closed_at, issue.closed_by = "closed", utcnow(), actor.id
            self._new_note(project, issue, "closed", actor, system=True)
        elif event == "reopen" and issue.state == "closed":
            issue.state, issue.closed_at, issue.closed_by = "opened", None, None
            self._new_note(project, issue, "reopened", actor, system=True)

    @route("DELETE", f"{API}/projects/{{ident}}/issues/{{iid:int}}")
    def _api_delete_issue(self, call: Call, ident: str, iid: int) -> Response:
        """DELETE /projects/:id/issues/:issue_iid (owners only)."""
        project = self._project(call, ident, need=OWNER)
        del project.issues[self._issue(project, iid).iid]
        project.notes = {k: n for k, n in project.notes.items() if n.issue_iid != iid}
        return Response(status=204)

    # -- notes ---------------------------------------------------------------------------------

    @route("GET", f"{API}/projects/{{ident}}/issues/{{iid:int}}/notes")
    def _api_list_notes(self, call: Call, ident: str, iid: int) -> Response:
        """GET /projects/:id/issues/:issue_iid/notes (system notes included, like GitLab)."""
        project = self._project(call, ident)
        issue = self._issue(project, iid)
        notes = self._ordered(call.merged_params(), [note for note in project.notes.values() if note.issue_iid == iid])
        return self._paged(call, notes, lambda note: self._note_json(project, issue, note))

    @route("POST", f"{API}/projects/{{ident}}/issues/{{iid:int}}/notes")
    def _api_create_note(self, call: Call, ident: str, iid: int) -> Response:
        """POST /projects/:id/issues/:issue_iid/notes."""
        project = self._project(call, ident, need=0)
        issue = self._issue(project, iid)
        params = call.merged_params()
        if "body" not in params or params["body"] is None:
            raise self._bad_request("body is missing")
        if not str(params["body"]).strip():
            raise self._bad_request("body is empty")
        note = self._new_note(project, issue, str(params["body"]), call.principal)
        issue.updated_at = note.created_at
        return json_response(self._note_json(project, issue, note), 201)

    def _note(self, project: _Project, iid: int, note_id: int) -> tuple[_Issue, _Note]:
        issue = self._issue(project, iid)
        note = project.notes.get(note_id)
        if note is None or note.issue_iid != iid:
            raise self._not_found_error("Note")
        return issue, note

    @route("PUT", f"{API}/projects/{{ident}}/issues/{{iid:int}}/notes/{{note_id:int}}")
    def _api_update_note(self, call: Call, ident: str, iid: int, note_id: int) -> Response:
        """PUT /projects/:id/issues/:issue_iid/notes/:note_id (author only)."""
        project = self._project(call, ident, need=0)
        issue, note = self._note(project, iid, note_id)
        if note.author != call.principal.id:
            raise self._forbidden()
        params = call.merged_params()
        if not str(params.get("body") or "").strip():
            raise self._bad_request("body is missing")
        note.body, note.updated_at = str(params["body"]), utcnow()
        return json_response(self._note_json(project, issue, note))

    @route("DELETE", f"{API}/projects/{{ident}}/issues/{{iid:int}}/notes/{{note_id:int}}")
    def _api_delete_note(self, call: Call, ident: str, iid: int, note_id: int) -> Response:
        """DELETE /projects/:id/issues/:issue_iid/notes/:note_id."""
        project = self._project(call, ident, need=0)
        _, note = self._note(project, iid, note_id)
        if note.author != call.principal.id and (project.members.get(call.principal.id) or 0) < MAINTAINER:
            raise self._forbidden()
        del project.notes[note_id]
        return Response(status=204)

    # -- project uploads (markdown uploads: the files a note links) -------------------------

    @route("POST", f"{API}/projects/{{ident}}/uploads")
    def _api_upload(self, call: Call, ident: str) -> Response:
        """POST /projects/:id/uploads: multipart `file`; 201 with the Markdown that links it."""
        project = self._project(call, ident, need=GUEST)
        upload = call.request.files.get("file")
        if upload is None:
            raise self._bad_request("file is missing")
        secret = f"{self.state.next_id('upload'):032x}"
        filename = upload.filename or "file"
        item = {"id": self.state.next_id("upload_id"), "filename": filename, "data": upload.read(), "secret": secret}
        project.uploads[secret] = item
        url = f"/uploads/{secret}/{quote(filename)}"
        markdown = {"alt": filename.rsplit(".", 1)[0], "url": url, "full_path": f"/-/project/{project.id}{url}"}
        return json_response({"id": item["id"], **markdown, "markdown": f"[{filename}]({url})"}, 201)

    def _upload(self, project: _Project, secret: str, filename: str) -> dict[str, Any]:
        item = project.uploads.get(secret)
        if item is None or item["filename"] != unquote(filename):
            raise HTTPError(json_response({"message": "404 Not found"}, 404))
        return item

    @route("GET", f"{API}/projects/{{ident}}/uploads/{{secret}}/{{filename}}")
    def _api_download_upload(self, call: Call, ident: str, secret: str, filename: str) -> Response:
        """GET /projects/:id/uploads/:secret/:filename (GitLab 17.4+): the file."""
        project = self._project(call, ident, need=GUEST)
        item = self._upload(project, secret, filename)
        headers = {"Content-Disposition": f'attachment; filename="{item["filename"]}"'}
        return Response(item["data"], mimetype="application/octet-stream", headers=headers)

    @route("DELETE", f"{API}/projects/{{ident}}/uploads/{{secret}}/{{filename}}")
    def _api_delete_upload(self, call: Call, ident: str, secret: str, filename: str) -> Response:
        """DELETE /projects/:id/uploads/:secret/:filename (GitLab 17.2+, maintainers): 204."""
        project = self._project(call, ident, need=MAINTAINER)
        del project.uploads[self._upload(project, secret, filename)["secret"]]
        return Response(status=204)

    # -- hooks ---------------------------------------------------------------------------------

    @route("POST", f"{API}/projects/{{ident}}/hooks")
    def _api_create_hook(self, call: Call, ident: str) -> Response:
        """POST /projects/:id/hooks."""
        project = self._project(call, ident, need=MAINTAINER)
        params = call.merged_params()
        if not params.get("url"):
            raise self._bad_request("url is missing")
        url = str(params["url"])
        if not re.match(r"https?://[^/\s]+", url):
            return json_response({"message": {"url": ["is blocked: Only allowed schemes are http, https"]}}, 422)
        events = {name: name == "push_events" for name in HOOK_EVENTS}
        events.update({name: self._bool(params, name) for name in HOOK_EVENTS if name in params})
        ssl = self._bool(params, "enable_ssl_verification") if "enable_ssl_verification" in params else True
        name, description = str(params.get("name") or ""), str(params.get("description") or "")
        hook = _Hook(self.state.next_id("hook"), url, name, description, params.get("token"), events, ssl, utcnow())
        project.hooks[hook.id] = hook
        return json_response(self._hook_json(project, hook), 201)

    def _hook(self, project: _Project, hook_id: int) -> _Hook:
        hook = project.hooks.get(hook_id)
        if hook is None:
            raise HTTPError(json_response({"message": "404 Not found"}, 404))
        return hook

    @route("DELETE", f"{API}/projects/{{ident}}/hooks/{{hook_id:int}}")
    def _api_delete_hook(self, call: Call, ident: str, hook_id: int) -> Response:
        """DELETE /projects/:id/hooks/:hook_id."""
        project = self._project(call, ident, need=MAINTAINER)
        del project.hooks[self._hook(project, hook_id).id]
        return Response(status=204)

    # -- repository ----------------------------------------------------------------------------

    def _ref(self, project: _Project, ref: str | None, missing: str) -> str:
        ref = ref or project.default_branch
        if ref not in (project.default_branch, "HEAD"):
            raise self._not_found_error(missing)
        return project.default_branch

    @route("GET", f"{API}/projects/{{ident}}/repository/tree")
    def _api_list_tree(self, call: Call, ident: str) -> Response:
        """GET /projects/:id/repository/tree (`path`, `ref`, `recursive`)."""
        project = self._project(call, ident)
        params = call.merged_params()
        self._ref(project, params.get("ref"), "Tree")
        base = str(params.get("path") or "").strip("/")
        prefix = f"{base}/" if base else ""
        recursive = "recursive" in params and self._bool(params, "recursive")
        entries: dict[str, str] = {}
        for path in project.files:
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix) :].split("/")
            depth = len(parts) if recursive else 1
            for level in range(1, depth + 1):
                entry = prefix + "/".join(parts[:level])
                entries[entry] = "blob" if level == len(parts) else "tree"
        if base and not entries:
            raise self._not_found_error("Tree")
        ordered = sorted(entries.items(), key=lambda item: (item[1] != "tree", item[0]))

        def render(item: tuple[str, str]) -> dict[str, Any]:
            path, kind = item
            mode = "040000" if kind == "tree" else "100644"
            return {"id": _git_sha(path, kind), "name": path.rsplit("/", 1)[-1], "type": kind, "path": path, "mode": mode}

        return self._paged(call, ordered, render)

    @route("GET", f"{API}/projects/{{ident}}/repository/files/{{file_path}}/raw")
    def _api_get_raw_file(self, call: Call, ident: str, file_path: str) -> Response:
        """GET /projects/:id/repository/files/:file_path/raw (ref defaults to the default branch), metadata in headers."""
        project = self._project(call, ident)
        ref = self._ref(project, call.merged_params().get("ref"), "Commit")
        path = file_path.strip("/")
        if path not in project.files:
            raise self._not_found_error("File")
        meta = {name: value for name, value in self._file_json(project, path, ref).items() if name != "content"}
        headers = {"X-Gitlab-" + name.replace("_", "-").title(): _header(value) for name, value in meta.items()}
        return Response(project.files[path], status=200, headers=headers, content_type="text/plain; charset=utf-8")


# ---- test kit (test/fakes/kit.py): how the shared suites drive GitLab ----


def _seeded(fake, connect, target, labels=(), access_level=MAINTAINER, credential="gl-token"):
    """root's `credential` and project `target` (root a member at `access_level`, `labels`), connected."""
    fake.add_token(credential, username="root")
    project = fake.add_project(target)
    fake.add_member(project["id"], "root", access_level=access_level)
    for name in labels:
        fake.add_label(project["id"], name)
    return connect(provider="gitlab", target=target, base_url=fake.base_url, credentials={"token": credential})


def _contract(fake, connect, user):
    return Setup(_seeded(fake, connect, "group/app", ("bug", "ui"), access_level=DEVELOPER), member="root")


def _audit(fake, mark):
    token = f"glpat-{mark}-token"
    return _seeded(fake, dict, "grp/audit", credential=token), {"gitlab token": token}  # `dict`: the tracker body itself


def _audit_probe(call, tracker, secret):
    """An unverified and a verified delivery: neither answer may echo the hook's token."""
    call("POST", f"/api/v1/webhooks/{tracker['id']}", data=b"{}", headers={"X-Gitlab-Token": "wrong"})
    call("POST", f"/api/v1/webhooks/{tracker['id']}", data=b"{}", headers={"X-Gitlab-Token": secret, "X-Gitlab-Event-UUID": "u1"})


def _request_setup(fake, connect):
    return _seeded(fake, connect, "group/spec", ("bug",), access_level=OWNER), "root"  # Owner: it deletes issues


# GitLab publishes no machine-readable description: the operations and query parameters below are the ones its REST
# documentation (doc/api/issues.md, notes.md, labels.md, members.md, projects.md, project_webhooks.md,
# project_markdown_uploads.md) lists.
PAGINATION = ("page", "per_page", "pagination")
REQUEST_TEMPLATES = {
    "/api/v4/user": (),
    "/api/v4/projects/{id}": ("license", "statistics", "with_custom_attributes"),
    "/api/v4/projects/{id}/issues": (
        "assignee_id",
        "assignee_username",
        "author_id",
        "author_username",
        "confidential",
        "created_after",
        "created_before",
        "due_date",
        "iids[]",
        "in",
        "issue_type",
        "labels",
        "milestone",
        "milestone_id",
        "not",
        "order_by",
        "scope",
        "search",
        "sort",
        "state",
        "updated_after",
        "updated_before",
        "with_labels_details",
        *PAGINATION,
    ),
    "/api/v4/projects/{id}/issues/{issue_iid}": (),
    "/api/v4/projects/{id}/issues/{issue_iid}/notes": ("sort", "order_by", "activity_filter", *PAGINATION),
    "/api/v4/projects/{id}/issues/{issue_iid}/notes/{note_id}": (),
    "/api/v4/projects/{id}/uploads": (),
    "/api/v4/projects/{id}/uploads/{secret}/{filename}": (),
    "/api/v4/projects/{id}/labels": ("with_counts", "include_ancestor_groups", "search", *PAGINATION),
    "/api/v4/projects/{id}/members/all": ("query", "user_ids", "show_seat_info", "state", *PAGINATION),
    "/api/v4/projects/{id}/hooks": PAGINATION,
    "/api/v4/projects/{id}/hooks/{hook_id}": (),
}


def _check_requests(fake, root):
    checked = set()
    for request in fake.requests:
        template = path_template(request.path, REQUEST_TEMPLATES)
        undocumented = set(request.query) - set(REQUEST_TEMPLATES[template])
        assert not undocumented, (request.method, request.path, undocumented)
        assert request.headers.get("private-token") == "gl-token", (request.method, request.path)
        checked.add((request.method, template))
    return checked


def _check_issue_hook(payload, events, provider):
    (event,) = events
    assert event.issue.id == "23" and event.issue.title == payload["object_attributes"]["title"]
    assert event.issue.labels == ["API"] and [p.username for p in event.issue.assignees] == ["user1"]
    assert event.issue.created_at.isoformat() == "2013-12-03T17:15:43+00:00"
    relabeled = {**payload, "object_attributes": {**payload["object_attributes"], "action": "update"}}
    assert provider.normalize_webhook("Issue Hook", relabeled)[0].type == "issue.labeled"


def _check_note_hook(payload, events, provider):
    (event,) = events
    assert event.comment.body == "Hello world" and event.comment.author.username == "root"
    assert event.issue_id == str(payload["issue"]["iid"])
    assert event.comment.created_at.isoformat() == "2015-05-17T17:06:40+00:00"


CONTRACT_VARIANTS = [
    ContractVariant(
        "gitlab",
        setup=_contract,
        audit=_audit,
        server=GitLabFake,
        audit_probe=_audit_probe,
        capabilities=kit.capability_set(
            "issues comments labels members due_date webhooks template_import issue_type"
            " comment_edit comment_delete issue_delete attachments passthrough"
        ),
    )
]  # no REST parent
# After the drive: comment edit and delete, attachments (project uploads linked from a note) and an issue's delete.
REQUEST_CHECKS = [
    RequestCheck(
        "gitlab",
        setup=_request_setup,
        check=_check_requests,
        expected=kit.operations(
            "POST /issues, PUT /issues/{issue_iid}, GET /issues, POST /issues/{issue_iid}/notes, POST /hooks,"
            " DELETE /hooks/{hook_id}, PUT /issues/{issue_iid}/notes/{note_id}, DELETE /issues/{issue_iid}/notes/{note_id},"
            " POST /uploads, GET /uploads/{secret}/{filename}, DELETE /uploads/{secret}/{filename}, DELETE /issues/{issue_iid}",
            prefix="/api/v4/projects/{id}",
        ),
        after=drive_deeper_operations,
    )
]
WEBHOOK_EXPECTATIONS = [
    WebhookExpectation("issue-hook.json", "Issue Hook", ("issue.created",), "diaspora/project", _check_issue_hook),
    WebhookExpectation("note-hook-issue.json", "Note Hook", ("comment.created",), "diaspora/project", _check_note_hook),
]

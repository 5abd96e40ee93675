"""Offline stand-in for the GitHub REST API (issues, labels, assignees, hooks, search, contents)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

from werkzeug.http import http_date, parse_date, parse_etags
from werkzeug.wrappers import Response

from test.fakes import kit
from test.fakes.base import Call, FakeServer, HTTPError, iso_z, json_response, page_of, parse_timestamp, route, split_list, utcnow
from test.fakes.kit import ContractVariant, RequestCheck, Setup, WebhookExpectation, check_against_spec, path_template, poll_twice

DOCS = "https://docs.github.com/rest"
API_VERSION = "2022-11-28"
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
SEARCH_RESULT_CAP = 1000
SECONDARY_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out "
    "to GitHub Support for help, please include the request ID."
)
UNSEARCHABLE = (
    "The listed users and repositories cannot be searched either because the resources do not exist or you do not "
    "have permission to view them."
)
# api.github.com quotas per resource: authenticated limit, anonymous limit, window in seconds.
QUOTAS = {"core": (5000, 60, 3600), "search": (30, 10, 60)}
HOOK_EVENTS = frozenset(
    {"*", "push", "issues", "issue_comment", "label", "milestone", "pull_request", "create", "delete", "release"}
)
ISSUE_STATES = ("open", "closed")
SORT_FIELDS = {"created": "created_at", "updated": "updated_at", "comments": "comments"}  # sort= value -> issue field; ties by id
STATE_REASONS = ("completed", "not_planned", "duplicate", "reopened")


def _now() -> datetime:
    return utcnow().replace(microsecond=0)


def _node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"{len(kind):02d}:{kind}{number}".encode()).decode()


def _blob_sha(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


def _as_json(value: Any) -> str:
    return json.dumps(value)


def _kinds(table: str) -> dict[str, tuple[str, ...]]:
    """`field:kind|kind ...` as {field: kinds}: which _JSON_KINDS a request-body field may be."""
    return {name: tuple(kinds.split("|")) for name, _, kinds in (entry.partition(":") for entry in table.split())}


def _is_label(item: Any) -> bool:
    return isinstance(item, str) or (isinstance(item, dict) and isinstance(item.get("name"), str))


def _url_table(table: str) -> dict[str, str]:
    """`key=suffix ...` as {key: suffix}."""
    return dict(entry.split("=", 1) for entry in table.split())


# Request-body value kinds GitHub's schema validation distinguishes: check and wording of its error message.
_JSON_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "string": (lambda v: isinstance(v, str), "a string"),
    "integer": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "boolean": (lambda v: isinstance(v, bool), "a boolean"),
    "object": (lambda v: isinstance(v, dict), "an object"),
    "null": (lambda v: v is None, "null"),
    "strings": (lambda v: isinstance(v, list) and all(isinstance(item, str) for item in v), "an array of strings"),
    "labels": (lambda v: isinstance(v, list) and all(_is_label(item) for item in v), "an array of label names"),
}
_ISSUE_FIELDS = "assignee:string|null milestone:string|integer|null labels:labels assignees:strings type:string|null"
CREATE_ISSUE_KINDS = _kinds(f"title:string|integer body:string {_ISSUE_FIELDS}")
UPDATE_ISSUE_KINDS = _kinds(f"title:string|integer|null body:string|null state:string state_reason:string|null {_ISSUE_FIELDS}")
HOOK_KINDS = _kinds("name:string config:object events:strings active:boolean")

# The URL fields of a user and of a repository, below the object's API URL, as GitHub templates them.
USER_URLS = _url_table(
    "followers_url=/followers following_url=/following{/other_user} gists_url=/gists{/gist_id} "
    "starred_url=/starred{/owner}{/repo} subscriptions_url=/subscriptions organizations_url=/orgs repos_url=/repos "
    "events_url=/events{/privacy} received_events_url=/received_events"
)
REPO_URLS = _url_table(
    "archive_url=/{archive_format}{/ref} assignees_url=/assignees{/user} blobs_url=/git/blobs{/sha} "
    "branches_url=/branches{/branch} collaborators_url=/collaborators{/collaborator} comments_url=/comments{/number} "
    "commits_url=/commits{/sha} compare_url=/compare/{base}...{head} contents_url=/contents/{+path} "
    "contributors_url=/contributors deployments_url=/deployments downloads_url=/downloads events_url=/events "
    "forks_url=/forks git_commits_url=/git/commits{/sha} git_refs_url=/git/refs{/sha} git_tags_url=/git/tags{/sha} "
    "hooks_url=/hooks issue_comment_url=/issues/comments{/number} issue_events_url=/issues/events{/number} "
    "issues_url=/issues{/number} keys_url=/keys{/key_id} labels_url=/labels{/name} languages_url=/languages "
    "merges_url=/merges milestones_url=/milestones{/number} notifications_url=/notifications{?since,all,participating} "
    "pulls_url=/pulls{/number} releases_url=/releases{/id} stargazers_url=/stargazers statuses_url=/statuses/{sha} "
    "subscribers_url=/subscribers subscription_url=/subscription tags_url=/tags teams_url=/teams trees_url=/git/trees{/sha}"
)
# Fields the fake never varies: a repository without forks, stars, pages or licence; users without profiles.
REPO_CONSTANTS = {
    **dict.fromkeys(("mirror_url", "homepage", "language", "license")),
    **dict.fromkeys(("forks_count", "forks", "stargazers_count", "watchers_count", "watchers", "network_count"), 0),
    **dict.fromkeys(("fork", "is_template", "has_pages", "has_discussions", "archived", "disabled"), False),
    **dict.fromkeys(("has_issues", "has_projects", "has_wiki", "has_downloads", "allow_forking"), True),
    "web_commit_signoff_required": False,
    "subscribers_count": 1,
    "topics": [],
}
PUBLIC_USER_CONSTANTS = {
    **dict.fromkeys(("company", "location", "hireable", "bio", "twitter_username")),
    **dict.fromkeys(("public_gists", "followers", "following"), 0),
    "blog": "",
}
PRIVATE_USER_CONSTANTS = {
    **dict.fromkeys(("private_gists", "disk_usage", "collaborators"), 0),
    "user_view_type": "private",
    "two_factor_authentication": False,
    "plan": {"name": "free", "space": 976562499, "collaborators": 0, "private_repos": 10000},
}
ISSUE_URLS = _url_table("labels_url=/labels{/name} comments_url=/comments events_url=/events timeline_url=/timeline")
HOOK_URLS = _url_table("test_url=/test ping_url=/pings deliveries_url=/deliveries")
# The gateway has no milestones, pins, locks or dependencies: the fake keeps none.
ISSUE_CONSTANTS = {
    **dict.fromkeys(("milestone", "active_lock_reason", "performed_via_github_app", "pinned_comment")),
    "issue_dependencies_summary": {"blocked_by": 0, "blocking": 0, "total_blocked_by": 0, "total_blocking": 0},
}
REACTIONS = ("total_count", "+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes")


@dataclass
class _User:
    id: int
    login: str
    name: str | None
    email: str | None
    created_at: datetime


@dataclass
class _Label:
    id: int
    name: str
    color: str
    description: str | None
    default: bool = False


@dataclass
class _Comment:
    id: int
    issue_number: int
    body: str
    user: str
    created_at: datetime
    updated_at: datetime


@dataclass
class _Issue:
    id: int
    number: int
    title: str
    body: str | None
    user: str
    created_at: datetime
    updated_at: datetime
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    state: str = "open"
    state_reason: str | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    comments: int = 0
    locked: bool = False
    type: str | None = None  # an issue type name of the repository's owner
    parent: int | None = None  # the parent issue's number (sub-issues live in the same repository here)


@dataclass
class _Hook:
    id: int
    name: str
    config: dict[str, Any]
    events: list[str]
    active: bool
    created_at: datetime
    updated_at: datetime


@dataclass
class _Repo:
    id: int
    owner: str
    name: str
    private: bool
    description: str | None
    default_branch: str
    created_at: datetime
    collaborators: dict[str, str] = field(default_factory=dict)
    labels: dict[str, _Label] = field(default_factory=dict)
    issues: dict[int, _Issue] = field(default_factory=dict)
    comments: dict[int, _Comment] = field(default_factory=dict)
    hooks: dict[int, _Hook] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    # The owner's issue types (an organization's defaults), and each parent's sub-issues in their order.
    issue_types: list[str] = field(default_factory=lambda: ["Task", "Bug", "Feature"])
    sub_issues: dict[int, list[int]] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class _Quota:
    limit: int
    remaining: int
    reset: int


@dataclass
class _State:
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1001))
    users: dict[str, _User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    repos: dict[str, _Repo] = field(default_factory=dict)
    quotas: dict[tuple[str, str], _Quota] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=lambda: {name: spec[0] for name, spec in QUOTAS.items()})
    starting_remaining: dict[str, int] = field(default_factory=dict)

    def next_id(self) -> int:
        return next(self.ids)


class GitHubFake(FakeServer):
    """Stateful fake of api.github.com, served at its root (PyGithub: `Github(base_url=fake.base_url)`)."""

    name = "github"
    control_knobs: ClassVar[dict[str, str]] = {**FakeServer.control_knobs, "rate_limit": "set_rate_limit"}
    seed_operations = ("add_user", "add_token", "add_repo", "add_member", "add_label", "add_issue", "add_comment", "add_file")
    state: _State
    state_type = _State

    # -- seeding -------------------------------------------------------------------------------

    def add_user(self, login: str, name: str | None = None, email: str | None = None) -> dict[str, Any]:
        """Create (or return) a user account."""
        with self.lock:
            user = self.state.users.get(login.lower())
            if user is None:
                user = _User(self.state.next_id(), login, name, email, _now())
                self.state.users[login.lower()] = user
            return self._private_user_json(user)

    def add_token(self, token: str, login: str = "octocat") -> dict[str, Any]:
        """Accept `token` as credentials of user `login` (created if missing)."""
        with self.lock:
            self.add_user(login)
            self.state.tokens[token] = login.lower()
            return self._private_user_json(self.state.users[login.lower()])

    def add_repo(
        self, full_name: str, private: bool = False, description: str | None = None, default_branch: str = "main"
    ) -> dict[str, Any]:
        """Create repository `owner/name` (the owner account is created if missing)."""
        owner, _, name = full_name.partition("/")
        if not owner or not name:
            raise ValueError("full_name must look like 'owner/name'")
        with self.lock:
            self.add_user(owner)
            repo = _Repo(
                self.state.next_id(), self.state.users[owner.lower()].login, name, private, description, default_branch, _now()
            )
            self.state.repos[full_name.lower()] = repo
            return self._repo_json(repo)

    def add_member(self, full_name: str, login: str, permission: str = "push") -> dict[str, Any]:
        """Make `login` a collaborator (`push` or `admin`), hence assignable."""
        if permission not in ("push", "admin"):
            raise ValueError("permission must be 'push' or 'admin'")
        with self.lock:
            repo = self._seed_repo(full_name)
            self.add_user(login)
            repo.collaborators[login.lower()] = permission
            return self._simple_user(self.state.users[login.lower()])

    def add_label(self, full_name: str, name: str, color: str = "ededed", description: str | None = None) -> dict[str, Any]:
        """Create a repository label."""
        with self.lock:
            repo = self._seed_repo(full_name)
            label = _Label(self.state.next_id(), name, color, description)
            repo.labels[name.lower()] = label
            return self._label_json(repo, label)

    def add_issue(
        self,
        full_name: str,
        title: str,
        body: str | None = None,
        labels: Iterable[str] = (),
        assignees: Iterable[str] = (),
        state: str = "open",
        user: str | None = None,
        created_at: datetime | str | None = None,
        updated_at: datetime | str | None = None,
    ) -> dict[str, Any]:
        """Create an issue directly in state (labels are created on the fly, like GitHub does)."""
        if state not in ISSUE_STATES:
            raise ValueError(f"state must be one of {ISSUE_STATES}")
        with self.lock:
            repo = self._seed_repo(full_name)
            created = (parse_timestamp(created_at) or _now()).replace(microsecond=0)
            updated = (parse_timestamp(updated_at) or created).replace(microsecond=0)
            issue_id = self.state.next_id()  # ids in creation order: the issue before a user or label it brings
            author = self._seed_user(user or repo.owner).login
            issue = _Issue(issue_id, self._next_number(repo), title, body, author, created, updated)
            issue.labels = [self._ensure_label(repo, name).name for name in labels]
            issue.assignees = [self._seed_user(login).login for login in assignees]
            if state == "closed":
                issue.state, issue.state_reason, issue.closed_at, issue.closed_by = "closed", "completed", created, repo.owner
            repo.issues[issue.number] = issue
            return self._issue_json(repo, issue)

    def add_comment(
        self, full_name: str, number: int, body: str, user: str | None = None, created_at: datetime | str | None = None
    ) -> dict[str, Any]:
        """Add a comment to issue `number`."""
        with self.lock:
            repo = self._seed_repo(full_name)
            issue = repo.issues[number]
            created = (parse_timestamp(created_at) or _now()).replace(microsecond=0)
            comment = _Comment(self.state.next_id(), number, body, self._seed_user(user or repo.owner).login, created, created)
            repo.comments[comment.id] = comment
            issue.comments += 1
            return self._comment_json(repo, comment)

    def add_file(self, full_name: str, path: str, content: str | bytes) -> dict[str, Any]:
        """Put a file on the default branch (directories are implied by the path)."""
        with self.lock:
            repo = self._seed_repo(full_name)
            clean = path.strip("/")
            repo.files[clean] = content.encode() if isinstance(content, str) else content
            return self._file_json(repo, clean, with_content=False)

    def set_rate_limit(self, limit: int, remaining: int | None = None, resource: str = "core") -> None:
        """Set the authenticated quota of `resource` (`core`/`search`) and what is left of it now."""
        if resource not in QUOTAS:
            raise ValueError(f"resource must be one of {sorted(QUOTAS)}")
        left = min(int(limit if remaining is None else remaining), int(limit))
        with self.lock:
            self.state.limits[resource] = int(limit)
            self.state.starting_remaining[resource] = left
            for (who, kind), quota in self.state.quotas.items():
                if kind == resource and who:
                    quota.limit, quota.remaining = int(limit), left

    def _seed_repo(self, full_name: str) -> _Repo:
        repo = self.state.repos.get(full_name.lower())
        if repo is None:
            raise KeyError(f"no repository {full_name!r}; call add_repo first")
        return repo

    def _user_named(self, login: str) -> _User | None:
        return self.state.users.get(login.lower())

    @staticmethod
    def _next_number(repo: _Repo) -> int:
        return max(repo.issues, default=0) + 1

    def _ensure_label(self, repo: _Repo, name: str) -> _Label:
        label = repo.labels.get(name.lower())
        if label is None:
            label = _Label(self.state.next_id(), name, "ededed", None)
            repo.labels[name.lower()] = label
        return label

    # -- provider hooks ------------------------------------------------------------------------

    def _authenticate(self, call: Call) -> _User | None:
        header = call.header("Authorization")
        if not header:
            return None
        scheme, _, credential = header.partition(" ")
        token = credential.strip()
        if scheme.lower() == "basic":
            token = base64.b64decode(token + "==").decode("utf-8", "replace").partition(":")[2]
        elif scheme.lower() not in ("token", "bearer"):
            token = ""
        login = self.state.tokens.get(token)
        if login is None:
            raise HTTPError(self._error(401, "Bad credentials"))
        return self.state.users[login]

    def _not_found(self, call: Call) -> Response:
        return self._error(404, "Not Found")

    def _bad_json(self, call: Call) -> Response:
        return self._error(400, "Problems parsing JSON")

    def _failure_body(self, status: int) -> Any:
        return {"message": "Server Error" if status >= 500 else "Error", "documentation_url": DOCS}

    def _rate_limited_response(self, call: Call, retry_after: float, status: int | None) -> Response:
        resource = self._resource(call) or "core"
        limit = self.state.limits[resource]
        reset = math.ceil(utcnow().timestamp() + retry_after)
        headers = self._quota_headers(_Quota(limit, 0, reset), resource)
        if status == 429:
            retry = str(math.ceil(retry_after))
            headers.update({"x-ratelimit-remaining": str(limit - 1), "x-ratelimit-used": "1", "retry-after": retry})
            return self._limit_response(429, SECONDARY_LIMIT, headers)
        try:
            caller = self._authenticate(call)
        except HTTPError:
            caller = None
        return self._primary_limit_response(call, caller, headers, status or 403)

    def _before_dispatch(self, call: Call) -> Response | None:
        resource = self._resource(call)
        if resource is None:
            return None
        quota = self._quota(call.principal, resource)
        if quota.remaining > 0:
            return None
        return self._primary_limit_response(call, call.principal, self._quota_headers(quota, resource), 403)

    def _after_dispatch(self, call: Call, response: Response) -> Response:
        if call.method in ("GET", "HEAD") and response.status_code == 200:
            response = self._conditional(call, response)
        resource = self._resource(call)
        if resource is not None:
            quota = self._quota(call.principal, resource)
            # Conditional requests answered 304 are free; the primary-limit 403 itself is not counted.
            if response.status_code != 304 and "x-ratelimit-remaining" not in response.headers:
                quota.remaining = max(0, quota.remaining - 1)
            if "x-ratelimit-remaining" not in response.headers:
                response.headers.update(self._quota_headers(quota, resource))
        response.headers.update(
            {
                "x-github-api-version-selected": API_VERSION,
                "x-github-media-type": "github.v3; format=json",
                "x-github-request-id": uuid.uuid4().hex[:20].upper(),
                "Vary": "Accept, Authorization, Cookie, X-GitHub-OTP",
            }
        )
        if call.principal is not None:
            response.headers.update({"x-oauth-scopes": "repo, admin:repo_hook", "x-accepted-oauth-scopes": "repo"})
        return response

    def _conditional(self, call: Call, response: Response) -> Response:
        etag = 'W/"' + hashlib.sha1(response.get_data(), usedforsecurity=False).hexdigest() + '"'
        response.headers["ETag"] = etag
        response.headers["Cache-Control"] = "private, max-age=60, s-maxage=60"
        if_none_match = call.header("If-None-Match")
        if if_none_match is not None:
            fresh = parse_etags(if_none_match).contains_weak(etag.removeprefix("W/").strip('"'))
        else:
            since = parse_date(call.header("If-Modified-Since"))
            modified = parse_date(response.headers.get("Last-Modified"))
            fresh = since is not None and modified is not None and modified <= since
        if not fresh:
            return response
        not_modified = Response(status=304)
        for name in ("ETag", "Last-Modified", "Cache-Control"):
            if name in response.headers:
                not_modified.headers[name] = response.headers[name]
        return not_modified

    @staticmethod
    def _resource(call: Call) -> str | None:
        if call.path.rstrip("/") == "/rate_limit" or call.path.startswith("/raw/"):
            return None
        return "search" if call.path.startswith("/search/") else "core"

    def _quota(self, principal: _User | None, resource: str) -> _Quota:
        who = principal.login.lower() if principal else ""
        _, anonymous_limit, window = QUOTAS[resource]
        now = utcnow().timestamp()
        quota = self.state.quotas.get((who, resource))
        if quota is None or now >= quota.reset:
            limit = self.state.limits[resource] if who else anonymous_limit
            remaining = self.state.starting_remaining.get(resource, limit) if who and quota is None else limit
            quota = _Quota(limit, remaining, math.ceil(now + window))
            self.state.quotas[(who, resource)] = quota
        return quota

    @staticmethod
    def _quota_headers(quota: _Quota, resource: str) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(quota.limit),
            "x-ratelimit-remaining": str(quota.remaining),
            "x-ratelimit-reset": str(quota.reset),
            "x-ratelimit-used": str(quota.limit - quota.remaining),
            "x-ratelimit-resource": resource,
        }

    def _primary_limit_response(self, call: Call, caller: _User | None, headers: dict[str, str], status: int) -> Response:
        if caller is not None:
            message = (
                f"API rate limit exceeded for user ID {caller.id}. If you reach out to GitHub Support for help, "
                "please include the request ID."
            )
        else:
            message = (
                f"API rate limit exceeded for {call.request.remote_addr}. (But here's the good news: Authenticated "
                "requests get a higher rate limit. Check out the documentation for more details.)"
            )
        return self._limit_response(status, message, headers)

    @staticmethod
    def _limit_response(status: int, message: str, headers: dict[str, str]) -> Response:
        body = {"message": message, "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api", "status": str(status)}
        return json_response(body, status, headers)

    # -- errors --------------------------------------------------------------------------------

    @staticmethod
    def _error(status: int, message: str, **extra: Any) -> Response:
        return json_response({"message": message, "documentation_url": DOCS, "status": str(status), **extra}, status)

    def _validation_failed(self, *errors: dict[str, Any]) -> HTTPError:
        return HTTPError(self._error(422, "Validation Failed", errors=list(errors)))

    def _invalid(self, resource: str, field: str | None, code: str = "invalid", **extra: Any) -> HTTPError:
        """422 Validation Failed with one error object about `resource`'s `field` (None: about the whole resource)."""
        error = {"resource": resource, "code": code, **extra}
        if field:
            error["field"] = field
        return self._validation_failed(error)

    def _updated_since(self, call: Call, items: list[Any], resource: str) -> list[Any]:
        """The items updated at or after the `since` query parameter, if given (422 when it is not a time)."""
        if "since" not in call.query:
            return items
        since = parse_timestamp(call.query["since"])
        if since is None:
            raise self._invalid(resource, "since")
        return [item for item in items if item.updated_at >= since]

    def _invalid_request(self, detail: str) -> HTTPError:
        return HTTPError(self._error(422, f"Invalid request.\n\n{detail}"))

    def _check_types(self, body: Any, rules: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
        """Reject the way GitHub's request-schema validation does; returns the body as a dict."""
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise self._invalid_request(f"{_as_json(body)} is not an object.")
        for name, allowed in rules.items():
            if name in body and not any(_JSON_KINDS[kind][0](body[name]) for kind in allowed):
                expected = " or ".join(_JSON_KINDS[kind][1] for kind in allowed)
                raise self._invalid_request(f"For 'properties/{name}', {_as_json(body[name])} is not {expected}.")
        return body

    # -- access --------------------------------------------------------------------------------

    def _permission(self, repo: _Repo, user: _User | None) -> str | None:
        if user is None:
            return None if repo.private else "read"
        if user.login.lower() == repo.owner.lower():
            return "admin"
        role = repo.collaborators.get(user.login.lower())
        if role:
            return role
        return None if repo.private else "read"

    def _repo(self, call: Call, owner: str, name: str, need: str = "read") -> _Repo:
        """Resolve a visible repo; `need` is read, write (any signed-in reader), push or admin."""
        repo = self.state.repos.get(f"{owner}/{name}".lower())
        permission = self._permission(repo, call.principal) if repo else None
        if repo is None or permission is None:
            raise HTTPError(self._error(404, "Not Found"))
        if need != "read" and call.principal is None:
            raise HTTPError(self._error(401, "Requires authentication"))
        if need == "admin" and permission != "admin":
            raise HTTPError(self._error(404, "Not Found"))
        if need == "push" and permission == "read":
            raise HTTPError(self._error(403, "Must have push access to repository"))
        return repo

    def _found(self, items: Mapping[int, Any], key: int) -> Any:
        """`items[key]` (a repository's issue, comment or hook), or GitHub's 404."""
        if key not in items:
            raise HTTPError(self._error(404, "Not Found"))
        return items[key]

    def _can_push(self, repo: _Repo, user: _User | None) -> bool:
        return self._permission(repo, user) in ("push", "admin")

    def _assignable(self, repo: _Repo, login: str) -> _User | None:
        user = self._user_named(login)
        if user and (user.login.lower() == repo.owner.lower() or user.login.lower() in repo.collaborators):
            return user
        return None

    # -- rendering -----------------------------------------------------------------------------

    def _simple_user(self, user: _User) -> dict[str, Any]:
        api = f"{self.base_url}/users/{user.login}"
        return {
            "login": user.login,
            "id": user.id,
            "node_id": _node_id("User", user.id),
            "avatar_url": f"{self.base_url}/avatars/u/{user.id}",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{self.base_url}/{user.login}",
            **{key: api + suffix for key, suffix in USER_URLS.items()},
            "type": "User",
            "user_view_type": "public",
            "site_admin": False,
        }

    def _private_user_json(self, user: _User) -> dict[str, Any]:
        owned = [repo for repo in self.state.repos.values() if repo.owner.lower() == user.login.lower()]
        private, created = sum(repo.private for repo in owned), iso_z(user.created_at)
        return {
            **self._simple_user(user),
            **PUBLIC_USER_CONSTANTS,
            **PRIVATE_USER_CONSTANTS,
            "name": user.name,
            "email": user.email,
            "public_repos": len(owned) - private,
            "total_private_repos": private,
            "owned_private_repos": private,
            "created_at": created,
            "updated_at": created,
        }

    def _repo_json(self, repo: _Repo) -> dict[str, Any]:
        api = f"{self.base_url}/repos/{repo.full_name}"
        html = f"{self.base_url}/{repo.full_name}"
        open_issues = sum(issue.state == "open" for issue in repo.issues.values())
        created = iso_z(repo.created_at)
        return {
            "id": repo.id,
            "node_id": _node_id("Repository", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": self._simple_user(self.state.users[repo.owner.lower()]),
            "private": repo.private,
            "visibility": "private" if repo.private else "public",
            "html_url": html,
            "description": repo.description,
            "url": api,
            **{key: api + suffix for key, suffix in REPO_URLS.items()},
            "git_url": f"{self.base_url.replace('http', 'git', 1)}/{repo.full_name}.git",
            "ssh_url": f"git@127.0.0.1:{repo.full_name}.git",
            "clone_url": f"{html}.git",
            "svn_url": html,
            **REPO_CONSTANTS,
            "size": sum(len(content) for content in repo.files.values()) // 1024,
            "default_branch": repo.default_branch,
            "open_issues_count": open_issues,
            "open_issues": open_issues,
            "pushed_at": created,
            "created_at": created,
            "updated_at": created,
        }

    def _label_json(self, repo: _Repo, label: _Label) -> dict[str, Any]:
        return {
            "id": label.id,
            "node_id": _node_id("Label", label.id),
            "url": f"{self.base_url}/repos/{repo.full_name}/labels/{quote(label.name, safe='')}",
            "name": label.name,
            "description": label.description,
            "color": label.color,
            "default": label.default,
        }

    def _association(self, repo: _Repo, login: str) -> str:
        if login.lower() == repo.owner.lower():
            return "OWNER"
        return "COLLABORATOR" if login.lower() in repo.collaborators else "NONE"

    @staticmethod
    def _reactions(url: str) -> dict[str, Any]:
        return {"url": f"{url}/reactions", **dict.fromkeys(REACTIONS, 0)}

    def _issue_json(self, repo: _Repo, issue: _Issue) -> dict[str, Any]:
        api = f"{self.base_url}/repos/{repo.full_name}/issues/{issue.number}"
        assignees = [self._simple_user(self.state.users[login.lower()]) for login in issue.assignees]
        return {
            "url": api,
            "repository_url": f"{self.base_url}/repos/{repo.full_name}",
            **{key: api + suffix for key, suffix in ISSUE_URLS.items()},
            "html_url": f"{self.base_url}/{repo.full_name}/issues/{issue.number}",
            "id": issue.id,
            "node_id": _node_id("Issue", issue.id),
            "number": issue.number,
            "title": issue.title,
            "user": self._simple_user(self.state.users[issue.user.lower()]),
            "labels": [self._label_json(repo, repo.labels[name.lower()]) for name in issue.labels],
            "state": issue.state,
            "locked": issue.locked,
            "assignee": assignees[0] if assignees else None,
            "assignees": assignees,
            **ISSUE_CONSTANTS,
            "comments": issue.comments,
            "created_at": iso_z(issue.created_at),
            "updated_at": iso_z(issue.updated_at),
            "closed_at": iso_z(issue.closed_at),
            "closed_by": self._simple_user(self.state.users[issue.closed_by.lower()]) if issue.closed_by else None,
            "author_association": self._association(repo, issue.user),
            "sub_issues_summary": self._sub_issues_summary(repo, issue),
            "type": self._issue_type_json(repo, issue.type) if issue.type else None,
            "parent_issue_url": f"{self.base_url}/repos/{repo.full_name}/issues/{issue.parent}" if issue.parent else None,
            "body": issue.body,
            "reactions": self._reactions(api),
            "state_reason": issue.state_reason,
        }

    @staticmethod
    def _sub_issues_summary(repo: _Repo, issue: _Issue) -> dict[str, int]:
        children = [repo.issues[n] for n in repo.sub_issues.get(issue.number, []) if n in repo.issues]
        done = sum(1 for child in children if child.state == "closed")
        return {"total": len(children), "completed": done, "percent_completed": done * 100 // len(children) if children else 0}

    def _issue_type_json(self, repo: _Repo, name: str) -> dict[str, Any]:
        index = repo.issue_types.index(name)
        return {
            "id": 500 + index,
            "node_id": _node_id("IssueType", 500 + index),
            "name": name,
            "description": None,
            "color": ("gray", "red", "blue", "green")[index % 4],
            "created_at": iso_z(repo.created_at),
            "updated_at": iso_z(repo.created_at),
            "is_enabled": True,
        }

    def _apply_type(self, repo: _Repo, issue: _Issue, body: dict[str, Any]) -> None:
        """GitHub's `type`: an issue type name of the owner (case-insensitive), null clears; others are 422."""
        if "type" not in body:
            return
        if body["type"] is None:
            issue.type = None
            return
        found = next((name for name in repo.issue_types if name.lower() == str(body["type"]).lower()), None)
        if found is None:
            raise self._invalid("Issue", "type", value=body["type"])
        issue.type = found

    def _comment_json(self, repo: _Repo, comment: _Comment) -> dict[str, Any]:
        api = f"{self.base_url}/repos/{repo.full_name}/issues/comments/{comment.id}"
        return {
            "url": api,
            "html_url": f"{self.base_url}/{repo.full_name}/issues/{comment.issue_number}#issuecomment-{comment.id}",
            "issue_url": f"{self.base_url}/repos/{repo.full_name}/issues/{comment.issue_number}",
            "id": comment.id,
            "node_id": _node_id("IssueComment", comment.id),
            "user": self._simple_user(self.state.users[comment.user.lower()]),
            "created_at": iso_z(comment.created_at),
            "updated_at": iso_z(comment.updated_at),
            "author_association": self._association(repo, comment.user),
            "body": comment.body,
            "reactions": self._reactions(api),
            **dict.fromkeys(("performed_via_github_app", "pin", "minimized")),
        }

    def _hook_json(self, repo: _Repo, hook: _Hook) -> dict[str, Any]:
        api = f"{self.base_url}/repos/{repo.full_name}/hooks/{hook.id}"
        config = {key: ("********" if key == "secret" else value) for key, value in hook.config.items()}
        return {
            "type": "Repository",
            "id": hook.id,
            "name": hook.name,
            "active": hook.active,
            "events": hook.events,
            "config": config,
            "updated_at": iso_z(hook.updated_at),
            "created_at": iso_z(hook.created_at),
            "url": api,
            **{key: api + suffix for key, suffix in HOOK_URLS.items()},
            "last_response": {"code": None, "status": "unused", "message": None},
        }

    def _file_json(self, repo: _Repo, path: str, with_content: bool) -> dict[str, Any]:
        is_file = path in repo.files
        content = repo.files.get(path, b"")
        sha = _blob_sha(content) if is_file else hashlib.sha1(f"tree:{path}".encode(), usedforsecurity=False).hexdigest()
        api = f"{self.base_url}/repos/{repo.full_name}/contents/{quote(path)}?ref={repo.default_branch}"
        git_url = f"{self.base_url}/repos/{repo.full_name}/git/{'blobs' if is_file else 'trees'}/{sha}"
        html = f"{self.base_url}/{repo.full_name}/{'blob' if is_file else 'tree'}/{repo.default_branch}/{path}"
        entry: dict[str, Any] = {
            "type": "file" if is_file else "dir",
            "size": len(content),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "url": api,
            "git_url": git_url,
            "html_url": html,
            "download_url": f"{self.base_url}/raw/{repo.full_name}/{repo.default_branch}/{path}" if is_file else None,
            "_links": {"self": api, "git": git_url, "html": html},
        }
        if with_content:
            encoded = base64.b64encode(content).decode()
            entry["content"] = "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))
            entry["encoding"] = "base64"
        return entry

    def _paged(self, call: Call, items: list[Any], render: Callable[[Any], Any]) -> Response:
        page = page_of(call, items, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)
        return self.linked_json(call, page, [render(item) for item in page.items])

    # -- users ---------------------------------------------------------------------------------

    @route("GET", "/user")
    def _api_get_authenticated_user(self, call: Call) -> Response:
        """GET /user."""
        if call.principal is None:
            raise HTTPError(self._error(401, "Requires authentication"))
        return json_response(self._private_user_json(call.principal))

    @route("GET", "/rate_limit")
    def _api_get_rate_limit(self, call: Call) -> Response:
        """GET /rate_limit (free of charge, like on GitHub)."""
        resources = {}
        for name in QUOTAS:
            quota = self._quota(call.principal, name)
            used = quota.limit - quota.remaining
            resources[name] = {"limit": quota.limit, "used": used, "remaining": quota.remaining, "reset": quota.reset}
        reset = resources["core"]["reset"]
        for name, limit in (("graphql", 5000), ("integration_manifest", 5000), ("code_search", 10)):
            resources[name] = {"limit": limit, "used": 0, "remaining": limit, "reset": reset}
        return json_response({"resources": resources, "rate": resources["core"]})

    # -- repositories --------------------------------------------------------------------------

    @route("GET", "/repos/{owner}/{name}")
    def _api_get_repo(self, call: Call, owner: str, name: str) -> Response:
        """GET /repos/{owner}/{repo}."""
        repo = self._repo(call, owner, name)
        body = self._repo_json(repo)
        permission = self._permission(repo, call.principal)
        admin, push = permission == "admin", permission in ("push", "admin")
        body["permissions"] = {"admin": admin, "maintain": admin, "push": push, "triage": push, "pull": True}
        return json_response(body, headers={"Last-Modified": http_date(repo.created_at)})

    @route("GET", "/repos/{owner}/{name}/assignees")
    def _api_list_assignees(self, call: Call, owner: str, name: str) -> Response:
        """GET /repos/{owner}/{repo}/assignees."""
        repo = self._repo(call, owner, name)
        logins = [repo.owner.lower(), *sorted(repo.collaborators)]
        return self._paged(call, [self.state.users[login] for login in logins], self._simple_user)

    # -- labels --------------------------------------------------------------------------------

    @route("GET", "/repos/{owner}/{name}/labels")
    def _api_list_labels(self, call: Call, owner: str, name: str) -> Response:
        """GET /repos/{owner}/{repo}/labels."""
        repo = self._repo(call, owner, name)
        return self._paged(call, list(repo.labels.values()), lambda label: self._label_json(repo, label))

    # -- issues --------------------------------------------------------------------------------

    @route("GET", "/repos/{owner}/{name}/issues")
    def _api_list_issues(self, call: Call, owner: str, name: str) -> Response:
        """GET /repos/{owner}/{repo}/issues with GitHub's filters, sorting and pagination."""
        repo = self._repo(call, owner, name)
        query = call.query
        state = query.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise self._invalid("Issue", "state", value=state)
        issues = [issue for issue in repo.issues.values() if state == "all" or issue.state == state]
        wanted_labels = {label.lower() for label in split_list(query.get("labels"))}
        if wanted_labels:
            issues = [i for i in issues if wanted_labels <= {label.lower() for label in i.labels}]
        issues = self._filter_assignee(issues, query.get("assignee"))
        issues = self._updated_since(call, issues, "Issue")
        issues = self._sorted(issues, query.get("sort", "created"), query.get("direction", "desc"))
        return self._paged(call, issues, lambda issue: self._issue_json(repo, issue))

    def _filter_assignee(self, issues: list[_Issue], value: str | None) -> list[_Issue]:
        if value is None:
            return issues
        if value == "none":
            return [issue for issue in issues if not issue.assignees]
        if value == "*":
            return [issue for issue in issues if issue.assignees]
        if self._user_named(value) is None:
            raise self._invalid("Issue", "assignee", value=value)
        return [issue for issue in issues if value.lower() in {login.lower() for login in issue.assignees}]

    def _sorted(self, issues: list[_Issue], sort: str, direction: str) -> list[_Issue]:
        if sort not in SORT_FIELDS:
            raise self._invalid("Issue", "sort", value=sort)
        if direction not in ("asc", "desc"):
            raise self._invalid("Issue", "direction", value=direction)
        return sorted(issues, key=lambda i: (getattr(i, SORT_FIELDS[sort]), i.id), reverse=direction == "desc")

    @route("POST", "/repos/{owner}/{name}/issues")
    def _api_create_issue(self, call: Call, owner: str, name: str) -> Response:
        """POST /repos/{owner}/{repo}/issues."""
        repo = self._repo(call, owner, name, need="write")
        body = self._check_types(call.body, CREATE_ISSUE_KINDS)
        title = body.get("title")
        if title is None or not str(title).strip():
            raise self._invalid("Issue", "title", "missing_field")
        now, login = _now(), call.principal.login
        issue = _Issue(self.state.next_id(), self._next_number(repo), str(title), body.get("body"), login, now, now)
        # Like GitHub, labels/assignees/milestone from users without push access are silently dropped.
        if self._can_push(repo, call.principal):
            self._apply_people_and_labels(repo, issue, body)
            self._apply_type(repo, issue, body)
        repo.issues[issue.number] = issue
        location = f"{self.base_url}/repos/{repo.full_name}/issues/{issue.number}"
        return json_response(self._issue_json(repo, issue), 201, {"Location": location})

    @route("GET", "/repos/{owner}/{name}/issues/{number:int}")
    def _api_get_issue(self, call: Call, owner: str, name: str, number: int) -> Response:
        """GET /repos/{owner}/{repo}/issues/{issue_number}."""
        repo = self._repo(call, owner, name)
        issue = self._found(repo.issues, number)
        return json_response(self._issue_json(repo, issue), headers={"Last-Modified": http_date(issue.updated_at)})

    @route("PATCH", "/repos/{owner}/{name}/issues/{number:int}")
    def _api_update_issue(self, call: Call, owner: str, name: str, number: int) -> Response:
        """PATCH /repos/{owner}/{repo}/issues/{issue_number}."""
        repo = self._repo(call, owner, name, need="write")
        issue = self._found(repo.issues, number)
        if not self._can_push(repo, call.principal) and issue.user.lower() != call.principal.login.lower():
            raise HTTPError(self._error(403, "Must have push access to update issue"))
        body = self._check_types(call.body, UPDATE_ISSUE_KINDS)
        for key, allowed in (("state", ISSUE_STATES), ("state_reason", STATE_REASONS)):  # a null state failed its type
            if body.get(key) is not None and body[key] not in allowed:
                value, choices = _as_json(body[key]), _as_json(list(allowed))
                raise self._invalid_request(f"For 'properties/{key}', {value} is not one of {choices}.")
        if body.get("title") is not None:
            if not str(body["title"]).strip():
                raise self._invalid("Issue", "title", "missing_field")
            issue.title = str(body["title"])
        if "body" in body:
            issue.body = body["body"]
        if self._can_push(repo, call.principal):
            self._apply_people_and_labels(repo, issue, body)
            self._apply_type(repo, issue, body)
        self._apply_state(issue, body, call.principal.login)
        issue.updated_at = _now()
        return json_response(self._issue_json(repo, issue))

    def _apply_people_and_labels(self, repo: _Repo, issue: _Issue, body: dict[str, Any]) -> None:
        if "assignees" in body or "assignee" in body:
            logins = body.get("assignees")
            if logins is None:
                logins = [body["assignee"]] if body.get("assignee") else []
            users = []
            for login in logins:
                user = self._assignable(repo, login)
                if user is None:
                    raise self._invalid("Issue", "assignees", value=login)
                users.append(user.login)
            issue.assignees = list(dict.fromkeys(users))
        if "milestone" in body:
            self._no_milestone(body["milestone"])
        if "labels" in body:
            names = [item if isinstance(item, str) else item["name"] for item in body["labels"]]
            issue.labels = list(dict.fromkeys(self._ensure_label(repo, label).name for label in names))

    def _no_milestone(self, value: Any) -> None:
        """Clearing the milestone is fine; there are none to set (GitHub's answer to an unknown one)."""
        if value is None or value == "":
            return
        raise self._invalid("Issue", "milestone", value=str(value))

    @staticmethod
    def _apply_state(issue: _Issue, body: dict[str, Any], actor: str) -> None:
        state, reason = body.get("state"), body.get("state_reason")
        if state == "closed":
            if issue.state != "closed":
                issue.closed_at, issue.closed_by = _now(), actor
            issue.state, issue.state_reason = "closed", reason or "completed"
        elif state == "open" and issue.state == "closed":
            issue.state, issue.state_reason = "open", "reopened"
            issue.closed_at = issue.closed_by = None

    # -- sub-issues (GET/POST …/sub_issues, DELETE …/sub_issue, GET …/parent) --------------------

    @route("GET", "/repos/{owner}/{name}/issues/{number:int}/sub_issues")
    def _api_list_sub_issues(self, call: Call, owner: str, name: str, number: int) -> Response:
        """GET /repos/{owner}/{repo}/issues/{issue_number}/sub_issues, in the parent's order."""
        repo = self._repo(call, owner, name)
        self._found(repo.issues, number)
        children = [repo.issues[n] for n in repo.sub_issues.get(number, []) if n in repo.issues]
        return self._paged(call, children, lambda issue: self._issue_json(repo, issue))

    def _sub_issue_call(self, call: Call, owner: str, name: str, number: int, rules: dict) -> tuple:
        """(repo, parent, sub-issue, body) of a sub-issue write, which needs push access."""
        repo = self._repo(call, owner, name, need="write")
        parent = self._found(repo.issues, number)
        if not self._can_push(repo, call.principal):
            raise HTTPError(self._error(403, "Must have push access to change sub-issues"))
        body = self._check_types(call.body, rules)
        if "sub_issue_id" not in body:
            raise self._invalid_request('Invalid request.\n\n"sub_issue_id" wasn\'t supplied.')
        found = next((issue for issue in repo.issues.values() if issue.id == body["sub_issue_id"]), None)
        if found is None:
            raise self._invalid("Issue", "sub_issue_id")
        return repo, parent, found, body

    @route("POST", "/repos/{owner}/{name}/issues/{number:int}/sub_issues")
    def _api_add_sub_issue(self, call: Call, owner: str, name: str, number: int) -> Response:
        """POST …/sub_issues {sub_issue_id, replace_parent}: 201 with the parent issue."""
        repo, parent, child, body = self._sub_issue_call(
            call, owner, name, number, {"sub_issue_id": ("integer",), "replace_parent": ("boolean",)}
        )
        ancestor, seen = parent, set()
        while ancestor is not None and ancestor.number not in seen:  # a parent may not sit below its own sub-issue
            if ancestor.number == child.number:
                raise self._invalid("Issue", "sub_issue_id", message="An issue cannot be a sub-issue of itself or its sub-issues")
            seen.add(ancestor.number)
            ancestor = repo.issues.get(ancestor.parent) if ancestor.parent else None
        if child.parent is not None and child.parent != number:
            if not body.get("replace_parent"):
                message = "Issue may not contain a sub-issue that already has a parent"
                raise self._invalid("Issue", "sub_issue_id", message=message)
            repo.sub_issues[child.parent].remove(child.number)
        if child.parent != number:
            child.parent = number
            repo.sub_issues.setdefault(number, []).append(child.number)
        parent.updated_at = child.updated_at = _now()
        location = f"{self.base_url}/repos/{repo.full_name}/issues/{number}/sub_issues"
        return json_response(self._issue_json(repo, parent), 201, {"Location": location})

    @route("DELETE", "/repos/{owner}/{name}/issues/{number:int}/sub_issue")
    def _api_remove_sub_issue(self, call: Call, owner: str, name: str, number: int) -> Response:
        """DELETE …/sub_issue {sub_issue_id}: 200 with the parent issue."""
        repo, parent, child, _body = self._sub_issue_call(call, owner, name, number, {"sub_issue_id": ("integer",)})
        if child.parent != number:
            raise HTTPError(self._error(404, "Not Found"))
        repo.sub_issues[number].remove(child.number)
        child.parent = None
        parent.updated_at = child.updated_at = _now()
        return json_response(self._issue_json(repo, parent))

    # -- comments ------------------------------------------------------------------------------

    @route("GET", "/repos/{owner}/{name}/issues/{number:int}/comments")
    def _api_list_comments(self, call: Call, owner: str, name: str, number: int) -> Response:
        """GET /repos/{owner}/{repo}/issues/{issue_number}/comments (oldest first, `since` supported)."""
        repo = self._repo(call, owner, name)
        self._found(repo.issues, number)
        comments = [c for c in repo.comments.values() if c.issue_number == number]
        comments = self._updated_since(call, comments, "IssueComment")
        comments.sort(key=lambda c: (c.created_at, c.id))
        return self._paged(call, comments, lambda comment: self._comment_json(repo, comment))

    @route("GET", "/repos/{owner}/{name}/issues/comments")
    def _api_list_repo_comments(self, call: Call, owner: str, name: str) -> Response:
        """GET /repos/{owner}/{repo}/issues/comments (every issue's; `sort` created|updated, `direction`, `since`)."""
        repo = self._repo(call, owner, name)
        comments = list(repo.comments.values())
        comments = self._updated_since(call, comments, "IssueComment")
        by_update = call.query.get("sort") == "updated"
        comments.sort(
            key=lambda c: (c.updated_at if by_update else c.created_at, c.id), reverse=call.query.get("direction") == "desc"
        )
        return self._paged(call, comments, lambda comment: self._comment_json(repo, comment))

    @route("POST", "/repos/{owner}/{name}/issues/{number:int}/comments")
    def _api_create_comment(self, call: Call, owner: str, name: str, number: int) -> Response:
        """POST /repos/{owner}/{repo}/issues/{issue_number}/comments."""
        repo = self._repo(call, owner, name, need="write")
        issue = self._found(repo.issues, number)
        body = self._check_types(call.body, {"body": ("string",)})
        if "body" not in body:
            raise self._invalid_request('"body" wasn\'t supplied.')
        if not body["body"].strip():
            raise self._invalid("IssueComment", "data", "unprocessable", message="Body cannot be blank")
        now = _now()
        comment = _Comment(self.state.next_id(), number, body["body"], call.principal.login, now, now)
        repo.comments[comment.id] = comment
        issue.comments += 1
        issue.updated_at = now
        return json_response(self._comment_json(repo, comment), 201, {"Location": self._comment_json(repo, comment)["url"]})

    @route("GET", "/repos/{owner}/{name}/issues/comments/{comment_id:int}")
    def _api_get_comment(self, call: Call, owner: str, name: str, comment_id: int) -> Response:
        """GET /repos/{owner}/{repo}/issues/comments/{comment_id}."""
        repo = self._repo(call, owner, name)
        comment = self._found(repo.comments, comment_id)
        return json_response(self._comment_json(repo, comment), headers={"Last-Modified": http_date(comment.updated_at)})

    @route("PATCH", "/repos/{owner}/{name}/issues/comments/{comment_id:int}")
    def _api_update_comment(self, call: Call, owner: str, name: str, comment_id: int) -> Response:
        """PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}."""
        repo = self._repo(call, owner, name, need="write")
        comment = self._found(repo.comments, comment_id)
        if comment.user.lower() != call.principal.login.lower() and not self._can_push(repo, call.principal):
            raise HTTPError(self._error(403, "Must have push access to update comment"))
        body = self._check_types(call.body, {"body": ("string",)})
        if "body" not in body:
            raise self._invalid_request('"body" wasn\'t supplied.')
        comment.body, comment.updated_at = body["body"], _now()
        return json_response(self._comment_json(repo, comment))

    @route("DELETE", "/repos/{owner}/{name}/issues/comments/{comment_id:int}")
    def _api_delete_comment(self, call: Call, owner: str, name: str, comment_id: int) -> Response:
        """DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}."""
        repo = self._repo(call, owner, name, need="write")
        comment = self._found(repo.comments, comment_id)
        if comment.user.lower() != call.principal.login.lower() and not self._can_push(repo, call.principal):
            raise HTTPError(self._error(403, "Must have push access to delete comment"))
        del repo.comments[comment_id]
        repo.issues[comment.issue_number].comments -= 1
        return Response(status=204)

    # -- hooks ---------------------------------------------------------------------------------

    @route("POST", "/repos/{owner}/{name}/hooks")
    def _api_create_hook(self, call: Call, owner: str, name: str) -> Response:
        """POST /repos/{owner}/{repo}/hooks."""
        repo = self._repo(call, owner, name, need="admin")
        body = self._hook_body(call.body)
        config = body.get("config") or {}
        if not config.get("url"):
            raise self._invalid("Hook", None, "custom", message="Config must contain URL for webhooks")
        if body.get("name", "web") != "web":
            raise self._invalid("Hook", "name", "custom", message="Name must be 'web'")
        if any(hook.config.get("url") == config["url"] for hook in repo.hooks.values()):
            raise self._invalid("Hook", None, "custom", message="Hook already exists on this repository")
        now, config = _now(), {"content_type": "form", "insecure_ssl": "0", **config}
        hook = _Hook(self.state.next_id(), "web", config, list(body.get("events", ["push"])), body.get("active", True), now, now)
        repo.hooks[hook.id] = hook
        return json_response(self._hook_json(repo, hook), 201)

    def _hook_body(self, payload: Any) -> dict[str, Any]:
        body = self._check_types(payload, HOOK_KINDS)
        unknown = sorted(set(body) - set(HOOK_KINDS))
        if unknown:
            raise self._invalid_request(f"{_as_json(unknown[0])} is not a permitted key.")
        config = body.get("config") or {}
        for key in ("url", "content_type", "secret"):
            if key in config and not isinstance(config[key], str):
                raise self._invalid_request(f"For 'properties/{key}', {_as_json(config[key])} is not a string.")
        if "insecure_ssl" in config and not isinstance(config["insecure_ssl"], (str, int, float)):
            raise self._invalid_request(
                f"For 'properties/insecure_ssl', {_as_json(config['insecure_ssl'])} is not a string or number."
            )
        for event in body.get("events", []):
            if event not in HOOK_EVENTS:
                raise self._invalid("Hook", "events", "custom", message=f"{event} is not a valid event name")
        return body

    @route("DELETE", "/repos/{owner}/{name}/hooks/{hook_id:int}")
    def _api_delete_hook(self, call: Call, owner: str, name: str, hook_id: int) -> Response:
        """DELETE /repos/{owner}/{repo}/hooks/{hook_id}."""
        repo = self._repo(call, owner, name, need="admin")
        self._found(repo.hooks, hook_id)
        del repo.hooks[hook_id]
        return Response(status=204)

    # -- contents ------------------------------------------------------------------------------

    @route("GET", "/repos/{owner}/{name}/contents")
    @route("GET", "/repos/{owner}/{name}/contents/{path:path}")
    def _api_get_contents(self, call: Call, owner: str, name: str, path: str = "") -> Response:
        """GET /repos/{owner}/{repo}/contents/{path} (of the default branch): a file object or a directory listing."""
        repo = self._repo(call, owner, name)
        clean = path.strip("/")
        if clean in repo.files:
            return json_response(self._file_json(repo, clean, with_content=True))
        prefix = f"{clean}/" if clean else ""
        children = sorted({prefix + p[len(prefix) :].split("/", 1)[0] for p in repo.files if p.startswith(prefix)})
        if not children:
            return self._error(404, "Not Found")
        return json_response([self._file_json(repo, child, with_content=False) for child in children])

    # -- search --------------------------------------------------------------------------------

    @route("GET", "/search/issues")
    def _api_search_issues(self, call: Call) -> Response:
        """GET /search/issues with the common qualifiers, free text over title and body."""
        query = call.query.get("q", "").strip()
        if not query:
            raise self._invalid("Search", "q", "missing")
        matches = self._search(call, query)
        sort, order = call.query.get("sort"), call.query.get("order", "desc")
        by = SORT_FIELDS.get(sort or "")
        key = (lambda hit: (getattr(hit[1], by), hit[1].id)) if by else (lambda hit: (hit[2], hit[1].updated_at, hit[1].id))
        matches.sort(key=key, reverse=order != "asc")
        page = page_of(call, matches[:SEARCH_RESULT_CAP], "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)
        items = [self._search_item(repo, issue, score) for repo, issue, score in page.items]
        body = {"total_count": len(matches), "incomplete_results": False, "items": items, "search_type": "lexical"}
        return self.linked_json(call, page, body)

    def _search_item(self, repo: _Repo, issue: _Issue, score: float) -> dict[str, Any]:
        item = {**self._issue_json(repo, issue), "score": score}
        if item["body"] is None:
            # Search results describe `body` as a (non-null) string; GitHub leaves it out rather than sending null.
            del item["body"]
        return item

    def _search(self, call: Call, query: str) -> list[tuple[_Repo, _Issue, float]]:
        repos = [repo for repo in self.state.repos.values() if self._permission(repo, call.principal)]
        predicates: list[Callable[[_Repo, _Issue], bool]] = []
        words: list[str] = []
        # Only what the gateway asks (no negation, pull requests or `a..b` ranges): anything else is an unsupported qualifier.
        for token in re.findall(r'[\w.-]+:"[^"]*"|[\w.-]+:\S+|"[^"]*"|\S+', query):
            key, sep, value = token.partition(":")
            value, key = value.strip('"'), key.lower()
            if not sep or key not in _QUALIFIERS:
                words.append(token.strip('"').lower())
                continue
            if key == "repo":
                wanted = [r for r in repos if r.full_name.lower() == value.lower()]
                if not wanted:
                    raise self._invalid("Search", "q", message=UNSEARCHABLE)
                repos = wanted
                continue
            predicates.append(self._qualifier(key, value))
        hits = []
        for repo in repos:
            for issue in repo.issues.values():
                text = f"{issue.title}\n{issue.body or ''}".lower()
                if all(word in text for word in words) and all(p(repo, issue) for p in predicates):
                    hits.append((repo, issue, float(sum(text.count(word) for word in words) or 1)))
        return hits

    def _qualifier(self, key: str, value: str) -> Callable[[_Repo, _Issue], bool]:
        lowered = value.lower()
        if key == "is" and lowered in ISSUE_STATES:
            return lambda r, i: i.state == lowered
        if key == "is" and lowered == "issue":
            return lambda r, i: True
        if key == "label":
            wanted = {name.strip().lower() for name in value.split(",")}
            return lambda r, i: bool(wanted & {label.lower() for label in i.labels})
        if key == "assignee":
            return lambda r, i: lowered in {login.lower() for login in i.assignees}
        if key == "updated" and value.startswith(">=") and (since := parse_timestamp(value[2:])) is not None:
            return lambda r, i: i.updated_at >= since
        raise self._invalid("Search", "q", message=f"Unsupported qualifier {key}:{value}")


_QUALIFIERS = frozenset({"repo", "is", "label", "assignee", "updated"})


# ---- test kit (test/fakes/kit.py): how the shared suites drive GitHub ----


def _seeded(fake, connect, target, labels=(), permission="admin", credential="gh-token"):
    """octocat's `credential` and repository `target` (octocat a collaborator with `permission`, `labels`), connected."""
    fake.add_token(credential, login="octocat")
    fake.add_repo(target)
    fake.add_member(target, "octocat", permission=permission)
    for name in labels:
        fake.add_label(target, name)
    return connect(provider="github", target=target, base_url=fake.base_url, credentials={"token": credential})


def _contract(fake, connect, user):
    return Setup(_seeded(fake, connect, "octo-org/site", ("bug", "ui"), permission="push"), member="octocat")


def _audit(fake, mark):
    token = f"ghp-{mark}-token"
    return _seeded(fake, dict, "octo/audit", credential=token), {"github token": token}  # `dict`: the tracker body itself


def _request_setup(fake, connect):
    return _seeded(fake, connect, "octo/spec", ("bug",)), "octocat"


REQUEST_TEMPLATES = [  # the first that matches is taken: a literal segment comes before a placeholder in its place
    "/repos/{owner}/{repo}/issues",
    "/repos/{owner}/{repo}/issues/comments",
    "/repos/{owner}/{repo}/issues/{issue_number}",
    "/repos/{owner}/{repo}/issues/{issue_number}/comments",
    "/repos/{owner}/{repo}/hooks",
    "/repos/{owner}/{repo}/hooks/{hook_id}",
    "/repos/{owner}/{repo}/labels",
    "/repos/{owner}/{repo}/assignees",
    "/repos/{owner}/{repo}",
    "/search/issues",
    "/repos/{owner}/{repo}/issues/{issue_number}/sub_issues",
    "/repos/{owner}/{repo}/issues/{issue_number}/sub_issue",
    "/repos/{owner}/{repo}/issues/{issue_number}/parent",
]


def _sub_issue_drive(client, user, tracker):
    """Issue types and sub-issues: a typed parent, a child added on create, removed and re-added by PATCH, listed; polls."""
    base = f"/api/v1/trackers/{tracker['id']}/issues"
    parent = client.post(base, json={"title": "P", "issue_type": "Feature"}, headers=user.headers).get_json()
    child = client.post(base, json={"title": "C", "parent_id": parent["id"]}, headers=user.headers)
    assert child.status_code == 201 and child.get_json()["parent_id"] == parent["id"], child.get_json()
    for change in ({"parent_id": None}, {"parent_id": parent["id"], "title": "C2"}):
        response = client.patch(f"{base}/{child.get_json()['id']}", json=change, headers=user.headers)
        assert response.status_code == 200, response.get_json()
    assert client.get(f"{base}/{parent['id']}/children", headers=user.headers).status_code == 200
    poll_twice(client, tracker)  # polls also list the repository's comments by update time


def _check_requests(fake, root):
    from test.fakes.specs import github_spec

    return check_against_spec(fake, github_spec(root), lambda path: path_template(path, REQUEST_TEMPLATES))


def check_issue_events(payload, events, provider):
    """A GitHub-shaped `issues`/`issue_comment` payload's issue (and comment) as the unified events carry them."""
    for item in events:
        assert item.issue.id == str(payload["issue"]["number"]) and item.issue.title == payload["issue"]["title"]
        assert item.issue.status == ("closed" if payload["issue"]["state"] == "closed" else "open")
        if item.type.startswith("comment."):
            assert item.comment.body == payload["comment"]["body"]
            assert item.comment.author.username == payload["comment"]["user"]["login"]
    if payload.get("action") == "labeled":
        assert events[0].changes["label"] == payload["label"]["name"]


# No due dates, deletes or attachment API.
CONTRACT_VARIANTS = [
    ContractVariant(
        "github",
        setup=_contract,
        audit=_audit,
        server=GitHubFake,
        validation_status=422,
        capabilities=kit.capability_set(
            "issues comments labels members webhooks template_import issue_type parent comment_edit comment_delete passthrough"
        ),
    )
]
REQUEST_CHECKS = [
    RequestCheck(
        "github",
        setup=_request_setup,
        check=_check_requests,
        expected=kit.operations(
            "POST /issues, PATCH /issues/{issue_number}, GET /issues, POST /hooks, POST /issues/{issue_number}/sub_issues,"
            " DELETE /issues/{issue_number}/sub_issue, GET /issues/{issue_number}/sub_issues, GET /issues/comments",
            prefix="/repos/{owner}/{repo}",
        )
        | {("GET", "/search/issues")},
        after=_sub_issue_drive,
    )
]
# The unified event types of GitHub's payload files, named `<event header>.<action>.json` (Gitea sends the same shapes).
HOOK_FILE_TYPES = {
    "issues.opened.json": ("issue.created",),
    "issues.edited.json": ("issue.updated",),
    "issues.reopened.json": ("issue.reopened",),
    "issues.labeled.json": ("issue.labeled",),
    "issues.unlabeled.json": ("issue.unlabeled",),
    "issues.assigned.json": ("issue.assigned",),
    "issues.unassigned.json": ("issue.updated",),
    "issues.deleted.json": ("issue.deleted",),
    "issue_comment.created.json": ("comment.created",),
    "issue_comment.edited.json": ("comment.updated",),
    "issue_comment.deleted.json": ("comment.deleted",),
    "ping.json": (),
}


def hook_expectations(types: dict[str, tuple], target: str, check: Callable[..., None]) -> list[WebhookExpectation]:
    """The expectations of GitHub-shaped payload files ({file name: unified types}) whose repository is `target`."""
    return [WebhookExpectation(name, name.partition(".")[0], types, target, check) for name, types in types.items()]


WEBHOOK_EXPECTATIONS = hook_expectations(HOOK_FILE_TYPES, "Codertocat/Hello-World", check_issue_events)

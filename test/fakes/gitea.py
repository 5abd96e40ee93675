"""Offline stand-in for the Gitea REST API `/api/v1` (repository, issues, comments, labels, assignees, issue templates,
hooks): only the routes the gateway's adapter calls, behaving like Gitea where a client can tell."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Response

from test.fakes import kit
from test.fakes.base import (
    Call,
    Counters,
    FakeServer,
    HTTPError,
    iso_z,
    json_response,
    page_of,
    parse_timestamp,
    route,
    split_list,
    utcnow,
)
from test.fakes.github import HOOK_FILE_TYPES, check_issue_events, hook_expectations
from test.fakes.kit import ContractVariant, RequestCheck, Setup, check_against_spec, path_template, poll_twice

API = "/api/v1"
DEFAULT_PAGE_SIZE = 30  # setting.API.DefaultPagingNum


def _now() -> datetime:
    # Read through this module's `utcnow`, which tests move back to make what the fake creates old.
    return utcnow().replace(microsecond=0)


MAX_PAGE_SIZE = 50  # setting.API.MaxResponseItems
HOOK_TYPES = ("dingtalk", "discord", "gitea", "gogs", "msteams", "slack", "telegram", "feishu", "wechatwork", "packagist")
HOOK_EVENTS = frozenset(
    {
        "create",
        "delete",
        "fork",
        "push",
        "issues",
        "issue_assign",
        "issue_label",
        "issue_milestone",
        "issue_comment",
        "pull_request",
        "pull_request_assign",
        "pull_request_label",
        "pull_request_milestone",
        "pull_request_comment",
        "pull_request_review_approved",
        "pull_request_review_rejected",
        "pull_request_review_comment",
        "pull_request_sync",
        "wiki",
        "repository",
        "release",
        "package",
        "status",
        "workflow_job",
    }
)
WRITE = ("write", "admin", "owner")


@dataclass
class _User:
    id: int
    login: str
    full_name: str
    email: str
    created: datetime


@dataclass
class _Label:
    id: int
    name: str
    color: str
    description: str


@dataclass
class _Comment:
    id: int
    issue: int
    body: str
    user: int
    created_at: datetime
    updated_at: datetime


@dataclass
class _Issue:
    id: int
    number: int
    title: str
    body: str
    user: int
    labels: list[int]
    assignees: list[int]
    created_at: datetime
    updated_at: datetime
    state: str = "open"
    closed_at: datetime | None = None
    due_date: datetime | None = None
    is_pull: bool = False


@dataclass
class _Asset:
    id: int
    issue: int
    name: str
    data: bytes
    uuid: str
    created_at: datetime


@dataclass
class _Hook:
    id: int
    type: str
    config: dict[str, str]
    events: list[str]
    active: bool
    created_at: datetime
    updated_at: datetime


@dataclass
class _Repo:
    id: int
    owner: int
    name: str
    private: bool
    default_branch: str
    created_at: datetime
    collaborators: dict[int, str] = field(default_factory=dict)
    labels: dict[int, _Label] = field(default_factory=dict)
    issues: dict[int, _Issue] = field(default_factory=dict)
    comments: dict[int, _Comment] = field(default_factory=dict)
    hooks: dict[int, _Hook] = field(default_factory=dict)
    templates: list[dict[str, Any]] = field(default_factory=list)
    assets: dict[int, _Asset] = field(default_factory=dict)


@dataclass
class _State(Counters):
    repos: dict[int, _Repo] = field(default_factory=dict)


class GiteaFake(FakeServer):
    """Stateful fake of a Gitea instance at `base_url` (the API under `/api/v1`); credentials `Authorization: token ...`."""

    name = "gitea"
    api_prefix = API
    seed_operations = (
        "add_user",
        "add_token",
        "add_repo",
        "add_collaborator",
        "add_label",
        "add_issue",
        "add_pull",
        "add_comment",
        "add_issue_template",
    )
    state: _State
    state_type = _State

    # -- seeding -------------------------------------------------------------------------------

    def add_user(self, login: str, full_name: str = "", email: str | None = None) -> dict[str, Any]:
        """Create (or return) a user."""
        with self.lock:
            user = self._user_named(login)
            if user is None:
                user = _User(self.state.next_id("user"), login, full_name, email or f"{login}@noreply.example.org", _now())
                self.state.users[user.id] = user
            return self._user_json(user)

    def add_token(self, token: str, login: str = "gitea_admin") -> dict[str, Any]:
        """Accept `token` as an access token of `login` (created if missing)."""
        with self.lock:
            self.add_user(login)
            user = self._user_named(login)
            self.state.tokens[token] = user.id
            return self._user_json(user)

    def add_repo(self, full_name: str, private: bool = True, default_branch: str = "main") -> dict[str, Any]:
        """Create repository `owner/name` (the owner user is created and owns it)."""
        owner_login, _, name = full_name.partition("/")
        if not owner_login or not name:
            raise ValueError("need 'owner/name'")
        with self.lock:
            owner = self._seed_user(owner_login)
            repo = _Repo(self.state.next_id("repo"), owner.id, name, private, default_branch, _now())
            repo.collaborators[owner.id] = "owner"
            self.state.repos[repo.id] = repo
            return self._repo_json(repo, owner)

    def add_collaborator(self, full_name: str, login: str, permission: str = "write") -> dict[str, Any]:
        """Give `login` (created if missing) `read`, `write` or `admin` on the repository."""
        if permission not in ("read", "write", "admin"):
            raise ValueError("permission must be read, write or admin")
        with self.lock:
            repo = self._seed_repo(full_name)
            user = self._seed_user(login)
            repo.collaborators[user.id] = permission
            return self._user_json(user)

    def add_label(self, full_name: str, name: str, color: str = "ee0701", description: str = "") -> dict[str, Any]:
        """Create a repository label; its `id` is what the issue endpoints take."""
        with self.lock:
            repo = self._seed_repo(full_name)
            label = _Label(self.state.next_id("label"), name, color.lstrip("#"), description)
            repo.labels[label.id] = label
            return self._label_json(repo, label)

    def add_issue(
        self,
        full_name: str,
        title: str,
        body: str = "",
        labels: Iterable[str] = (),
        assignees: Iterable[str] = (),
        state: str = "open",
        author: str | None = None,
        created_at: datetime | str | None = None,
        updated_at: datetime | str | None = None,
        pull: bool = False,
    ) -> dict[str, Any]:
        """Create an issue (or, with `pull=True`, a pull request: Gitea numbers both in one index)."""
        if state not in ("open", "closed"):
            raise ValueError("state must be 'open' or 'closed'")
        with self.lock:
            repo = self._seed_repo(full_name)
            creator = self._seed_user(author) if author else self.state.users[repo.owner]
            created = parse_timestamp(created_at) or _now()
            label_ids = [self._ensure_label(repo, name).id for name in labels]
            issue = _Issue(
                self.state.next_id("issue"),
                max(repo.issues, default=0) + 1,
                title,
                body,
                creator.id,
                label_ids,
                [self._seed_user(login).id for login in assignees],
                created,
                parse_timestamp(updated_at) or created,
                state,
                created if state == "closed" else None,
                is_pull=pull,
            )
            repo.issues[issue.number] = issue
            return self._issue_json(repo, issue)

    def add_pull(self, full_name: str, title: str, **kwargs: Any) -> dict[str, Any]:
        """Create a pull request (it shares the issue index and appears in the issue list without `type=issues`)."""
        return self.add_issue(full_name, title, pull=True, **kwargs)

    def add_comment(self, full_name: str, number: int, body: str, author: str | None = None) -> dict[str, Any]:
        """Add a comment to issue `number`."""
        with self.lock:
            repo = self._seed_repo(full_name)
            creator = self._seed_user(author) if author else self.state.users[repo.owner]
            now = _now()
            comment = _Comment(self.state.next_id("comment"), number, body, creator.id, now, now)
            repo.comments[comment.id] = comment
            return self._comment_json(repo, comment)

    def add_issue_template(
        self,
        full_name: str,
        file_name: str,
        name: str,
        about: str = "",
        title: str = "",
        labels: Iterable[str] = (),
        assignees: Iterable[str] = (),
        content: str = "",
    ) -> dict[str, Any]:
        """A template file in `.gitea/ISSUE_TEMPLATE/` (or `.github/...`) as Gitea parses it for `/issue_templates`."""
        with self.lock:
            repo = self._seed_repo(full_name)
            template = {
                "name": name,
                "title": title,
                "about": about,
                "labels": list(labels),
                "assignees": list(assignees),
                "ref": "",
                "content": content,
                "body": [],
                "file_name": file_name.rsplit("/", 1)[-1],
            }
            if file_name.endswith((".yml", ".yaml")):
                template["content"] = ""
                template["body"] = [
                    {
                        "type": "textarea",
                        "id": "what",
                        "attributes": {"label": "What happened?"},
                        "validations": {"required": True},
                        "visible": ["form"],
                    }
                ]
            repo.templates.append(template)
            return template

    def _seed_repo(self, full_name: str) -> _Repo:
        owner, _, name = full_name.partition("/")
        found = self._find_repo(owner, name)
        if found is None:
            raise KeyError(f"no repository {full_name!r}; call add_repo first")
        return found

    def _user_named(self, login: str) -> _User | None:
        return next((u for u in self.state.users.values() if u.login.lower() == login.lower()), None)

    def _find_repo(self, owner: str, name: str) -> _Repo | None:
        for repo in self.state.repos.values():
            if self.state.users[repo.owner].login.lower() == owner.lower() and repo.name.lower() == name.lower():
                return repo
        return None

    def _ensure_label(self, repo: _Repo, name: str) -> _Label:
        label = next((lbl for lbl in repo.labels.values() if lbl.name.lower() == name.lower()), None)
        if label is None:
            label = _Label(self.state.next_id("label"), name, "ededed", "")
            repo.labels[label.id] = label
        return label

    # -- provider hooks ------------------------------------------------------------------------

    def _message(self, status: int, message: str, **extra: Any) -> Response:
        return json_response({**extra, "message": message, "url": f"{self.base_url}/api/swagger"}, status)

    def _authenticate(self, call: Call) -> _User | None:
        header = call.header("Authorization")
        if not header:
            return None
        scheme, _, credential = header.partition(" ")
        if scheme.lower() not in ("token", "bearer"):
            raise HTTPError(self._message(401, "auth required"))
        user_id = self.state.tokens.get(credential.strip())
        if user_id is None:
            raise HTTPError(self._message(401, "user does not exist [uid: 0, name: ]"))
        return self.state.users[user_id]

    def _not_found_error(self, what: str = "") -> HTTPError:
        return HTTPError(self._message(404, "The target couldn't be found.", errors=[what] if what else []))

    def _not_found(self, call: Call) -> Response:
        if self._route_exists(call.path):
            return Response(status=405)
        return self._not_found_error().response

    def _bad_json(self, call: Call) -> Response:
        return self._message(422, "[]: invalid character in JSON body")

    def _failure_body(self, status: int) -> Any:
        return {"message": HTTP_STATUS_CODES.get(status, "Error"), "url": f"{self.base_url}/api/swagger"}

    def _rate_limited_response(self, call: Call, retry_after: float, status: int | None) -> Response:
        # Gitea has no API rate limit of its own; instances such as Codeberg limit at their proxy with a 429.
        response = self._message(status or 429, "rate limit exceeded")
        response.headers["Retry-After"] = str(max(1, round(retry_after)))
        return response

    def _after_dispatch(self, call: Call, response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    # -- access --------------------------------------------------------------------------------

    def _repo(self, call: Call, owner: str, name: str, write: bool = False, admin: bool = False, signed: bool = False) -> _Repo:
        """A repository the caller may see (else 404); 401 without a token where one is needed, 403 without the rights."""
        repo = self._find_repo(owner, name)
        user = call.principal
        permission = repo.collaborators.get(user.id) if repo and user else None
        if repo is None or (repo.private and permission is None):
            raise self._not_found_error()
        if (write or admin or signed) and user is None:
            raise HTTPError(self._message(401, "token is required"))
        if admin and permission not in ("admin", "owner"):
            raise HTTPError(self._message(403, "Must have admin permission"))
        if write and permission not in WRITE:
            raise HTTPError(self._message(403, "user should have specific permission or be a site admin"))
        return repo

    def _found(self, items: Mapping[int, Any], key: int, what: str) -> Any:
        """`items[key]` (an issue or comment), or Gitea's 404 saying `{what} does not exist`."""
        if key not in items:
            raise self._not_found_error(f"{what} does not exist")
        return items[key]

    def _body(self, call: Call) -> dict[str, Any]:
        if call.body is None:
            return {}
        if not isinstance(call.body, dict):
            raise HTTPError(self._message(422, "[]: json: cannot unmarshal array into Go value of type object"))
        return call.body

    def _assignable(self, repo: _Repo, logins: Any) -> list[int]:
        if not isinstance(logins, list) or not all(isinstance(login, str) for login in logins):
            raise HTTPError(self._message(422, "[Assignees]: must be a list of user names"))
        ids = []
        for login in logins:
            user = self._user_named(login)
            if user is None:
                raise HTTPError(self._message(422, f"user does not exist [uid: 0, name: {login}]"))
            if user.id not in repo.collaborators:
                raise HTTPError(self._message(422, f"user {login} does not have access to repo {repo.name}"))
            ids.append(user.id)
        return list(dict.fromkeys(ids))

    def _label_ids(self, repo: _Repo, values: Any) -> list[int]:
        """Label ids (the names Gitea also takes where labels are replaced: nobody sends them)."""
        if not isinstance(values, list):
            raise HTTPError(self._message(422, "[Labels]: must be a list"))
        ids = []
        for value in values:
            if isinstance(value, int) and not isinstance(value, bool):
                if value not in repo.labels:
                    raise HTTPError(self._message(422, f"label does not exist [label_id: {value}]"))
                ids.append(value)
            else:
                raise HTTPError(self._message(422, "[Labels]: json: cannot unmarshal into Go value of type int64"))
        return list(dict.fromkeys(ids))

    @staticmethod
    def _deadline(value: Any) -> datetime | None:
        """Like Gitea: only the date counts, kept as 23:59:59 of that day in the zone it was given in."""
        moment = parse_timestamp(value) if isinstance(value, str) and "T" in value else None
        if moment is None:
            raise HTTPError(Response(status=422))
        return datetime.combine(moment.date(), time(23, 59, 59), tzinfo=moment.tzinfo)

    # -- JSON ----------------------------------------------------------------------------------

    def _user_json(self, user: _User) -> dict[str, Any]:
        return {
            "id": user.id,
            "login": user.login,
            "login_name": "",
            "source_id": 0,
            "full_name": user.full_name,
            "email": user.email,
            "avatar_url": f"{self.base_url}/avatars/{user.id}",
            "html_url": f"{self.base_url}/{user.login}",
            "language": "",
            "is_admin": False,
            "last_login": iso_z(user.created),
            "created": iso_z(user.created),
            "restricted": False,
            "active": True,
            "prohibit_login": False,
            "location": "",
            "website": "",
            "description": "",
            "visibility": "public",
            "followers_count": 0,
            "following_count": 0,
            "starred_repos_count": 0,
            "username": user.login,
        }

    def _full_name(self, repo: _Repo) -> str:
        return f"{self.state.users[repo.owner].login}/{repo.name}"

    def _repo_json(self, repo: _Repo, viewer: _User | None) -> dict[str, Any]:
        permission = repo.collaborators.get(viewer.id) if viewer else None
        html = f"{self.base_url}/{self._full_name(repo)}"
        return {
            "id": repo.id,
            "owner": self._user_json(self.state.users[repo.owner]),
            "name": repo.name,
            "full_name": self._full_name(repo),
            "description": "",
            "empty": False,
            "private": repo.private,
            "fork": False,
            "template": False,
            "mirror": False,
            "size": 0,
            "language": "",
            "html_url": html,
            "url": f"{self.api_url}/repos/{self._full_name(repo)}",
            "clone_url": f"{html}.git",
            "original_url": "",
            "website": "",
            "stars_count": 0,
            "forks_count": 0,
            "watchers_count": 1,
            "open_issues_count": sum(1 for i in repo.issues.values() if i.state == "open" and not i.is_pull),
            "open_pr_counter": sum(1 for i in repo.issues.values() if i.state == "open" and i.is_pull),
            "release_counter": 0,
            "default_branch": repo.default_branch,
            "archived": False,
            "created_at": iso_z(repo.created_at),
            "updated_at": iso_z(repo.created_at),
            "permissions": {
                "admin": permission in ("admin", "owner"),
                "push": permission in WRITE,
                "pull": permission is not None or not repo.private,
            },
            "has_issues": True,
            "has_wiki": True,
            "has_pull_requests": True,
            "has_projects": False,
            "has_releases": True,
            "has_packages": False,
            "has_actions": False,
            "internal_tracker": {
                "enable_time_tracker": True,
                "allow_only_contributors_to_track_time": True,
                "enable_issue_dependencies": True,
            },
            "avatar_url": "",
            "internal": False,
            "object_format_name": "sha1",
        }

    def _label_json(self, repo: _Repo, label: _Label) -> dict[str, Any]:
        return {
            "id": label.id,
            "name": label.name,
            "exclusive": False,
            "is_archived": False,
            "color": label.color,
            "description": label.description,
            "url": f"{self.api_url}/repos/{self._full_name(repo)}/labels/{label.id}",
        }

    def _issue_json(self, repo: _Repo, issue: _Issue) -> dict[str, Any]:
        full_name = self._full_name(repo)
        kind = "pulls" if issue.is_pull else "issues"
        assignees = [self._user_json(self.state.users[user_id]) for user_id in issue.assignees]
        return {
            "id": issue.id,
            "url": f"{self.api_url}/repos/{full_name}/issues/{issue.number}",
            "html_url": f"{self.base_url}/{full_name}/{kind}/{issue.number}",
            "number": issue.number,
            "user": self._user_json(self.state.users[issue.user]),
            "original_author": "",
            "original_author_id": 0,
            "title": issue.title,
            "body": issue.body,
            "ref": "",
            "assets": [],
            "labels": [self._label_json(repo, repo.labels[label_id]) for label_id in issue.labels if label_id in repo.labels],
            "milestone": None,
            "assignee": assignees[0] if assignees else None,
            "assignees": assignees,
            "state": issue.state,
            "is_locked": False,
            "comments": sum(1 for comment in repo.comments.values() if comment.issue == issue.number),
            "created_at": iso_z(issue.created_at),
            "updated_at": iso_z(issue.updated_at),
            "closed_at": iso_z(issue.closed_at),
            "due_date": issue.due_date.isoformat() if issue.due_date else None,
            "time_estimate": 0,
            "pull_request": {
                "merged": False,
                "merged_at": None,
                "draft": False,
                "html_url": f"{self.base_url}/{full_name}/pulls/{issue.number}",
            }
            if issue.is_pull
            else None,
            "repository": {"id": repo.id, "name": repo.name, "owner": self.state.users[repo.owner].login, "full_name": full_name},
            "pin_order": 0,
            "content_version": 0,
        }

    def _comment_json(self, repo: _Repo, comment: _Comment) -> dict[str, Any]:
        full_name = self._full_name(repo)
        # Gitea fills one of the two links: a pull request's comment has no issue_url.
        parent = repo.issues.get(comment.issue)
        on_pull = parent is not None and parent.is_pull
        url = f"{self.base_url}/{full_name}/{'pulls' if on_pull else 'issues'}/{comment.issue}"
        return {
            "id": comment.id,
            "html_url": f"{url}#issuecomment-{comment.id}",
            "pull_request_url": url if on_pull else "",
            "issue_url": "" if on_pull else url,
            "user": self._user_json(self.state.users[comment.user]),
            "original_author": "",
            "original_author_id": 0,
            "body": comment.body,
            "assets": [],
            "created_at": iso_z(comment.created_at),
            "updated_at": iso_z(comment.updated_at),
        }

    @staticmethod
    def _hook_json(hook: _Hook) -> dict[str, Any]:
        # Gitea never answers the secret back.
        config = {key: value for key, value in hook.config.items() if key != "secret"}
        return {
            "id": hook.id,
            "type": hook.type,
            "name": "",
            "branch_filter": "*",
            "config": config,
            "events": hook.events,
            "authorization_header": "",
            "active": hook.active,
            "updated_at": iso_z(hook.updated_at),
            "created_at": iso_z(hook.created_at),
        }

    def _updated_between(self, call: Call, items: list[Any]) -> list[Any]:
        """The items (issues or comments) updated at or after `since` and at or before `before` (422 for a bad time)."""
        for parameter, keep in (("since", lambda i, t: i.updated_at >= t), ("before", lambda i, t: i.updated_at <= t)):
            if call.query.get(parameter):
                moment = parse_timestamp(call.query[parameter])
                if moment is None:
                    raise HTTPError(self._message(422, f"parsing time {call.query[parameter]!r} as RFC3339 failed"))
                items = [item for item in items if keep(item, moment)]
        return items

    def _paged(self, call: Call, items: list[Any], render: Callable[[Any], Any], link: bool) -> Response:
        """`page`/`limit` (limit cut to 50), `X-Total-Count` always, `Link` where Gitea sets it."""
        page = page_of(call, items, "limit", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        response = self.linked_json(call, page, [render(item) for item in page.items], link)
        response.headers["X-Total-Count"] = str(page.total)
        response.headers["Access-Control-Expose-Headers"] = "X-Total-Count, Link" if link else "X-Total-Count"
        return response

    # -- routes --------------------------------------------------------------------------------

    @route("GET", f"{API}/user")
    def _api_user(self, call: Call) -> Response:
        """GET /user."""
        if call.principal is None:
            raise HTTPError(self._message(401, "token is required"))
        return json_response(self._user_json(call.principal))

    @route("GET", f"{API}/repos/{{owner}}/{{name}}")
    def _api_repo(self, call: Call, owner: str, name: str) -> Response:
        """GET /repos/{owner}/{repo}."""
        return json_response(self._repo_json(self._repo(call, owner, name), call.principal))

    @route("GET", f"{API}/repos/{{owner}}/{{name}}/issues")
    def _api_list_issues(self, call: Call, owner: str, name: str) -> Response:
        """GET /repos/{owner}/{repo}/issues: issues and pull requests unless `type`, newest created first."""
        repo = self._repo(call, owner, name)
        query = call.query
        state = query.get("state") or "open"
        if state not in ("open", "closed", "all"):
            state = "open"
        kind = query.get("type")
        issues = [issue for issue in repo.issues.values() if state == "all" or issue.state == state]
        if kind in ("issues", "pulls"):
            issues = [issue for issue in issues if issue.is_pull == (kind == "pulls")]
        # Label names that do not exist are discarded; every remaining one must be on the issue.
        wanted = [label.id for label in repo.labels.values() if label.name in split_list(query.get("labels"))]
        issues = [issue for issue in issues if all(label_id in issue.labels for label_id in wanted)]
        for parameter, people in (("assigned_by", lambda i: i.assignees), ("created_by", lambda i: [i.user])):
            if query.get(parameter):
                user = self._user_named(query[parameter])
                if user is None:
                    raise self._not_found_error(f"user redirect does not exist [name: {query[parameter]}]")
                issues = [issue for issue in issues if user.id in people(issue)]
        if query.get("q"):
            needle = query["q"].lower()
            issues = [issue for issue in issues if needle in issue.title.lower() or needle in issue.body.lower()]
        issues = self._updated_between(call, issues)
        issues.sort(key=lambda issue: (issue.created_at, issue.id), reverse=True)
        return self._paged(call, issues, lambda issue: self._issue_json(repo, issue), link=True)

    @route("POST", f"{API}/repos/{{owner}}/{{name}}/issues")
    def _api_create_issue(self, call: Call, owner: str, name: str) -> Response:
        """POST /repos/{owner}/{repo}/issues (labels are ids)."""
        repo = self._repo(call, owner, name, signed=True)
        body = self._body(call)
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            return self._message(422, "[Title]: Required")
        can_write = repo.collaborators.get(call.principal.id) in WRITE
        labels = self._label_ids(repo, body.get("labels") or []) if can_write else []
        assignees = self._assignable(repo, body.get("assignees") or []) if can_write else []
        now = _now()
        issue = _Issue(
            self.state.next_id("issue"),
            max(repo.issues, default=0) + 1,
            title,
            str(body.get("body") or ""),
            call.principal.id,
            labels,
            assignees,
            now,
            now,
        )
        if body.get("due_date") and can_write:
            issue.due_date = self._deadline(body["due_date"])
        if body.get("closed") is True:
            issue.state, issue.closed_at = "closed", now
        repo.issues[issue.number] = issue
        return json_response(self._issue_json(repo, issue), 201)

    @route("GET", f"{API}/repos/{{owner}}/{{name}}/issues/{{number:int}}")
    def _api_get_issue(self, call: Call, owner: str, name: str, number: int) -> Response:
        """GET /repos/{owner}/{repo}/issues/{index} (pull requests too: they share the index)."""
        repo = self._repo(call, owner, name)
        return json_response(self._issue_json(repo, self._found(repo.issues, number, "issue")))

    @route("PATCH", f"{API}/repos/{{owner}}/{{name}}/issues/{{number:int}}")
    def _api_edit_issue(self, call: Call, owner: str, name: str, number: int) -> Response:
        """PATCH /repos/{owner}/{repo}/issues/{index}: answers 201; `state` closes or reopens."""
        repo = self._repo(call, owner, name, signed=True)
        issue = self._found(repo.issues, number, "issue")
        can_write = repo.collaborators.get(call.principal.id) in WRITE
        if issue.user != call.principal.id and not can_write:
            return Response(status=403)
        body = self._body(call)
        if isinstance(body.get("title"), str) and body["title"]:
            issue.title = body["title"]
        if "body" in body and body["body"] is not None:
            issue.body = str(body["body"])
        if can_write and body.get("unset_due_date") is True:
            issue.due_date = None
        elif can_write and body.get("due_date"):
            issue.due_date = self._deadline(body["due_date"])
        if can_write and "assignees" in body and body["assignees"] is not None:
            issue.assignees = self._assignable(repo, body["assignees"])
        if body.get("state") is not None and (body["state"] == "closed") != (issue.state == "closed"):
            issue.state, issue.closed_at = ("closed", _now()) if body["state"] == "closed" else ("open", None)
        issue.updated_at = _now()
        return json_response(self._issue_json(repo, issue), 201)

    @route("PUT", f"{API}/repos/{{owner}}/{{name}}/issues/{{number:int}}/labels")
    def _api_replace_labels(self, call: Call, owner: str, name: str, number: int) -> Response:
        """PUT /repos/{owner}/{repo}/issues/{index}/labels: replace the set (ids or names)."""
        repo = self._repo(call, owner, name, write=True)
        issue = self._found(repo.issues, number, "issue")
        issue.labels = self._label_ids(repo, self._body(call).get("labels") or [])
        issue.updated_at = _now()
        return json_response([self._label_json(repo, repo.labels[label_id]) for label_id in issue.labels])

    @route("GET", f"{API}/repos/{{owner}}/{{name}}/issues/{{number:int}}/comments")
    def _api_list_comments(self, call: Call, owner: str, name: str, number: int) -> Response:
        """GET /repos/{owner}/{repo}/issues/{index}/comments: every comment, oldest first (not paginated)."""
        repo = self._repo(call, owner, name)
        self._found(repo.issues, number, "issue")
        comments = sorted((c for c in repo.comments.values() if c.issue == number), key=lambda c: (c.created_at, c.id))
        response = json_response([self._comment_json(repo, comment) for comment in comments])
        response.headers["X-Total-Count"] = str(len(comments))
        return response

    @route("GET", f"{API}/repos/{{owner}}/{{name}}/issues/comments")
    def _api_list_repo_comments(self, call: Call, owner: str, name: str) -> Response:
        """GET /repos/{owner}/{repo}/issues/comments: every issue's and pull request's, `since`/`before` on the update
        time, oldest created first, `page`/`limit` with X-Total-Count (no Link header)."""
        repo = self._repo(call, owner, name)
        comments = list(repo.comments.values())
        comments = self._updated_between(call, comments)
        comments.sort(key=lambda comment: (comment.created_at, comment.id))
        return self._paged(call, comments, lambda comment: self._comment_json(repo, comment), link=False)

    @route("POST", f"{API}/repos/{{owner}}/{{name}}/issues/{{number:int}}/comments")
    def _api_create_comment(self, call: Call, owner: str, name: str, number: int) -> Response:
        """POST /repos/{owner}/{repo}/issues/{index}/comments."""
        repo = self._repo(call, owner, name, signed=True)
        issue = self._found(repo.issues, number, "issue")
        body = self._body(call)
        if not isinstance(body.get("body"), str) or not body["body"]:
            return self._message(422, "[Body]: Required")
        now = _now()
        comment = _Comment(self.state.next_id("comment"), number, body["body"], call.principal.id, now, now)
        repo.comments[comment.id] = comment
        issue.updated_at = now
        return json_response(self._comment_json(repo, comment), 201)

    @route("GET", f"{API}/repos/{{owner}}/{{name}}/labels")
    def _api_list_labels(self, call: Call, owner: str, name: str) -> Response:
        """GET /repos/{owner}/{repo}/labels (X-Total-Count, no Link)."""
        repo = self._repo(call, owner, name)
        labels = sorted(repo.labels.values(), key=lambda label: label.name.lower())
        return self._paged(call, labels, lambda label: self._label_json(repo, label), link=False)

    @route("GET", f"{API}/repos/{{owner}}/{{name}}/assignees")
    def _api_list_assignees(self, call: Call, owner: str, name: str) -> Response:
        """GET /repos/{owner}/{repo}/assignees: users with write access."""
        repo = self._repo(call, owner, name)
        people = [self.state.users[user_id] for user_id, permission in repo.collaborators.items() if permission in WRITE]
        return json_response([self._user_json(user) for user in sorted(people, key=lambda u: u.login.lower())])

    @route("GET", f"{API}/repos/{{owner}}/{{name}}/issue_templates")
    def _api_issue_templates(self, call: Call, owner: str, name: str) -> Response:
        """GET /repos/{owner}/{repo}/issue_templates: the default branch's templates, already parsed."""
        repo = self._repo(call, owner, name)
        return json_response(
            [{**template, "ref": repo.default_branch if not template["ref"] else template["ref"]} for template in repo.templates]
        )

    @route("POST", f"{API}/repos/{{owner}}/{{name}}/hooks")
    def _api_create_hook(self, call: Call, owner: str, name: str) -> Response:
        """POST /repos/{owner}/{repo}/hooks (admins): `type` and `config.url`/`config.content_type` required."""
        repo = self._repo(call, owner, name, admin=True)
        body = self._body(call)
        config = body.get("config")
        if body.get("type") not in HOOK_TYPES:
            return self._message(422, "[Type]: Invalid hook type")
        if not isinstance(config, dict) or not all(isinstance(v, str) for v in config.values()):
            return self._message(422, "[Config]: Required")
        if not config.get("url") or config.get("content_type") not in ("json", "form"):
            return self._message(422, "Invalid content type" if config.get("url") else "Missing config option: url")
        events = body.get("events") or ["push"]
        if not isinstance(events, list) or not set(events) <= HOOK_EVENTS:
            return self._message(422, "[Events]: unknown event")
        now = _now()
        hook = _Hook(self.state.next_id("hook"), body["type"], dict(config), list(events), body.get("active") is True, now, now)
        repo.hooks[hook.id] = hook
        return json_response(self._hook_json(hook), 201)

    @route("DELETE", f"{API}/repos/{{owner}}/{{name}}/hooks/{{hook_id:int}}")
    def _api_delete_hook(self, call: Call, owner: str, name: str, hook_id: int) -> Response:
        """DELETE /repos/{owner}/{repo}/hooks/{id}."""
        repo = self._repo(call, owner, name, admin=True)
        if hook_id not in repo.hooks:
            raise self._not_found_error()
        del repo.hooks[hook_id]
        return Response(status=204)

    # -- comment edit/delete, issue delete, issue assets (attachments) ------------------------

    def _may_edit_comment(self, call: Call, repo: _Repo, comment: _Comment) -> None:
        if call.principal is None:
            raise HTTPError(self._message(401, "token is required"))
        if comment.user != call.principal.id and repo.collaborators.get(call.principal.id) not in WRITE:
            raise HTTPError(Response(status=403))

    @route("GET", f"{API}/repos/{{owner}}/{{name}}/issues/comments/{{comment_id:int}}")
    def _api_get_comment(self, call: Call, owner: str, name: str, comment_id: int) -> Response:
        """GET /repos/{owner}/{repo}/issues/comments/{id}."""
        repo = self._repo(call, owner, name)
        return json_response(self._comment_json(repo, self._found(repo.comments, comment_id, "comment")))

    @route("PATCH", f"{API}/repos/{{owner}}/{{name}}/issues/comments/{{comment_id:int}}")
    def _api_edit_comment(self, call: Call, owner: str, name: str, comment_id: int) -> Response:
        """PATCH /repos/{owner}/{repo}/issues/comments/{id}: the poster or a writer; answers 200."""
        repo = self._repo(call, owner, name)
        comment = self._found(repo.comments, comment_id, "comment")
        self._may_edit_comment(call, repo, comment)
        body = self._body(call)
        if not isinstance(body.get("body"), str) or not body["body"]:
            return self._message(422, "[Body]: Required")
        comment.body, comment.updated_at = body["body"], _now()
        return json_response(self._comment_json(repo, comment))

    @route("DELETE", f"{API}/repos/{{owner}}/{{name}}/issues/comments/{{comment_id:int}}")
    def _api_delete_comment(self, call: Call, owner: str, name: str, comment_id: int) -> Response:
        """DELETE /repos/{owner}/{repo}/issues/comments/{id}: 204."""
        repo = self._repo(call, owner, name)
        comment = self._found(repo.comments, comment_id, "comment")
        self._may_edit_comment(call, repo, comment)
        del repo.comments[comment_id]
        return Response(status=204)

    @route("DELETE", f"{API}/repos/{{owner}}/{{name}}/issues/{{number:int}}")
    def _api_delete_issue(self, call: Call, owner: str, name: str, number: int) -> Response:
        """DELETE /repos/{owner}/{repo}/issues/{index}: repository admins only; 204."""
        repo = self._repo(call, owner, name, admin=True)
        self._found(repo.issues, number, "issue")
        del repo.issues[number]
        for comment_id in [c.id for c in repo.comments.values() if c.issue == number]:
            del repo.comments[comment_id]
        return Response(status=204)

    def _asset_json(self, asset: _Asset) -> dict[str, Any]:
        return {
            "id": asset.id,
            "name": asset.name,
            "size": len(asset.data),
            "download_count": 0,
            "created_at": iso_z(asset.created_at),
            "uuid": asset.uuid,
            "browser_download_url": f"{self.base_url}/attachments/{asset.uuid}",
            "type": "attachment",
        }

    def _asset(self, repo: _Repo, number: int, asset_id: int) -> _Asset:
        asset = repo.assets.get(asset_id)
        if asset is None or asset.issue != number:
            raise self._not_found_error("attachment does not exist")
        return asset

    @route("GET", f"{API}/repos/{{owner}}/{{name}}/issues/{{number:int}}/assets")
    def _api_list_assets(self, call: Call, owner: str, name: str, number: int) -> Response:
        """GET /repos/{owner}/{repo}/issues/{index}/assets."""
        repo = self._repo(call, owner, name)
        self._found(repo.issues, number, "issue")
        return json_response([self._asset_json(a) for a in repo.assets.values() if a.issue == number])

    @route("POST", f"{API}/repos/{{owner}}/{{name}}/issues/{{number:int}}/assets")
    def _api_create_asset(self, call: Call, owner: str, name: str, number: int) -> Response:
        """POST /repos/{owner}/{repo}/issues/{index}/assets: multipart field `attachment`, optional ?name=; 201."""
        repo = self._repo(call, owner, name, write=True)
        self._found(repo.issues, number, "issue")
        upload = call.request.files.get("attachment")
        if upload is None:
            return self._message(400, "attachment is required")
        asset = _Asset(
            self.state.next_id("asset"),
            number,
            call.query.get("name") or upload.filename or "file",
            upload.read(),
            f"{self.state.next_id('uuid'):08x}-0000-4000-8000-000000000000",
            _now(),
        )
        repo.assets[asset.id] = asset
        return json_response(self._asset_json(asset), 201)

    @route("GET", f"{API}/repos/{{owner}}/{{name}}/issues/{{number:int}}/assets/{{asset_id:int}}")
    def _api_get_asset(self, call: Call, owner: str, name: str, number: int, asset_id: int) -> Response:
        """GET /repos/{owner}/{repo}/issues/{index}/assets/{attachment_id}."""
        repo = self._repo(call, owner, name)
        return json_response(self._asset_json(self._asset(repo, number, asset_id)))

    @route("DELETE", f"{API}/repos/{{owner}}/{{name}}/issues/{{number:int}}/assets/{{asset_id:int}}")
    def _api_delete_asset(self, call: Call, owner: str, name: str, number: int, asset_id: int) -> Response:
        """DELETE /repos/{owner}/{repo}/issues/{index}/assets/{attachment_id}: 204."""
        repo = self._repo(call, owner, name, write=True)
        del repo.assets[self._asset(repo, number, asset_id).id]
        return Response(status=204)

    @route("GET", "/attachments/{uuid}")
    def _download_asset(self, call: Call, uuid: str) -> Response:
        """GET /attachments/{uuid}: the bytes (web route, outside the API)."""
        for repo in self.state.repos.values():
            for asset in repo.assets.values():
                if asset.uuid == uuid:
                    return Response(
                        asset.data,
                        mimetype="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{asset.name}"'},
                    )
        raise self._not_found_error("attachment does not exist")

    # -- inspection ----------------------------------------------------------------------------

    def hooks(self, full_name: str) -> list[dict[str, Any]]:
        """The repository's hooks with their secrets (what Gitea would sign deliveries with)."""
        with self.lock:
            return [{**self._hook_json(hook), "config": dict(hook.config)} for hook in self._seed_repo(full_name).hooks.values()]

    def due_date(self, full_name: str, number: int) -> date | None:
        """The stored deadline's date, as Gitea keeps it."""
        with self.lock:
            issue = self._seed_repo(full_name).issues[number]
            return issue.due_date.date() if issue.due_date else None


# ---- test kit (test/fakes/kit.py): how the shared suites drive Gitea ----


def _seeded(fake, connect, target, labels=(), credential="gt-token"):
    """A token of the owner of repository `target` (with `labels`), connected."""
    fake.add_token(credential, login=target.partition("/")[0])
    fake.add_repo(target)
    for name in labels:
        fake.add_label(target, name)
    return connect(provider="gitea", target=target, base_url=fake.base_url, credentials={"token": credential})


def _contract(fake, connect, user):
    return Setup(_seeded(fake, connect, "gitea_admin/app", ("bug", "ui")), member="gitea_admin")


def _audit(fake, mark):
    token = f"gitea-{mark}-token"
    return _seeded(fake, dict, "audit/repo", credential=token), {"gitea token": token}  # `dict`: the tracker body itself


def _request_setup(fake, connect):
    return _seeded(fake, connect, "gitea_admin/spec", ("bug",)), "gitea_admin"


def _request_after(client, user, tracker):
    """Due dates, template import and polls (the repository's comments by update time) reach Gitea through their own
    operations."""
    url = f"/api/v1/trackers/{tracker['id']}"
    assert client.patch(f"{url}/issues/1", json={"due_date": "2031-05-06"}, headers=user.headers).status_code == 200
    assert client.post("/api/v1/templates/import", json={"tracker_id": tracker["id"]}, headers=user.headers).status_code == 200
    poll_twice(client, tracker)


REQUEST_TEMPLATES = [  # the first that matches is taken: a literal segment comes before a placeholder in its place
    "/repos/{owner}/{repo}/issues",
    "/repos/{owner}/{repo}/issues/comments",
    "/repos/{owner}/{repo}/issues/{index}",
    "/repos/{owner}/{repo}/issues/{index}/labels",
    "/repos/{owner}/{repo}/issues/{index}/comments",
    "/repos/{owner}/{repo}/hooks",
    "/repos/{owner}/{repo}/hooks/{id}",
    "/repos/{owner}/{repo}/labels",
    "/repos/{owner}/{repo}/assignees",
    "/repos/{owner}/{repo}/issue_templates",
    "/repos/{owner}/{repo}",
]


def _check_requests(fake, root):
    from test.fakes.gitea_spec import gitea_spec

    assert all(request.headers["authorization"] == "token gt-token" for request in fake.requests)
    return check_against_spec(fake, gitea_spec(root), lambda path: path_template(path, REQUEST_TEMPLATES, prefix="/api/v1"))


def _check_events(payload, events, provider):
    check_issue_events(payload, events, provider)
    for item in events:
        assert item.issue.author.username == payload["issue"]["user"]["login"]
        assert item.issue.url == "https://try.gitea.io/kostekIV/test/issues/3"


CONTRACT_VARIANTS = [
    ContractVariant(
        "gitea",
        setup=_contract,
        audit=_audit,
        server=GiteaFake,
        capabilities=kit.capability_set(
            "issues comments labels members due_date webhooks template_import"
            " comment_edit comment_delete issue_delete attachments passthrough"
        ),
    )
]  # in_progress and priority once their labels are configured
REQUEST_CHECKS = [
    RequestCheck(
        "gitea",
        setup=_request_setup,
        check=_check_requests,
        after=_request_after,
        expected=kit.operations(
            "POST /issues, PATCH /issues/{index}, PUT /issues/{index}/labels, GET /issues, POST /hooks,"
            " DELETE /hooks/{id}, GET /issue_templates, GET /issues/comments",
            prefix="/repos/{owner}/{repo}",
        ),
    )
]
# Gitea sends GitHub's payload shapes: its files are some of GitHub's, and a close, which GitHub's files leave out.
GITHUB_SHAPED = "issues.opened issues.edited issues.assigned issues.reopened issue_comment.created issue_comment.edited"
WEBHOOK_EXPECTATIONS = hook_expectations(
    {f"{name}.json": HOOK_FILE_TYPES[f"{name}.json"] for name in GITHUB_SHAPED.split()}
    | {"issues.closed.json": ("issue.closed",)},
    "kostekIV/test",
    _check_events,
)

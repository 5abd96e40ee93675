"""Offline stand-in for the Trello REST API (members, boards, lists, cards, comments, labels, webhooks).

py-trello hardcodes `https://api.trello.com/1` (and `https://trello.com/1` for webhooks). Point it at the
fake through its public `http_service` constructor argument, which `trello_client()` below does:

    TrelloClient(api_key, token=token, http_service=TrelloHTTPService(fake.base_url))
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import unquote

import requests
from trello import TrelloClient
from werkzeug.wrappers import Response

from test.fakes import kit
from test.fakes.base import (
    Call,
    FakeServer,
    HTTPError,
    iso_millis,
    json_response,
    parse_timestamp,
    positive_int,
    route,
    split_list,
    text_response,
    utcnow,
)
from test.fakes.kit import ContractVariant, RequestCheck, Setup, WebhookExpectation, drive_deeper_operations, path_template

TRELLO_HOSTS = ("https://api.trello.com/1/", "https://trello.com/1/")
COLORS = ("green", "yellow", "orange", "red", "purple", "blue", "sky", "lime", "pink", "black")
CARD_FILTERS = ("all", "closed", "open", "visible")
KEEP_FROM_SOURCE = (
    "all",
    "attachments",
    "checklists",
    "comments",
    "customFields",
    "due",
    "start",
    "labels",
    "members",
    "stickers",
)
TOKEN_LIMIT, TOKEN_INTERVAL_MS = 100, 10_000
TRELLO_ID = re.compile(r"^[0-9a-fA-F]{24}$")
DEFAULT_LABEL_LIMIT, MAX_LABEL_LIMIT = 50, 1000
ACTIONS_PAGE = 50
NOT_FOUND = "The requested resource was not found."
# Board fields returned when the request names none (Trello's documented default).
BOARD_DEFAULT_FIELDS = (
    "id",
    "name",
    "desc",
    "closed",
    "idOrganization",
    "idEnterprise",
    "pinned",
    "url",
    "shortUrl",
    "prefs",
    "labelNames",
)
MEMBER_DEFAULT_FIELDS = ("id", "fullName", "username")
# An action's memberCreator: these fields of the member.
CREATOR_FIELDS = (
    "activityBlocked",
    "avatarHash",
    "avatarUrl",
    "fullName",
    "idMemberReferrer",
    "initials",
    "nonPublic",
    "nonPublicAvailable",
    "username",
)
# What Trello answers for the parts of its objects the fake does not model.
MEMBER_DEFAULTS = {
    **dict.fromkeys(("activityBlocked", "isAaMastered"), False),
    **dict.fromkeys(("idMemberReferrer", "aaEmail", "aaEnrolledDate", "aaId"), None),
    **dict.fromkeys(("idPremOrgsAdmin", "products", "oneTimeMessagesDismissed", "trophies", "premiumFeatures"), ()),
    "bio": "",
    "bioData": {"emoji": {}},
    "confirmed": True,
    "memberType": "normal",
    "nonPublic": {},
    "nonPublicAvailable": True,
    "status": "disconnected",
    "loginTypes": ("password",),
}
BOARD_DEFAULTS = {**dict.fromkeys(("pinned", "subscribed", "starred"), False), "idEnterprise": None}
LIST_DEFAULTS = {**dict.fromkeys(("color", "softLimit", "type")), "subscribed": False, "datasource": {"filter": False}}
BOARD_PREFS = {
    **dict.fromkeys(("hideVotes", "calendarFeedEnabled", "backgroundTile", "isTemplate"), False),
    **dict.fromkeys(("selfJoin", "cardCovers", "canBePublic", "canBeEnterprise", "canBeOrg", "canBePrivate", "canInvite"), True),
    **dict.fromkeys(("comments", "invitations"), "members"),
    **dict.fromkeys(("backgroundBottomColor", "backgroundTopColor"), "#0079BF"),
    "voting": "disabled",
    "cardAging": "regular",
    "backgroundBrightness": "dark",
}
CARD_BADGES = {
    **dict.fromkeys(("location", "viewingMemberVoted", "subscribed", "lastUpdatedByAi"), False),
    **dict.fromkeys(("votes", "checkItems", "checkItemsChecked", "attachments"), 0),
    "attachmentsByType": {"trello": {"board": 0, "card": 0}},
    "externalSource": None,
    "fogbugz": "",
    "checkItemsEarliestDue": None,
}
ATTACHMENT_DEFAULTS = {"edgeColor": None, "isUpload": True, "previews": (), "pos": 16384}
COVER = {**dict.fromkeys(("idAttachment", "color", "idUploadedBackground", "idPlugin")), "size": "normal", "brightness": "dark"}
CARD_DEFAULTS = {
    **dict.fromkeys(("checkItemStates", "idChecklists", "idMembersVoted"), ()),
    **dict.fromkeys(("dueReminder", "email", "idAttachmentCover", "cardRole"), None),
    **dict.fromkeys(("manualCoverAttachment", "pinned", "subscribed", "isTemplate"), False),
    "descData": {"emoji": {}},
    "cover": COVER,
}


def _short_link(object_id: str) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    number = int(hashlib.sha256(object_id.encode()).hexdigest(), 16)
    return "".join(alphabet[(number >> (6 * i)) % 62] for i in range(8))


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "card"


def _only(data: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    wanted = set(fields) | {"id"}
    return {key: value for key, value in data.items() if key in wanted}


@dataclass
class _Member:
    id: str
    username: str
    full_name: str
    email: str


@dataclass
class _Label:
    id: str
    board_id: str
    name: str
    color: str | None


@dataclass
class _List:
    id: str
    board_id: str
    name: str
    pos: float
    closed: bool = False


@dataclass
class _Card:
    id: str
    board_id: str
    list_id: str
    id_short: int
    pos: float
    last_activity: datetime
    name: str = ""
    desc: str = ""
    due: datetime | None = None
    start: datetime | None = None
    label_ids: list[str] = field(default_factory=list)
    member_ids: list[str] = field(default_factory=list)
    closed: bool = False
    due_complete: bool = False

    @property
    def short_link(self) -> str:
        return _short_link(self.id)


@dataclass
class _Action:
    id: str
    type: str
    card_id: str
    member_id: str
    date: datetime
    data: dict[str, Any]


@dataclass
class _Board:
    id: str
    name: str
    desc: str
    organization_id: str
    permission_level: str
    members: dict[str, str] = field(default_factory=dict)
    closed: bool = False

    @property
    def short_link(self) -> str:
        return _short_link(self.id)


@dataclass
class _Webhook:
    id: str
    token: str
    model_id: str
    callback_url: str
    description: str
    active: bool = True


@dataclass
class _State:
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    keys: set[str] = field(default_factory=set)
    tokens: dict[str, tuple[str, str]] = field(default_factory=dict)
    members: dict[str, _Member] = field(default_factory=dict)
    boards: dict[str, _Board] = field(default_factory=dict)
    lists: dict[str, _List] = field(default_factory=dict)
    cards: dict[str, _Card] = field(default_factory=dict)
    labels: dict[str, _Label] = field(default_factory=dict)
    actions: dict[str, _Action] = field(default_factory=dict)
    webhooks: dict[str, _Webhook] = field(default_factory=dict)
    attachments: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_limit: int = TOKEN_LIMIT
    token_interval_ms: int = TOKEN_INTERVAL_MS
    token_hits: dict[str, deque[float]] = field(default_factory=dict)
    last_action: datetime = field(default_factory=lambda: datetime.min.replace(tzinfo=UTC))

    def new_id(self) -> str:
        """A MongoDB-style id: creation time first, so ids sort by age as Trello's do."""
        return f"{int(time.time()):08x}5f1e2d3c4b{next(self.counter):06x}"


class TrelloHTTPService:
    """`http_service` for py-trello that sends its hardcoded trello.com URLs to a fake (or any base URL)."""

    def __init__(self, base_url: str, session: requests.Session | None = None, timeout: float | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.timeout = timeout

    def rewrite(self, url: str) -> str:
        """Map `https://api.trello.com/1/...` and `https://trello.com/1/...` onto `{base_url}/1/...`."""
        for prefix in TRELLO_HOSTS:
            if url.startswith(prefix):
                return f"{self.base_url}/1/{url[len(prefix) :]}"
        return url

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Same signature as `requests.request`; applies `timeout` (py-trello never passes one)."""
        kwargs.setdefault("timeout", self.timeout)
        return self.session.request(method, self.rewrite(url), **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        """Same signature as `requests.post` (py-trello's `create_hook` uses it)."""
        return self.request("POST", url, **kwargs)


def trello_client(base_url: str, api_key: str, token: str, timeout: float | None = None) -> TrelloClient:
    """A real py-trello client talking to the Trello API at `base_url` (OAuth header auth, as py-trello does)."""
    return TrelloClient(api_key, token=token, http_service=TrelloHTTPService(base_url, timeout=timeout))


class TrelloFake(FakeServer):
    """Stateful fake of api.trello.com, serving the API under `{base_url}/1`."""

    name = "trello"
    api_prefix = "/1"
    control_knobs: ClassVar[dict[str, str]] = {**FakeServer.control_knobs, "rate_limit": "set_rate_limit"}
    seed_operations = ("add_token", "add_member", "add_board", "add_list", "add_label", "add_card", "add_comment")
    state: _State
    state_type = _State

    # -- seeding -------------------------------------------------------------------------------

    def add_member(self, username: str, full_name: str | None = None, email: str | None = None) -> dict[str, Any]:
        """Create (or return) a member account."""
        with self.lock:
            member = self._seed_member(username, full_name, email)
            return self._member_json(member, member)

    def add_token(self, token: str, key: str = "key", username: str = "me") -> dict[str, Any]:
        """Accept API `key` + `token` as credentials of member `username` (created if missing)."""
        with self.lock:
            member = self._seed_member(username)
            self.state.keys.add(key)
            self.state.tokens[token] = (key, member.id)
            return self._member_json(member, member)

    def add_board(
        self, name: str, members: Iterable[str] = (), permission_level: str = "private", desc: str = ""
    ) -> dict[str, Any]:
        """Create a board; the first of `members` is its admin, the others normal members."""
        if permission_level not in ("private", "org", "public"):
            raise ValueError("permission_level must be private, org or public")
        with self.lock:
            board = _Board(self.state.new_id(), name, desc, self.state.new_id(), permission_level)
            for index, username in enumerate(members):
                board.members[self._seed_member(username).id] = "admin" if index == 0 else "normal"
            self.state.boards[board.id] = board
            for color in COLORS[:6]:
                label = _Label(self.state.new_id(), board.id, "", color)
                self.state.labels[label.id] = label
            return self._board_json(board)

    def add_list(self, board_id: str, name: str, closed: bool = False) -> dict[str, Any]:
        """Append a list to a board."""
        with self.lock:
            board = self.state.boards[board_id]
            position = 16384.0 * (1 + sum(lst.board_id == board.id for lst in self.state.lists.values()))
            lst = _List(self.state.new_id(), board.id, name, position, closed)
            self.state.lists[lst.id] = lst
            return self._list_json(lst)

    def add_label(self, board_id: str, name: str, color: str | None = "green") -> dict[str, Any]:
        """Create a board label."""
        with self.lock:
            label = _Label(self.state.new_id(), self.state.boards[board_id].id, name, color)
            self.state.labels[label.id] = label
            return self._label_json(label)

    def add_card(
        self,
        list_id: str,
        name: str,
        desc: str = "",
        labels: Iterable[str] = (),
        members: Iterable[str] = (),
        due: datetime | str | None = None,
        closed: bool = False,
        last_activity: datetime | str | None = None,
    ) -> dict[str, Any]:
        """Create a card; `labels` are label ids or names on the board, `members` usernames (made board members)."""
        with self.lock:
            lst = self.state.lists[list_id]
            board = self.state.boards[lst.board_id]
            label_ids = [self._seed_label(board, label).id for label in labels]
            member_ids = [self._seed_member(username).id for username in members]
            for member_id in member_ids:
                board.members.setdefault(member_id, "normal")
            card = self._new_card(lst, "bottom", name=name, desc=desc, due=parse_timestamp(due), closed=closed)
            card.label_ids, card.member_ids = label_ids, member_ids
            card.last_activity = parse_timestamp(last_activity) or card.last_activity
            creator = next(iter(board.members), member_ids[0] if member_ids else None)
            if creator:
                self._record_action("createCard", card, creator, {})
            return self._card_json(card)

    def add_comment(self, card_id: str, text: str, username: str | None = None) -> dict[str, Any]:
        """Comment on a card as `username` (default: the board's first member)."""
        with self.lock:
            card = self.state.cards[card_id]
            board = self.state.boards[card.board_id]
            member_id = self._member_named(username).id if username else next(iter(board.members))
            return self._action_json(self._comment(card, member_id, text))

    def set_rate_limit(self, limit: int = TOKEN_LIMIT, interval_ms: int = TOKEN_INTERVAL_MS) -> None:
        """Per-token request budget per sliding window (Trello: 100 requests per 10 s)."""
        with self.lock:
            self.state.token_limit, self.state.token_interval_ms = int(limit), int(interval_ms)

    def _seed_member(self, username: str, full_name: str | None = None, email: str | None = None) -> _Member:
        member = self._member_named(username)
        if member is None:
            member = _Member(self.state.new_id(), username, full_name or username.title(), email or f"{username}@example.com")
            self.state.members[member.id] = member
        return member

    def _member_named(self, username: str) -> _Member | None:
        return next((m for m in self.state.members.values() if m.username.lower() == username.lower()), None)

    def _seed_label(self, board: _Board, ident: str) -> _Label:
        label = self.state.labels.get(ident)
        if label is None:
            label = next((lb for lb in self._board_labels(board) if lb.name == ident), None)
        if label is None:
            label = _Label(self.state.new_id(), board.id, ident, "green")
            self.state.labels[label.id] = label
        return label

    # -- provider hooks ------------------------------------------------------------------------

    def _credentials(self, call: Call) -> tuple[str | None, str | None]:
        params = call.merged_params()
        key, token = params.get("key"), params.get("token")
        header = call.header("Authorization") or ""
        if header.startswith("OAuth "):
            oauth = {name: unquote(value) for name, value in re.findall(r'(\w+)="([^"]*)"', header)}
            key, token = key or oauth.get("oauth_consumer_key"), token or oauth.get("oauth_token")
        return key, token

    def _authenticate(self, call: Call) -> _Member:
        key, token = self._credentials(call)
        if not key or key not in self.state.keys:
            raise HTTPError(text_response("invalid key", 401))
        if not token:
            raise HTTPError(text_response("unauthorized permission requested", 401))
        grant = self.state.tokens.get(token)
        if grant is None or grant[0] != key:
            raise HTTPError(text_response("invalid token", 401))
        return self.state.members[grant[1]]

    def _before_dispatch(self, call: Call) -> Response | None:
        token = self._credentials(call)[1] or ""
        hits = self.state.token_hits.setdefault(token, deque())
        now = time.monotonic()
        while hits and now - hits[0] >= self.state.token_interval_ms / 1000:
            hits.popleft()
        if len(hits) >= self.state.token_limit:
            return self._limit_response(429, self.state.token_interval_ms / 1000, remaining=0)
        hits.append(now)
        return None

    def _after_dispatch(self, call: Call, response: Response) -> Response:
        token = self._credentials(call)[1] or ""
        used = len(self.state.token_hits.get(token, ()))
        response.headers.update(self._limit_headers(max(0, self.state.token_limit - used)))
        return response

    def _limit_headers(self, remaining: int) -> dict[str, str]:
        return {
            "x-rate-limit-api-token-interval-ms": str(self.state.token_interval_ms),
            "x-rate-limit-api-token-max": str(self.state.token_limit),
            "x-rate-limit-api-token-remaining": str(remaining),
        }

    def _limit_response(self, status: int, interval: float, remaining: int) -> Response:
        message = "Rate limit exceeded: too many requests for this token, see x-rate-limit-api-token-* headers"
        body = {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": message}
        headers = {**self._limit_headers(remaining), "x-rate-limit-api-token-interval-ms": str(int(interval * 1000))}
        return json_response(body, status, headers)

    def _rate_limited_response(self, call: Call, retry_after: float, status: int | None) -> Response:
        return self._limit_response(status or 429, retry_after, remaining=0)

    def _not_found(self, call: Call) -> Response:
        return text_response(f"Cannot {call.method} {call.path}", 404)

    def _bad_json(self, call: Call) -> Response:
        return text_response("invalid json", 400)

    def _failure_body(self, status: int) -> Any:
        return "Internal Server Error" if status >= 500 else "Bad Request"

    # -- errors, parameters and access ---------------------------------------------------------

    @staticmethod
    def _error(status: int, text: str) -> HTTPError:
        return HTTPError(text_response(text, status))

    def _invalid(self, name: str) -> HTTPError:
        return self._error(400, f"invalid value for {name}")

    def _lookup(self, table: Mapping[str, Any], ident: str) -> Any:
        if not TRELLO_ID.match(ident):
            found = next((item for item in table.values() if getattr(item, "short_link", None) == ident), None)
            if found is None:
                raise self._error(400, "invalid id")
            return found
        found = table.get(ident)
        if found is None:
            raise self._error(404, NOT_FOUND)
        return found

    def _board(self, call: Call, ident: str, write: bool = False, refusal: str = "unauthorized permission requested") -> _Board:
        """The board, if the caller is a member or only reads a board that is not private."""
        board = self._lookup(self.state.boards, ident)
        if call.principal.id not in board.members and (write or board.permission_level == "private"):
            raise self._error(401, refusal)
        return board

    def _card(self, call: Call, ident: str, write: bool = False) -> _Card:
        card = self._lookup(self.state.cards, ident)
        self._board(call, card.board_id, write, refusal="unauthorized card permission requested")
        return card

    @staticmethod
    def _flag(value: Any) -> bool | None:
        if isinstance(value, bool):
            return value
        return {"true": True, "false": False}.get(str(value).lower())

    def _ids(self, value: Any, name: str, allowed: Iterable[str]) -> list[str]:
        ids = split_list(value)
        allowed_ids = set(allowed)
        if any(not TRELLO_ID.match(ident) or ident not in allowed_ids for ident in ids):
            raise self._invalid(name)
        return list(dict.fromkeys(ids))

    def _date(self, value: Any, name: str) -> datetime | None:
        if value in (None, "", "null"):
            return None
        moment = parse_timestamp(value)
        if moment is None:
            raise self._invalid(name)
        return moment

    def _position(self, value: Any, siblings: list[float]) -> float:
        if value in ("top", "bottom"):
            if not siblings:
                return 16384.0
            return min(siblings) / 2 if value == "top" else max(siblings) + 16384.0
        try:
            position = float(value)
        except (TypeError, ValueError):
            raise self._invalid("pos") from None
        if position < 0:
            raise self._invalid("pos")
        return position

    def _board_labels(self, board: _Board) -> list[_Label]:
        return [label for label in self.state.labels.values() if label.board_id == board.id]

    # -- rendering -----------------------------------------------------------------------------

    def _member_json(self, member: _Member, viewer: _Member | None) -> dict[str, Any]:
        avatar_hash = hashlib.md5(member.id.encode(), usedforsecurity=False).hexdigest()
        boards = [b.id for b in self.state.boards.values() if member.id in b.members]
        return {
            **MEMBER_DEFAULTS,
            "id": member.id,
            "avatarHash": avatar_hash,
            "avatarUrl": f"{self.base_url}/avatars/{member.id}/{avatar_hash}",
            "fullName": member.full_name,
            "initials": "".join(word[0] for word in member.full_name.split()[:2]).upper(),
            "url": f"{self.base_url}/{member.username}",
            "username": member.username,
            # Trello shows the email address to its owner only.
            "email": member.email if viewer is not None and viewer.id == member.id else None,
            "idBoards": boards,
            "idOrganizations": sorted({self.state.boards[b].organization_id for b in boards}),
        }

    def _board_json(self, board: _Board) -> dict[str, Any]:
        return {
            "id": board.id,
            "name": board.name,
            "desc": board.desc,
            "closed": board.closed,
            "idOrganization": board.organization_id,
            "url": f"{self.base_url}/b/{board.short_link}/{_slug(board.name)}",
            "shortUrl": f"{self.base_url}/b/{board.short_link}",
            "shortLink": board.short_link,
            "prefs": {**BOARD_PREFS, "permissionLevel": board.permission_level},
            "labelNames": {
                color: next((lb.name for lb in self._board_labels(board) if lb.color == color), "") for color in COLORS
            },
            **BOARD_DEFAULTS,
        }

    def _list_json(self, lst: _List) -> dict[str, Any]:
        return {**LIST_DEFAULTS, "id": lst.id, "name": lst.name, "closed": lst.closed, "idBoard": lst.board_id, "pos": lst.pos}

    def _label_json(self, label: _Label) -> dict[str, Any]:
        uses = sum(label.id in card.label_ids for card in self.state.cards.values())
        return {"id": label.id, "idBoard": label.board_id, "name": label.name, "color": label.color, "uses": uses}

    def _card_json(self, card: _Card) -> dict[str, Any]:
        comments = sum(1 for a in self.state.actions.values() if a.card_id == card.id and a.type == "commentCard")
        dates = {"due": iso_millis(card.due), "dueComplete": card.due_complete, "start": iso_millis(card.start)}
        return {
            **CARD_DEFAULTS,
            "id": card.id,
            "badges": {**CARD_BADGES, "comments": comments, "description": bool(card.desc), **dates},
            **dates,
            "closed": card.closed,
            "dateLastActivity": iso_millis(card.last_activity),
            "desc": card.desc,
            "idBoard": card.board_id,
            "idList": card.list_id,
            "idMembers": list(card.member_ids),
            "idShort": card.id_short,
            "labels": [self._label_json(self.state.labels[i]) for i in card.label_ids],
            "idLabels": list(card.label_ids),
            "name": card.name,
            "pos": card.pos,
            "shortLink": card.short_link,
            "shortUrl": f"{self.base_url}/c/{card.short_link}",
            "url": f"{self.base_url}/c/{card.short_link}/{card.id_short}-{_slug(card.name)}",
        }

    def _action_json(self, action: _Action) -> dict[str, Any]:
        member = self.state.members[action.member_id]
        card = self.state.cards[action.card_id]
        board = self.state.boards[card.board_id]
        body = {
            "id": action.id,
            "idMemberCreator": member.id,
            "data": {
                **action.data,
                "card": {"id": card.id, "name": card.name, "idShort": card.id_short, "shortLink": card.short_link},
                "board": {"id": board.id, "name": board.name, "shortLink": board.short_link},
                "list": {"id": card.list_id, "name": self.state.lists[card.list_id].name},
            },
            "appCreator": None,
            "type": action.type,
            "date": iso_millis(action.date),
            "limits": {
                "reactions": {
                    "perAction": {"status": "ok", "disableAt": 900, "warnAt": 720},
                    "uniquePerAction": {"status": "ok", "disableAt": 17, "warnAt": 14},
                }
            },
            "memberCreator": _only(self._member_json(member, None), CREATOR_FIELDS),
        }
        if action.type != "commentCard":
            body.pop("limits")
        return body

    def _webhook_json(self, hook: _Webhook) -> dict[str, Any]:
        target = {"idModel": hook.model_id, "callbackURL": hook.callback_url}
        health = {"active": hook.active, "consecutiveFailures": 0, "firstConsecutiveFailDate": None}
        return {"id": hook.id, "description": hook.description, **target, **health}

    @staticmethod
    def _fields(call: Call, data: dict[str, Any], defaults: Iterable[str] | None = None) -> dict[str, Any]:
        requested = call.query.get("fields")
        if requested is None:
            return _only(data, defaults) if defaults is not None else data
        return data if requested == "all" else _only(data, split_list(requested))

    # -- state changes -------------------------------------------------------------------------

    def _new_card(self, lst: _List, pos: Any, **fields: Any) -> _Card:
        """A card at `pos` in `lst`, numbered after its board's other cards, stored."""
        siblings = [c.pos for c in self.state.cards.values() if c.list_id == lst.id]
        id_short = 1 + sum(card.board_id == lst.board_id for card in self.state.cards.values())
        card = _Card(self.state.new_id(), lst.board_id, lst.id, id_short, self._position(pos, siblings), utcnow(), **fields)
        self.state.cards[card.id] = card
        return card

    def _record_action(self, kind: str, card: _Card, member_id: str, data: dict[str, Any]) -> _Action:
        # Action dates have millisecond precision; keep them strictly increasing so date order is creation order.
        when = max(utcnow(), self.state.last_action + timedelta(milliseconds=1))
        self.state.last_action = when
        action = _Action(self.state.new_id(), kind, card.id, member_id, when, data)
        self.state.actions[action.id] = action
        card.last_activity = action.date
        return action

    def _comment(self, card: _Card, member_id: str, text: str) -> _Action:
        return self._record_action("commentCard", card, member_id, {"text": text, "textData": {"emoji": {}}})

    def _update_card(self, call: Call, card: _Card, params: Mapping[str, Any]) -> None:
        board = self.state.boards[card.board_id]
        old = self._update_card_fields(card, params)
        if "idLabels" in params:
            card.label_ids = self._ids(params["idLabels"], "idLabels", [lb.id for lb in self._board_labels(board)])
        if "idMembers" in params:
            card.member_ids = self._ids(params["idMembers"], "idMembers", board.members)
        list_before = self.state.lists[card.list_id]
        if "idList" in params:
            target = self.state.lists.get(str(params["idList"]))
            if target is None or target.board_id != board.id:
                raise self._invalid("idList")
            old["idList"], card.list_id = card.list_id, target.id
        card.last_activity = utcnow()
        if old:
            data: dict[str, Any] = {"old": old}
            if "idList" in old and old["idList"] != card.list_id:
                after = self.state.lists[card.list_id]
                data["listBefore"] = {"id": list_before.id, "name": list_before.name}
                data["listAfter"] = {"id": after.id, "name": after.name}
            self._record_action("updateCard", card, call.principal.id, data)

    def _update_card_fields(self, card: _Card, params: Mapping[str, Any]) -> dict[str, Any]:
        """Name, description, flags and dates; returns the old values of what changed (the action's `old`)."""
        old: dict[str, Any] = {}
        if "name" in params:
            if not str(params["name"]).strip():
                raise self._invalid("name")
            old["name"], card.name = card.name, str(params["name"])
        if "desc" in params:
            old["desc"], card.desc = card.desc, str(params["desc"] or "")
        for param, attribute in (("closed", "closed"), ("dueComplete", "due_complete")):
            if param in params:
                flag = self._flag(params[param])
                if flag is None:
                    raise self._invalid(param)
                old[param] = getattr(card, attribute)
                setattr(card, attribute, flag)
        for param in ("due", "start"):
            if param in params:
                old[param] = iso_millis(getattr(card, param))
                setattr(card, param, self._date(params[param], param))
        return old

    def _filter_cards(self, call: Call, cards: list[_Card], card_filter: str) -> list[dict[str, Any]]:
        if card_filter not in CARD_FILTERS:
            raise self._invalid("filter")
        if card_filter == "open":
            cards = [c for c in cards if not c.closed]
        elif card_filter == "closed":
            cards = [c for c in cards if c.closed]
        elif card_filter == "visible":
            cards = [c for c in cards if not c.closed and not self.state.lists[c.list_id].closed]
        cards = self._window(call, sorted(cards, key=lambda c: (c.list_id, c.pos)), lambda c: c.id)
        return [self._card_fields(call, card) for card in cards]

    def _card_fields(self, call: Call, card: _Card) -> dict[str, Any]:
        """The fields of `card` a request asks for, with (empty) customFieldItems when it asks for those."""
        data = self._fields(call, self._card_json(card))
        if self._flag(call.query.get("customFieldItems")):
            data["customFieldItems"] = []
        return data

    def _window(self, call: Call, items: list[Any], key: Callable[[Any], str]) -> list[Any]:
        """Apply Trello's `limit`: the newest `limit` items (nothing asks for its `before`/`since` cursors)."""
        if "limit" in call.query:
            limit = positive_int(call.query["limit"], 0)
            if not 0 < limit <= 1000:
                raise self._invalid("limit")
            newest = set(sorted(map(key, items))[-limit:])
            items = [item for item in items if key(item) in newest]
        return items

    # -- members -------------------------------------------------------------------------------

    @route("GET", "/1/members/{ident}")
    def _api_get_member(self, call: Call, ident: str) -> Response:
        """GET /1/members/{id|username|me}."""
        member = call.principal if ident == "me" else self.state.members.get(ident) or self._member_named(ident)
        if member is None:
            raise self._error(404, "model not found")
        return json_response(self._fields(call, self._member_json(member, call.principal)))

    # -- boards --------------------------------------------------------------------------------

    @route("GET", "/1/boards/{ident}")
    def _api_get_board(self, call: Call, ident: str) -> Response:
        """GET /1/boards/{id}."""
        return json_response(self._fields(call, self._board_json(self._board(call, ident)), BOARD_DEFAULT_FIELDS))

    @route("GET", "/1/boards/{ident}/lists")
    def _api_list_board_lists(self, call: Call, ident: str) -> Response:
        """GET /1/boards/{id}/lists (`filter` open|closed|all, default open)."""
        board = self._board(call, ident)
        wanted = call.query.get("filter", "open")
        if wanted not in ("open", "closed", "all"):
            raise self._invalid("filter")
        lists = sorted((lst for lst in self.state.lists.values() if lst.board_id == board.id), key=lambda lst: lst.pos)
        lists = [lst for lst in lists if wanted == "all" or lst.closed == (wanted == "closed")]
        return json_response([self._fields(call, self._list_json(lst)) for lst in lists])

    @route("GET", "/1/boards/{ident}/cards")
    @route("GET", "/1/boards/{ident}/cards/{card_filter}")
    def _api_list_board_cards(self, call: Call, ident: str, card_filter: str | None = None) -> Response:
        """GET /1/boards/{id}/cards[/{filter}] (filter open|closed|all|visible, default visible)."""
        board = self._board(call, ident)
        cards = [c for c in self.state.cards.values() if c.board_id == board.id]
        return json_response(self._filter_cards(call, cards, card_filter or call.query.get("filter", "visible")))

    @route("GET", "/1/boards/{ident}/labels")
    def _api_list_board_labels(self, call: Call, ident: str) -> Response:
        """GET /1/boards/{id}/labels (`limit` default 50, max 1000)."""
        board = self._board(call, ident)
        limit = positive_int(call.query.get("limit"), DEFAULT_LABEL_LIMIT)
        if limit > MAX_LABEL_LIMIT:
            raise self._invalid("limit")
        labels = self._board_labels(board)[:limit]
        return json_response([self._fields(call, self._label_json(label)) for label in labels])

    @route("GET", "/1/boards/{ident}/members")
    def _api_list_board_members(self, call: Call, ident: str) -> Response:
        """GET /1/boards/{id}/members (default fields: id, fullName, username)."""
        board = self._board(call, ident)
        members = [self.state.members[member_id] for member_id in board.members]
        return json_response([self._fields(call, self._member_json(m, call.principal), MEMBER_DEFAULT_FIELDS) for m in members])

    # -- cards ---------------------------------------------------------------------------------

    @route("POST", "/1/cards")
    def _api_create_card(self, call: Call) -> Response:
        """POST /1/cards (parameters in the query string, a form or a JSON body)."""
        params = call.merged_params()
        list_id = str(params.get("idList") or "")
        lst = self.state.lists.get(list_id) if TRELLO_ID.match(list_id) else None
        if lst is None:
            raise self._invalid("idList")
        board = self._board(call, lst.board_id, write=True)
        due = self._date(params.get("due"), "due")
        label_ids = self._ids(params.get("idLabels"), "idLabels", [lb.id for lb in self._board_labels(board)])
        member_ids = self._ids(params.get("idMembers"), "idMembers", board.members)
        if "dueComplete" in params and self._flag(params["dueComplete"]) is None:
            raise self._invalid("dueComplete")
        if params.get("keepFromSource") is not None and not set(split_list(params["keepFromSource"])) <= set(KEEP_FROM_SOURCE):
            raise self._invalid("keepFromSource")
        fields = {"name": str(params.get("name") or ""), "desc": str(params.get("desc") or ""), "due": due}
        card = self._new_card(lst, params.get("pos", "bottom"), label_ids=label_ids, member_ids=member_ids, **fields)
        card.due_complete = bool(self._flag(params.get("dueComplete", False)))
        card.start = self._date(params.get("start"), "start")
        self._record_action("createCard", card, call.principal.id, {})
        return json_response(self._card_json(card))

    @route("GET", "/1/cards/{ident}")
    def _api_get_card(self, call: Call, ident: str) -> Response:
        """GET /1/cards/{id or shortLink}."""
        return json_response(self._card_fields(call, self._card(call, ident)))

    @route("PUT", "/1/cards/{ident}")
    def _api_update_card(self, call: Call, ident: str) -> Response:
        """PUT /1/cards/{id} (name, desc, closed, idList, due, start, dueComplete, idLabels, idMembers, pos)."""
        card = self._card(call, ident, write=True)
        self._update_card(call, card, call.merged_params())
        return json_response(self._card_json(card))

    @route("DELETE", "/1/cards/{ident}")
    def _api_delete_card(self, call: Call, ident: str) -> Response:
        """DELETE /1/cards/{id}."""
        card = self._card(call, ident, write=True)
        del self.state.cards[card.id]
        self.state.actions = {k: a for k, a in self.state.actions.items() if a.card_id != card.id}
        return json_response({"limits": {}})

    @route("GET", "/1/cards/{ident}/actions")
    def _api_list_card_actions(self, call: Call, ident: str) -> Response:
        """GET /1/cards/{id}/actions (`filter` types incl. `updateCard:idList`, `limit`, `page`)."""
        card = self._card(call, ident)
        wanted = split_list(call.query.get("filter", "commentCard,updateCard:idList"))
        actions = [a for a in self.state.actions.values() if a.card_id == card.id and self._action_matches(a, wanted)]
        actions.sort(key=lambda a: a.id, reverse=True)
        actions = self._window(call, actions, lambda a: a.id)
        if "limit" not in call.query:
            page = call.query.get("page", "0")
            if not page.isdigit() or int(page) > 19:
                raise self._invalid("page")
            actions = actions[int(page) * ACTIONS_PAGE : (int(page) + 1) * ACTIONS_PAGE]
        return json_response([self._action_json(a) for a in actions])

    @staticmethod
    def _action_matches(action: _Action, wanted: list[str]) -> bool:
        for entry in wanted:
            kind, _, changed = entry.partition(":")
            if entry == "all" or (kind == action.type and (not changed or changed in action.data.get("old", {}))):
                return True
        return False

    @route("POST", "/1/cards/{ident}/actions/comments")
    def _api_create_comment(self, call: Call, ident: str) -> Response:
        """POST /1/cards/{id}/actions/comments (`text`)."""
        card = self._card(call, ident, write=True)
        text = call.merged_params().get("text")
        if not isinstance(text, str) or not text.strip():
            raise self._invalid("text")
        return json_response(self._action_json(self._comment(card, call.principal.id, text)))

    def _own_comment(self, call: Call, action_id: str, card: str | None = None) -> _Action:
        action = self._lookup(self.state.actions, action_id)
        if card is not None and self._card(call, card).id != action.card_id:
            raise self._error(404, NOT_FOUND)
        if action.type != "commentCard" or action.member_id != call.principal.id:
            raise self._error(401, "unauthorized permission requested")
        return action

    @route("PUT", "/1/actions/{action_id}")
    @route("PUT", "/1/actions/{action_id}/text")
    @route("PUT", "/1/cards/{ident}/actions/{action_id}/comments")
    def _api_update_comment(self, call: Call, action_id: str, ident: str | None = None) -> Response:
        """PUT /1/actions/{id} or /1/cards/{id}/actions/{idAction}/comments (`text`)."""
        action = self._own_comment(call, action_id, ident)
        params = call.merged_params()
        text = params.get("text", params.get("value"))
        if not isinstance(text, str) or not text.strip():
            raise self._invalid("text")
        action.data.update(text=text, dateLastEdited=iso_millis(utcnow()))
        return json_response(self._action_json(action))

    @route("DELETE", "/1/actions/{action_id}")
    @route("DELETE", "/1/cards/{ident}/actions/{action_id}/comments")
    def _api_delete_comment(self, call: Call, action_id: str, ident: str | None = None) -> Response:
        """DELETE /1/actions/{id} or /1/cards/{id}/actions/{idAction}/comments."""
        action = self._own_comment(call, action_id, ident)
        del self.state.actions[action.id]
        return json_response({"_value": None})

    # -- attachments ---------------------------------------------------------------------------

    def _attachment_json(self, item: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in item.items() if key not in ("data", "card")}

    def _attachment(self, call: Call, ident: str, attachment_id: str) -> dict[str, Any]:
        card = self._card(call, ident)
        item = self.state.attachments.get(attachment_id)
        if item is None or item["card"] != card.id:
            raise self._error(404, NOT_FOUND)
        return item

    @route("GET", "/1/cards/{ident}/attachments")
    def _api_list_attachments(self, call: Call, ident: str) -> Response:
        """GET /1/cards/{id}/attachments."""
        card = self._card(call, ident)
        return json_response([self._attachment_json(a) for a in self.state.attachments.values() if a["card"] == card.id])

    @route("POST", "/1/cards/{ident}/attachments")
    def _api_create_attachment(self, call: Call, ident: str) -> Response:
        """POST /1/cards/{id}/attachments: multipart `file` (with `name`, `mimeType`) or a `url` link."""
        card = self._card(call, ident, write=True)
        upload = call.request.files.get("file")
        form = call.request.form
        if upload is None:
            raise self._invalid("file")
        data = upload.read()
        attachment_id = self.state.new_id()
        name = form.get("name") or upload.filename or "file"
        url = f"{self.base_url}/1/cards/{card.id}/attachments/{attachment_id}/download/{name}"
        upload_fields = {"bytes": len(data), "mimeType": form.get("mimeType") or "", "name": name, "fileName": name, "url": url}
        described = {"id": attachment_id, **ATTACHMENT_DEFAULTS, **upload_fields, "date": iso_millis(utcnow())}
        item = {**described, "idMember": call.principal.id, "card": card.id, "data": data}
        self.state.attachments[attachment_id] = item
        return json_response(self._attachment_json(item))

    @route("GET", "/1/cards/{ident}/attachments/{attachment_id}")
    def _api_get_attachment(self, call: Call, ident: str, attachment_id: str) -> Response:
        """GET /1/cards/{id}/attachments/{idAttachment}."""
        return json_response(self._attachment_json(self._attachment(call, ident, attachment_id)))

    @route("GET", "/1/cards/{ident}/attachments/{attachment_id}/download/{filename}")
    def _download_attachment(self, call: Call, ident: str, attachment_id: str, filename: str) -> Response:
        """The file itself, for the OAuth header only (Trello refuses key/token query parameters here)."""
        item = self._attachment(call, ident, attachment_id)
        if not (call.header("Authorization") or "").startswith("OAuth "):
            raise self._error(401, "unauthorized")
        return Response(item["data"], mimetype=item["mimeType"] or "application/octet-stream")

    @route("DELETE", "/1/cards/{ident}/attachments/{attachment_id}")
    def _api_delete_attachment(self, call: Call, ident: str, attachment_id: str) -> Response:
        """DELETE /1/cards/{id}/attachments/{idAttachment}."""
        self._card(call, ident, write=True)
        del self.state.attachments[self._attachment(call, ident, attachment_id)["id"]]
        return json_response({"limits": {}})

    # -- webhooks ------------------------------------------------------------------------------

    @route("POST", "/1/webhooks")
    @route("POST", "/1/tokens/{token}/webhooks")
    def _api_create_webhook(self, call: Call, token: str | None = None) -> Response:
        """POST /1/webhooks or /1/tokens/{token}/webhooks (callbackURL, idModel, description)."""
        params = call.merged_params()
        owner = token or self._credentials(call)[1]
        if token is not None and token not in self.state.tokens:
            raise self._error(401, "invalid token")
        callback = str(params.get("callbackURL") or "")
        if not re.match(r"https?://[^/\s]+", callback):
            raise self._invalid("callbackURL")
        model = str(params.get("idModel") or "")
        known = (self.state.boards, self.state.cards, self.state.lists, self.state.members)
        if not TRELLO_ID.match(model) or not any(model in table for table in known):
            raise self._invalid("idModel")
        if any(h.token == owner and h.model_id == model and h.callback_url == callback for h in self.state.webhooks.values()):
            raise self._error(400, "A webhook with that callback, model, and token already exists")
        active = self._flag(params.get("active", True))
        description = str(params.get("description") or "")
        hook = _Webhook(self.state.new_id(), owner, model, callback, description, True if active is None else active)
        self.state.webhooks[hook.id] = hook
        return json_response(self._webhook_json(hook))

    def _webhook(self, call: Call, hook_id: str) -> _Webhook:
        hook = self._lookup(self.state.webhooks, hook_id)
        if hook.token != self._credentials(call)[1]:
            raise self._error(401, "unauthorized permission requested")
        return hook

    @route("DELETE", "/1/webhooks/{hook_id}")
    def _api_delete_webhook(self, call: Call, hook_id: str) -> Response:
        """DELETE /1/webhooks/{id}."""
        hook = self._webhook(call, hook_id)
        del self.state.webhooks[hook.id]
        return json_response({"_value": None})


# ---- test kit (test/fakes/kit.py): how the shared suites drive Trello ----


def _contract(fake, connect, user):
    fake.add_token("tr-token", key="tr-key", username="alice")
    board = fake.add_board("Board", members=["alice"])
    todo = fake.add_list(board["id"], "To do")
    fake.add_list(board["id"], "Done")
    for name in ("bug", "ui"):
        fake.add_label(board["id"], name)
    tracker = connect(
        provider="trello",
        target=board["id"],
        base_url=fake.base_url,
        credentials={"api_key": "tr-key", "token": "tr-token"},
        options={"default_list": "To do"},
    )
    return Setup(tracker, member="alice", extra={"todo": todo["id"]})


def _audit(fake, mark):
    token, secret = f"trello-{mark}-token", f"trello-{mark}-appsecret"
    fake.add_token(token, key="trello-key", username="me")
    board = fake.add_board("Audit", members=["me"])
    fake.add_list(board["id"], "To do")
    body = {
        "provider": "trello",
        "target": board["id"],
        "base_url": fake.base_url,
        "credentials": {"api_key": "trello-key", "token": token, "api_secret": secret},
    }
    return body, {"trello token": token, "trello api secret": secret}


def _request_setup(fake, connect):
    fake.add_token("tr-token", key="tr-key", username="alice")
    board = fake.add_board("Board", members=["alice"])
    fake.add_list(board["id"], "To do")
    fake.add_list(board["id"], "Done")
    fake.add_label(board["id"], "bug")
    tracker = connect(
        provider="trello",
        target=board["id"],
        base_url=fake.base_url,
        credentials={"api_key": "tr-key", "token": "tr-token", "api_secret": "app-secret"},
    )
    return tracker, "alice"


REQUEST_TEMPLATES = [
    "/cards",
    "/cards/{id}",
    "/cards/{id}/actions/comments",
    "/cards/{id}/actions",
    "/webhooks/",
    "/cards/{id}/actions/{idAction}/comments",
    "/cards/{id}/attachments",
    "/cards/{id}/attachments/{idAttachment}",
    "/webhooks/{id}",
    "/boards/{id}",
    "/boards/{id}/lists",
    "/boards/{id}/members",
    "/boards/{id}/labels",
    "/boards/{id}/cards/{filter}",
]


def _check_requests(fake, root):
    from test.fakes.specs import trello_spec

    spec, checked = trello_spec(root), set()
    for request in fake.requests:
        path = request.path if request.path.rstrip("/") != "/1/webhooks" else "/1/webhooks/"
        template = path_template(path, REQUEST_TEMPLATES, prefix="/1")
        method = request.method.lower()
        params = {**request.query, **(request.json or {}), **request.form}
        assert spec.query_errors(template, method, params, ignore=("key", "token")) == [], (request.method, request.path, params)
        checked.add((request.method, template))
    return checked


def _check_create_card(payload, events, provider):
    (event,) = events
    assert event.issue.id == "5f7073311f0aab7e1c3dd44b" and event.issue.title == "test item"
    assert event.issue.remote_status == "todos" and event.issue.status == "open"
    archived = {
        "action": {
            "id": "a1",
            "type": "updateCard",
            "date": "2024-01-01T00:00:00.000Z",
            "data": {"card": {"id": "5f7073311f0aab7e1c3dd44b", "name": "x", "closed": True}, "old": {"closed": False}},
        }
    }
    assert provider.normalize_webhook("updateCard", archived)[0].type == "issue.closed"
    moved = {
        "action": {
            "id": "a2",
            "type": "updateCard",
            "date": "2024-01-01T00:00:00.000Z",
            "data": {
                "card": {"id": "5f7073311f0aab7e1c3dd44b", "name": "x"},
                "listBefore": {"id": "l1", "name": "Doing"},
                "listAfter": {"id": "l2", "name": "Done"},
                "old": {"idList": "l1"},
            },
        }
    }
    assert provider.normalize_webhook("updateCard", moved)[0].type == "issue.closed"


CONTRACT_VARIANTS = [
    ContractVariant(
        "trello",
        setup=_contract,
        audit=_audit,
        server=TrelloFake,
        missing_issue_id="5f7073311f0aab7e1c3dd44b",
        # Trello does not say when to come back; its limit windows last 10 seconds. A page: cards, lists and members.
        min_retry_after=10,
        requests_per_page=3,
        revoked=lambda token: {"token": token, "api_key": "tr-key"},
        # in_progress once in_progress_lists is set, priority once priority_labels is; no issue types, parents or templates
        capabilities=kit.capability_set(
            "issues comments labels members due_date webhooks comment_edit comment_delete issue_delete attachments passthrough"
        ),
    )
]
# After the drive: comment edit and delete, attachments (the file's download host is outside the description), card delete.
REQUEST_CHECKS = [
    RequestCheck(
        "trello",
        setup=_request_setup,
        check=_check_requests,
        expected=kit.operations(
            "POST /cards, PUT /cards/{id}, DELETE /cards/{id}, POST /webhooks/, DELETE /webhooks/{id},"
            " POST /cards/{id}/actions/comments, PUT /cards/{id}/actions/{idAction}/comments,"
            " DELETE /cards/{id}/actions/{idAction}/comments, POST /cards/{id}/attachments, GET /cards/{id}/attachments,"
            " DELETE /cards/{id}/attachments/{idAttachment}"
        ),
        after=functools.partial(drive_deeper_operations, download=False),
    )
]
HOOK_BOARD = "5f4fbbc5250c34138444068d"  # the board of the payload files
WEBHOOK_EXPECTATIONS = [
    WebhookExpectation("createCard.json", "createCard", ("issue.created",), HOOK_BOARD, _check_create_card),
    WebhookExpectation("voteOnCard.json", "voteOnCard", ("issue.updated",), HOOK_BOARD),
]

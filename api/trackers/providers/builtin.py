"""The built-in tracker: issues kept in the gateway's own database, no external account needed.

It is also the reference implementation of TrackerProvider: every other provider must behave like it.
Writes are flushed, never committed: the service commits a change together with the events it records.
"""

import re
from datetime import datetime

from marshmallow import ValidationError
from sqlalchemy import and_, func, or_, select, update

from api.models.base import contains_pattern, utcnow
from api.models.trackers import BuiltinComment, BuiltinIssue, BuiltinLabel, Tracker
from api.models.users import User
from api.pagination_cursor import decode_key_cursor
from api.schemas.base import encode_cursor
from api.trackers.base import (
    Capability,
    Comment,
    Issue,
    IssueChanges,
    IssueQuery,
    Label,
    NewIssue,
    Page,
    Person,
    TrackerNotFound,
    TrackerProvider,
    TrackerValidationError,
)

TARGET = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


class BuiltinProvider(TrackerProvider):
    slug = "builtin"
    name = "built-in"
    display_name = "Built-in tracker"
    stores_issues_locally = True
    target_help = "a project key of 1-100 letters, digits, '_', '.', '-'"
    credentials_help = "none ({} or omitted)"
    example = {"name": "Internal backlog", "provider": "builtin", "target": "backlog", "base_url": None,
               "credentials": {}, "options": {}}
    validation_statuses = frozenset()
    capabilities = frozenset({Capability.ISSUES, Capability.COMMENTS, Capability.LABELS, Capability.MEMBERS,
                              Capability.DUE_DATE})

    @classmethod
    def validate_target(cls, target):
        if not TARGET.match(target or ""):
            return "A project key of 1-100 letters, digits, '_', '.' or '-'."
        return None

    @classmethod
    def validate_credentials(cls, credentials):
        return {f"credentials.{key}": ["The built-in tracker takes no credentials."] for key in credentials}

    # ---- helpers ----

    @property
    def _tracker_id(self):
        return self.config.tracker_id

    def _owner(self):
        return self.session.scalar(select(User).join(Tracker, Tracker.owner_id == User.id)
                                   .where(Tracker.id == self._tracker_id))

    def _url(self, number):
        base = self.config.options.get("public_base_url", "")
        return f"{base}/api/v1/trackers/{self._tracker_id}/issues/{number}"

    def _row(self, issue_id):
        try:
            number = int(issue_id)
        except (TypeError, ValueError):
            number = None
        row = None
        if number is not None and 0 < number < 2**31:
            row = self.session.scalar(select(BuiltinIssue).where(BuiltinIssue.tracker_id == self._tracker_id,
                                                                 BuiltinIssue.number == number))
        if row is None:
            raise TrackerNotFound(f"Issue {issue_id} not found.")
        return row

    def _to_issue(self, row):
        return Issue(
            id=str(row.number),
            title=row.title,
            description=row.description,
            status=row.status,
            remote_status=row.status,
            labels=list(row.labels),
            assignees=[Person(id=name, username=name) for name in row.assignees],
            author=Person(id=row.author, username=row.author) if row.author else None,
            url=self._url(row.number),
            created_at=row.created_at,
            updated_at=row.updated_at,
            closed_at=row.closed_at,
            due_date=row.due_date,
            comments_count=row.comments_count,
            remote_data={
                "number": row.number, "title": row.title, "description": row.description, "status": row.status,
                "labels": list(row.labels), "assignees": list(row.assignees), "author": row.author,
                "due_date": row.due_date.isoformat() if row.due_date else None,
                "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat(),
                "closed_at": row.closed_at.isoformat() if row.closed_at else None,
            },
        )

    @staticmethod
    def _to_comment(row):
        return Comment(id=str(row.id), body=row.body,
                       author=Person(id=row.author, username=row.author) if row.author else None,
                       created_at=row.created_at, updated_at=row.updated_at)

    def _check_assignees(self, usernames):
        members = {person.username.lower() for person in self.list_members()}
        unknown = [name for name in usernames if name.lower() not in members]
        if unknown:
            raise TrackerValidationError(f"Not members of this tracker: {', '.join(unknown)}.",
                                         errors={"assignees": [f"Unknown member: {name}" for name in unknown]})

    def _remember_labels(self, names):
        existing = set(self.session.scalars(select(BuiltinLabel.name).where(BuiltinLabel.tracker_id == self._tracker_id)))
        for name in names:
            if name not in existing:
                self.session.add(BuiltinLabel(tracker_id=self._tracker_id, name=name))
                existing.add(name)

    # ---- the interface ----

    def verify(self):
        count = self.session.scalar(select(func.count()).select_from(BuiltinIssue)
                                    .where(BuiltinIssue.tracker_id == self._tracker_id))
        return {"provider": self.slug, "target": self.config.target, "issues": count}

    def list_issues(self, query: IssueQuery):
        stmt = select(BuiltinIssue).where(BuiltinIssue.tracker_id == self._tracker_id)
        if query.status:
            stmt = stmt.where(BuiltinIssue.status == query.status)
        if query.labels:
            stmt = stmt.where(BuiltinIssue.labels.contains(query.labels))
        if query.assignee:
            stmt = stmt.where(BuiltinIssue.assignees.any(query.assignee))
        if query.q:
            pattern = contains_pattern(query.q)
            stmt = stmt.where(or_(BuiltinIssue.title.ilike(pattern, escape="\\"),
                                  BuiltinIssue.description.ilike(pattern, escape="\\")))
        if query.updated_since:
            stmt = stmt.where(BuiltinIssue.updated_at >= query.updated_since)
        if query.cursor:
            updated, row_id = decode_key_cursor(query.cursor, types=(str, int))
            try:
                updated = datetime.fromisoformat(updated)
            except ValueError:
                raise ValidationError({"cursor": ["Invalid cursor."]}) from None
            stmt = stmt.where(or_(BuiltinIssue.updated_at < updated,
                                  and_(BuiltinIssue.updated_at == updated, BuiltinIssue.id < row_id)))
        rows = list(self.session.scalars(stmt.order_by(BuiltinIssue.updated_at.desc(), BuiltinIssue.id.desc())
                                         .limit(query.limit + 1)))
        next_cursor = None
        if len(rows) > query.limit:
            rows = rows[:query.limit]
            next_cursor = encode_cursor([rows[-1].updated_at.isoformat(), rows[-1].id])
        return Page(items=[self._to_issue(row) for row in rows], next_cursor=next_cursor)

    def get_issue(self, issue_id):
        return self._to_issue(self._row(issue_id))

    def create_issue(self, data: NewIssue):
        self._check_assignees(data.assignees)
        number = self.session.execute(update(Tracker).where(Tracker.id == self._tracker_id)
                                      .values(issue_counter=Tracker.issue_counter + 1)
                                      .returning(Tracker.issue_counter)).scalar_one()
        now = utcnow()
        row = BuiltinIssue(tracker_id=self._tracker_id, number=number, title=data.title, description=data.description,
                           labels=list(dict.fromkeys(data.labels)), assignees=list(dict.fromkeys(data.assignees)),
                           author=self.actor, due_date=data.due_date, created_at=now, updated_at=now)
        self.session.add(row)
        self._remember_labels(row.labels)
        self.session.flush()
        return self._to_issue(row)

    def update_issue(self, issue_id, changes: IssueChanges):
        row = self._row(issue_id)
        fields = changes.set_fields()
        if "assignees" in fields:
            self._check_assignees(fields["assignees"])
            row.assignees = list(dict.fromkeys(fields["assignees"]))
        if "labels" in fields:
            row.labels = list(dict.fromkeys(fields["labels"]))
            self._remember_labels(row.labels)
        for name in ("title", "description", "due_date"):
            if name in fields:
                setattr(row, name, fields[name])
        now = utcnow()
        if "status" in fields and fields["status"] != row.status:
            row.status = fields["status"]
            row.closed_at = now if row.status == "closed" else None
        row.updated_at = max(now, row.updated_at)
        self.session.flush()
        return self._to_issue(row)

    def list_comments(self, issue_id, *, limit, cursor):
        row = self._row(issue_id)
        stmt = select(BuiltinComment).where(BuiltinComment.issue_id == row.id)
        if cursor:
            (last,) = decode_key_cursor(cursor)
            stmt = stmt.where(BuiltinComment.id > last)
        comments = list(self.session.scalars(stmt.order_by(BuiltinComment.id).limit(limit + 1)))
        next_cursor = encode_cursor([comments[limit - 1].id]) if len(comments) > limit else None
        return Page(items=[self._to_comment(comment) for comment in comments[:limit]], next_cursor=next_cursor)

    def create_comment(self, issue_id, body):
        row = self._row(issue_id)
        now = utcnow()
        comment = BuiltinComment(issue_id=row.id, body=body, author=self.actor, created_at=now, updated_at=now)
        self.session.add(comment)
        row.comments_count += 1
        row.updated_at = max(now, row.updated_at)
        self.session.flush()
        return self._to_comment(comment)

    def list_labels(self):
        rows = self.session.scalars(select(BuiltinLabel).where(BuiltinLabel.tracker_id == self._tracker_id)
                                    .order_by(BuiltinLabel.name))
        return [Label(name=row.name, color=row.color) for row in rows]

    def list_members(self):
        owner = self._owner()
        return [Person(id=owner.username, username=owner.username)] if owner else []

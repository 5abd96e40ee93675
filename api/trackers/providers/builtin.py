"""The built-in tracker: issues kept in the gateway's own database, no external account needed.

It is also the reference implementation of TrackerProvider: every other provider must behave like it.
Writes are flushed, never committed: the service commits a change together with the events it records.
"""

import re
from collections.abc import Iterator
from datetime import datetime

from marshmallow import ValidationError
from sqlalchemy import Select, and_, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from api.models.base import contains_pattern, utcnow
from api.models.trackers import (
    BuiltinAttachment,
    BuiltinAttachmentChunk,
    BuiltinComment,
    BuiltinIssue,
    BuiltinLabel,
    Tracker,
)
from api.models.users import User
from api.pagination_cursor import decode_key_cursor
from api.schemas.base import encode_cursor
from api.trackers.base import (
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
    TrackerNotFound,
    TrackerProvider,
    TrackerValidationError,
    Upload,
)

TARGET = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
CHUNK_BYTES = 256 * 1024  # one attachment chunk row: what is held in memory at a time, either way
MAX_PARENT_DEPTH = 50


class BuiltinProvider(TrackerProvider):
    slug = "builtin"
    name = "built-in"
    display_name = "Built-in tracker"
    stores_issues_locally = True
    target_help = "a project key of 1-100 letters, digits, '_', '.', '-'"
    credentials_help = "none ({} or omitted)"
    example = {
        "name": "Internal backlog",
        "provider": "builtin",
        "target": "backlog",
        "base_url": None,
        "credentials": {},
        "options": {},
    }
    validation_statuses = frozenset()
    capabilities = Capability.named(
        "issues comments labels members due_date",
        "in_progress priority issue_type parent",
        "comment_edit comment_delete issue_delete attachments",
    )
    native_fields = frozenset({"status_category", "priority"})
    session: Session  # always given: the built-in tracker reads and writes the caller's session

    @classmethod
    def validate_target(cls, target: str) -> str | None:
        if not TARGET.match(target or ""):
            return "A project key of 1-100 letters, digits, '_', '.' or '-'."
        return None

    @classmethod
    def validate_credentials(cls, credentials: dict) -> dict:
        return {f"credentials.{key}": ["The built-in tracker takes no credentials."] for key in credentials}

    # ---- helpers ----

    @property
    def _tracker_id(self) -> int | None:
        return self.config.tracker_id

    def _owner(self) -> User | None:
        return self.session.scalar(select(User).join(Tracker, Tracker.owner_id == User.id).where(Tracker.id == self._tracker_id))

    def _url(self, number: int) -> str:
        base = self.config.options.get("public_base_url", "")
        return f"{base}/api/v1/trackers/{self._tracker_id}/issues/{number}"

    def _row(self, issue_id: str) -> BuiltinIssue:
        try:
            number = int(issue_id)
        except (TypeError, ValueError):
            number = None
        row = None
        if number is not None and 0 < number < 2**31:
            row = self.session.scalar(
                select(BuiltinIssue).where(BuiltinIssue.tracker_id == self._tracker_id, BuiltinIssue.number == number)
            )
        if row is None:
            raise TrackerNotFound(f"Issue {issue_id} not found.")
        return row

    def _parent_numbers(self, rows: list[BuiltinIssue]) -> dict[int | None, int]:
        ids = {row.parent_id for row in rows if row.parent_id}
        if not ids:
            return {}
        stmt = select(BuiltinIssue.id, BuiltinIssue.number).where(BuiltinIssue.id.in_(ids))
        return dict(self.session.execute(stmt).tuples().all())

    def _to_issue(self, row: BuiltinIssue, parents: dict[int | None, int] | None = None) -> Issue:
        parents = self._parent_numbers([row]) if parents is None else parents
        parent = parents.get(row.parent_id)
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
            status_category=row.status_category,
            priority=row.priority,
            remote_priority=row.priority,
            issue_type=row.issue_type,
            parent_id=str(parent) if parent else None,
            remote_data={
                "number": row.number,
                "title": row.title,
                "description": row.description,
                "status": row.status,
                "labels": list(row.labels),
                "assignees": list(row.assignees),
                "author": row.author,
                "due_date": row.due_date.isoformat() if row.due_date else None,
                "created_at": row.created_at.isoformat(),
                "updated_at": row.updated_at.isoformat(),
                "closed_at": row.closed_at.isoformat() if row.closed_at else None,
                "status_category": row.status_category,
                "priority": row.priority,
                "issue_type": row.issue_type,
                "parent": parent,
            },
        )

    @staticmethod
    def _to_comment(row: BuiltinComment) -> Comment:
        return Comment(
            id=str(row.id),
            body=row.body,
            author=Person(id=row.author, username=row.author) if row.author else None,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def _check_assignees(self, usernames: list[str]) -> None:
        members = {person.username.lower() for person in self.list_members()}
        unknown = [name for name in usernames if name.lower() not in members]
        if unknown:
            raise TrackerValidationError(
                f"Not members of this tracker: {', '.join(unknown)}.",
                errors={"assignees": [f"Unknown member: {name}" for name in unknown]},
            )

    def _remember_labels(self, names: list[str]) -> None:
        existing = set(self.session.scalars(select(BuiltinLabel.name).where(BuiltinLabel.tracker_id == self._tracker_id)))
        for name in names:
            if name not in existing:
                self.session.add(BuiltinLabel(tracker_id=self._tracker_id, name=name))
                existing.add(name)

    # ---- the interface ----

    def verify(self) -> dict:
        count = self.session.scalar(
            select(func.count()).select_from(BuiltinIssue).where(BuiltinIssue.tracker_id == self._tracker_id)
        )
        return {"provider": self.slug, "target": self.config.target, "issues": count}

    @staticmethod
    def _where_fields(stmt: Select, query: IssueQuery) -> Select:
        """The query's filters on the issue's own columns."""
        if query.status:
            stmt = stmt.where(BuiltinIssue.status == query.status)
        if query.labels:
            stmt = stmt.where(BuiltinIssue.labels.contains(query.labels))
        if query.assignee:
            stmt = stmt.where(BuiltinIssue.assignees.any_() == query.assignee)
        if query.q:
            pattern = contains_pattern(query.q)
            stmt = stmt.where(
                or_(BuiltinIssue.title.ilike(pattern, escape="\\"), BuiltinIssue.description.ilike(pattern, escape="\\"))
            )
        if query.updated_since:
            stmt = stmt.where(BuiltinIssue.updated_at >= query.updated_since)
        if query.status_category:
            stmt = stmt.where(BuiltinIssue.status_category == query.status_category)
        if query.priority:
            stmt = stmt.where(BuiltinIssue.priority == query.priority)
        return stmt

    @staticmethod
    def _after_cursor(stmt: Select, cursor: str | None) -> Select:
        if not cursor:
            return stmt
        updated, row_id = decode_key_cursor(cursor, types=(str, int))
        try:
            updated = datetime.fromisoformat(updated)
        except ValueError:
            raise ValidationError({"cursor": ["Invalid cursor."]}) from None
        return stmt.where(
            or_(BuiltinIssue.updated_at < updated, and_(BuiltinIssue.updated_at == updated, BuiltinIssue.id < row_id))
        )

    def list_issues(self, query: IssueQuery) -> Page:
        stmt = self._where_fields(select(BuiltinIssue).where(BuiltinIssue.tracker_id == self._tracker_id), query)
        if query.parent_id is not None:
            try:
                parent = self._row(query.parent_id)
            except TrackerNotFound:
                return Page(items=[])
            stmt = stmt.where(BuiltinIssue.parent_id == parent.id)
        stmt = self._after_cursor(stmt, query.cursor)
        rows = list(
            self.session.scalars(stmt.order_by(BuiltinIssue.updated_at.desc(), BuiltinIssue.id.desc()).limit(query.limit + 1))
        )
        next_cursor = None
        if len(rows) > query.limit:
            rows = rows[: query.limit]
            next_cursor = encode_cursor([rows[-1].updated_at.isoformat(), rows[-1].id])
        parents = self._parent_numbers(rows)
        return Page(items=[self._to_issue(row, parents) for row in rows], next_cursor=next_cursor)

    def get_issue(self, issue_id: str) -> Issue:
        return self._to_issue(self._row(issue_id))

    def create_issue(self, data: NewIssue) -> Issue:
        self._check_assignees(data.assignees)
        number = self.session.execute(
            update(Tracker)
            .where(Tracker.id == self._tracker_id)
            .values(issue_counter=Tracker.issue_counter + 1)
            .returning(Tracker.issue_counter)
        ).scalar_one()
        now = utcnow()
        row = BuiltinIssue(
            tracker_id=self._tracker_id,
            number=number,
            title=data.title,
            description=data.description,
            labels=list(dict.fromkeys(data.labels)),
            assignees=list(dict.fromkeys(data.assignees)),
            author=self.actor,
            due_date=data.due_date,
            created_at=now,
            updated_at=now,
            priority=data.priority,
            issue_type=data.issue_type,
            parent_id=self._parent_row(data.parent_id).id if data.parent_id else None,
        )
        self.session.add(row)
        self._remember_labels(row.labels)
        self.session.flush()
        return self._to_issue(row)

    def update_issue(self, issue_id: str, changes: IssueChanges) -> Issue:
        row = self._row(issue_id)
        fields = changes.set_fields()
        if "assignees" in fields:
            self._check_assignees(fields["assignees"])
            row.assignees = list(dict.fromkeys(fields["assignees"]))
        if "labels" in fields:
            row.labels = list(dict.fromkeys(fields["labels"]))
            self._remember_labels(row.labels)
        for name in ("title", "description", "due_date", "priority"):
            if name in fields:
                setattr(row, name, fields[name])
        if "parent_id" in fields:
            row.parent_id = self._parent_row(fields["parent_id"], child=row).id if fields["parent_id"] else None
        now = utcnow()
        self._set_status(row, fields.get("status"), fields.get("status_category"), now)
        row.updated_at = max(now, row.updated_at)
        self.session.flush()
        return self._to_issue(row)

    @staticmethod
    def _set_status(row: BuiltinIssue, status: str | None, category: str | None, now: datetime) -> None:
        """Status and status category move together: done is closed, every other category open."""
        if category:
            wanted = "closed" if category == "done" else "open"
            if status and status != wanted:
                raise TrackerValidationError(
                    "status and status_category disagree.", errors={"status_category": [f"{category!r} means status {wanted!r}."]}
                )
            status = wanted
        if status and status != row.status:
            row.status = status
            row.closed_at = now if row.status == "closed" else None
        if category:
            row.status_category = category
        elif status:
            row.status_category = (
                "done" if row.status == "closed" else (row.status_category if row.status_category != "done" else "todo")
            )

    def _parent_row(self, parent_id: str, child: BuiltinIssue | None = None) -> BuiltinIssue:
        try:
            parent = self._row(parent_id)
        except TrackerNotFound:
            raise TrackerValidationError(
                f"No issue {parent_id} on this tracker.", errors={"parent_id": ["No such issue on this tracker."]}
            ) from None
        ancestor: BuiltinIssue | None
        ancestor, depth = parent, 0
        while child is not None and ancestor is not None and depth <= MAX_PARENT_DEPTH:
            if ancestor.id == child.id:
                raise TrackerValidationError(
                    "An issue cannot be its own ancestor.", errors={"parent_id": ["Would make a cycle."]}
                )
            ancestor = self.session.get(BuiltinIssue, ancestor.parent_id) if ancestor.parent_id else None
            depth += 1
        return parent

    def list_children(self, issue_id: str, *, limit: int, cursor: str | None) -> Page:
        row = self._row(issue_id)
        stmt = select(BuiltinIssue).where(BuiltinIssue.parent_id == row.id)
        if cursor:
            (last,) = decode_key_cursor(cursor)
            stmt = stmt.where(BuiltinIssue.number > last)
        rows = list(self.session.scalars(stmt.order_by(BuiltinIssue.number).limit(limit + 1)))
        next_cursor = encode_cursor([rows[limit - 1].number]) if len(rows) > limit else None
        parents: dict[int | None, int] = {row.id: row.number}
        return Page(items=[self._to_issue(child, parents) for child in rows[:limit]], next_cursor=next_cursor)

    def delete_issue(self, issue_id: str) -> None:
        row = self._row(issue_id)
        self.session.delete(row)
        self.session.flush()

    def _comment_row(self, issue_id: str, comment_id: str) -> tuple[BuiltinIssue, BuiltinComment]:
        row = self._row(issue_id)
        comment = None
        if str(comment_id).isdigit() and int(comment_id) < 2**31:
            comment = self.session.scalar(
                select(BuiltinComment).where(BuiltinComment.id == int(comment_id), BuiltinComment.issue_id == row.id)
            )
        if comment is None:
            raise TrackerNotFound(f"Comment {comment_id} not found.")
        return row, comment

    def update_comment(self, issue_id: str, comment_id: str, body: str) -> Comment:
        _row, comment = self._comment_row(issue_id, comment_id)
        comment.body = body
        comment.updated_at = max(utcnow(), comment.updated_at)
        self.session.flush()
        return self._to_comment(comment)

    def delete_comment(self, issue_id: str, comment_id: str) -> None:
        row, comment = self._comment_row(issue_id, comment_id)
        self.session.delete(comment)
        row.comments_count = max(0, row.comments_count - 1)
        row.updated_at = max(utcnow(), row.updated_at)
        self.session.flush()

    # ---- attachments: rows of CHUNK_BYTES, written and read one at a time ----

    def _to_attachment(self, issue_number: int, row: BuiltinAttachment) -> Attachment:
        return Attachment(
            id=str(row.id),
            filename=row.filename,
            content_type=row.content_type,
            size=row.size,
            author=Person(id=row.author, username=row.author) if row.author else None,
            created_at=row.created_at,
            url=f"{self._url(issue_number)}/attachments/{row.id}/content",
        )

    def _attachment_row(self, issue_id: str, attachment_id: str) -> tuple[BuiltinIssue, BuiltinAttachment]:
        row = self._row(issue_id)
        attachment = None
        if str(attachment_id).isdigit() and int(attachment_id) < 2**31:
            attachment = self.session.scalar(
                select(BuiltinAttachment).where(BuiltinAttachment.id == int(attachment_id), BuiltinAttachment.issue_id == row.id)
            )
        if attachment is None:
            raise TrackerNotFound(f"Attachment {attachment_id} not found.")
        return row, attachment

    def list_attachments(self, issue_id: str) -> list[Attachment]:
        row = self._row(issue_id)
        rows = self.session.scalars(
            select(BuiltinAttachment).where(BuiltinAttachment.issue_id == row.id).order_by(BuiltinAttachment.id)
        )
        return [self._to_attachment(row.number, attachment) for attachment in rows]

    def add_attachment(self, issue_id: str, upload: Upload) -> Attachment:
        row = self._row(issue_id)
        attachment = BuiltinAttachment(
            issue_id=row.id,
            filename=upload.filename,
            content_type=upload.content_type,
            size=0,
            author=self.actor,
            created_at=utcnow(),
        )
        self.session.add(attachment)
        self.session.flush()
        seq = size = 0
        while chunk := upload.stream.read(CHUNK_BYTES):
            self.session.execute(insert(BuiltinAttachmentChunk).values(attachment_id=attachment.id, seq=seq, data=chunk))
            seq, size = seq + 1, size + len(chunk)
        attachment.size = size
        row.updated_at = max(utcnow(), row.updated_at)
        self.session.flush()
        return self._to_attachment(row.number, attachment)

    def open_attachment(self, issue_id: str, attachment_id: str) -> AttachmentContent:
        _row, attachment = self._attachment_row(issue_id, attachment_id)
        session, key = self.session, attachment.id
        count = session.scalar(
            select(func.count()).select_from(BuiltinAttachmentChunk).where(BuiltinAttachmentChunk.attachment_id == key)
        )

        def chunks() -> Iterator[bytes]:
            for seq in range(count or 0):
                data = session.scalar(
                    select(BuiltinAttachmentChunk.data).where(
                        BuiltinAttachmentChunk.attachment_id == key, BuiltinAttachmentChunk.seq == seq
                    )
                )
                if data is None:
                    return
                yield bytes(data)

        return AttachmentContent(
            filename=attachment.filename, content_type=attachment.content_type, size=attachment.size, chunks=chunks()
        )

    def delete_attachment(self, issue_id: str, attachment_id: str) -> None:
        row, attachment = self._attachment_row(issue_id, attachment_id)
        self.session.execute(delete(BuiltinAttachmentChunk).where(BuiltinAttachmentChunk.attachment_id == attachment.id))
        self.session.delete(attachment)
        row.updated_at = max(utcnow(), row.updated_at)
        self.session.flush()

    def list_comments(self, issue_id: str, *, limit: int, cursor: str | None) -> Page:
        row = self._row(issue_id)
        stmt = select(BuiltinComment).where(BuiltinComment.issue_id == row.id)
        if cursor:
            (last,) = decode_key_cursor(cursor)
            stmt = stmt.where(BuiltinComment.id > last)
        comments = list(self.session.scalars(stmt.order_by(BuiltinComment.id).limit(limit + 1)))
        next_cursor = encode_cursor([comments[limit - 1].id]) if len(comments) > limit else None
        return Page(items=[self._to_comment(comment) for comment in comments[:limit]], next_cursor=next_cursor)

    def create_comment(self, issue_id: str, body: str) -> Comment:
        row = self._row(issue_id)
        now = utcnow()
        comment = BuiltinComment(issue_id=row.id, body=body, author=self.actor, created_at=now, updated_at=now)
        self.session.add(comment)
        row.comments_count += 1
        row.updated_at = max(now, row.updated_at)
        self.session.flush()
        return self._to_comment(comment)

    def list_labels(self) -> list[Label]:
        rows = self.session.scalars(
            select(BuiltinLabel).where(BuiltinLabel.tracker_id == self._tracker_id).order_by(BuiltinLabel.name)
        )
        return [Label(name=row.name, color=row.color) for row in rows]

    def list_members(self) -> list[Person]:
        owner = self._owner()
        return [Person(id=owner.username, username=owner.username)] if owner else []

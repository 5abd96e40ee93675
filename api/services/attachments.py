"""Issue attachments on every provider that has them: upload checks (size, sniffed type, safe name) and streaming."""

import re
import unicodedata
from typing import IO, Any

from flask import current_app
from marshmallow import ValidationError
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from api.errors import ApiError, ValidationFailed
from api.models.users import User
from api.schemas.base import decode_cursor, encode_cursor
from api.services import events as events_service
from api.services.trackers import _issue_scoped, call_provider, connect
from api.trackers.base import Attachment, AttachmentContent, Capability, Upload, WebhookEvent

SNIFF_BYTES = 2048
MAX_OFFSET = 10_000  # attachments listed per issue, far above any provider's
MULTIPART_OVERHEAD = 16 * 1024  # boundaries and part headers around the one file
MAX_FILENAME = 255
# Leading bytes -> the only type such a file is stored and served as.
MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
)
# Declared text types kept as declared for text content; anything a browser could run is stored as text/plain.
TEXT_TYPES = frozenset(
    {
        "text/plain",
        "text/markdown",
        "text/csv",
        "text/x-log",
        "application/json",
        "application/xml",
        "application/x-yaml",
        "text/yaml",
    }
)
ZIP_FAMILY = frozenset(
    {
        "application/zip",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/java-archive",
        "application/epub+zip",
    }
)
GENERIC = frozenset({"", "application/octet-stream", "binary/octet-stream"})
# Types a browser would run or render as a page: reported and served as text/plain, whatever a provider says.
ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/javascript",
        "application/javascript",
        "text/xml",
        "application/xml",
        "text/css",
    }
)


class AttachmentTooLarge(ApiError):
    code, error, message = 413, "payload_too_large", "The file is larger than the attachment limit."


def upload_limit(content_length: int | None, *, multipart: bool) -> int | None:
    """The request body limit for an upload (ATTACHMENT_MAX_BYTES plus room for the multipart framing); 413 above it.

    Only a multipart upload gets the attachment limit: any other body keeps MAX_CONTENT_LENGTH.
    """
    if not multipart:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        if content_length is not None and limit is not None and content_length > limit:
            raise AttachmentTooLarge(f"The request body is larger than the limit of {limit} bytes.")
        return limit
    limit = current_app.config["ATTACHMENT_MAX_BYTES"]
    if content_length is not None and content_length > limit + MULTIPART_OVERHEAD:
        raise AttachmentTooLarge(f"The file is larger than the attachment limit of {limit} bytes.")
    return limit + MULTIPART_OVERHEAD


class AttachmentTypeMismatch(ApiError):
    code, error, message = 422, "attachment_type_mismatch", "The file's content does not match its declared type."


def sanitize_filename(name: str | None) -> str:
    """A file name safe in a header and on any provider: its last path part, printable, no quotes, bounded."""
    name = unicodedata.normalize("NFC", str(name or "")).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C" and ch not in '"<>:*?|;')
    name = re.sub(r"\s+", " ", name).strip().lstrip(".").strip()
    if len(name) > MAX_FILENAME:
        stem, dot, extension = name.rpartition(".")
        extension = extension[:20] if dot and stem else ""
        name = name[: MAX_FILENAME - len(extension) - 1].rstrip() + ("." + extension if extension else "")
    return name or "attachment"


def sniff(head: bytes) -> str:
    """The content type the first bytes show: a known magic number, UTF-8 text, or application/octet-stream."""
    for magic, content_type in MAGIC:
        if head.startswith(magic):
            return content_type
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
            return "text/plain"
        except UnicodeDecodeError as exc:
            if exc.start >= len(head) - 4:  # a multi-byte character cut by the sniff window
                return "text/plain"
    return "application/octet-stream"


def checked_type(declared: str | None, sniffed: str) -> str:
    """The type to store: the sniffed one, a declared text type for text, or 422 when the declaration contradicts the bytes."""
    declared = (declared or "").split(";", 1)[0].strip().lower()
    if declared in GENERIC or declared == sniffed:
        return sniffed
    if sniffed == "text/plain" and (declared in TEXT_TYPES or declared.startswith("text/")):
        return declared if declared in TEXT_TYPES else "text/plain"
    if sniffed == "application/zip" and declared in ZIP_FAMILY:
        return declared
    if sniffed == "application/octet-stream" and not declared.startswith(("image/", "text/", "application/pdf")):
        return "application/octet-stream"
    raise AttachmentTypeMismatch(f"The file is {sniffed}, not {declared}.", errors={"file": [f"Content is {sniffed}."]})


def safe_type(content_type: str | None) -> str:
    """A content type the gateway will report and serve: active ones become text/plain."""
    base = (content_type or "application/octet-stream").split(";", 1)[0].strip().lower()
    return "text/plain" if base in ACTIVE_TYPES else base


def _size(stream: IO[bytes]) -> int:
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return size


def _attachment_dict(attachment: Attachment) -> dict[str, Any]:
    return {**vars(attachment), "content_type": safe_type(attachment.content_type)}


@_issue_scoped
def list_attachments(
    *, session: Session, owner: User, tracker_id: int, issue_id: str, limit: int, cursor: str | None
) -> dict[str, Any]:
    """An issue's attachments, oldest first."""
    tracker, provider = connect(session=session, owner=owner, tracker_id=tracker_id)
    provider.require(Capability.ATTACHMENTS, "Attachments")
    offset = decode_cursor(cursor, types=(int,))[0] if cursor else 0
    if not 0 <= offset <= MAX_OFFSET:
        raise ValidationError({"cursor": ["Invalid cursor."]})
    items = call_provider(tracker, "list_attachments", provider.list_attachments, issue_id)
    window = items[offset : offset + limit]
    more = offset + limit < len(items)
    return {
        "attachments": [_attachment_dict(item) for item in window],
        "next_cursor": encode_cursor([offset + limit]) if more else None,
    }


@_issue_scoped
def add_attachment(*, session: Session, owner: User, tracker_id: int, issue_id: str, file: FileStorage | None) -> dict[str, Any]:
    """Attach an uploaded file (werkzeug FileStorage, spooled to disk past a small size) to an issue."""
    tracker, provider = connect(session=session, owner=owner, tracker_id=tracker_id)
    provider.require(Capability.ATTACHMENTS, "Attachments")
    if file is None:
        raise ValidationFailed("Send the file as multipart/form-data field `file`.", errors={"file": ["Required."]})
    stream = file.stream
    size = _size(stream)
    limit = current_app.config["ATTACHMENT_MAX_BYTES"]
    if size > limit:  # the body limit leaves room for the multipart framing
        raise AttachmentTooLarge(f"The file is larger than the attachment limit of {limit} bytes.")
    if size == 0:
        raise ValidationFailed("The file is empty.", errors={"file": ["Empty."]})
    head = stream.read(SNIFF_BYTES)
    stream.seek(0)
    upload = Upload(
        filename=sanitize_filename(file.filename), content_type=checked_type(file.mimetype, sniff(head)), size=size, stream=stream
    )
    attachment = call_provider(tracker, "add_attachment", provider.add_attachment, issue_id, upload)
    if provider.stores_issues_locally:
        issue = provider.get_issue(issue_id)
        events_service.emit(
            session=session,
            tracker=tracker,
            items=[WebhookEvent("attachment.created", issue.id, issue, changes={"attachment": _attachment_dict(attachment)})],
        )
        session.commit()
    return _attachment_dict(attachment)


@_issue_scoped
def open_attachment(*, session: Session, owner: User, tracker_id: int, issue_id: str, attachment_id: str) -> AttachmentContent:
    """An attachment's name, type, size and chunks (streamed by the caller, fetched with the stored credentials)."""
    tracker, provider = connect(session=session, owner=owner, tracker_id=tracker_id)
    provider.require(Capability.ATTACHMENTS, "Attachments")
    content = call_provider(tracker, "open_attachment", provider.open_attachment, issue_id, attachment_id)
    content.content_type = safe_type(content.content_type)
    return content


@_issue_scoped
def delete_attachment(*, session: Session, owner: User, tracker_id: int, issue_id: str, attachment_id: str) -> None:
    """Remove an attachment."""
    tracker, provider = connect(session=session, owner=owner, tracker_id=tracker_id)
    provider.require(Capability.ATTACHMENTS, "Attachments")
    call_provider(tracker, "delete_attachment", provider.delete_attachment, issue_id, attachment_id)
    if provider.stores_issues_locally:
        issue = provider.get_issue(issue_id)
        events_service.emit(
            session=session,
            tracker=tracker,
            items=[WebhookEvent("attachment.deleted", issue.id, issue, changes={"attachment": {"id": str(attachment_id)}})],
        )
        session.commit()

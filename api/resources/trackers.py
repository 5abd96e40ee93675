"""Namespace `trackers`: tracker connections and the unified issue API on each of them."""

import json
from urllib.parse import quote

from flask import Response, request, stream_with_context
from flask_restx import Resource, reqparse
from werkzeug.datastructures import FileStorage

from api.auth import current_user
from api.errors import UnsupportedMediaType
from api.extensions import db
from api.ratelimit import configured, limiter
from api.resources.helpers import ApiNamespace, for_caller, load_query
from api.schemas.base import list_of, message_schema
from api.schemas.events import event_schema
from api.schemas.trackers import (
    TrackerUpdateSchema,
    attachment_schema,
    comment_schema,
    comment_update_schema,
    issue_create_schema,
    issue_get_query_schema,
    issue_query_schema,
    issue_schema,
    issue_update_schema,
    label_schema,
    no_query_schema,
    passthrough_request_schema,
    passthrough_response_schema,
    person_schema,
    tracker_resync_result_schema,
    tracker_resync_schema,
    tracker_schema,
    tracker_update_schema,
    tracker_verification_schema,
    webhook_registration_schema,
)
from api.services import attachments as attachments_service
from api.services import events as events_service
from api.services import passthrough as passthrough_service
from api.services import polling as polling_service
from api.services import trackers as trackers_service
from api.services import webhooks as webhooks_service
from api.services.trackers import TrackerView

# Credentials are write-only: they are in the request models and never in the response ones.
ns = ApiNamespace(
    "trackers",
    description="Tracker connections and one issue API over all of them",
    path_params={
        "tracker_id": "the tracker's id",
        "issue_id": "the issue's id on the tracker",
        "comment_id": "the comment's id",
        "attachment_id": "the attachment's id",
    },
)

upload_parser = reqparse.RequestParser(bundle_errors=True)
upload_parser.add_argument(
    "file",
    location="files",
    type=FileStorage,
    required=True,
    help="the file (multipart/form-data); at most ATTACHMENT_MAX_BYTES (10 MiB by default)",
)
NOT_SUPPORTED = {400: "Invalid input, or not_supported: the provider cannot do this (see the tracker's capabilities)"}

TRACKER_ERRORS = (404, 502, 503, 504)


def own_tracker(tracker_id, **_):
    """The caller's tracker, or 404 (checked before the body is read, so a 404 comes before a 415)."""
    return for_caller(trackers_service.get_tracker, tracker_id=tracker_id)


def index_age(result):
    """The page, and for answers from the local index the age of the stalest tracker's last poll in X-Index-Age."""
    age = result.pop("index_age", None)
    return result, ({"X-Index-Age": str(age)} if age is not None else {})


@ns.route("/")
class TrackerList(Resource):
    @ns.paginated(tracker_schema, "trackers", "Your trackers, oldest first")
    def get(self, query):
        """List your tracker connections."""
        page = for_caller(trackers_service.list_trackers, **query)
        return {"trackers": [TrackerView(tracker) for tracker in page.items], "next_cursor": page.next_cursor}

    @ns.doc(
        description="One example body per provider:\n\n"
        + "\n".join(f"- {name}: `{json.dumps(body)}`" for name, body in trackers_service.provider_examples().items())
    )
    @ns.body(tracker_schema)
    @ns.returns(tracker_schema, 201, "Tracker connected")
    @ns.errors(409)
    def post(self, data):
        """Connect a tracker (credentials are stored encrypted and never returned)."""
        return TrackerView(for_caller(trackers_service.create_tracker, data=data))


@ns.route("/<int:tracker_id>")
class Tracker(Resource):
    @ns.returns(tracker_schema, 200, "The tracker")
    @ns.errors(404)
    def get(self, tracker_id):
        """Get one of your trackers."""
        return TrackerView(own_tracker(tracker_id))

    @ns.body(tracker_update_schema, first=lambda tracker_id: TrackerUpdateSchema(provider=own_tracker(tracker_id).provider))
    @ns.returns(tracker_schema, 200, "Tracker updated")
    @ns.errors(404, 409)
    def patch(self, tracker_id, data):
        """Change a tracker's name, target, base URL, credentials or options."""
        return TrackerView(for_caller(trackers_service.update_tracker, tracker_id=tracker_id, data=data))

    @ns.returns(message_schema, 200, "Tracker deleted")
    @ns.errors(404)
    def delete(self, tracker_id):
        """Disconnect a tracker."""
        for_caller(trackers_service.delete_tracker, tracker_id=tracker_id)
        return {"message": f"tracker deleted {tracker_id}"}


@ns.route("/<int:tracker_id>/verify")
class TrackerVerify(Resource):
    @ns.returns(tracker_verification_schema, 200, "Credentials and target work")
    @ns.errors(400, 422, *TRACKER_ERRORS)
    def post(self, tracker_id):
        """Check the stored credentials and target against the provider."""
        return for_caller(trackers_service.verify_tracker, tracker_id=tracker_id)


@ns.route("/<int:tracker_id>/issues")
class IssueList(Resource):
    @ns.paginated(issue_schema, "issues", "Issues, most recently updated first", query=issue_query_schema)
    @ns.errors(*TRACKER_ERRORS)
    def get(self, tracker_id, query):
        """List a tracker's issues with filters."""
        return index_age(for_caller(trackers_service.list_issues, tracker_id=tracker_id, query=query))

    @ns.body(issue_create_schema, idempotent=True)
    @ns.returns(issue_schema, 201, "Issue created")
    @ns.errors(409, 422, *TRACKER_ERRORS)
    def post(self, tracker_id, data):
        """Create an issue."""
        return for_caller(trackers_service.create_issue, tracker_id=tracker_id, data=data)


@ns.route("/<int:tracker_id>/issues/<string:issue_id>")
class Issue(Resource):
    @ns.query(issue_get_query_schema)
    @ns.returns(issue_schema, 200, "The issue")
    @ns.errors(*TRACKER_ERRORS)
    def get(self, tracker_id, issue_id, query):
        """Get one issue."""
        return for_caller(trackers_service.get_issue, tracker_id=tracker_id, issue_id=issue_id, **query)

    @ns.body(issue_update_schema)
    @ns.returns(issue_schema, 200, "Issue updated")
    @ns.errors(422, *TRACKER_ERRORS)
    def patch(self, tracker_id, issue_id, data):
        """Change title, description, status, labels, assignees or due date."""
        return for_caller(trackers_service.update_issue, tracker_id=tracker_id, issue_id=issue_id, data=data)

    @ns.returns(message_schema, 200, "Issue deleted (an issue.deleted event)")
    @ns.errors(
        400,
        403,
        *TRACKER_ERRORS,
        descriptions={**NOT_SUPPORTED, 403: "The provider refused its token this (its reason in the message)"},
    )
    def delete(self, tracker_id, issue_id):
        """Delete an issue where the provider can (else 400 not_supported; closing stays a PATCH)."""
        load_query(no_query_schema)
        for_caller(trackers_service.delete_issue, tracker_id=tracker_id, issue_id=issue_id)
        return {"message": f"issue deleted {issue_id}"}


@ns.route("/<int:tracker_id>/issues/<string:issue_id>/children")
@ns.doc(params={"issue_id": "the parent issue's id"})
class IssueChildren(Resource):
    @ns.paginated(issue_schema, "issues", "Issues whose parent is this issue")
    @ns.errors(*TRACKER_ERRORS, descriptions=NOT_SUPPORTED)
    def get(self, tracker_id, issue_id, query):
        """List an issue's children (sub-issues)."""
        return for_caller(trackers_service.list_children, tracker_id=tracker_id, issue_id=issue_id, **query)


@ns.route("/<int:tracker_id>/issues/<string:issue_id>/comments")
class CommentList(Resource):
    @ns.paginated(comment_schema, "comments", "Comments, oldest first")
    @ns.errors(*TRACKER_ERRORS)
    def get(self, tracker_id, issue_id, query):
        """List an issue's comments."""
        return for_caller(trackers_service.list_comments, tracker_id=tracker_id, issue_id=issue_id, **query)

    @ns.body(comment_schema, idempotent=True)
    @ns.returns(comment_schema, 201, "Comment added")
    @ns.errors(409, 422, *TRACKER_ERRORS)
    def post(self, tracker_id, issue_id, data):
        """Comment on an issue."""
        return for_caller(trackers_service.create_comment, tracker_id=tracker_id, issue_id=issue_id, body=data["body"])


@ns.route("/<int:tracker_id>/issues/<string:issue_id>/comments/<string:comment_id>")
class IssueComment(Resource):
    @ns.body(comment_update_schema, first=own_tracker)
    @ns.returns(comment_schema, 200, "Comment changed")
    @ns.errors(403, 422, *TRACKER_ERRORS, descriptions=NOT_SUPPORTED)
    def patch(self, tracker_id, issue_id, comment_id, data):
        """Edit a comment (as far as the provider lets the stored token; its refusal is a 403 with its reason)."""
        return for_caller(
            trackers_service.update_comment, tracker_id=tracker_id, issue_id=issue_id, comment_id=comment_id, body=data["body"]
        )

    @ns.returns(message_schema, 200, "Comment deleted")
    @ns.errors(400, 403, *TRACKER_ERRORS, descriptions=NOT_SUPPORTED)
    def delete(self, tracker_id, issue_id, comment_id):
        """Delete a comment (as far as the provider lets the stored token)."""
        load_query(no_query_schema)
        for_caller(trackers_service.delete_comment, tracker_id=tracker_id, issue_id=issue_id, comment_id=comment_id)
        return {"message": f"comment deleted {comment_id}"}


@ns.route("/<int:tracker_id>/issues/<string:issue_id>/attachments")
class AttachmentList(Resource):
    @ns.paginated(attachment_schema, "attachments", "Attachments, oldest first")
    @ns.errors(*TRACKER_ERRORS, descriptions=NOT_SUPPORTED)
    def get(self, tracker_id, issue_id, query):
        """List an issue's attachments."""
        return for_caller(attachments_service.list_attachments, tracker_id=tracker_id, issue_id=issue_id, **query)

    @ns.expect(upload_parser)
    @ns.returns(attachment_schema, 201, "File attached")
    @ns.errors(
        400,
        413,
        415,
        422,
        *TRACKER_ERRORS,
        descriptions={
            **NOT_SUPPORTED,
            413: "The file is larger than ATTACHMENT_MAX_BYTES",
            422: "The file's content contradicts its declared type",
        },
    )
    def post(self, tracker_id, issue_id):
        """Attach a file: multipart/form-data field `file` (type sniffed and checked, name sanitized)."""
        own_tracker(tracker_id)  # 404 before 415
        multipart = request.mimetype == "multipart/form-data"
        request.max_content_length = attachments_service.upload_limit(request.content_length, multipart=multipart)
        load_query(no_query_schema)
        if not multipart:
            raise UnsupportedMediaType("Send the file as multipart/form-data (field `file`).")
        return for_caller(
            attachments_service.add_attachment, tracker_id=tracker_id, issue_id=issue_id, file=request.files.get("file")
        )


@ns.route("/<int:tracker_id>/issues/<string:issue_id>/attachments/<string:attachment_id>")
class IssueAttachment(Resource):
    @ns.returns(message_schema, 200, "Attachment removed")
    @ns.errors(400, *TRACKER_ERRORS, descriptions=NOT_SUPPORTED)
    def delete(self, tracker_id, issue_id, attachment_id):
        """Remove an attachment."""
        load_query(no_query_schema)
        for_caller(attachments_service.delete_attachment, tracker_id=tracker_id, issue_id=issue_id, attachment_id=attachment_id)
        return {"message": f"attachment deleted {attachment_id}"}


def _content_disposition(filename):
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename) or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@ns.route("/<int:tracker_id>/issues/<string:issue_id>/attachments/<string:attachment_id>/content")
class AttachmentContent(Resource):
    @ns.produces(["application/octet-stream", "application/json"])
    @ns.response(200, "The file's bytes, streamed (Content-Disposition: attachment)")
    @ns.errors(400, *TRACKER_ERRORS, descriptions=NOT_SUPPORTED)
    def get(self, tracker_id, issue_id, attachment_id):
        """Download an attachment through the gateway (never rendered inline)."""
        load_query(no_query_schema)
        content = for_caller(
            attachments_service.open_attachment, tracker_id=tracker_id, issue_id=issue_id, attachment_id=attachment_id
        )
        response = Response(
            stream_with_context(content.chunks),
            mimetype=content.content_type or "application/octet-stream",
            direct_passthrough=True,
        )
        response.headers["Content-Disposition"] = _content_disposition(content.filename)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
        response.headers["Cache-Control"] = "private, no-store"
        if content.size is not None:
            response.headers["Content-Length"] = str(content.size)
        if content.close is not None:
            response.call_on_close(content.close)
        return response


@ns.route("/<int:tracker_id>/passthrough")
class TrackerPassthrough(Resource):
    @limiter.limit(configured("RATELIMIT_PASSTHROUGH"), key_func=lambda: f"passthrough:{current_user().id}")
    @ns.body(passthrough_request_schema, first=own_tracker)
    @ns.returns(passthrough_response_schema, 200, "The provider's answer (its status, filtered headers and body)")
    @ns.errors(
        400,
        429,
        *TRACKER_ERRORS,
        descriptions={
            400: "Invalid input, a refused path, or not_supported (a tracker whose provider has no passthrough)",
            429: "Too many passthrough calls (RATELIMIT_PASSTHROUGH, per user)",
        },
    )
    def post(self, tracker_id, data):
        """Call the provider's own API for what the unified model does not cover (guarded; logged without bodies)."""
        return for_caller(passthrough_service.passthrough, tracker_id=tracker_id, **data)


@ns.route("/<int:tracker_id>/labels")
class LabelList(Resource):
    @ns.returns(list_of(label_schema, "labels", paginated=False), 200, "Labels")
    @ns.errors(*TRACKER_ERRORS)
    def get(self, tracker_id):
        """List the labels available on a tracker."""
        return for_caller(trackers_service.list_labels, tracker_id=tracker_id)


@ns.route("/<int:tracker_id>/members")
class MemberList(Resource):
    @ns.returns(list_of(person_schema, "members", paginated=False, name="MemberList"), 200, "Members who can be assigned")
    @ns.errors(*TRACKER_ERRORS)
    def get(self, tracker_id):
        """List the people who can be assigned on a tracker."""
        return for_caller(trackers_service.list_members, tracker_id=tracker_id)


@ns.route("/<int:tracker_id>/webhook")
class TrackerWebhook(Resource):
    @ns.returns(webhook_registration_schema, 201, "Webhook registered on the provider")
    @ns.errors(400, 422, *TRACKER_ERRORS)
    def post(self, tracker_id):
        """Register the gateway's callback on the provider (with a generated secret)."""
        return for_caller(webhooks_service.register, tracker_id=tracker_id)

    @ns.returns(message_schema, 200, "Webhook removed")
    @ns.errors(*TRACKER_ERRORS)
    def delete(self, tracker_id):
        """Remove the gateway's callback from the provider."""
        for_caller(webhooks_service.unregister, tracker_id=tracker_id)
        return {"message": f"webhook removed from tracker {tracker_id}"}


@ns.route("/<int:tracker_id>/resync")
class TrackerResync(Resource):
    @ns.body(tracker_resync_schema, first=own_tracker, optional=True)
    @ns.returns(tracker_resync_result_schema, 202, "A full poll of the tracker is queued")
    @ns.errors(404)
    def post(self, tracker_id, data):
        """Re-read every issue into the local index; with emit_events, record an event for each difference."""
        return for_caller(polling_service.resync, tracker_id=tracker_id, **data)


@ns.route("/<int:tracker_id>/events")
class TrackerEvents(Resource):
    @ns.paginated(event_schema, "events", "Normalized events, newest first")
    @ns.errors(404)
    def get(self, tracker_id, query):
        """List the tracker's normalized events."""
        return events_service.list_events(session=db.session, tracker_id=own_tracker(tracker_id).id, **query)

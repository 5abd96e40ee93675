"""Namespace `trackers`: tracker connections and the unified issue API on each of them."""

import json
from urllib.parse import quote

from flask import Response, request, stream_with_context
from flask_restx import Namespace, Resource, reqparse
from werkzeug.datastructures import FileStorage

from api.auth import auth_required, current_user
from api.errors import UnsupportedMediaType
from api.extensions import db
from api.ratelimit import configured, limiter
from api.resources.helpers import (
    IDEMPOTENCY_PARAM,
    error_responses,
    idempotent,
    load_json,
    load_query,
    query_params,
    schema_model,
)
from api.schemas.base import MessageSchema, partial_of
from api.schemas.trackers import (
    AttachmentListSchema,
    AttachmentSchema,
    CommentListSchema,
    CommentSchema,
    EventListSchema,
    IssueCreateSchema,
    IssueListSchema,
    IssueSchema,
    IssueUpdateSchema,
    LabelListSchema,
    MemberListSchema,
    PassthroughRequestSchema,
    PassthroughResponseSchema,
    ResyncResultSchema,
    ResyncSchema,
    TrackerListSchema,
    TrackerSchema,
    TrackerUpdateSchema,
    VerifySchema,
    WebhookRegistrationSchema,
    attachment_list_schema,
    attachment_schema,
    comment_list_schema,
    comment_schema,
    comment_update_schema,
    event_list_schema,
    issue_create_schema,
    issue_get_query_schema,
    issue_list_schema,
    issue_query_schema,
    issue_schema,
    issue_update_schema,
    label_list_schema,
    member_list_schema,
    no_query_schema,
    page_query_schema,
    passthrough_request_schema,
    passthrough_response_schema,
    resync_result_schema,
    resync_schema,
    tracker_list_schema,
    tracker_schema,
    verify_schema,
    webhook_registration_schema,
)
from api.services import attachments as attachments_service
from api.services import events as events_service
from api.services import passthrough as passthrough_service
from api.services import polling as polling_service
from api.services import trackers as trackers_service
from api.services import webhooks as webhooks_service

ns = Namespace("trackers", description="Tracker connections and one issue API over all of them")

# Credentials are write-only: they are in the request models and never in the response ones.
tracker_model = schema_model(ns, "Tracker", TrackerSchema, direction="output")
tracker_create_model = schema_model(ns, "TrackerCreate", TrackerSchema, direction="input")
tracker_update_model = schema_model(ns, "TrackerUpdate", partial_of(TrackerSchema, exclude=("provider",)), min_properties=1,
                                    direction="input")
tracker_list_model = schema_model(ns, "TrackerList", TrackerListSchema, direction="output")
verify_model = schema_model(ns, "TrackerVerification", VerifySchema, direction="output")
issue_model = schema_model(ns, "Issue", IssueSchema, direction="output")
issue_create_model = schema_model(ns, "IssueCreate", IssueCreateSchema, direction="input")
issue_update_model = schema_model(ns, "IssueUpdate", IssueUpdateSchema, min_properties=1, direction="input")
issue_list_model = schema_model(ns, "IssueList", IssueListSchema, direction="output")
comment_model = schema_model(ns, "Comment", CommentSchema, direction="output")
comment_create_model = schema_model(ns, "CommentCreate", CommentSchema, direction="input")
comment_list_model = schema_model(ns, "CommentList", CommentListSchema, direction="output")
label_list_model = schema_model(ns, "LabelList", LabelListSchema, direction="output")
member_list_model = schema_model(ns, "MemberList", MemberListSchema, direction="output")
message_model = schema_model(ns, "TrackerMessage", MessageSchema, direction="output")
webhook_model = schema_model(ns, "WebhookRegistration", WebhookRegistrationSchema, direction="output")
event_list_model = schema_model(ns, "EventList", EventListSchema, direction="output")
resync_model = schema_model(ns, "TrackerResync", ResyncSchema, direction="input")
resync_result_model = schema_model(ns, "TrackerResyncResult", ResyncResultSchema, direction="output")


def with_index_age(schema, result):
    """The page, and for answers from the local index the age of the stalest tracker's last poll in X-Index-Age."""
    age = result.pop("index_age", None)
    return schema.dump(result), 200, ({"X-Index-Age": str(age)} if age is not None else {})
attachment_model = schema_model(ns, "Attachment", AttachmentSchema, direction="output")
attachment_list_model = schema_model(ns, "AttachmentList", AttachmentListSchema, direction="output")
passthrough_request_model = schema_model(ns, "PassthroughRequest", PassthroughRequestSchema, direction="input")
passthrough_response_model = schema_model(ns, "PassthroughResponse", PassthroughResponseSchema, direction="output")

upload_parser = reqparse.RequestParser(bundle_errors=True)
upload_parser.add_argument("file", location="files", type=FileStorage, required=True,
                           help="the file (multipart/form-data); at most ATTACHMENT_MAX_BYTES (10 MiB by default)")
NOT_SUPPORTED = {400: "Invalid input, or not_supported: the provider cannot do this (see the tracker's capabilities)"}

TRACKER_ERRORS = (401, 404, 502, 503, 504)


@ns.route("/")
@ns.doc(security="jwt")
class TrackerList(Resource):
    method_decorators = [auth_required]

    @ns.doc(params=query_params(page_query_schema))
    @ns.response(200, "Your trackers, oldest first", tracker_list_model)
    @error_responses(ns, 400, 401)
    def get(self):
        """List your tracker connections."""
        page = trackers_service.list_trackers(session=db.session, owner=current_user(), **load_query(page_query_schema))
        return tracker_list_schema.dump({"trackers": [trackers_service.to_dict(t) for t in page.items],
                                         "next_cursor": page.next_cursor})

    @ns.doc(description="One example body per provider:\n\n" + "\n".join(
        f"- {name}: `{json.dumps(body)}`" for name, body in trackers_service.provider_examples().items()))
    @ns.expect(tracker_create_model)
    @ns.response(201, "Tracker connected", tracker_model)
    @error_responses(ns, 400, 401, 409, 413, 415)
    def post(self):
        """Connect a tracker (credentials are stored encrypted and never returned)."""
        data = load_json(tracker_schema)
        tracker = trackers_service.create_tracker(session=db.session, owner=current_user(), data=data)
        return tracker_schema.dump(trackers_service.to_dict(tracker)), 201


@ns.route("/<int:tracker_id>")
@ns.doc(security="jwt", params={"tracker_id": "the tracker's id"})
class Tracker(Resource):
    method_decorators = [auth_required]

    @ns.response(200, "The tracker", tracker_model)
    @error_responses(ns, 401, 404)
    def get(self, tracker_id):
        """Get one of your trackers."""
        tracker = trackers_service.get_tracker(session=db.session, owner=current_user(), tracker_id=tracker_id)
        return tracker_schema.dump(trackers_service.to_dict(tracker))

    @ns.expect(tracker_update_model)
    @ns.response(200, "Tracker updated", tracker_model)
    @error_responses(ns, 400, 401, 404, 409, 413, 415)
    def patch(self, tracker_id):
        """Change a tracker's name, target, base URL, credentials or options."""
        tracker = trackers_service.get_tracker(session=db.session, owner=current_user(), tracker_id=tracker_id)
        data = load_json(TrackerUpdateSchema(provider=tracker.provider))
        tracker = trackers_service.update_tracker(session=db.session, owner=current_user(), tracker_id=tracker_id, data=data)
        return tracker_schema.dump(trackers_service.to_dict(tracker))

    @ns.response(200, "Tracker deleted", message_model)
    @error_responses(ns, 401, 404)
    def delete(self, tracker_id):
        """Disconnect a tracker."""
        trackers_service.delete_tracker(session=db.session, owner=current_user(), tracker_id=tracker_id)
        return {"message": f"tracker deleted {tracker_id}"}


@ns.route("/<int:tracker_id>/verify")
@ns.doc(security="jwt", params={"tracker_id": "the tracker's id"})
class TrackerVerify(Resource):
    method_decorators = [auth_required]

    @ns.response(200, "Credentials and target work", verify_model)
    @error_responses(ns, 400, 401, 404, 422, *TRACKER_ERRORS)
    def post(self, tracker_id):
        """Check the stored credentials and target against the provider."""
        return verify_schema.dump(trackers_service.verify_tracker(session=db.session, owner=current_user(),
                                                                  tracker_id=tracker_id))


@ns.route("/<int:tracker_id>/issues")
@ns.doc(security="jwt", params={"tracker_id": "the tracker's id"})
class IssueList(Resource):
    method_decorators = [auth_required]

    @ns.doc(params=query_params(issue_query_schema))
    @ns.response(200, "Issues, most recently updated first", issue_list_model)
    @error_responses(ns, 400, *TRACKER_ERRORS)
    def get(self, tracker_id):
        """List a tracker's issues with filters."""
        query = load_query(issue_query_schema)
        result = trackers_service.list_issues(session=db.session, owner=current_user(), tracker_id=tracker_id, query=query)
        return with_index_age(issue_list_schema, result)

    @ns.doc(params=IDEMPOTENCY_PARAM)
    @ns.expect(issue_create_model)
    @ns.response(201, "Issue created", issue_model)
    @error_responses(ns, 400, 409, 413, 415, 422, *TRACKER_ERRORS)
    def post(self, tracker_id):
        """Create an issue."""
        data = load_json(issue_create_schema)

        def create():
            issue = trackers_service.create_issue(session=db.session, owner=current_user(), tracker_id=tracker_id, data=data)
            return issue_schema.dump(issue), 201

        return idempotent(issue_create_schema.dump(data), create)


@ns.route("/<int:tracker_id>/issues/<string:issue_id>")
@ns.doc(security="jwt", params={"tracker_id": "the tracker's id", "issue_id": "the issue's id on the tracker"})
class Issue(Resource):
    method_decorators = [auth_required]

    @ns.doc(params=query_params(issue_get_query_schema))
    @ns.response(200, "The issue", issue_model)
    @error_responses(ns, 400, *TRACKER_ERRORS)
    def get(self, tracker_id, issue_id):
        """Get one issue."""
        query = load_query(issue_get_query_schema)
        issue = trackers_service.get_issue(session=db.session, owner=current_user(), tracker_id=tracker_id,
                                           issue_id=issue_id, include_remote_data=query["include_remote_data"])
        return issue_schema.dump(issue)

    @ns.expect(issue_update_model)
    @ns.response(200, "Issue updated", issue_model)
    @error_responses(ns, 400, 413, 415, 422, *TRACKER_ERRORS)
    def patch(self, tracker_id, issue_id):
        """Change title, description, status, labels, assignees or due date."""
        data = load_json(issue_update_schema)
        issue = trackers_service.update_issue(session=db.session, owner=current_user(), tracker_id=tracker_id,
                                              issue_id=issue_id, data=data)
        return issue_schema.dump(issue)

    @ns.response(200, "Issue deleted (an issue.deleted event)", message_model)
    @error_responses(ns, 400, 403, *TRACKER_ERRORS, descriptions={
        **NOT_SUPPORTED, 403: "The provider refused its token this (its reason in the message)"})
    def delete(self, tracker_id, issue_id):
        """Delete an issue where the provider can (else 400 not_supported; closing stays a PATCH)."""
        load_query(no_query_schema)
        trackers_service.delete_issue(session=db.session, owner=current_user(), tracker_id=tracker_id, issue_id=issue_id)
        return {"message": f"issue deleted {issue_id}"}


@ns.route("/<int:tracker_id>/issues/<string:issue_id>/children")
@ns.doc(security="jwt", params={"tracker_id": "the tracker's id", "issue_id": "the parent issue's id"})
class IssueChildren(Resource):
    method_decorators = [auth_required]

    @ns.doc(params=query_params(page_query_schema))
    @ns.response(200, "Issues whose parent is this issue", issue_list_model)
    @error_responses(ns, 400, *TRACKER_ERRORS, descriptions=NOT_SUPPORTED)
    def get(self, tracker_id, issue_id):
        """List an issue's children (sub-issues)."""
        query = load_query(page_query_schema)
        return issue_list_schema.dump(trackers_service.list_children(
            session=db.session, owner=current_user(), tracker_id=tracker_id, issue_id=issue_id, **query))


@ns.route("/<int:tracker_id>/issues/<string:issue_id>/comments")
@ns.doc(security="jwt", params={"tracker_id": "the tracker's id", "issue_id": "the issue's id on the tracker"})
class CommentList(Resource):
    method_decorators = [auth_required]

    @ns.doc(params=query_params(page_query_schema))
    @ns.response(200, "Comments, oldest first", comment_list_model)
    @error_responses(ns, 400, *TRACKER_ERRORS)
    def get(self, tracker_id, issue_id):
        """List an issue's comments."""
        query = load_query(page_query_schema)
        return comment_list_schema.dump(trackers_service.list_comments(
            session=db.session, owner=current_user(), tracker_id=tracker_id, issue_id=issue_id, **query))

    @ns.doc(params=IDEMPOTENCY_PARAM)
    @ns.expect(comment_create_model)
    @ns.response(201, "Comment added", comment_model)
    @error_responses(ns, 400, 409, 413, 415, 422, *TRACKER_ERRORS)
    def post(self, tracker_id, issue_id):
        """Comment on an issue."""
        data = load_json(comment_schema)

        def create():
            comment = trackers_service.create_comment(session=db.session, owner=current_user(), tracker_id=tracker_id,
                                                      issue_id=issue_id, body=data["body"])
            return comment_schema.dump(comment), 201

        return idempotent(data, create)


@ns.route("/<int:tracker_id>/issues/<string:issue_id>/comments/<string:comment_id>")
@ns.doc(security="jwt", params={"tracker_id": "the tracker's id", "issue_id": "the issue's id on the tracker",
                                "comment_id": "the comment's id"})
class IssueComment(Resource):
    method_decorators = [auth_required]

    @ns.expect(comment_create_model)
    @ns.response(200, "Comment changed", comment_model)
    @error_responses(ns, 400, 403, 413, 415, 422, *TRACKER_ERRORS, descriptions=NOT_SUPPORTED)
    def patch(self, tracker_id, issue_id, comment_id):
        """Edit a comment (as far as the provider lets the stored token; its refusal is a 403 with its reason)."""
        trackers_service.get_tracker(session=db.session, owner=current_user(), tracker_id=tracker_id)  # 404 before 415
        data = load_json(comment_update_schema)
        return comment_schema.dump(trackers_service.update_comment(
            session=db.session, owner=current_user(), tracker_id=tracker_id, issue_id=issue_id, comment_id=comment_id,
            body=data["body"]))

    @ns.response(200, "Comment deleted", message_model)
    @error_responses(ns, 400, 403, *TRACKER_ERRORS, descriptions=NOT_SUPPORTED)
    def delete(self, tracker_id, issue_id, comment_id):
        """Delete a comment (as far as the provider lets the stored token)."""
        load_query(no_query_schema)
        trackers_service.delete_comment(session=db.session, owner=current_user(), tracker_id=tracker_id,
                                        issue_id=issue_id, comment_id=comment_id)
        return {"message": f"comment deleted {comment_id}"}


@ns.route("/<int:tracker_id>/issues/<string:issue_id>/attachments")
@ns.doc(security="jwt", params={"tracker_id": "the tracker's id", "issue_id": "the issue's id on the tracker"})
class AttachmentList(Resource):
    method_decorators = [auth_required]

    @ns.doc(params=query_params(page_query_schema))
    @ns.response(200, "Attachments, oldest first", attachment_list_model)
    @error_responses(ns, 400, *TRACKER_ERRORS, descriptions=NOT_SUPPORTED)
    def get(self, tracker_id, issue_id):
        """List an issue's attachments."""
        query = load_query(page_query_schema)
        return attachment_list_schema.dump(attachments_service.list_attachments(
            session=db.session, owner=current_user(), tracker_id=tracker_id, issue_id=issue_id, **query))

    @ns.expect(upload_parser)
    @ns.response(201, "File attached", attachment_model)
    @error_responses(ns, 400, 413, 415, 422, *TRACKER_ERRORS, descriptions={
        **NOT_SUPPORTED, 413: "The file is larger than ATTACHMENT_MAX_BYTES",
        422: "The file's content contradicts its declared type"})
    def post(self, tracker_id, issue_id):
        """Attach a file: multipart/form-data field `file` (type sniffed and checked, name sanitized)."""
        trackers_service.get_tracker(session=db.session, owner=current_user(), tracker_id=tracker_id)  # 404 before 415
        multipart = request.mimetype == "multipart/form-data"
        request.max_content_length = attachments_service.upload_limit(request.content_length, multipart=multipart)
        load_query(no_query_schema)
        if not multipart:
            raise UnsupportedMediaType("Send the file as multipart/form-data (field `file`).")
        attachment = attachments_service.add_attachment(session=db.session, owner=current_user(), tracker_id=tracker_id,
                                                        issue_id=issue_id, file=request.files.get("file"))
        return attachment_schema.dump(attachment), 201


@ns.route("/<int:tracker_id>/issues/<string:issue_id>/attachments/<string:attachment_id>")
@ns.doc(security="jwt", params={"tracker_id": "the tracker's id", "issue_id": "the issue's id on the tracker",
                                "attachment_id": "the attachment's id"})
class IssueAttachment(Resource):
    method_decorators = [auth_required]

    @ns.response(200, "Attachment removed", message_model)
    @error_responses(ns, 400, *TRACKER_ERRORS, descriptions=NOT_SUPPORTED)
    def delete(self, tracker_id, issue_id, attachment_id):
        """Remove an attachment."""
        load_query(no_query_schema)
        attachments_service.delete_attachment(session=db.session, owner=current_user(), tracker_id=tracker_id,
                                              issue_id=issue_id, attachment_id=attachment_id)
        return {"message": f"attachment deleted {attachment_id}"}


def _content_disposition(filename):
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename) or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@ns.route("/<int:tracker_id>/issues/<string:issue_id>/attachments/<string:attachment_id>/content")
@ns.doc(security="jwt", params={"tracker_id": "the tracker's id", "issue_id": "the issue's id on the tracker",
                                "attachment_id": "the attachment's id"})
class AttachmentContent(Resource):
    method_decorators = [auth_required]

    @ns.produces(["application/octet-stream", "application/json"])
    @ns.response(200, "The file's bytes, streamed (Content-Disposition: attachment)")
    @error_responses(ns, 400, *TRACKER_ERRORS, descriptions=NOT_SUPPORTED)
    def get(self, tracker_id, issue_id, attachment_id):
        """Download an attachment through the gateway (never rendered inline)."""
        load_query(no_query_schema)
        content = attachments_service.open_attachment(session=db.session, owner=current_user(), tracker_id=tracker_id,
                                                      issue_id=issue_id, attachment_id=attachment_id)
        response = Response(stream_with_context(content.chunks), mimetype=content.content_type or "application/octet-stream",
                            direct_passthrough=True)
        response.headers["Content-Disposition"] = _content_disposition(content.filename)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
        response.headers["Cache-Control"] = "private, no-store"
        if content.size is not None:
            response.headers["Content-Length"] = str(content.size)
        if content.close is not None:
            response.call_on_close(content.close)
        return response


def _passthrough_key():
    return f"passthrough:{current_user().id}"


@ns.route("/<int:tracker_id>/passthrough")
@ns.doc(security="jwt", params={"tracker_id": "the tracker's id"})
class TrackerPassthrough(Resource):
    method_decorators = [auth_required]

    @ns.expect(passthrough_request_model)
    @ns.response(200, "The provider's answer (its status, filtered headers and body)", passthrough_response_model)
    @error_responses(ns, 400, 413, 415, 429, *TRACKER_ERRORS, descriptions={
        400: "Invalid input, a refused path, or not_supported (a tracker whose provider has no passthrough)",
        429: "Too many passthrough calls (RATELIMIT_PASSTHROUGH, per user)"})
    @limiter.limit(configured("RATELIMIT_PASSTHROUGH"), key_func=_passthrough_key)
    def post(self, tracker_id):
        """Call the provider's own API for what the unified model does not cover (guarded; logged without bodies)."""
        trackers_service.get_tracker(session=db.session, owner=current_user(), tracker_id=tracker_id)  # 404 before 415
        data = load_json(passthrough_request_schema)
        return passthrough_response_schema.dump(passthrough_service.passthrough(
            session=db.session, owner=current_user(), tracker_id=tracker_id, **data))


@ns.route("/<int:tracker_id>/labels")
@ns.doc(security="jwt", params={"tracker_id": "the tracker's id"})
class LabelList(Resource):
    method_decorators = [auth_required]

    @ns.response(200, "Labels", label_list_model)
    @error_responses(ns, *TRACKER_ERRORS)
    def get(self, tracker_id):
        """List the labels available on a tracker."""
        return label_list_schema.dump(trackers_service.list_labels(session=db.session, owner=current_user(),
                                                                   tracker_id=tracker_id))


@ns.route("/<int:tracker_id>/members")
@ns.doc(security="jwt", params={"tracker_id": "the tracker's id"})
class MemberList(Resource):
    method_decorators = [auth_required]

    @ns.response(200, "Members who can be assigned", member_list_model)
    @error_responses(ns, *TRACKER_ERRORS)
    def get(self, tracker_id):
        """List the people who can be assigned on a tracker."""
        return member_list_schema.dump(trackers_service.list_members(session=db.session, owner=current_user(),
                                                                     tracker_id=tracker_id))


@ns.route("/<int:tracker_id>/webhook")
@ns.doc(security="jwt", params={"tracker_id": "the tracker's id"})
class TrackerWebhook(Resource):
    method_decorators = [auth_required]

    @ns.response(201, "Webhook registered on the provider", webhook_model)
    @error_responses(ns, 400, 422, *TRACKER_ERRORS)
    def post(self, tracker_id):
        """Register the gateway's callback on the provider (with a generated secret)."""
        return webhook_registration_schema.dump(webhooks_service.register(session=db.session, owner=current_user(),
                                                                          tracker_id=tracker_id)), 201

    @ns.response(200, "Webhook removed", message_model)
    @error_responses(ns, *TRACKER_ERRORS)
    def delete(self, tracker_id):
        """Remove the gateway's callback from the provider."""
        webhooks_service.unregister(session=db.session, owner=current_user(), tracker_id=tracker_id)
        return {"message": f"webhook removed from tracker {tracker_id}"}


@ns.route("/<int:tracker_id>/resync")
@ns.doc(security="jwt", params={"tracker_id": "the tracker's id"})
class TrackerResync(Resource):
    method_decorators = [auth_required]

    @ns.expect(resync_model)
    @ns.response(202, "A full poll of the tracker is queued", resync_result_model)
    @error_responses(ns, 400, 401, 404, 413, 415)
    def post(self, tracker_id):
        """Re-read every issue into the local index; with emit_events, record an event for each difference."""
        trackers_service.get_tracker(session=db.session, owner=current_user(), tracker_id=tracker_id)  # 404 before 415
        data = load_json(resync_schema) if request.content_length else resync_schema.load({})  # the body is optional
        return resync_result_schema.dump(polling_service.resync(session=db.session, owner=current_user(),
                                                                tracker_id=tracker_id, **data)), 202


@ns.route("/<int:tracker_id>/events")
@ns.doc(security="jwt", params={"tracker_id": "the tracker's id"})
class TrackerEvents(Resource):
    method_decorators = [auth_required]

    @ns.doc(params=query_params(page_query_schema))
    @ns.response(200, "Normalized events, newest first", event_list_model)
    @error_responses(ns, 400, 401, 404)
    def get(self, tracker_id):
        """List the tracker's normalized events."""
        tracker = trackers_service.get_tracker(session=db.session, owner=current_user(), tracker_id=tracker_id)
        page = events_service.list_events(session=db.session, tracker_id=tracker.id, **load_query(page_query_schema))
        return event_list_schema.dump({"events": [events_service.event_to_dict(e) for e in page.items],
                                       "next_cursor": page.next_cursor})

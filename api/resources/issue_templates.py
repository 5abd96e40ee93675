"""Namespace `issue-templates`: reusable templates that create issues on any tracker."""

from flask_restx import Namespace, Resource

from api.auth import auth_required, current_user
from api.extensions import db
from api.resources.helpers import (
    IDEMPOTENCY_PARAM,
    error_responses,
    idempotent,
    load_json,
    load_query,
    query_params,
    schema_model,
)
from api.schemas.base import MessageSchema
from api.schemas.issue_templates import (
    ImportRequestSchema,
    ImportResultSchema,
    IssueTemplateListSchema,
    IssueTemplateSchema,
    RenderedSchema,
    RenderRequestSchema,
    TemplateIssueListSchema,
    TemplateIssueRequestSchema,
    import_request_schema,
    import_result_schema,
    issue_template_list_schema,
    issue_template_schema,
    render_request_schema,
    rendered_schema,
    template_issue_list_schema,
    template_issue_request_schema,
    template_issue_schema,
    update_issue_template_schema,
)
from api.schemas.trackers import IssueSchema, page_query_schema
from api.services import issue_templates as templates_service

ns = Namespace("issue-templates", description="Issue templates: render previews and create issues on any tracker")

template_model = schema_model(ns, "IssueTemplate", IssueTemplateSchema, direction="output")
template_create_model = schema_model(ns, "IssueTemplateCreate", IssueTemplateSchema, direction="input")
template_update_model = schema_model(ns, "IssueTemplateUpdate", update_issue_template_schema, min_properties=1,
                                     direction="input")
template_list_model = schema_model(ns, "IssueTemplateList", IssueTemplateListSchema, direction="output")
render_model = schema_model(ns, "RenderRequest", RenderRequestSchema, direction="input")
rendered_model = schema_model(ns, "RenderedTemplate", RenderedSchema, direction="output")
issue_request_model = schema_model(ns, "TemplateIssueRequest", TemplateIssueRequestSchema, direction="input")
template_issue_model = schema_model(ns, "TemplateCreatedIssue", IssueSchema, direction="output")
created_list_model = schema_model(ns, "TemplateIssueList", TemplateIssueListSchema, direction="output")
import_model = schema_model(ns, "TemplateImportRequest", ImportRequestSchema, direction="input")
import_result_model = schema_model(ns, "TemplateImportResult", ImportResultSchema, direction="output")
message_model = schema_model(ns, "TemplateMessage", MessageSchema, direction="output")


@ns.route("/")
@ns.doc(security="jwt")
class TemplateList(Resource):
    method_decorators = [auth_required]

    @ns.doc(params=query_params(page_query_schema))
    @ns.response(200, "Your templates, oldest first", template_list_model)
    @error_responses(ns, 400, 401)
    def get(self):
        """List your issue templates."""
        page = templates_service.list_templates(session=db.session, owner=current_user(), **load_query(page_query_schema))
        return issue_template_list_schema.dump({"templates": [templates_service.to_dict(t) for t in page.items],
                                                "next_cursor": page.next_cursor})

    @ns.expect(template_create_model)
    @ns.response(201, "Template created", template_model)
    @error_responses(ns, 400, 401, 409, 413, 415, 422)
    def post(self):
        """Create a template (syntax and variables are checked on save)."""
        template = templates_service.create_template(session=db.session, owner=current_user(),
                                                     data=load_json(issue_template_schema))
        return issue_template_schema.dump(templates_service.to_dict(template)), 201


@ns.route("/<int:template_id>")
@ns.doc(security="jwt", params={"template_id": "the template's id"})
class Template(Resource):
    method_decorators = [auth_required]

    @ns.response(200, "The template", template_model)
    @error_responses(ns, 401, 404)
    def get(self, template_id):
        """Get one of your templates."""
        template = templates_service.get_template(session=db.session, owner=current_user(), template_id=template_id)
        return issue_template_schema.dump(templates_service.to_dict(template))

    @ns.expect(template_update_model)
    @ns.response(200, "Template updated", template_model)
    @error_responses(ns, 400, 401, 404, 409, 413, 415, 422)
    def patch(self, template_id):
        """Change a template."""
        template = templates_service.update_template(session=db.session, owner=current_user(), template_id=template_id,
                                                     data=load_json(update_issue_template_schema))
        return issue_template_schema.dump(templates_service.to_dict(template))

    @ns.response(200, "Template deleted", message_model)
    @error_responses(ns, 401, 404)
    def delete(self, template_id):
        """Delete a template."""
        templates_service.delete_template(session=db.session, owner=current_user(), template_id=template_id)
        return {"message": f"template deleted {template_id}"}


@ns.route("/<int:template_id>/render")
@ns.doc(security="jwt", params={"template_id": "the template's id"})
class TemplateRender(Resource):
    method_decorators = [auth_required]

    @ns.expect(render_model)
    @ns.response(200, "The rendered issue (nothing is created)", rendered_model)
    @error_responses(ns, 400, 401, 404, 413, 415, 422)
    def post(self, template_id):
        """Preview a template with variables."""
        data = load_json(render_request_schema)
        template = templates_service.get_template(session=db.session, owner=current_user(), template_id=template_id)
        return rendered_schema.dump(templates_service.render(template=template, variables=data["variables"]))


@ns.route("/<int:template_id>/issues")
@ns.doc(security="jwt", params={"template_id": "the template's id"})
class TemplateIssues(Resource):
    method_decorators = [auth_required]

    @ns.doc(params=query_params(page_query_schema))
    @ns.response(200, "Issues this template created", created_list_model)
    @error_responses(ns, 400, 401, 404)
    def get(self, template_id):
        """List the issues a template created."""
        page = templates_service.list_created_issues(session=db.session, owner=current_user(), template_id=template_id,
                                                     **load_query(page_query_schema))
        return template_issue_list_schema.dump({"issues": page.items, "next_cursor": page.next_cursor})

    @ns.doc(params=IDEMPOTENCY_PARAM)
    @ns.expect(issue_request_model)
    @ns.response(201, "Issue created from the template", template_issue_model)
    @error_responses(ns, 400, 401, 404, 409, 413, 415, 422, 502, 503, 504)
    def post(self, template_id):
        """Render a template and create the issue on a tracker."""
        data = load_json(template_issue_request_schema)

        def create():
            issue = templates_service.create_issue(session=db.session, owner=current_user(), template_id=template_id,
                                                   tracker_id=data["tracker_id"], variables=data["variables"])
            return template_issue_schema.dump(issue), 201

        return idempotent(data, create)


@ns.route("/import")
@ns.doc(security="jwt")
class TemplateImport(Resource):
    method_decorators = [auth_required]

    @ns.expect(import_model)
    @ns.response(200, "What was imported and what was skipped, with reasons", import_result_model)
    @error_responses(ns, 400, 401, 404, 413, 415, 502, 503, 504)
    def post(self):
        """Import the repository's own issue templates (trackers with template import)."""
        data = load_json(import_request_schema)
        result = templates_service.import_templates(session=db.session, owner=current_user(), tracker_id=data["tracker_id"])
        return import_result_schema.dump(result)

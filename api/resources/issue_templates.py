"""Namespace `issue-templates`: reusable templates that create issues on any tracker."""

from flask_restx import Resource

from api.resources.helpers import ApiNamespace, for_caller
from api.schemas.issue_templates import (
    issue_template_schema,
    render_request_schema,
    rendered_template_schema,
    template_import_request_schema,
    template_import_result_schema,
    template_issue_request_schema,
    template_issue_schema,
)
from api.schemas.trackers import issue_schema
from api.services import issue_templates as templates_service

ns = ApiNamespace(
    "issue-templates",
    path_params={"template_id": "the template's id"},
    description="Issue templates: render previews and create issues on any tracker",
)


TemplateList, Template = ns.owned(
    issue_template_schema,
    templates_service,
    noun="template",
    errors=(409, 422),
    docs=(
        "List your issue templates.",
        "Create a template (syntax and variables are checked on save).",
        "Change a template.",
        "Delete a template.",
    ),
)


@ns.route("/<int:template_id>/render")
class TemplateRender(Resource):
    @ns.body(render_request_schema)
    @ns.returns(rendered_template_schema, 200, "The rendered issue (nothing is created)")
    @ns.errors(404, 422)
    def post(self, template_id, data):
        """Preview a template with variables."""
        template = for_caller(templates_service.get_template, template_id=template_id)
        return templates_service.render(template=template, variables=data["variables"])


@ns.route("/<int:template_id>/issues")
class TemplateIssues(Resource):
    @ns.paginated(template_issue_schema, "issues", "Issues this template created")
    @ns.errors(404)
    def get(self, template_id, query):
        """List the issues a template created."""
        return for_caller(templates_service.list_created_issues, template_id=template_id, **query)

    @ns.body(template_issue_request_schema, idempotent=True)
    @ns.returns(issue_schema, 201, "Issue created from the template")
    @ns.errors(404, 409, 422, 502, 503, 504)
    def post(self, template_id, data):
        """Render a template and create the issue on a tracker."""
        return for_caller(templates_service.create_issue, template_id=template_id, **data)


@ns.route("/import")
class TemplateImport(Resource):
    @ns.body(template_import_request_schema)
    @ns.returns(template_import_result_schema, 200, "What was imported and what was skipped, with reasons")
    @ns.errors(404, 502, 503, 504)
    def post(self, data):
        """Import the repository's own issue templates (trackers with template import)."""
        return for_caller(templates_service.import_templates, tracker_id=data["tracker_id"])

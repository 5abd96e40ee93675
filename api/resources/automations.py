"""Namespace `automations`: rules that act on tracker events."""

from flask_restx import Resource

from api.resources.helpers import ApiNamespace, for_caller
from api.schemas.automations import AutomationRunSchema, automation_schema
from api.services import automations as automations_service

ns = ApiNamespace(
    "automations",
    path_params={"automation_id": "the rule's id"},
    description="Rules: when a tracker event matches, run actions in order "
    "(create_issue_from_template, add_comment, add_labels, set_status, notify)",
)


AutomationList, Automation = ns.owned(
    automation_schema,
    automations_service,
    noun="automation",
    word="rule",
    errors=(422,),
    docs=(
        "List your automation rules.",
        "Create an automation rule.",
        "Change a rule (enable/disable, trigger, conditions, actions).",
        "Delete a rule.",
    ),
)


@ns.route("/<int:automation_id>/runs")
class AutomationRuns(Resource):
    @ns.paginated(AutomationRunSchema(), "runs", "Runs, newest first, with each action's result or the error")
    @ns.errors(404)
    def get(self, automation_id, query):
        """List a rule's runs."""
        return for_caller(automations_service.list_runs, automation_id=automation_id, **query)

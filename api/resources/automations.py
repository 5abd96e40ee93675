"""Namespace `automations`: rules that act on tracker events."""

from flask_restx import Resource

from api.auth import current_user
from api.extensions import db
from api.resources.helpers import ApiNamespace
from api.schemas.automations import AutomationRunSchema, automation_schema, update_automation_schema
from api.schemas.base import message_schema
from api.services import automations as automations_service

ns = ApiNamespace("automations", path_params={"automation_id": "the rule's id"},
                  description="Rules: when a tracker event matches, run actions in order "
                              "(create_issue_from_template, add_comment, add_labels, set_status, notify)")


@ns.route("/")
class AutomationList(Resource):
    @ns.paginated(automation_schema, "automations", "Your rules, oldest first")
    def get(self, query):
        """List your automation rules."""
        return automations_service.list_automations(session=db.session, owner=current_user(), **query)

    @ns.body(automation_schema)
    @ns.returns(automation_schema, 201, "Rule created")
    @ns.errors(422)
    def post(self, data):
        """Create an automation rule."""
        return automations_service.create_automation(session=db.session, owner=current_user(), data=data)


@ns.route("/<int:automation_id>")
class Automation(Resource):
    @ns.returns(automation_schema, 200, "The rule")
    @ns.errors(404)
    def get(self, automation_id):
        """Get one of your rules."""
        return automations_service.get_automation(session=db.session, owner=current_user(), automation_id=automation_id)

    @ns.body(update_automation_schema)
    @ns.returns(automation_schema, 200, "Rule updated")
    @ns.errors(404, 422)
    def patch(self, automation_id, data):
        """Change a rule (enable/disable, trigger, conditions, actions)."""
        return automations_service.update_automation(session=db.session, owner=current_user(), automation_id=automation_id,
                                                     data=data)

    @ns.returns(message_schema, 200, "Rule deleted")
    @ns.errors(404)
    def delete(self, automation_id):
        """Delete a rule."""
        automations_service.delete_automation(session=db.session, owner=current_user(), automation_id=automation_id)
        return {"message": f"automation deleted {automation_id}"}


@ns.route("/<int:automation_id>/runs")
class AutomationRuns(Resource):
    @ns.paginated(AutomationRunSchema(), "runs", "Runs, newest first, with each action's result or the error")
    @ns.errors(404)
    def get(self, automation_id, query):
        """List a rule's runs."""
        return automations_service.list_runs(session=db.session, owner=current_user(), automation_id=automation_id, **query)

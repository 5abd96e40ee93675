"""Namespace `automations`: rules that act on tracker events."""

from flask_restx import Namespace, Resource

from api.auth import auth_required, current_user
from api.extensions import db
from api.resources.helpers import error_responses, load_json, load_query, query_params, schema_model
from api.schemas.automations import (
    AutomationListSchema,
    AutomationRunListSchema,
    AutomationSchema,
    automation_list_schema,
    automation_run_list_schema,
    automation_schema,
    update_automation_schema,
)
from api.schemas.base import MessageSchema
from api.schemas.trackers import page_query_schema
from api.services import automations as automations_service

ns = Namespace("automations", description="Rules: when a tracker event matches, run actions in order "
                                          "(create_issue_from_template, add_comment, add_labels, set_status, notify)")

automation_model = schema_model(ns, "Automation", AutomationSchema)
automation_update_model = schema_model(ns, "AutomationUpdate", update_automation_schema, min_properties=1)
automation_list_model = schema_model(ns, "AutomationList", AutomationListSchema)
run_list_model = schema_model(ns, "AutomationRunList", AutomationRunListSchema)
message_model = schema_model(ns, "AutomationMessage", MessageSchema)


@ns.route("/")
@ns.doc(security="jwt")
class AutomationList(Resource):
    method_decorators = [auth_required]

    @ns.doc(params=query_params(page_query_schema))
    @ns.response(200, "Your rules, oldest first", automation_list_model)
    @error_responses(ns, 400, 401)
    def get(self):
        """List your automation rules."""
        page = automations_service.list_automations(session=db.session, owner=current_user(),
                                                    **load_query(page_query_schema))
        return automation_list_schema.dump({"automations": [automations_service.to_dict(r) for r in page.items],
                                            "next_cursor": page.next_cursor})

    @ns.expect(automation_model)
    @ns.response(201, "Rule created", automation_model)
    @error_responses(ns, 400, 401, 413, 415, 422)
    def post(self):
        """Create an automation rule."""
        rule = automations_service.create_automation(session=db.session, owner=current_user(),
                                                     data=load_json(automation_schema))
        return automation_schema.dump(automations_service.to_dict(rule)), 201


@ns.route("/<int:automation_id>")
@ns.doc(security="jwt", params={"automation_id": "the rule's id"})
class Automation(Resource):
    method_decorators = [auth_required]

    @ns.response(200, "The rule", automation_model)
    @error_responses(ns, 401, 404)
    def get(self, automation_id):
        """Get one of your rules."""
        rule = automations_service.get_automation(session=db.session, owner=current_user(), automation_id=automation_id)
        return automation_schema.dump(automations_service.to_dict(rule))

    @ns.expect(automation_update_model)
    @ns.response(200, "Rule updated", automation_model)
    @error_responses(ns, 400, 401, 404, 413, 415, 422)
    def patch(self, automation_id):
        """Change a rule (enable/disable, trigger, conditions, actions)."""
        rule = automations_service.update_automation(session=db.session, owner=current_user(), automation_id=automation_id,
                                                     data=load_json(update_automation_schema))
        return automation_schema.dump(automations_service.to_dict(rule))

    @ns.response(200, "Rule deleted", message_model)
    @error_responses(ns, 401, 404)
    def delete(self, automation_id):
        """Delete a rule."""
        automations_service.delete_automation(session=db.session, owner=current_user(), automation_id=automation_id)
        return {"message": f"automation deleted {automation_id}"}


@ns.route("/<int:automation_id>/runs")
@ns.doc(security="jwt", params={"automation_id": "the rule's id"})
class AutomationRuns(Resource):
    method_decorators = [auth_required]

    @ns.doc(params=query_params(page_query_schema))
    @ns.response(200, "Runs, newest first, with each action's result or the error", run_list_model)
    @error_responses(ns, 400, 401, 404)
    def get(self, automation_id):
        """List a rule's runs."""
        return automation_run_list_schema.dump(automations_service.list_runs(
            session=db.session, owner=current_user(), automation_id=automation_id, **load_query(page_query_schema)))

"""Namespace `issues`: one issue query across all of the caller's trackers."""

from flask_restx import Namespace, Resource

from api.auth import auth_required, current_user
from api.extensions import db
from api.resources.helpers import error_responses, load_query, query_params, schema_model
from api.resources.trackers import with_index_age
from api.schemas.trackers import AggregateIssueListSchema, aggregate_issue_list_schema, issue_query_schema
from api.services import trackers as trackers_service

ns = Namespace("issues", description="Issues of all your trackers at once")

aggregate_model = schema_model(ns, "AggregateIssueList", AggregateIssueListSchema)


@ns.route("")
@ns.doc(security="jwt")
class AggregateIssueList(Resource):
    method_decorators = [auth_required]

    @ns.doc(params=query_params(issue_query_schema))
    @ns.response(200, "Merged issues, most recently updated first; failing trackers listed in errors", aggregate_model)
    @error_responses(ns, 400, 401)
    def get(self):
        """List issues across all your trackers (partial results when one fails)."""
        query = load_query(issue_query_schema)
        return with_index_age(aggregate_issue_list_schema,
                              trackers_service.aggregate_issues(session=db.session, owner=current_user(), query=query))

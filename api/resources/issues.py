"""Namespace `issues`: one issue query across all of the caller's trackers."""

from flask_restx import Resource
from marshmallow import fields

from api.resources.helpers import ApiNamespace, for_caller
from api.resources.trackers import index_age
from api.schemas.trackers import issue_query_schema, issue_schema, tracker_failure_schema
from api.services import issues as issues_service

ns = ApiNamespace("issues", description="Issues of all your trackers at once")


@ns.route("")
class AggregateIssueList(Resource):
    @ns.paginated(
        issue_schema,
        "issues",
        "Merged issues, most recently updated first; failing trackers listed in errors",
        query=issue_query_schema,
        name="AggregateIssueList",
        errors=fields.List(
            fields.Nested(tracker_failure_schema),
            required=True,
            metadata={"description": "trackers that failed; their issues are missing from this page"},
        ),
    )
    def get(self, query):
        """List issues across all your trackers (partial results when one fails)."""
        return index_age(for_caller(issues_service.aggregate_issues, query=query))

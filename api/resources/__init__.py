"""The RESTX Api at /api/v1 and its namespaces."""

from flask import Blueprint
from flask_restx import Api

from api.errors import handle_exception
from api.http import api_index
from api.resources.automations import ns as automations_ns
from api.resources.issue_templates import ns as templates_ns
from api.resources.issues import ns as issues_ns
from api.resources.offers import ns as offers_ns
from api.resources.subscriptions import ns as subscriptions_ns
from api.resources.sync import ns as syncs_ns
from api.resources.trackers import ns as trackers_ns
from api.resources.users import ns as users_ns
from api.resources.webhooks import ns as webhooks_ns
from api.schemas.trackers import PROVIDER_TITLES

AUTHORIZATIONS = {
    "jwt": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "Type 'Bearer <token>' (or 'JWT <token>') with the token from /users/login.",
    }
}


class GatewayApi(Api):
    """RESTX Api whose every error, its own included, comes out in the one error shape."""

    def handle_error(self, e):
        return handle_exception(e)

    def render_root(self):
        """/api/v1 itself: a JSON pointer to the docs and the spec, not a 404."""
        return api_index()


def create_api_blueprint():
    """A fresh blueprint + Api per app, so several apps (tests) never share registration state."""
    blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
    api = GatewayApi(
        blueprint,
        version="1.0",
        title="Ticket Gateway API",
        description=f"One JWT-authenticated API over {PROVIDER_TITLES}, "
        "with issue templates, webhook automation and job offers.",
        doc="/docs",
        authorizations=AUTHORIZATIONS,
    )
    api.add_namespace(users_ns, path="/users")
    api.add_namespace(offers_ns)
    api.add_namespace(trackers_ns, path="/trackers")
    api.add_namespace(issues_ns, path="/issues")
    api.add_namespace(templates_ns, path="/templates")
    api.add_namespace(webhooks_ns, path="/webhooks")
    api.add_namespace(automations_ns, path="/automations")
    api.add_namespace(subscriptions_ns, path="/subscriptions")
    api.add_namespace(syncs_ns, path="/syncs")
    return blueprint, api

"""The RESTX Api at /api/v1 and its namespaces."""

from flask import Blueprint
from flask_restx import Api

from api.errors import handle_exception
from api.http import api_index
from api.resources import automations, issue_templates, issues, offers, subscriptions, sync, trackers, users, webhooks
from api.schemas.trackers import PROVIDER_TITLES

AUTHORIZATIONS = {
    "jwt": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "Type 'Bearer <token>' (or 'JWT <token>') with the token from /users/login.",
    }
}

# Each module's namespace and its path (offers: None, its own routes start at /users and /offers).
NAMESPACES = (
    (users, "/users"),
    (offers, None),
    (trackers, "/trackers"),
    (issues, "/issues"),
    (issue_templates, "/templates"),
    (webhooks, "/webhooks"),
    (automations, "/automations"),
    (subscriptions, "/subscriptions"),
    (sync, "/syncs"),
)


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
        description=f"One JWT-authenticated API over {PROVIDER_TITLES}, with issue templates, webhook automation and job offers.",
        doc="/docs",
        authorizations=AUTHORIZATIONS,
    )
    for module, path in NAMESPACES:
        api.add_namespace(module.ns, path=path)
    return blueprint, api

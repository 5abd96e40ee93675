"""Namespace `syncs`: two-way issue sync between two of your trackers."""

from flask_restx import Resource

from api.resources.helpers import ApiNamespace, for_caller
from api.schemas.base import message_schema
from api.schemas.sync import sync_link_input_schema, sync_link_schema, sync_resync_schema, sync_schema
from api.services import sync as sync_service

ns = ApiNamespace(
    "syncs",
    path_params={"sync_id": "the sync's id", "link_id": "the link's id"},
    description="Two-way sync: new matching issues are mirrored on the other tracker and each "
    "pair's fields and comments are kept in step",
)


SyncList, Sync = ns.owned(
    sync_schema,
    sync_service,
    noun="sync",
    errors=(422,),
    docs=(
        "List your syncs.",
        "Create a sync between two of your trackers.",
        "Change a sync (enable/disable, direction, fields, filter, policies).",
        "Delete a sync and its links (the issues stay).",
    ),
)


@ns.route("/<int:sync_id>/links")
class SyncLinks(Resource):
    @ns.paginated(sync_link_schema, "links", "The sync's issue pairs, oldest first")
    @ns.errors(404)
    def get(self, sync_id, query):
        """List a sync's issue pairs with their state and the values conflicts overwrote."""
        return for_caller(sync_service.list_links, sync_id=sync_id, **query)

    @ns.body(sync_link_input_schema)
    @ns.returns(sync_link_schema, 201, "Pair created; it is reconciled in the background")
    @ns.errors(
        404,
        409,
        422,
        502,
        503,
        504,
        descriptions={
            409: "One of the issues is already paired in this sync",
            422: "An issue does not exist on its side's tracker",
        },
    )
    def post(self, sync_id, data):
        """Pair two existing issues (one on each side)."""
        return for_caller(sync_service.create_link, sync_id=sync_id, **data)


@ns.route("/<int:sync_id>/links/<int:link_id>")
class SyncLink(Resource):
    @ns.returns(message_schema, 200, "Pair removed: nothing more is synced for it")
    @ns.errors(404)
    def delete(self, sync_id, link_id):
        """Unpair two issues."""
        for_caller(sync_service.delete_link, sync_id=sync_id, link_id=link_id)
        return {"message": f"link deleted {link_id}"}


@ns.route("/<int:sync_id>/resync")
class SyncResync(Resource):
    @ns.returns(sync_resync_schema, 200, "Every link queued for reconciling")
    @ns.errors(404)
    def post(self, sync_id):
        """Reconcile every pair of the sync now."""
        return {"queued": for_caller(sync_service.resync, sync_id=sync_id)}

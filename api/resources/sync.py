"""Namespace `syncs`: two-way issue sync between two of your trackers."""

from flask_restx import Namespace, Resource

from api.auth import auth_required, current_user
from api.extensions import db
from api.resources.helpers import error_responses, load_json, load_query, query_params, schema_model
from api.schemas.base import MessageSchema
from api.schemas.sync import (
    ResyncSchema,
    SyncLinkInputSchema,
    SyncLinkListSchema,
    SyncLinkSchema,
    SyncListSchema,
    SyncSchema,
    resync_schema,
    sync_link_input_schema,
    sync_link_list_schema,
    sync_link_schema,
    sync_list_schema,
    sync_schema,
    update_sync_schema,
)
from api.schemas.trackers import page_query_schema
from api.services import sync as sync_service

ns = Namespace("syncs", description="Two-way sync: new matching issues are mirrored on the other tracker and each "
                                    "pair's fields and comments are kept in step")

sync_model = schema_model(ns, "Sync", SyncSchema, direction="output")
sync_input_model = schema_model(ns, "SyncInput", SyncSchema, direction="input")
sync_update_model = schema_model(ns, "SyncUpdate", update_sync_schema, min_properties=1, direction="input")
sync_list_model = schema_model(ns, "SyncList", SyncListSchema, direction="output")
link_model = schema_model(ns, "SyncLink", SyncLinkSchema, direction="output")
link_input_model = schema_model(ns, "SyncLinkInput", SyncLinkInputSchema, direction="input")
link_list_model = schema_model(ns, "SyncLinkList", SyncLinkListSchema, direction="output")
resync_model = schema_model(ns, "SyncResync", ResyncSchema, direction="output")
message_model = schema_model(ns, "SyncMessage", MessageSchema)


def _dump(sync):
    return sync_schema.dump(sync_service.to_dict(sync))


@ns.route("/")
@ns.doc(security="jwt")
class SyncList(Resource):
    method_decorators = [auth_required]

    @ns.doc(params=query_params(page_query_schema))
    @ns.response(200, "Your syncs, oldest first", sync_list_model)
    @error_responses(ns, 400, 401)
    def get(self):
        """List your syncs."""
        page = sync_service.list_syncs(session=db.session, owner=current_user(), **load_query(page_query_schema))
        return sync_list_schema.dump({"syncs": [sync_service.to_dict(s) for s in page.items],
                                      "next_cursor": page.next_cursor})

    @ns.expect(sync_input_model)
    @ns.response(201, "Sync created", sync_model)
    @error_responses(ns, 400, 401, 413, 415, 422)
    def post(self):
        """Create a sync between two of your trackers."""
        return _dump(sync_service.create_sync(session=db.session, owner=current_user(), data=load_json(sync_schema))), 201


@ns.route("/<int:sync_id>")
@ns.doc(security="jwt", params={"sync_id": "the sync's id"})
class Sync(Resource):
    method_decorators = [auth_required]

    @ns.response(200, "The sync", sync_model)
    @error_responses(ns, 401, 404)
    def get(self, sync_id):
        """Get one of your syncs."""
        return _dump(sync_service.get_sync(session=db.session, owner=current_user(), sync_id=sync_id))

    @ns.expect(sync_update_model)
    @ns.response(200, "Sync updated", sync_model)
    @error_responses(ns, 400, 401, 404, 413, 415, 422)
    def patch(self, sync_id):
        """Change a sync (enable/disable, direction, fields, filter, policies)."""
        return _dump(sync_service.update_sync(session=db.session, owner=current_user(), sync_id=sync_id,
                                              data=load_json(update_sync_schema)))

    @ns.response(200, "Sync deleted", message_model)
    @error_responses(ns, 401, 404)
    def delete(self, sync_id):
        """Delete a sync and its links (the issues stay)."""
        sync_service.delete_sync(session=db.session, owner=current_user(), sync_id=sync_id)
        return {"message": f"sync deleted {sync_id}"}


@ns.route("/<int:sync_id>/links")
@ns.doc(security="jwt", params={"sync_id": "the sync's id"})
class SyncLinks(Resource):
    method_decorators = [auth_required]

    @ns.doc(params=query_params(page_query_schema))
    @ns.response(200, "The sync's issue pairs, oldest first", link_list_model)
    @error_responses(ns, 400, 401, 404)
    def get(self, sync_id):
        """List a sync's issue pairs with their state and the values conflicts overwrote."""
        page = sync_service.list_links(session=db.session, owner=current_user(), sync_id=sync_id,
                                       **load_query(page_query_schema))
        return sync_link_list_schema.dump({"links": [sync_service.link_to_dict(link) for link in page.items],
                                           "next_cursor": page.next_cursor})

    @ns.expect(link_input_model)
    @ns.response(201, "Pair created; it is reconciled in the background", link_model)
    @error_responses(ns, 400, 401, 404, 409, 413, 415, 422, 502, 503, 504,
                     descriptions={409: "One of the issues is already paired in this sync",
                                   422: "An issue does not exist on its side's tracker"})
    def post(self, sync_id):
        """Pair two existing issues (one on each side)."""
        data = load_json(sync_link_input_schema)
        link = sync_service.create_link(session=db.session, owner=current_user(), sync_id=sync_id, **data)
        return sync_link_schema.dump(sync_service.link_to_dict(link)), 201


@ns.route("/<int:sync_id>/links/<int:link_id>")
@ns.doc(security="jwt", params={"sync_id": "the sync's id", "link_id": "the link's id"})
class SyncLink(Resource):
    method_decorators = [auth_required]

    @ns.response(200, "Pair removed: nothing more is synced for it", message_model)
    @error_responses(ns, 401, 404)
    def delete(self, sync_id, link_id):
        """Unpair two issues."""
        sync_service.delete_link(session=db.session, owner=current_user(), sync_id=sync_id, link_id=link_id)
        return {"message": f"link deleted {link_id}"}


@ns.route("/<int:sync_id>/resync")
@ns.doc(security="jwt", params={"sync_id": "the sync's id"})
class SyncResync(Resource):
    method_decorators = [auth_required]

    @ns.response(200, "Every link queued for reconciling", resync_model)
    @error_responses(ns, 401, 404)
    def post(self, sync_id):
        """Reconcile every pair of the sync now."""
        return resync_schema.dump({"queued": sync_service.resync(session=db.session, owner=current_user(),
                                                                 sync_id=sync_id)})

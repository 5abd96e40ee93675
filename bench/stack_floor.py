"""The stack's floor for the offers list: what any implementation on Flask-RESTX + SQLAlchemy + PostgreSQL must do.

Served by uwsgi with the same settings as the API (bench/offers_bench.py), beside the bare Flask hello, so the
distance between the hello and the API splits into what the fixed stack costs and what the product adds on top:
- `/restx/hello`: a Flask-RESTX resource returning a small dict (dispatch and representation, nothing else);
- `/restx/users/<id>/offers/`: the same resource kind doing the constraints' minimum for the offers list with the
  product's own fastest parts: its JWT check (the verified-token memory included), the caller's row read on every
  request (a deleted user's token stops at once), its page statement, its compiled dump (api/schemas/fastdump.py)
  and its orjson writer, the session given back as the product does; none of the product's hooks (request id,
  access log, metrics, security headers, rate-limit filter), no query-string schema, no error handlers;
- `/restx/users/<id>/offers-no-user-read/`: as above without the caller's row, the most a per-process user cache
  could buy.
"""

from flask import Flask, request
from flask_restx import Api, Resource

from api.auth import decode_token, load_user
from api.extensions import db
from api.jsonfast import init_json
from api.schemas.fastdump import fast_dump
from api.schemas.offers import offer_schema
from api.services.offers import list_user_offers
from config import get_config

application = Flask(__name__)
application.config.from_object(get_config())
db.init_app(application)
api = Api(application, doc=False, add_specs=False)
init_json(application, api)


def _page(user_id):
    page = list_user_offers(session=db.session, user_id=user_id, limit=20, cursor=None)
    return {"offers": fast_dump(offer_schema, page.items, many=True), "next_cursor": page.next_cursor, "count": page.count}


@api.route("/restx/hello")
class Hello(Resource):
    def get(self):
        return {"hello": "world"}


@api.route("/restx/users/<int:user_id>/offers/")
class Offers(Resource):
    def get(self, user_id):
        caller = load_user(decode_token(request.headers["Authorization"].split(" ", 1)[1]))
        if caller is None:
            return {"message": "gone"}, 401
        return _page(user_id)


@api.route("/restx/users/<int:user_id>/offers-no-user-read/")
class OffersNoUserRead(Resource):
    def get(self, user_id):
        decode_token(request.headers["Authorization"].split(" ", 1)[1])
        return _page(user_id)

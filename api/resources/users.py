"""Namespace `users`: registration, login, the current user."""

from flask_restx import Resource

from api.auth import current_user
from api.extensions import db
from api.ratelimit import configured, limiter
from api.resources.helpers import ApiNamespace
from api.schemas.users import login_schema, register_schema, token_schema, user_schema
from api.services import users as users_service

ns = ApiNamespace("users", description="Registration, login and the current user")


@ns.route("/register", public=True)
class Register(Resource):
    @limiter.limit(configured("RATELIMIT_REGISTER"))
    @ns.body(register_schema)
    @ns.returns(user_schema, 201, "User created")
    @ns.errors(409, 429, 503)
    def post(self, data):
        """Register a new user."""
        return users_service.register(session=db.session, **data)


@ns.route("/login", public=True)
class Login(Resource):
    @limiter.limit(configured("RATELIMIT_LOGIN"))
    @ns.body(login_schema)
    @ns.returns(token_schema, 200, "Token issued")
    @ns.errors(401, 429, 503, descriptions={401: "Wrong username or password"})
    def post(self, data):
        """Log in and get a JWT."""
        return users_service.login(session=db.session, **data)


@ns.route("/me")
class Me(Resource):
    @ns.returns(user_schema, 200, "The authenticated user")
    def get(self):
        """Get the authenticated user."""
        return current_user()

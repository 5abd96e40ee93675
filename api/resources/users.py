"""Namespace `users`: registration, login, the current user."""

from flask_restx import Namespace, Resource

from api.auth import auth_required, current_user
from api.extensions import db
from api.ratelimit import configured, limiter
from api.resources.helpers import error_responses, load_json, schema_model
from api.schemas.users import (
    LoginSchema,
    RegisterSchema,
    TokenSchema,
    UserSchema,
    login_schema,
    register_schema,
    token_schema,
    user_schema,
)
from api.services import users as users_service

ns = Namespace("users", description="Registration, login and the current user")

register_model = schema_model(ns, "Register", RegisterSchema)
login_model = schema_model(ns, "Login", LoginSchema)
user_model = schema_model(ns, "User", UserSchema)
token_model = schema_model(ns, "Token", TokenSchema)


@ns.route("/register")
class Register(Resource):
    @ns.expect(register_model)
    @ns.response(201, "User created", user_model)
    @error_responses(ns, 400, 409, 413, 415, 429, 503)
    @limiter.limit(configured("RATELIMIT_REGISTER"))
    def post(self):
        """Register a new user."""
        data = load_json(register_schema)
        user = users_service.register(session=db.session, **data)
        return user_schema.dump(user), 201


@ns.route("/login")
class Login(Resource):
    @ns.expect(login_model)
    @ns.response(200, "Token issued", token_model)
    @error_responses(ns, 400, 401, 413, 415, 429, 503, descriptions={401: "Wrong username or password"})
    @limiter.limit(configured("RATELIMIT_LOGIN"))
    def post(self):
        """Log in and get a JWT."""
        data = load_json(login_schema)
        return token_schema.dump(users_service.login(session=db.session, **data))


@ns.route("/me")
class Me(Resource):
    method_decorators = [auth_required]

    @ns.doc(security="jwt")
    @ns.response(200, "The authenticated user", user_model)
    @error_responses(ns, 401)
    def get(self):
        """Get the authenticated user."""
        return user_schema.dump(current_user())

"""User registration, login and profile schemas."""

from marshmallow import fields, validate

from api.schemas.base import BaseSchema, Text

# Python's `$` also matches before a final newline ("alice\n" would pass); `(?!\n)$` is the true end in both Python and
# the ECMA-262 dialect Swagger patterns use (where \A and \Z do not exist), so the spec shows the same pattern.
USERNAME_PATTERN = r"^[A-Za-z0-9_.-]+(?!\n)$"


class RegisterSchema(BaseSchema):
    username = Text(
        required=True,
        validate=[
            validate.Length(min=3, max=32),
            validate.Regexp(USERNAME_PATTERN, error="Only letters, digits, '_', '.' and '-' are allowed."),
        ],
        metadata={"example": "user"},
    )
    password = Text(required=True, load_only=True, validate=validate.Length(min=8, max=128), metadata={"example": "password"})


class LoginSchema(BaseSchema):
    # No format rules here: a malformed username simply fails to log in, with the same 401 as a wrong one.
    username = Text(required=True, validate=validate.Length(max=128), metadata={"example": "user"})
    password = Text(required=True, load_only=True, validate=validate.Length(max=1024), metadata={"example": "password"})


class UserSchema(BaseSchema):
    id = fields.Integer(dump_only=True)
    username = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class TokenSchema(BaseSchema):
    id = fields.Integer(dump_only=True, metadata={"description": "the user's id"})
    token = fields.String(dump_only=True, metadata={"description": "send as 'Authorization: JWT <token>' or 'Bearer <token>'"})
    expires_at = fields.DateTime(dump_only=True)


register_schema = RegisterSchema()
login_schema = LoginSchema()
user_schema = UserSchema()
token_schema = TokenSchema()

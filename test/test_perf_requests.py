"""Per-request work that serves nothing is not done."""

import flask
import pytest
from flask.sessions import NullSession


def test_a_request_opens_no_cookie_session_even_when_the_client_sends_one(app):
    with app.test_request_context("/api/v1/users/me", headers={"Cookie": "session=eyJ4IjoxfQ.forged.sig"}):
        assert isinstance(flask.session, NullSession)
        with pytest.raises(RuntimeError):
            flask.session["user"] = 1

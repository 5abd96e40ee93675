"""Chunked request bodies (Transfer-Encoding: chunked) are read, with the same size limit, under a real werkzeug server."""

import threading
import uuid

import pytest
import requests
from werkzeug.serving import make_server

LIMIT = 50_000
# werkzeug's server hands the de-chunked body over in 64 KiB reads: at this limit one read ends exactly on it.
ALIGNED_LIMIT = 64 * 1024


def serve(make_app, limit):
    """The app with a small MAX_CONTENT_LENGTH behind werkzeug's threaded HTTP server, which de-chunks request bodies."""
    small = make_app(MAX_CONTENT_LENGTH=limit)
    server = make_server("127.0.0.1", 0, small, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture(params=[LIMIT, ALIGNED_LIMIT], ids=["limit", "aligned-limit"])
def served_at(request, app, make_app):
    server, thread = serve(make_app, request.param)
    yield f"http://127.0.0.1:{server.server_port}", request.param
    server.shutdown()
    thread.join(10)


@pytest.fixture
def served(served_at):
    return served_at[0]


def chunked(*parts):
    # A generator body makes requests send Transfer-Encoding: chunked with no Content-Length.
    yield from parts


def test_a_chunked_json_body_is_read(served):
    username = f"chunky_{uuid.uuid4().hex[:6]}"
    response = requests.post(f"{served}/api/v1/users/register", timeout=30, headers={"Content-Type": "application/json"},
                             data=chunked(b'{"username": "', username.encode(), b'", "password": "correct horse battery"}'))
    assert response.request.headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in response.request.headers
    assert response.status_code == 201, response.text
    assert response.json()["username"] == username


def test_a_chunked_body_over_the_limit_is_413(served_at):
    served, limit = served_at
    filler = b"a" * 8192
    body = chunked(b'{"username": "', *([filler] * (limit // len(filler) + 2)), b'", "password": "correct horse battery"}')
    response = requests.post(f"{served}/api/v1/users/register", timeout=30, headers={"Content-Type": "application/json"},
                             data=body)
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large", response.text


def test_a_chunked_body_of_exactly_the_limit_is_read_whole(served_at):
    served, limit = served_at
    head, tail = b'{"username": "', b'", "password": "correct horse battery"}'
    body = head + b"a" * (limit - len(head) - len(tail)) + tail
    assert len(body) == limit
    response = requests.post(f"{served}/api/v1/users/register", timeout=30, headers={"Content-Type": "application/json"},
                             data=chunked(body[:1000], body[1000:]))
    # Parsed whole, then refused for what it says (the username is far too long): not 413, not "not valid JSON".
    assert response.status_code == 400 and "username" in response.json()["errors"], response.text

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
    response = requests.post(
        f"{served}/api/v1/users/register",
        timeout=30,
        headers={"Content-Type": "application/json"},
        data=chunked(b'{"username": "', username.encode(), b'", "password": "correct horse battery"}'),
    )
    assert response.request.headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in response.request.headers
    assert response.status_code == 201, response.text
    assert response.json()["username"] == username


def test_a_chunked_body_over_the_limit_is_413(served_at):
    served, limit = served_at
    filler = b"a" * 8192
    body = chunked(b'{"username": "', *([filler] * (limit // len(filler) + 2)), b'", "password": "correct horse battery"}')
    response = requests.post(
        f"{served}/api/v1/users/register", timeout=30, headers={"Content-Type": "application/json"}, data=body
    )
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large", response.text


def test_a_chunked_body_of_exactly_the_limit_is_read_whole(served_at):
    served, limit = served_at
    head, tail = b'{"username": "', b'", "password": "correct horse battery"}'
    body = head + b"a" * (limit - len(head) - len(tail)) + tail
    assert len(body) == limit
    response = requests.post(
        f"{served}/api/v1/users/register",
        timeout=30,
        headers={"Content-Type": "application/json"},
        data=chunked(body[:1000], body[1000:]),
    )
    # Parsed whole, then refused for what it says (the username is far too long): not 413, not "not valid JSON".
    assert response.status_code == 400 and "username" in response.json()["errors"], response.text


ATTACHMENT_LIMIT = 200_000
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR"


@pytest.fixture
def upload_server(app, make_app):
    """JSON bodies capped at LIMIT, attachment uploads at ATTACHMENT_LIMIT (both well apart)."""
    small = make_app(MAX_CONTENT_LENGTH=LIMIT, ATTACHMENT_MAX_BYTES=ATTACHMENT_LIMIT, RATELIMIT_ENABLED=False)
    server = make_server("127.0.0.1", 0, small, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


def issue_on_a_builtin_tracker(base):
    """(headers, the issue's attachments URL) for a new user's built-in tracker."""
    credentials = {"username": f"up_{uuid.uuid4().hex[:8]}", "password": "correct horse battery"}
    assert requests.post(f"{base}/api/v1/users/register", json=credentials, timeout=30).status_code == 201
    token = requests.post(f"{base}/api/v1/users/login", json=credentials, timeout=30).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    tracker = requests.post(
        f"{base}/api/v1/trackers/", json={"name": "t", "provider": "builtin", "target": "up"}, headers=headers, timeout=30
    ).json()
    issue = requests.post(
        f"{base}/api/v1/trackers/{tracker['id']}/issues", json={"title": "files"}, headers=headers, timeout=30
    ).json()
    return headers, f"{base}/api/v1/trackers/{tracker['id']}/issues/{issue['id']}/attachments"


def chunked_upload(url, headers, size):
    """POST a PNG of `size` bytes as multipart/form-data in 16 KiB chunks, without a Content-Length."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="shot.png"\r\nContent-Type: image/png\r\n\r\n'
    ).encode()
    data = PNG + b"\x00" * (size - len(PNG))
    body = head + data + f"\r\n--{boundary}--\r\n".encode()
    parts = [body[i : i + 16384] for i in range(0, len(body), 16384)]
    return requests.post(
        url, data=chunked(*parts), timeout=60, headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    )


def test_a_chunked_upload_may_be_as_large_as_the_attachment_limit_not_the_json_limit(upload_server):
    headers, url = issue_on_a_builtin_tracker(upload_server)
    response = chunked_upload(url, headers, LIMIT * 3)  # three times the JSON limit, below the attachment limit
    assert response.request.headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in response.request.headers
    assert response.status_code == 201, response.text
    assert response.json()["size"] == LIMIT * 3


def test_a_chunked_upload_over_the_attachment_limit_is_413(upload_server):
    headers, url = issue_on_a_builtin_tracker(upload_server)
    response = chunked_upload(url, headers, ATTACHMENT_LIMIT + 40_000)
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large", response.text


def test_other_chunked_bodies_keep_the_json_limit_beside_uploads(upload_server):
    headers, url = issue_on_a_builtin_tracker(upload_server)
    body = b'{"title": "' + b"a" * (LIMIT * 2) + b'"}'
    response = requests.post(
        url.rsplit("/issues/", 1)[0] + "/issues",
        headers={**headers, "Content-Type": "application/json"},
        data=chunked(body[:30_000], body[30_000:]),
        timeout=30,
    )
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large", response.text

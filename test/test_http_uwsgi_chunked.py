"""Chunked request bodies under the real uwsgi with the committed uwsgi.ini: read whole, and 413 over the limit."""

import re
import shutil
import socket
import uuid

import pytest

from bench.harness import VENV_BIN
from bench.harness.server import app_env, uwsgi
from test.test_http_chunked import issue_on_a_builtin_tracker

LIMIT = 50_000
ATTACHMENT_LIMIT = 200_000

pytestmark = pytest.mark.skipif(not (VENV_BIN / "uwsgi").exists() and not shutil.which("uwsgi"), reason="uwsgi not installed")


@pytest.fixture(scope="module")
def server(database_url, tmp_path_factory):
    env = app_env(
        database_url,
        MAX_CONTENT_LENGTH=LIMIT,
        ATTACHMENT_MAX_BYTES=ATTACHMENT_LIMIT,
        RATELIMIT_ENABLED="false",
        UWSGI_PROCESSES=1,
        UWSGI_THREADS=2,
    )
    log_path = tmp_path_factory.mktemp("uwsgi") / "uwsgi.log"
    with uwsgi(env, log_path=log_path) as (base_url, _pid):
        yield base_url


def raw_chunked_post(base_url, path, parts, *, content_type="application/json", authorization=None):
    """POST `parts` as HTTP/1.1 chunks over a plain socket (no client library rewrites it); returns (status, body)."""
    host, port = base_url.removeprefix("http://").split(":")
    auth = f"Authorization: {authorization}\r\n" if authorization else ""
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n{auth}"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    for part in parts:
        request += f"{len(part):x}\r\n".encode() + part + b"\r\n"
    request += b"0\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_uwsgi_reads_a_chunked_json_body(app, server):
    username = f"uw_{uuid.uuid4().hex[:8]}"
    status, body = raw_chunked_post(
        server, "/api/v1/users/register", [b'{"username": "', username.encode(), b'", "password": "correct horse battery"}']
    )
    assert status == 201, body
    assert username.encode() in body


def test_uwsgi_answers_413_for_a_chunked_body_over_the_limit(app, server):
    filler = b"a" * 8192
    status, body = raw_chunked_post(
        server, "/api/v1/users/register", [b'{"username": "', *([filler] * (LIMIT // len(filler) + 2)), b'"}']
    )
    assert status == 413, body
    assert b"payload_too_large" in body


def upload_parts(size):
    """(content type, chunks) of a multipart/form-data body carrying a PNG of `size` bytes in field `file`."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="shot.png"\r\nContent-Type: image/png\r\n\r\n'
        ).encode()
        + b"\x89PNG\r\n\x1a\n"
        + b"\x00" * (size - 8)
    )
    body += f"\r\n--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", [body[i : i + 16384] for i in range(0, len(body), 16384)]


@pytest.fixture
def attachments_path(server):
    """(Authorization header value, path of a new built-in issue's attachments) on the uwsgi server."""
    headers, url = issue_on_a_builtin_tracker(server)
    return headers["Authorization"], url.removeprefix(server)


def test_uwsgi_takes_a_chunked_upload_up_to_the_attachment_limit(app, server, attachments_path):
    authorization, path = attachments_path
    content_type, parts = upload_parts(LIMIT * 3)  # three times the JSON limit
    status, body = raw_chunked_post(server, path, parts, content_type=content_type, authorization=authorization)
    assert status == 201, body
    assert re.search(rb'"size": ?%d\b' % (LIMIT * 3), body), body


def test_uwsgi_answers_413_for_a_chunked_upload_over_the_attachment_limit(app, server, attachments_path):
    authorization, path = attachments_path
    content_type, parts = upload_parts(ATTACHMENT_LIMIT + 40_000)
    status, body = raw_chunked_post(server, path, parts, content_type=content_type, authorization=authorization)
    assert status == 413, body
    assert b"payload_too_large" in body

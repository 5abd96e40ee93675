"""A remote attachment's download is streamed through the gateway: the client reads the first bytes while the provider
is still holding back the rest. A gateway that buffered the file would not answer before the provider finished."""

import contextlib
import json

import pytest

from test.stub_provider import QuietHandler, stub_provider
from test.test_trackers import TRACKERS, make_tracker

HALF = 256 * 1024
HOLD_SECONDS = 30  # how long the provider waits for the client's first bytes before sending the rest anyway


class _GiteaAsset(QuietHandler):
    """Gitea's two calls behind a download: the asset's metadata, then the file at its browser_download_url."""

    def do_GET(self):
        server = self.server
        if self.path.endswith("/issues/1/assets/7"):
            body = json.dumps(
                {
                    "id": 7,
                    "name": "big.bin",
                    "size": 2 * HALF,
                    "created_at": "2025-01-01T00:00:00Z",
                    "browser_download_url": f"http://127.0.0.1:{server.server_address[1]}/attachments/7",
                }
            ).encode()
            self._answer("application/json", len(body))
            self.wfile.write(body)
            return
        self._answer("application/octet-stream", 2 * HALF)
        self.wfile.write(b"a" * HALF)
        self.wfile.flush()
        server.released_by_client = server.event.wait(HOLD_SECONDS)
        with contextlib.suppress(OSError):  # the gateway may have hung up
            self.wfile.write(b"b" * HALF)

    def _answer(self, content_type, length):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.end_headers()


@pytest.fixture
def provider():
    with stub_provider(_GiteaAsset) as server:
        server.released_by_client = None
        yield server


def test_a_remote_download_reaches_the_client_before_the_provider_has_sent_it_all(client, auth, provider):
    user = auth.register()
    tracker = make_tracker(
        client, user, name="g", provider="gitea", target="owner/repo", base_url=provider.base_url, credentials={"token": "t"}
    )
    response = client.get(f"{TRACKERS}{tracker['id']}/issues/1/attachments/7/content", headers=user.headers, buffered=False)
    assert response.status_code == 200 and response.is_streamed
    chunks = iter(response.response)
    received = next(chunks)
    while len(received) < HALF:
        received += next(chunks)
    provider.event.set()  # only now may the provider send the second half
    received += b"".join(chunks)
    response.close()
    assert received == b"a" * HALF + b"b" * HALF
    assert provider.released_by_client is True  # the first half was through before the provider sent the rest

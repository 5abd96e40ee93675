"""The passthrough's time cap bounds the whole answer: a provider that sends its headers at once and then drips its
body a byte at a time (each byte well within the socket timeout) is cut at PASSTHROUGH_TIMEOUT_SECONDS with a 504."""

import time

import pytest
import requests

from api.services.passthrough import _read_capped
from api.trackers.base import TrackerTimeout
from test.stub_provider import QuietHandler, stub_provider
from test.test_trackers import TRACKERS

DRIP_SECONDS = 40  # how long the provider would keep dripping: far beyond the cap


class _Dripping(QuietHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(DRIP_SECONDS * 10 + 2))
        self.end_headers()
        self.wfile.write(b'"')
        self.wfile.flush()
        stop = self.server.event
        if self.path.startswith("/stall"):  # one byte, then silence
            stop.wait(DRIP_SECONDS)
            return
        for _ in range(DRIP_SECONDS * 10):
            if stop.wait(0.1):
                return
            try:
                self.wfile.write(b"x")
                self.wfile.flush()
            except OSError:
                return  # the gateway hung up
        self.wfile.write(b'"')


@pytest.fixture
def dripping():
    with stub_provider(_Dripping) as server:
        yield server.base_url


def test_a_provider_dripping_its_body_is_cut_at_the_passthrough_time_cap(client, auth, app, monkeypatch, dripping):
    monkeypatch.setitem(app.config, "PASSTHROUGH_TIMEOUT_SECONDS", 2.0)
    user = auth.register()
    tracker = client.post(
        TRACKERS,
        json={"name": "drip", "provider": "gitea", "target": "owner/repo", "base_url": dripping, "credentials": {"token": "t"}},
        headers=user.headers,
    )
    assert tracker.status_code == 201, tracker.get_json()
    started = time.monotonic()
    response = client.post(
        f"{TRACKERS}{tracker.get_json()['id']}/passthrough", json={"method": "GET", "path": "user"}, headers=user.headers
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 504, response.get_json()
    assert response.get_json()["error"] == "tracker_timeout" and "passthrough" in response.get_json()["message"]
    assert elapsed < DRIP_SECONDS / 2  # a generous bound: the cap is 2 s, the drip 40 s


def test_one_read_that_would_outlast_the_deadline_is_cut_at_it(dripping):
    # The socket would wait 60 s for the next byte; the deadline (2 s) still ends the read.
    response = requests.get(f"{dripping}/stall", stream=True, timeout=60)
    started = time.monotonic()
    with pytest.raises(TrackerTimeout):
        _read_capped(response, limit=1024, deadline=time.monotonic() + 2)
    assert time.monotonic() - started < DRIP_SECONDS / 2
    response.close()

"""A tiny HTTP server on any loopback address that answers one scripted response and records every request:
a stand-in for an internal service, a redirecting tracker, or a tracker that sets cookies."""

import threading
from dataclasses import dataclass

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict
    body: bytes


class Recorder:
    """Answers every request with `status`, `body` and `headers`; `requests` lists what it received."""

    def __init__(self, host="127.0.0.1", port=0, *, status=200, body="[]", headers=None, content_type="application/json"):
        self.requests = []
        self.status, self.body, self.headers, self.content_type = status, body, dict(headers or {}), content_type
        self._lock = threading.Lock()
        self._server = make_server(host, port, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def host(self):
        return self._server.server_address[0]

    @property
    def port(self):
        return self._server.server_port

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._server.shutdown()
        self._server.server_close()

    @Request.application
    def _app(self, request):
        with self._lock:
            self.requests.append(
                Recorded(
                    method=request.method,
                    path=request.full_path.rstrip("?"),
                    headers=dict(request.headers),
                    body=request.get_data(),
                )
            )
        return Response(self.body, status=self.status, headers=self.headers, content_type=self.content_type)

"""A stand-in for a subscriber's endpoint: a real HTTP server on 127.0.0.1 that records what it is sent."""

import threading
from dataclasses import dataclass

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict
    body: bytes


class Receiver:
    """Answers 200 unless told to fail (`fail_next`) or to sit on requests (`hang`); records every request."""

    def __init__(self):
        self.requests = []
        self._lock = threading.Lock()
        self._failures = []
        self._hang_seconds = 0.0
        self._released = threading.Event()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self._server.server_port}/hook"

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, n, status=500):
        """Answer the next `n` requests with `status` (a 3xx carries a Location that must not be followed)."""
        with self._lock:
            self._failures.extend([status] * n)

    def hang(self, seconds):
        """Wait this long before answering each request (0 to stop hanging)."""
        self._hang_seconds = seconds

    @Request.application
    def _app(self, request):
        with self._lock:
            self.requests.append(
                ReceivedRequest(method=request.method, path=request.path, headers=dict(request.headers), body=request.get_data())
            )
            status = self._failures.pop(0) if self._failures else 200
        if self._hang_seconds:
            self._released.wait(self._hang_seconds)
        headers = {"Location": "/redirected"} if 300 <= status < 400 else {}
        return Response("ok" if status < 300 else "nope", status=status, headers=headers)

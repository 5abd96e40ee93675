"""A bare provider stand-in for behaviour the fakes cannot act out (a body held back or dripped): a threading HTTP
server on 127.0.0.1 around one request handler, with an Event its handler waits on and the test sets."""

import contextlib
import http.server
import threading


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1, no access log."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def stub_provider(handler):
    """Serve `handler` until the block ends; yields the server (`server.event`, `server.base_url`)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.event = threading.Event()
    server.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.event.set()  # wakes a handler still waiting
        server.shutdown()
        server.server_close()

"""A web server on the loopback for the HTTP probes: /ok answers 200, /away redirects to
another host, /here to /ok on the same one, anything else 500; ``seen`` holds each request's
headers."""

from __future__ import annotations

import http.server
import threading

import pytest


@pytest.fixture
def web():
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(dict(self.headers))
            if self.path == "/ok":
                self.send_response(200)
            elif self.path == "/away":
                self.send_response(302)
                self.send_header("Location", "http://elsewhere.invalid/x")
            elif self.path == "/here":
                self.send_response(301)
                self.send_header("Location", "/ok")
            else:
                self.send_response(500)
            self.end_headers()
            self.wfile.write(b"body")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], seen
    server.shutdown()

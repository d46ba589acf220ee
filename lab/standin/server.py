"""The kubelet's HTTP server: /healthz, and /pods on the read-only port."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .kubelet import Kubelet
from .log import log


def serve_http(kubelet: Kubelet, address: str, port: int, with_pods: bool) -> None:
    """Serve in a daemon thread; retry every 5 s while the port is taken, as the kubelet does."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = urllib.parse.urlsplit(self.path).path
            if path == "/healthz":
                code, text = kubelet.healthz()
                self._send(code, "text/plain; charset=utf-8", text.encode())
            elif path == "/pods" and with_pods:
                body = {
                    "kind": "PodList",
                    "apiVersion": "v1",
                    "metadata": {},
                    "items": kubelet.pod_list,
                }
                self._send(200, "application/json", json.dumps(body, default=str).encode())
            else:
                self._send(404, "text/plain; charset=utf-8", b"404 page not found\n")

        def _send(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass  # a probe every second would drown the journal

    def run() -> None:
        while True:
            try:
                server = ThreadingHTTPServer((address, port), Handler)
            except OSError as exc:
                log(
                    "E",
                    "server.go",
                    "Failed to start HTTP server",
                    address=address,
                    port=port,
                    err=exc,
                )
                time.sleep(5)
                continue
            log("I", "server.go", "Starting HTTP server", address=address, port=port)
            server.serve_forever()

    threading.Thread(target=run, name=f"http-{port}", daemon=True).start()

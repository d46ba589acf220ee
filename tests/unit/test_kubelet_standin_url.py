"""The lab kubelet's URL source follows the kubelet's http.go as the test model does
(tests/unit/kubelet_http_source.py): both poll one small HTTP server through the same
sequence of answers, and after each poll they hold the same pods."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from .kubelet_http_source import MAX_CONFIG_LENGTH, KubeletHTTPSource
from .test_kubelet_standin import NODE, SEED, ks


def _podlist(*names: str) -> bytes:
    items = [{**SEED, "metadata": {**SEED["metadata"], "name": n}} for n in names]
    return json.dumps({"apiVersion": "v1", "kind": "PodList", "items": items}).encode()


class _Server:
    def __init__(self) -> None:
        self.status, self.body = 200, b""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.headers.get("X-Spctl-Token") != "t":
                    self.send_response(403)
                    self.end_headers()
                    return
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/nodes/{NODE}/pods.json"


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.httpd.shutdown()


def _names(standin: Any) -> set[str]:
    return {p.name for p in standin.pods}


# (status, body) answered in turn; the pods both sources hold after each poll
STEPS = [
    (200, _podlist("a"), {"a"}),
    (500, _podlist("b"), {"a"}),  # an error keeps the pods
    (200, b"", set()),  # an empty body removes every pod
    (200, _podlist("a"), set()),  # the last body again: skipped, the pods stay away
    (200, _podlist("a", "b"), {"a", "b"}),
    (200, b"x" * MAX_CONFIG_LENGTH, {"a", "b"}),  # exactly the limit is already an error
    (200, b'{"apiVersion": "v1", "kind": "List", "items": []}', {"a", "b"}),  # not a PodList
]


def test_the_standin_url_source_matches_the_kubelet_model(server):
    model = KubeletHTTPSource(server.url, {"X-Spctl-Token": "t"}, NODE)
    standin = ks.URLSource(server.url, {"X-Spctl-Token": ["t"]}, NODE, 20.0)
    for status, body, want in STEPS:
        server.status, server.body = status, body
        model.poll()
        standin.fetch_once()
        suffix = "-" + NODE
        assert {n[: -len(suffix)] for n in (model.pods or {})} == want, (status, body[:40])
        assert {n[: -len(suffix)] for n in _names(standin)} == want, (status, body[:40])


def test_a_wrong_token_keeps_the_standin_pods(server):
    server.body = _podlist("a")
    standin = ks.URLSource(server.url, {"X-Spctl-Token": ["t"]}, NODE, 20.0)
    standin.fetch_once()
    wrong = ks.URLSource(server.url, {"X-Spctl-Token": ["nope"]}, NODE, 20.0)
    wrong.fetch_once()
    assert [p.name for p in standin.pods] == [f"a-{NODE}"]
    assert wrong.pods == [] and not wrong.listed

"""The probe kinds (agent/probes/kinds.py), as pkg/probe/http, tcp and grpc judge them, against
real servers on the loopback."""

from __future__ import annotations

import socket
from concurrent import futures

import pytest
from spctl_agent.probes.kinds import grpc_probe, http_probe, tcp_probe


def test_http_probe_statuses_headers_and_redirects(web) -> None:
    port, seen = web
    headers = [("X-Check", "1"), ("Host", "api.example")]
    assert http_probe("HTTP", "127.0.0.1", port, "/ok", headers, 1) == ("success", "body")
    assert seen[-1]["User-Agent"].startswith("kube-probe/")
    assert seen[-1]["X-Check"] == "1" and seen[-1]["Host"] == "api.example"
    result = http_probe("HTTP", "127.0.0.1", port, "/bad", [], 1)
    assert result == ("failure", "HTTP probe failed with statuscode: 500")
    assert http_probe("HTTP", "127.0.0.1", port, "/here", [], 1)[0] == "success"
    # A redirect to another host is not followed: a warning, which counts as success.
    result = http_probe("HTTP", "127.0.0.1", port, "/away", [], 1)
    assert result[0] == "success" and "redirects" in result[1]


def test_http_probe_connection_error_is_one_failure() -> None:
    # http.go DoHTTPProbe: "Convert errors into failures to catch timeouts" (not retried).
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    result, message = http_probe("HTTP", "127.0.0.1", port, "/", [], 1)
    assert result == "failure"
    assert message.startswith(f"Get http://127.0.0.1:{port}/: ") and "refused" in message


def test_tcp_probe() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    assert tcp_probe("127.0.0.1", port, 1)[0] == "success"
    listener.close()
    assert tcp_probe("127.0.0.1", port, 1)[0] == "failure"


@pytest.fixture
def health():
    import grpc

    status = {"": 1, "down": 2}
    requests: list[bytes] = []

    def check(request: bytes, context):
        requests.append(request)
        service = request[2:].decode() if request else ""
        if service not in status:
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return b"\x08" + bytes([status[service]])

    handler = grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(check)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port, requests
    server.stop(0)


def test_grpc_probe(health) -> None:
    port, requests = health
    assert grpc_probe("127.0.0.1", port, "", 2) == ("success", "")
    result = grpc_probe("127.0.0.1", port, "down", 2)
    assert result == ("failure", "service unhealthy (responded with 'NOT_SERVING')")
    assert requests[-1] == b"\x0a\x04down"
    assert grpc_probe("127.0.0.1", port, "other", 2)[0] == "failure"


def test_grpc_probe_nobody_listening() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    result = grpc_probe("127.0.0.1", port, "", 1)
    assert result[0] == "failure" and "failed to connect" in result[1]

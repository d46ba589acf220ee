"""Probes end in time and never break a node's answer (agent/probes/).

The kubelet gives each attempt one deadline for all of it (pkg/probe/http/http.go: the
client's Timeout covers the request and the body; pkg/probe/grpc/grpc.go: one context for
dial and call), turns connection errors and timeouts into one Failure (DoHTTPProbe "Convert
errors into failures to catch timeouts"), and retries only errors (pkg/kubelet/prober/
prober.go runProbeWithRetries). Times are asserted only as generous upper bounds.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from typing import Any, Callable

import pytest
from spctl_agent.main import handle
from spctl_agent.node import Clock
from spctl_agent.probes.kinds import grpc_probe, http_probe, tcp_probe
from spctl_agent.probes.prober import PodProber, mark_ready
from spctl_agent.probes.runner import host_ip
from spctl_agent.transaction.manifest_change import PodChange
from spctl_agent.transaction.wait import wait_for

from spctl.desired.probe_specs import readiness_specs
from spctl.desired.render import DesiredPod
from tests.fakes.agent_node import FakeSystemd, make_node
from tests.fakes.agent_node import pod as fake_pod
from tests.fakes.certs import self_signed


class Server:
    """A TCP server on 127.0.0.1 (or ``host``) that hands each connection to ``respond`` in
    its own thread (None: accept and never answer); ``connections`` counts them."""

    def __init__(self, respond: Callable[[socket.socket], None] | None, host: str = "127.0.0.1"):
        self.respond = respond
        self.listener = socket.socket()
        self.listener.bind((host, 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.open: list[socket.socket] = []
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self.open.append(conn)
            if self.respond is not None:
                threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            assert self.respond is not None
            self.respond(conn)
        except OSError:
            pass

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()
        for conn in self.open:
            conn.close()


@pytest.fixture
def server():
    made: list[Server] = []

    def make(respond=None, host="127.0.0.1") -> Server:
        made.append(Server(respond, host))
        return made[-1]

    yield make
    for s in made:
        s.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def trickle(conn: socket.socket) -> None:
    """A status line and headers that never end: one byte every 0.3 s."""
    read_request(conn)
    for byte in b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 200:
        conn.sendall(bytes([byte]))
        time.sleep(0.3)


def answer(raw: bytes) -> Callable[[socket.socket], None]:
    def respond(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(raw)
        conn.close()

    return respond


def http_spec(port: int, timeout: int, **extra: Any) -> dict[str, Any]:
    probe = {"httpGet": {"host": "127.0.0.1", "port": port, **extra}, "timeoutSeconds": timeout}
    return {"hostNetwork": False, "containers": [{"name": "app", "readinessProbe": probe}]}


POD = {"containers": [{"name": "app", "id": "c1", "state": "running"}]}


@pytest.mark.parametrize("respond", [None, trickle], ids=["never-answers", "trickles"])
def test_a_slow_server_is_one_failure_within_the_timeout(server, respond) -> None:
    slow = server(respond)
    prober = PodProber(http_spec(slow.port, 1), None, Clock())
    start = time.monotonic()
    assert prober.ready(POD, Clock().monotonic()) is False
    elapsed = time.monotonic() - start
    assert elapsed < 3.0  # timeoutSeconds 1 (before: 3 tries, and a trickle held it ~60 s)
    assert slow.connections == 1  # one Failure, not retried
    worker = prober.workers["app"][1]["readinessProbe"]
    assert worker.attempts == 1 and worker.last == "failure"
    assert "deadline exceeded" in prober.why


def test_tcp_and_grpc_probes_end_within_their_timeout(server) -> None:
    silent = server(None)
    start = time.monotonic()
    result, message = grpc_probe("127.0.0.1", silent.port, "", 1)
    assert result == "failure" and "did not complete within 1s" in message
    # A name that is not an IP goes through the resolver within the attempt's time too.
    assert tcp_probe("localhost", silent.port, 1)[0] == "success"
    assert time.monotonic() - start < 4.0


def server_context(tmp_path) -> ssl.SSLContext:
    """A server context with a throwaway self-signed certificate (the prober does not verify
    it, as the kubelet's InsecureSkipVerify)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed(tmp_path))
    return context


def test_https_answers_and_a_silent_tls_server_ends_within_the_timeout(tmp_path, server) -> None:
    context = server_context(tmp_path)

    def secure(conn: socket.socket) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            answer(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure")(tls)

    web = server(secure)
    assert http_probe("HTTPS", "127.0.0.1", web.port, "/", [], 2) == ("success", "secure")
    silent = server(None)  # accepts, never says a word of TLS
    start = time.monotonic()
    result, message = http_probe("HTTPS", "127.0.0.1", silent.port, "/", [], 1)
    assert result == "failure" and "TLS handshake timeout" in message
    assert time.monotonic() - start < 3.0


def test_a_body_that_cannot_be_read_is_an_error_retried_three_times(server) -> None:
    # http.go: only an error reading the body is returned as an error, and prober.go
    # retries errors (maxProbeRetries).
    short = server(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfour"))
    prober = PodProber(http_spec(short.port, 1), None, Clock())
    assert prober.ready(POD, Clock().monotonic()) is False
    assert short.connections == 3
    assert "reading the body" in prober.why


def test_a_long_probe_timeout_is_capped_by_the_wait(tmp_path, server) -> None:
    silent = server(None)
    node = make_node(tmp_path, clock=Clock())
    node._runtime.pods = [fake_pod(name="static-web-n1", uid="u2")]
    spec = {
        "hostNetwork": False,
        "containers": [
            {
                "name": "web",
                "ports": [],
                "readinessProbe": {
                    "httpGet": {"host": "127.0.0.1", "port": silent.port},
                    "timeoutSeconds": 600,
                },
            }
        ],
    }
    change = PodChange(
        node,
        {"pod": "static-web", "action": "create", "file": "static-web.yaml", "probes": spec},
        str(tmp_path),
        "n1",
    )
    start = time.monotonic()
    outcome = wait_for(node, [change], 3, 1)
    assert time.monotonic() - start < 8.0  # 3 s, not 600 (nor 3 x 600)
    assert outcome["static-web"].startswith("not settled within 3s (pod Running): not ready:")
    assert "web: readiness probe:" in outcome["static-web"]


def test_status_probes_share_one_budget(server) -> None:
    silent = server(None)
    pods = [fake_pod(name=f"web{i}-n1", uid=f"u{i}") for i in range(20)]
    for p in pods:
        p["source"] = "file"
    specs = {f"web{i}": http_spec(silent.port, 5) for i in range(20)}
    for spec in specs.values():
        spec["containers"][0]["name"] = "web"
    start = time.monotonic()
    mark_ready(pods, specs, None, timeout=1.0, budget=3.0)
    assert time.monotonic() - start < 5.0  # 3 s for all 20 (before: 20 x 1 s, one by one)
    assert all(p["ready"] is False for p in pods)
    reasons = [p["not_ready"] for p in pods]
    assert any("deadline exceeded" in r for r in reasons)
    assert sum("not probed: the status call's time for probes ran out" in r for r in reasons) >= 15


PROBED = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containers:
  - name: web
    image: nginx:1.27
    readinessProbe:
      httpGet: {{host: 127.0.0.1, port: {port}, path: {path}, httpHeaders: [{{name: X-Sign, value: {value}}}]}}
"""


def facts_for(tmp_path, port: int, cases: dict[str, tuple[str, str]]) -> dict:
    """The facts answer for one pod per case (name: (path, header value))."""
    node = make_node(tmp_path)
    node._runtime.pods = [
        {**fake_pod(name=f"{name}-n1", uid=name), "source": "file"} for name in cases
    ]
    desired = [
        DesiredPod(name, "t", PROBED.format(name=name, port=port, path=path, value=value))
        for name, (path, value) in cases.items()
    ]
    specs = readiness_specs(desired, list(cases))
    request = {"op": "facts", "pods": list(cases), "probes": specs}
    return handle(request, node)


def redirecting(conn: socket.socket) -> None:
    request = read_request(conn)
    path = request.decode("utf-8", "replace").split(" ")[1]
    locations = {
        "/badport": "http://127.0.0.1:99999/",
        "/badipv6": "http://[::1/x",
        "/loop": "/loop",
        "/away": "http://elsewhere.invalid/x",
    }
    if path in locations:
        head = f"HTTP/1.1 302 Found\r\nLocation: {locations[path]}\r\nContent-Length: 0\r\n\r\n"
        conn.sendall(head.encode())
    else:
        # 200 only when a header came as X-Sign: a or in UTF-8 bytes.
        ok = b"X-Sign: a\r\n" in request or "X-Sign: \u20ac\r\n".encode() in request
        conn.sendall(b"HTTP/1.1 %s\r\nContent-Length: 0\r\n\r\n" % (b"200 OK" if ok else b"400 No"))
    conn.close()


def test_a_broken_probe_is_that_pod_not_ready_and_the_answer_is_whole(tmp_path, server) -> None:
    web = server(redirecting)
    answer = facts_for(
        tmp_path,
        web.port,
        {
            "badport": ("/badport", "a"),
            "badipv6": ("/badipv6", "a"),
            "loop": ("/loop", "a"),
            "away": ("/away", "a"),
            "euro": ("/ok", "\u20ac"),
            "newline": ("/ok", '"a\\r\\nX-Injected: 1"'),
        },
    )
    assert answer["ok"] is True and answer["error"] is None and answer["hostname"]
    pods = {p["pod"]: p for p in answer["runtime"]["pods"]}
    assert pods["badport-n1"]["ready"] is False
    assert "failed to parse Location header" in pods["badport-n1"]["not_ready"]
    assert pods["badipv6-n1"]["ready"] is False
    assert "failed to parse Location header" in pods["badipv6-n1"]["not_ready"]
    assert pods["loop-n1"]["ready"] is False
    assert "stopped after 10 redirects" in pods["loop-n1"]["not_ready"]
    # Another host: not followed, a Warning, which counts as ready (http.go).
    assert pods["away-n1"]["ready"] is True
    # A non-ASCII value goes out as UTF-8 bytes, as Go's net/http sends it.
    assert pods["euro-n1"]["ready"] is True
    assert pods["newline-n1"]["ready"] is False
    assert "invalid header field value" in pods["newline-n1"]["not_ready"]


def test_an_exception_finding_the_pod_ip_is_a_reason_not_a_crash() -> None:
    from spctl_agent.runtime.grpc import GrpcError

    class Runner:
        def __init__(self, error: Exception) -> None:
            self.error = error

        def pod_ip(self, pod, host_network, timeout=5.0):
            raise self.error

    spec = {"containers": [{"name": "app", "readinessProbe": {"tcpSocket": {"port": 80}}}]}
    pods = [
        {**fake_pod(name="a-n1"), "source": "file"},
        {**fake_pod(name="b-n1"), "source": "file"},
    ]
    for p in pods:
        p["containers"][0]["name"] = "app"
    mark_ready(pods[:1], {"a": spec}, Runner(GrpcError("UNAVAILABLE", "cri is down")))
    mark_ready(pods[1:], {"b": spec}, Runner(KeyError("ip")))
    assert pods[0]["ready"] is False and "cri is down" in pods[0]["not_ready"]
    assert pods[1]["ready"] is False and "KeyError" in pods[1]["not_ready"]
    # A value this agent cannot read is that pod's reason too.
    bad = {"containers": [{"name": "app", "readinessProbe": {"timeoutSeconds": "soon"}}]}
    mark_ready(pods[:1], {"a": bad}, Runner(KeyError("ip")))
    assert pods[0]["ready"] is False and "ValueError" in pods[0]["not_ready"]


HOST_NETWORK = """\
apiVersion: v1
kind: Pod
metadata:
  name: static-web
spec:
  hostNetwork: true
  containers:
  - name: web
    image: nginx:1.27
    readinessProbe:
      tcpSocket: {{port: {port}}}
"""


def test_a_host_network_pod_is_probed_at_the_kubelets_node_ip(tmp_path, server) -> None:
    # 127.0.0.2 is on the loopback; the node's default-route address is not it.
    listening = server(answer(b""), host="127.0.0.2")
    specs = readiness_specs(
        [DesiredPod("static-web", "t", HOST_NETWORK.format(port=listening.port))], ["static-web"]
    )
    request = {"op": "facts", "pods": ["static-web"], "probes": specs, "units": ["kubelet"]}
    answers = {}
    for flag in ("--node-ip=127.0.0.2", None):
        cmdline = ["/usr/bin/kubelet"] + ([flag] if flag else [])
        node = make_node(tmp_path / str(bool(flag)), systemd=FakeSystemd(cmdline))
        node._runtime.pods = [{**fake_pod(name="static-web-n1"), "source": "file"}]
        (answers[flag],) = handle(request, node)["runtime"]["pods"]
    assert answers["--node-ip=127.0.0.2"]["ready"] is True
    # Without --node-ip: the node's address toward its default route, as before.
    assert answers[None]["ready"] is False
    assert f"dial tcp {host_ip()}:{listening.port}" in answers[None]["not_ready"]


def test_a_host_network_pod_is_probed_at_the_node_ip_the_control_host_sent(
    tmp_path, server
) -> None:
    # k3s and rke2 hide their kubelet's --node-ip: the control host reads node-ip from their
    # config files and sends it, in a facts request as in an apply request.
    listening = server(answer(b""), host="127.0.0.2")
    specs = readiness_specs(
        [DesiredPod("static-web", "t", HOST_NETWORK.format(port=listening.port))], ["static-web"]
    )
    request = {
        "op": "facts",
        "pods": ["static-web"],
        "probes": specs,
        "units": ["k3s"],
        "node_ip": "127.0.0.2",
    }
    node = make_node(tmp_path, systemd=FakeSystemd(["/usr/local/bin/k3s", "server"]))
    node._runtime.pods = [{**fake_pod(name="static-web-n1"), "source": "file"}]
    (pod,) = handle(request, node)["runtime"]["pods"]
    assert pod["ready"] is True, pod

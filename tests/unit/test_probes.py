"""The agent's probes (agent/probes/) and its reading of the kubelet's log (agent/kubelet_log.py).

Timing follows pkg/kubelet/prober/worker.go (initialDelaySeconds, periodSeconds, the
success/failure thresholds, readiness waiting for the startup probe) and prober.go (each
attempt's timeout); the kinds follow pkg/probe/http, tcp, exec and grpc.
"""

from __future__ import annotations

import http.server
import socket
import threading
from concurrent import futures
from typing import Any

import pytest
from spctl_agent.probes.kinds import ProbeError, grpc_probe, http_probe, tcp_probe
from spctl_agent.probes.prober import PodProber, resolve_port
from spctl_agent.protocol.probe_spec import probe_spec_of
from spctl_agent.system import kubelet_log

from tests.unit.agent_fakes import FakeClock

# -- timing against a fake clock ---------------------------------------------------------------


class ScriptedProber(PodProber):
    """Each attempt's result comes from ``script`` (a list of results, by probe kind)."""

    def __init__(self, spec: dict[str, Any], clock: FakeClock, script: dict[str, list[str]]):
        super().__init__(spec, None, clock)
        self.script = script
        self.attempts: list[tuple[str, float]] = []

    def run_once(self, probe, pod, container, cid, timeout):
        kind = probe["kind"]
        self.attempts.append((kind, self.clock.monotonic()))
        results = self.script[kind]
        return (results.pop(0) if len(results) > 1 else results[0]), kind


def spec_with(**kinds: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "ports": []}
    for kind, fields in kinds.items():
        container[kind] = dict(fields, kind=kind, exec={"command": ["true"]})
    return {"hostNetwork": False, "containers": [container]}


POD = {"containers": [{"name": "app", "id": "c1", "state": "running"}]}


def run_until(prober: ScriptedProber, clock: FakeClock, seconds: float) -> list[tuple[float, bool]]:
    """ready() every half second, as the agent's wait polls; (time, ready) at each change."""
    changes: list[tuple[float, bool]] = []
    start = clock.monotonic()
    while clock.monotonic() - start <= seconds:
        ready = prober.ready(POD, clock.monotonic())
        if not changes or changes[-1][1] != ready:
            changes.append((clock.monotonic() - start, ready))
        clock.sleep(0.5)
    return changes


def test_initial_delay_and_period() -> None:
    clock = FakeClock(0.0)
    spec = spec_with(readinessProbe={"initialDelaySeconds": 5, "periodSeconds": 3})
    prober = ScriptedProber(spec, clock, {"readinessProbe": ["success"]})
    changes = run_until(prober, clock, 12)
    assert changes == [(0.0, False), (5.0, True)]
    assert [t for _, t in prober.attempts] == [5.0, 8.0, 11.0]


def test_failure_threshold_turns_ready_off_only_after_that_many_failures() -> None:
    clock = FakeClock(0.0)
    spec = spec_with(readinessProbe={"periodSeconds": 2, "failureThreshold": 3})
    script = {"readinessProbe": ["success", "failure", "failure", "failure"]}
    prober = ScriptedProber(spec, clock, script)
    changes = run_until(prober, clock, 10)
    # Ready at once; failures at 2, 4 and 6: not ready from the third.
    assert changes == [(0.0, True), (6.0, False)]


def test_success_threshold_needs_that_many_successes_in_a_row() -> None:
    clock = FakeClock(0.0)
    spec = spec_with(readinessProbe={"periodSeconds": 1, "successThreshold": 3})
    script = {"readinessProbe": ["success", "failure", "success", "success", "success"]}
    prober = ScriptedProber(spec, clock, script)
    changes = run_until(prober, clock, 6)
    assert changes == [(0.0, False), (4.0, True)]


def test_defaults_period_ten_seconds() -> None:
    clock = FakeClock(0.0)
    prober = ScriptedProber(spec_with(readinessProbe={}), clock, {"readinessProbe": ["failure"]})
    run_until(prober, clock, 25)
    assert [t for _, t in prober.attempts] == [0.0, 10.0, 20.0]
    assert "readiness probe" in prober.why


def test_readiness_waits_for_the_startup_probe() -> None:
    clock = FakeClock(0.0)
    spec = spec_with(
        startupProbe={"periodSeconds": 2, "failureThreshold": 30},
        readinessProbe={"periodSeconds": 5},
    )
    script = {"startupProbe": ["failure", "failure", "success"], "readinessProbe": ["success"]}
    prober = ScriptedProber(spec, clock, script)
    changes = run_until(prober, clock, 12)
    assert changes == [(0.0, False), (4.0, True)]
    kinds = [(k, t) for k, t in prober.attempts]
    # The startup probe stops once it succeeded; readiness starts then, every 5 s.
    assert kinds == [
        ("startupProbe", 0.0),
        ("startupProbe", 2.0),
        ("startupProbe", 4.0),
        ("readinessProbe", 4.0),
        ("readinessProbe", 9.0),
    ]


def test_a_new_container_starts_over() -> None:
    clock = FakeClock(0.0)
    spec = spec_with(readinessProbe={"initialDelaySeconds": 3, "periodSeconds": 1})
    prober = ScriptedProber(spec, clock, {"readinessProbe": ["success"]})
    assert run_until(prober, clock, 4)[-1][1] is True
    restarted = {"containers": [{"name": "app", "id": "c2", "state": "running"}]}
    assert prober.ready(restarted, clock.monotonic()) is False  # initialDelay again
    clock.sleep(3)
    assert prober.ready(restarted, clock.monotonic()) is True


def test_probe_errors_are_retried_then_fail() -> None:
    clock = FakeClock(0.0)
    calls = []

    class Erring(PodProber):
        def run_once(self, probe, pod, container, cid, timeout):
            calls.append(timeout)
            raise ProbeError("connection refused")

    prober = Erring(spec_with(readinessProbe={"timeoutSeconds": 4}), None, clock)
    assert prober.ready(POD, 0.0) is False
    assert calls == [4, 4, 4]  # prober.go maxProbeRetries, each with timeoutSeconds
    assert "connection refused" in prober.why


def test_probe_spec_of_and_named_ports() -> None:
    pod = {
        "spec": {
            "hostNetwork": True,
            "containers": [
                {
                    "name": "web",
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "readinessProbe": {"httpGet": {"port": "http"}},
                    "livenessProbe": {"tcpSocket": {"port": 1}},
                },
                {"name": "side"},
            ],
        }
    }
    spec = probe_spec_of(pod)
    assert spec is not None and spec["hostNetwork"] is True
    web = spec["containers"][0]
    assert "livenessProbe" not in web and resolve_port("http", web) == 8080
    assert resolve_port(81, web) == 81 and resolve_port("81", web) == 81
    with pytest.raises(ProbeError):
        resolve_port("nope", web)
    assert probe_spec_of({"spec": {"containers": [{"name": "a"}]}}) is None


# -- the kinds, against real servers ------------------------------------------------------------


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


def test_exec_probe_through_the_runner() -> None:
    class Runner:
        def __init__(self, answer):
            self.answer, self.calls = answer, []

        def exec(self, cid, command, timeout):
            self.calls.append((cid, command, timeout))
            return self.answer

    spec = {"containers": [{"name": "app", "readinessProbe": {"exec": {"command": ["cat", "/x"]}}}]}
    container = spec["containers"][0]
    for answer, result in (
        ((0, b"ok"), "success"),
        ((1, b"no"), "failure"),
        ((None, b""), "failure"),
    ):
        runner = Runner(answer)
        prober = PodProber(spec, runner, None)
        got = prober.run_once(container["readinessProbe"], POD, container, "c1", 2)
        assert got[0] == result
        assert runner.calls == [("c1", ["cat", "/x"], 2)]


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


# -- the kubelet's log, in klog's real format ---------------------------------------------------

# pkg/kubelet/config/file.go extractFromDir: klog.ErrorS(err, "Could not process manifest file",
# "path", path); pkg/kubelet/pod_workers.go: klog.ErrorS(err, "Error syncing pod, skipping",
# "pod", klog.KObj(pod), "podUID", pod.UID), the error from kuberuntime's SyncResult
# (pkg/kubelet/container/sync_result.go) with the reasons of pkg/kubelet/images/types.go.
REJECTED = (
    'E1128 09:12:01.123456    4242 file.go:227] "Could not process manifest file" err="invalid pod:'
    ' [spec.containers[0].name: Invalid value: \\"Web\\": a lowercase RFC 1123 label]"'
    ' path="/etc/kubernetes/manifests/web.yaml"'
)
PULL = (
    'E1128 09:12:03.000001    4242 pod_workers.go:1301] "Error syncing pod, skipping" err="failed'
    ' to \\"StartContainer\\" for \\"web\\" with ErrImagePull: \\"failed to pull and unpack image'
    ' \\\\\\"docker.io/library/nope:1\\\\\\": not found\\"" pod="default/web-node1"'
    ' podUID="0a1b2c"'
)
BACKOFF = (
    'E1128 09:12:15.000001    4242 pod_workers.go:1301] "Error syncing pod, skipping" err="failed'
    ' to \\"StartContainer\\" for \\"web\\" with ImagePullBackOff: \\"Back-off pulling image'
    ' \\\\\\"nope:1\\\\\\"\\"" pod="default/web-node1" podUID="0a1b2c"'
)
NOISE = 'I1128 09:12:00.500000    4242 kubelet.go:2410] "SyncLoop ADD" source="file" pods=["default/web-node1"]'


def test_parse_line() -> None:
    where, message, fields = kubelet_log.parse_line(REJECTED)
    assert where == "file.go:227" and message == "Could not process manifest file"
    assert fields["path"] == "/etc/kubernetes/manifests/web.yaml"
    assert fields["err"].startswith('invalid pod: [spec.containers[0].name: Invalid value: "Web"')
    where, message, fields = kubelet_log.parse_line(PULL)
    assert fields["pod"] == "default/web-node1" and fields["podUID"] == "0a1b2c"
    assert 'with ErrImagePull: "failed to pull and unpack image \\"docker.io' in fields["err"]
    assert kubelet_log.parse_line("-- No entries --") is None


def test_failure_file_rejected() -> None:
    lines = [NOISE, REJECTED]
    reason = kubelet_log.failure(lines, "/etc/kubernetes/manifests/web.yaml", "web-node1")
    assert reason.startswith("the kubelet rejected /etc/kubernetes/manifests/web.yaml: invalid pod")
    assert kubelet_log.failure(lines, "/etc/kubernetes/manifests/other.yaml", "other-node1") is None


def test_failure_image_pull() -> None:
    reason = kubelet_log.failure([NOISE, PULL, BACKOFF], "/m/web.yaml", "web-node1", "default")
    # The back-off repeats the pull's failure: the failure says why.
    assert reason == (
        'the kubelet cannot start default/web-node1: failed to "StartContainer" for "web" with'
        ' ErrImagePull: "failed to pull and unpack image \\"docker.io/library/nope:1\\":'
        ' not found"'
    )
    only_backoff = kubelet_log.failure([BACKOFF], "/m/web.yaml", "web-node1")
    assert only_backoff.endswith('with ImagePullBackOff: "Back-off pulling image \\"nope:1\\""')
    # Another namespace, another pod, or the pod being replaced: not this change's failure.
    assert kubelet_log.failure([PULL], "/m/web.yaml", "web-node1", "kube-system") is None
    assert kubelet_log.failure([PULL], "/m/web.yaml", "web-node2") is None
    assert kubelet_log.failure([PULL], "/m/web.yaml", "web-node1", not_uid="0a1b2c") is None

"""CRI v1 and v1alpha2 (agent/runtime/cri.py): a runtime that serves only runtime.v1alpha2
(containerd 1.5, tests/fakes/cri_peer.py) answers v1 with grpc-go's UNIMPLEMENTED "unknown
service"; the agent asks v1alpha2 once and then goes straight to it, and the facts answer and
the facts answer name the version it spoke. (test_cri.py reads a real containerd 1.6
through both versions.) The ExecSync timeout is whole seconds rounded up, never 0."""

from __future__ import annotations

import tempfile

import pytest
from spctl_agent.protocol import messages
from spctl_agent.runtime import Runtime, Source, cri, grpc

from tests.fakes.cri_peer import CRIPeer

V1 = "/runtime.v1.RuntimeService/"
V1ALPHA2 = "/runtime.v1alpha2.RuntimeService/"


@pytest.fixture
def peer_of():
    peers = []

    def make(versions):
        # A short directory: unix socket paths are limited to 108 bytes.
        peer = CRIPeer(tempfile.mkdtemp(prefix="spctl-cri-"), versions)
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.close()


SANDBOX = {
    "id": "sb1",
    "metadata": {"name": "web-node1", "uid": "u1", "namespace": "default", "attempt": 0},
    "state": 0,
    "created_at": 1_700_000_000 * 10**9,
    "labels": {
        cri.POD_NAME_LABEL: "web-node1",
        cri.POD_NAMESPACE_LABEL: "default",
        cri.POD_UID_LABEL: "u1",
    },
    "annotations": {"kubernetes.io/config.source": "file", "kubernetes.io/config.hash": "u1"},
}
CONTAINER = {
    "id": "c1",
    "pod_sandbox_id": "sb1",
    "metadata": {"name": "web", "attempt": 0},
    "state": 1,
    "created_at": 1_700_000_001 * 10**9,
    "labels": {**SANDBOX["labels"], cri.CONTAINER_NAME_LABEL: "web"},
    "annotations": {cri.RESTART_COUNT_ANNOTATION: "0"},
}


def serve_pod(peer):
    peer.answers["ListPodSandbox"] = ("ListPodSandboxResponse", {"items": [SANDBOX]})
    peer.answers["ListContainers"] = ("ListContainersResponse", {"containers": [CONTAINER]})


def test_a_v1alpha2_runtime_is_asked_v1alpha2_once_v1_failed(peer_of):
    peer = peer_of(("v1alpha2",))
    serve_pod(peer)

    assert cri.spoken(peer.path) is None
    assert cri.version(peer.path)["runtime_api_version"] == "v1alpha2"
    # The v1 call was answered as grpc-go answers a service it does not have.
    assert peer.paths() == [V1 + "Version", V1ALPHA2 + "Version"]
    assert peer.calls[0][1] is None
    assert cri.spoken(peer.path) == "v1alpha2"

    # Every later call, on other connections too, goes straight to v1alpha2.
    pods = cri.read_pods(peer.path)
    assert peer.paths()[2:] == [V1ALPHA2 + "ListPodSandbox", V1ALPHA2 + "ListContainers"]
    assert peer.connections == 2
    pod = pods[("default", "web-node1", "u1")]
    assert pod["sandbox"]["id"] == "sb1" and pod["containers"]["web"]["state"] == "running"


def test_a_v1_runtime_is_never_asked_v1alpha2(peer_of):
    peer = peer_of(("v1", "v1alpha2"))
    serve_pod(peer)
    cri.read_pods(peer.path)
    cri.read_pods(peer.path)
    assert peer.paths() == [V1 + "ListPodSandbox", V1 + "ListContainers"] * 2
    assert cri.spoken(peer.path) == "v1"


def test_a_runtime_that_serves_neither_is_named_so(peer_of):
    peer = peer_of(("v1beta9",))
    with pytest.raises(grpc.GrpcError) as raised:
        cri.read_pods(peer.path)
    assert raised.value.status == "UNIMPLEMENTED"
    assert str(raised.value) == (
        "ListPodSandbox: UNIMPLEMENTED: the runtime serves neither CRI runtime.v1 nor "
        "runtime.v1alpha2: runtime.v1.RuntimeService answered "
        "'unknown service runtime.v1.RuntimeService', runtime.v1alpha2.RuntimeService "
        "answered 'unknown service runtime.v1alpha2.RuntimeService'"
    )
    assert peer.paths() == [V1 + "ListPodSandbox", V1ALPHA2 + "ListPodSandbox"]
    assert cri.spoken(peer.path) is None


def test_a_method_only_v1alpha2_is_asked_and_lacks_is_named_with_both_answers(peer_of):
    # v1 unknown, v1alpha2 there without the method: not reported as v1's "unknown service".
    peer = peer_of(("v1alpha2",))
    del peer.answers["ListPodSandbox"]
    with pytest.raises(grpc.GrpcError) as raised:
        cri.read_pods(peer.path)
    assert str(raised.value) == (
        "ListPodSandbox: UNIMPLEMENTED: the runtime serves neither CRI runtime.v1 nor "
        "runtime.v1alpha2 with ListPodSandbox: runtime.v1.RuntimeService answered "
        "'unknown service runtime.v1.RuntimeService', runtime.v1alpha2.RuntimeService "
        "answered 'unknown method ListPodSandbox for service runtime.v1alpha2.RuntimeService'"
    )


def test_a_method_v1_lacks_is_named_as_v1_said_it(peer_of):
    peer = peer_of(("v1",))
    del peer.answers["ListPodSandbox"]
    with pytest.raises(grpc.GrpcError) as raised:
        cri.read_pods(peer.path)
    assert raised.value.message == (
        "unknown method ListPodSandbox for service runtime.v1.RuntimeService"
    )
    assert peer.paths() == [V1 + "ListPodSandbox", V1ALPHA2 + "ListPodSandbox"]


def test_once_the_version_is_known_an_unimplemented_method_is_not_retried(peer_of):
    peer = peer_of(("v1alpha2",))
    cri.version(peer.path)
    del peer.answers["ListContainers"]
    with pytest.raises(grpc.GrpcError) as raised:
        cri.read_pods(peer.path)
    assert raised.value.message == (
        "unknown method ListContainers for service runtime.v1alpha2.RuntimeService"
    )
    assert peer.paths()[-1] == V1ALPHA2 + "ListContainers"
    assert V1 + "ListContainers" not in peer.paths()


def test_the_runtime_state_names_the_cri_version_spoken(peer_of):
    peer = peer_of(("v1alpha2",))
    serve_pod(peer)
    endpoint = "unix://" + peer.path
    state = Runtime([Source("cri", endpoint, peer.path, cri.read_pods)]).read()
    assert state["cri_version"] == "v1alpha2" and state["endpoint"] == endpoint
    assert [p["pod"] for p in state["pods"]] == ["web-node1"]

    # The facts answer carries it to the control host (status -o json: tests/unit/spctl/plan).
    assert messages.read_facts_answer({"runtime": state})["runtime"]["cri_version"] == "v1alpha2"


def test_docker_has_no_cri_version():
    state = Runtime([Source("docker", "unix:///var/run/docker.sock", "/x", lambda path: {})]).read()
    assert state["runtime"] == "docker" and state["cri_version"] is None


@pytest.mark.parametrize(
    "seconds,sent",
    [(0, 1), (0.001, 1), (0.4, 1), (1, 1), (1.0, 1), (1.2, 2), (9.999, 10), (30, 30)],
)
def test_exec_timeout_is_rounded_up_and_never_0(seconds, sent):
    # api.proto ExecSyncRequest.timeout: "Default: 0 (run forever)".
    assert cri.exec_timeout(seconds) == sent


def test_exec_sync_sends_the_rounded_timeout_and_ends_by_the_deadline(peer_of):
    peer = peer_of(("v1alpha2",))
    peer.answers["ExecSync"] = lambda request: (
        "ExecSyncResponse",
        {"stdout": b"ok\n", "stderr": b"", "exit_code": 0},
    )
    answer = cri.exec_sync(peer.path, "c1", ["sh", "-c", "true"], timeout=0.4, deadline=0.3)
    assert answer == {"stdout": b"ok\n", "stderr": b"", "exit_code": 0}
    path, request, headers = peer.calls[-1]
    assert path == V1ALPHA2 + "ExecSync"
    assert request == {"container_id": "c1", "cmd": ["sh", "-c", "true"], "timeout": 1}
    # The call's own deadline is what the caller has left (0.3 s), not the command's timeout.
    assert headers["grpc-timeout"].endswith("m") and 200 < int(headers["grpc-timeout"][:-1]) <= 300
    cri.exec_sync(peer.path, "c1", ["true"], timeout=2.5)
    path, request, headers = peer.calls[-1]
    assert request["timeout"] == 3 and 2000 < int(headers["grpc-timeout"][:-1]) <= 2500

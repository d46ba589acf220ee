"""Pods through the CRI (standin/kuberuntime.py): the sandbox and container configs the
kubelet sends, and the runtime's answers read back as pods."""

from __future__ import annotations

import pytest
from spctl_lab.standin.cri.api import (
    CONTAINER_CREATED,
    CONTAINER_EXITED,
    CONTAINER_RUNNING,
    NAMESPACE_CONTAINER,
    NAMESPACE_NODE,
    NAMESPACE_POD,
    POD_SANDBOX_CONFIG,
    SANDBOX_NOTREADY,
    SANDBOX_READY,
)
from spctl_lab.standin.cri.protobuf import decode, encode
from spctl_lab.standin.kuberuntime import (
    cri_container_config,
    cri_sandbox_config,
    detail_from_cri,
    hash_container,
    runtime_containers_from_cri,
)

from tests.fakes.standin import NODE, pod_at, seed


def test_cri_sandbox_config_is_the_kubelets(tmp_path) -> None:
    pod = pod_at(tmp_path, "static-web.yaml", seed())
    annotations = pod.annotations("2025-01-01T00:00:00Z")
    config = cri_sandbox_config(pod, 2, annotations)
    assert config["metadata"] == {
        "name": "static-web-my-node1",
        "uid": pod.uid,
        "namespace": "default",
        "attempt": 2,
    }
    assert config["labels"] == {
        "role": "myrole",
        "io.kubernetes.pod.name": "static-web-my-node1",
        "io.kubernetes.pod.namespace": "default",
        "io.kubernetes.pod.uid": pod.uid,
    }
    assert config["annotations"] == {
        "kubernetes.io/config.hash": pod.uid,
        "kubernetes.io/config.source": "file",
        "kubernetes.io/config.seen": "2025-01-01T00:00:00Z",
    }
    assert config["log_directory"] == f"/var/log/pods/default_static-web-my-node1_{pod.uid}"
    assert config["hostname"] == "static-web-my-node1"
    assert config["linux"]["security_context"]["namespace_options"] == {
        "network": NAMESPACE_POD,
        "pid": NAMESPACE_CONTAINER,
        "ipc": NAMESPACE_POD,
    }
    # It survives the wire.
    wire = encode(POD_SANDBOX_CONFIG, config)
    assert decode(POD_SANDBOX_CONFIG, wire)["annotations"] == config["annotations"]


def test_cri_host_network_pod_shares_the_nodes_namespaces_and_has_no_hostname(tmp_path) -> None:
    pod = pod_at(tmp_path, "h.yaml", seed(hostNetwork=True, hostPID=True))
    config = cri_sandbox_config(pod, 0, {})
    assert "hostname" not in config
    assert config["linux"]["security_context"]["namespace_options"] == {
        "network": NAMESPACE_NODE,
        "pid": NAMESPACE_NODE,
        "ipc": NAMESPACE_POD,
    }


def test_cri_container_config_carries_the_restart_count(tmp_path) -> None:
    pod = pod_at(tmp_path, "static-web.yaml", seed(terminationGracePeriodSeconds=5))
    spec = pod.spec["containers"][0]
    config = cri_container_config(pod, spec, 3, [("/h", "/c", True)])
    assert config["metadata"] == {"name": "web", "attempt": 3}
    assert config["log_path"] == "web/3.log"
    assert config["labels"] == {
        "io.kubernetes.pod.name": "static-web-my-node1",
        "io.kubernetes.pod.namespace": "default",
        "io.kubernetes.pod.uid": pod.uid,
        "io.kubernetes.container.name": "web",
    }
    notes = config["annotations"]
    assert notes["io.kubernetes.container.restartCount"] == "3"
    assert notes["io.kubernetes.pod.terminationGracePeriod"] == "5"
    assert notes["io.kubernetes.container.terminationMessagePath"] == "/dev/termination-log"
    assert notes["io.kubernetes.container.ports"] == (
        '[{"name":"web","containerPort":80,"protocol":"TCP"}]'
    )
    assert notes["io.kubernetes.container.hash"] == hash_container(spec)
    assert hash_container({**spec, "image": "other"}) != hash_container(spec)
    assert config["mounts"] == [{"container_path": "/c", "host_path": "/h", "readonly": True}]


def cri_sandbox(sid: str, attempt: int, ready: bool, pod: str = "p-my-node1") -> dict:
    return {
        "id": sid,
        "metadata": {"name": pod, "uid": "u1", "namespace": "default", "attempt": attempt},
        "state": SANDBOX_READY if ready else SANDBOX_NOTREADY,
        "created_at": attempt,
        "labels": {
            "io.kubernetes.pod.name": pod,
            "io.kubernetes.pod.namespace": "default",
            "io.kubernetes.pod.uid": "u1",
        },
        "annotations": {},
    }


def cri_container(cid: str, sandbox: str, attempt: int, state: int) -> dict:
    return {
        "id": cid,
        "pod_sandbox_id": sandbox,
        "metadata": {"name": "web", "attempt": attempt},
        "state": state,
        "created_at": attempt,
        "labels": {
            "io.kubernetes.pod.name": "p-my-node1",
            "io.kubernetes.pod.namespace": "default",
            "io.kubernetes.pod.uid": "u1",
            "io.kubernetes.container.name": "web",
        },
        "annotations": {"io.kubernetes.pod.terminationGracePeriod": "7"},
    }


def test_cri_listing_grouped_into_pods() -> None:
    sandboxes = [
        cri_sandbox("s1", 1, True),
        cri_sandbox("s0", 0, False),
        cri_sandbox("other", 0, True, pod="p-my-node2"),  # another node's pod
    ]
    containers = [
        cri_container("w0", "s0", 0, CONTAINER_EXITED),
        cri_container("w1", "s1", 1, CONTAINER_RUNNING),
    ]
    pods = runtime_containers_from_cri(sandboxes, containers, NODE)
    assert list(pods) == ["u1"]
    pod = pods["u1"]
    assert [(s.id, s.attempt, s.alive) for s in pod.sandboxes] == [
        ("s1", 1, True),
        ("s0", 0, False),
    ]
    web = pod.containers["web"]
    assert [(c.id, c.attempt, c.state, c.sandbox_id, c.grace) for c in web] == [
        ("w1", 1, "running", "s1", 7),
        ("w0", 0, "exited", "s0", 7),
    ]


def test_cri_container_status_as_detail() -> None:
    exited = {
        "state": CONTAINER_EXITED,
        "started_at": 1_700_000_000_000_000_000,
        "finished_at": 1_700_000_001_500_000_000,
        "exit_code": 1,
        "reason": "Error",
    }
    detail = detail_from_cri(exited)
    assert (detail.exit_code, detail.reason) == (1, "Error")
    assert detail.finished_at == "2023-11-14T22:13:21.500000000Z"
    assert detail.finished_epoch() == pytest.approx(1_700_000_001.5)
    never = detail_from_cri({"state": CONTAINER_CREATED})
    assert (never.exit_code, never.reason) == (128, "StartError")

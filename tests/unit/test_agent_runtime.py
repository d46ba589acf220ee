"""The agent's reading of pods: the runtime it chooses, Docker's records as cri-dockerd
leaves them, and a pod's phase and identity as the kubelet sees them."""

from __future__ import annotations

import json
import random
import types
from pathlib import Path

import pytest
from spctl_agent.runtime import (
    DOCKER_SOCKET,
    Runtime,
    Source,
    candidates,
    docker,
    kubelet_endpoint,
)
from spctl_agent.runtime import pods as podlib

DATA = Path(__file__).parent / "data"
# Docker Engine 20.10's GET /containers/json?all=1 on a node whose kubelet runs through
# cri-dockerd: static-web has two sandboxes (its first exited), and its running container
# carries the random suffix cri-dockerd appends on a name conflict (all digits, so that
# reading the last field as an attempt would count 40,960,231 restarts); crash-web's
# container exited with code 3 twice.
CONTAINERS = json.loads((DATA / "docker-20.10-cri-dockerd-containers.json").read_text())
WEB = ("default", "static-web-n1", "5b0e8a6f3c2d41e7a9b8c7d6e5f40312")
CRASH = ("kube-system", "crash-web-n1", "9d8c7b6a5f4e3d2c1b0a998877665544")


def inspect_state(exit_code, oom=False):
    """The State of GET /containers/{id}/json, as Docker 20.10 prints it."""
    return {
        "State": {
            "Status": "exited",
            "Running": False,
            "Paused": False,
            "Restarting": False,
            "OOMKilled": oom,
            "Dead": False,
            "Pid": 0,
            "ExitCode": exit_code,
            "Error": "",
            "StartedAt": "2023-11-14T22:20:20.123456789Z",
            "FinishedAt": "2023-11-14T22:20:20.223456789Z",
        }
    }


def test_the_newest_sandbox_wins_and_restarts_come_from_the_label():
    grouped = docker.group(CONTAINERS)
    web = grouped[WEB]
    assert [s["created"] for s in web["sandboxes"]] == [1700000300, 1700000000]
    assert web["sandbox"]["state"] == "running" and web["sandbox"]["attempt"] == 1
    assert web["containers"]["web"]["restarts"] == 1
    assert web["containers"]["web"]["state"] == "running"
    assert web["annotations"]["kubernetes.io/config.source"] == "file"
    assert web["labels"]["app"] == "static-web"
    summary = podlib.summarize(*WEB, web)
    assert (summary["phase"], summary["restarts"], summary["sandboxes"]) == ("Running", 1, 2)


def test_grouping_does_not_depend_on_the_listing_order():
    shuffled = list(CONTAINERS)
    random.Random(7).shuffle(shuffled)
    assert docker.group(shuffled) == docker.group(CONTAINERS)


def test_an_exited_container_with_a_code_makes_the_pod_failed():
    crash = docker.group(CONTAINERS)[CRASH]
    app = crash["containers"]["app"]
    assert (app["exit_code"], app["restarts"], app["created"]) == (3, 2, 1700000420)
    summary = podlib.summarize(*CRASH, crash)
    assert summary["phase"] == "Failed"
    assert "exit code 3" in podlib.container_summary(summary)


def test_the_exit_code_and_reason_come_from_the_containers_state():
    asked = []

    def inspect(container_id):
        asked.append(container_id)
        return inspect_state(137, oom=True)

    crash = docker.group(CONTAINERS, inspect)[CRASH]
    app = crash["containers"]["app"]
    assert (app["exit_code"], app["reason"]) == (137, "OOMKilled")
    assert app["finished"] == "2023-11-14T22:20:20.223456789Z"
    # Only the newest instance of a stopped container is inspected; running ones never.
    assert asked == ["c0ffee0123456789abcdef0123456789abcdef0123456789abcdef0123456789"]


@pytest.mark.parametrize(
    "name, attempt",
    [
        ("/k8s_web_static-web-n1_default_uid_3", 3),
        ("/k8s_web_static-web-n1_default_uid_3_0badf00d", 3),
        ("/k8s_web_static-web-n1_default_uid_3_12345678", 3),
        ("/not-kubernetes", 0),
    ],
)
def test_attempt_is_the_names_sixth_field_random_suffix_or_not(name, attempt):
    assert docker.attempt_of(name) == attempt


def sandbox(state="running", created=1):
    return {"id": "s2", "state": state, "attempt": 1, "created": created, "created_ns": created}


def container(state="running", exit_code=None, restarts=0, sandbox_id="s2"):
    return {
        "id": "c",
        "state": state,
        "exit_code": exit_code,
        "restarts": restarts,
        "created": 1,
        "sandbox_id": sandbox_id,
    }


@pytest.mark.parametrize(
    "sandbox_state, containers, phase",
    [
        ("running", {"a": container(), "b": container()}, "Running"),
        ("running", {"a": container(), "b": container("created")}, "Pending"),
        ("exited", {"a": container()}, "Pending"),  # the sandbox is being replaced
        # A crash in the running pod fails it, restart or not.
        ("running", {"a": container(), "b": container("exited", 1)}, "Failed"),
        # A container stopped with its previous sandbox is one not created yet in the
        # new sandbox: a pod coming back after a rollback is Pending, not Failed.
        ("running", {"a": container("exited", 137, sandbox_id="s1")}, "Pending"),
        ("running", {"a": container("exited", 0), "b": container()}, "Pending"),
        ("exited", {"a": container("exited", 2)}, "Failed"),
        ("exited", {"a": container("exited", 0), "b": container("exited", 0)}, "Succeeded"),
        ("running", {}, "Pending"),
    ],
)
def test_phase(sandbox_state, containers, phase):
    record = {"sandbox": sandbox(sandbox_state), "containers": containers, "annotations": {}}
    assert podlib.summarize("default", "p", "u", record)["phase"] == phase


def test_restarts_are_the_sum_of_the_containers():
    record = {
        "sandbox": sandbox(),
        "containers": {"a": container(restarts=2), "b": container(restarts=3)},
    }
    assert podlib.summarize("default", "p", "u", record)["restarts"] == 5


def summary(name="web-n1", namespace="default", source="file", phase="Running", created=1):
    annotations = {"kubernetes.io/config.source": source} if source else {}
    return {
        "pod": name,
        "namespace": namespace,
        "phase": phase,
        "created": created,
        "annotations": annotations,
    }


def test_a_static_pod_is_matched_by_namespace_name_and_source():
    assert podlib.is_static(summary(), "web-n1")
    assert podlib.is_static(summary(), "web-n1", namespace="default")
    assert not podlib.is_static(summary(), "web-n1", namespace="kube-system")
    assert not podlib.is_static(summary(source="api"), "web-n1")
    assert not podlib.is_static(summary(source=None), "web-n1")
    assert not podlib.is_static(summary(source="http"), "web-n1")
    assert podlib.is_static(summary(source="http"), "web-n1", sources=("file", "http"))
    pods = [summary(phase="Pending", created=5), summary(created=2), summary(source="api")]
    assert podlib.find(pods, "web-n1")["created"] == 2  # the running one


# -- choosing the runtime ------------------------------------------------------------------


def fake_cri(pods_by_path=None, failing=()):
    def read_pods(path, timeout=10.0):
        if path in failing:
            raise OSError(111, "Connection refused")
        return (pods_by_path or {}).get(path, {})

    return types.SimpleNamespace(
        DEFAULT_ENDPOINTS=(
            "unix:///run/containerd/containerd.sock",
            "unix:///var/run/crio/crio.sock",
            "unix:///run/k3s/containerd/containerd.sock",
        ),
        socket_path=lambda endpoint: endpoint[len("unix://") :],
        read_pods=read_pods,
    )


def fake_docker(grouped=None, failing=False):
    def read_pods(path, timeout=10.0):
        if failing:
            raise OSError(2, "No such file or directory")
        return grouped or {}

    return types.SimpleNamespace(read_pods=read_pods)


def test_the_kubelets_flag_names_the_endpoint():
    cmdlines = [["kubelet", "--config=/c.yaml", "--container-runtime-endpoint=unix:///x.sock"]]
    assert kubelet_endpoint(cmdlines, read=lambda p: "containerRuntimeEndpoint: /y\n") == (
        "unix:///x.sock"
    )


def test_else_its_config_file_names_it(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
        'containerRuntimeEndpoint: "unix:///run/k3s/containerd/containerd.sock"\n'
    )
    assert kubelet_endpoint([["kubelet", "--config", str(config)]]) == (
        "unix:///run/k3s/containerd/containerd.sock"
    )
    assert kubelet_endpoint([["kubelet"]]) is None


def test_candidates_kubelet_first_then_defaults_that_exist_then_docker():
    cmdlines = [["kubelet", "--container-runtime-endpoint", "unix:///custom/cri.sock"]]
    existing = {"/custom/cri.sock", "/run/k3s/containerd/containerd.sock", DOCKER_SOCKET}
    found = candidates(cmdlines, exists=existing.__contains__, cri=fake_cri(), docker=fake_docker())
    assert [(s.kind, s.path) for s in found] == [
        ("cri", "/custom/cri.sock"),
        ("cri", "/run/k3s/containerd/containerd.sock"),
        ("docker", DOCKER_SOCKET),
    ]


def test_the_kubelets_endpoint_is_not_asked_twice():
    cmdlines = [["kubelet", "--container-runtime-endpoint=unix:///run/containerd/containerd.sock"]]
    found = candidates(cmdlines, exists=lambda p: True, cri=fake_cri(), docker=fake_docker())
    assert [s.path for s in found].count("/run/containerd/containerd.sock") == 1


def test_the_first_source_with_pods_wins_and_is_asked_first_from_then_on():
    web = docker.group(CONTAINERS)
    cri = fake_cri({"/run/containerd/containerd.sock": {}})
    runtime = Runtime(
        [
            Source(
                "cri",
                "unix:///run/containerd/containerd.sock",
                "/run/containerd/containerd.sock",
                cri.read_pods,
            ),
            Source("docker", "unix://" + DOCKER_SOCKET, DOCKER_SOCKET, fake_docker(web).read_pods),
        ]
    )
    answer = runtime.read()
    assert (answer["runtime"], answer["error"]) == ("docker", None)
    assert {p["pod"] for p in answer["pods"]} == {"static-web-n1", "crash-web-n1"}
    assert runtime.sources[0].kind == "docker"


def test_no_runtime_and_failing_runtimes_are_reported_not_raised():
    assert "no container runtime found" in Runtime([]).read()["error"]
    cri = fake_cri(failing={"/run/containerd/containerd.sock"})
    runtime = Runtime(
        [
            Source(
                "cri",
                "unix:///run/containerd/containerd.sock",
                "/run/containerd/containerd.sock",
                cri.read_pods,
            )
        ]
    )
    answer = runtime.read()
    assert answer["pods"] == [] and "Connection refused" in answer["error"]
    assert answer["error"].startswith("unix:///run/containerd/containerd.sock: ")

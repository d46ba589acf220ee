"""Which runtime the agent reads pods from (agent/runtime/__init__.py): the kubelet's endpoint
from its flag or its config file, then the usual sockets, then Docker; the first with pods."""

from __future__ import annotations

import json
import types
from pathlib import Path

from spctl_agent.runtime import (
    DOCKER_SOCKET,
    Runtime,
    Source,
    candidates,
    docker,
    kubelet_endpoint,
)

DATA = Path(__file__).resolve().parent / "data"


# Docker Engine 20.10's GET /containers/json?all=1 on a node whose kubelet runs through
# cri-dockerd: static-web has two sandboxes (its first exited), and its running container
# carries the random suffix cri-dockerd appends on a name conflict (all digits, so that
# reading the last field as an attempt would count 40,960,231 restarts); crash-web's
# container exited with code 3 twice.
CONTAINERS = json.loads((DATA / "docker-20.10-cri-dockerd-containers.json").read_text())


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

"""Pods as dockerd containers, the cri-dockerd way (standin/docker.py): labels, the
container config, binds, the listing grouped into pods, what inspect tells."""

from __future__ import annotations

from typing import Any

import pytest
from spctl_lab.standin.docker import (
    app_config,
    detail_from_inspect,
    group_by_pod,
    prepare_binds,
    sandbox_config,
)

from tests.fakes.standin import NODE, pod_at, seed


def test_container_labels_are_cri_dockerds(tmp_path) -> None:
    pod = pod_at(tmp_path, "static-web.yaml", seed(terminationGracePeriodSeconds=5))
    sandbox = sandbox_config(pod, pod.annotations("2025-01-01T00:00:00Z"))
    assert sandbox["Labels"] == {
        "role": "myrole",
        "io.kubernetes.pod.name": "static-web-my-node1",
        "io.kubernetes.pod.namespace": "default",
        "io.kubernetes.pod.uid": pod.uid,
        "io.kubernetes.container.name": "POD",
        "io.kubernetes.docker.type": "podsandbox",
        "annotation.kubernetes.io/config.hash": pod.uid,
        "annotation.kubernetes.io/config.source": "file",
        "annotation.kubernetes.io/config.seen": "2025-01-01T00:00:00Z",
    }
    assert sandbox["Image"] == "spctl-lab/pause:latest"
    assert sandbox["Entrypoint"] == ["/bin/sleep", "2147483647"]
    assert sandbox["HostConfig"]["NetworkMode"] == "bridge"
    app = app_config(pod, pod.spec["containers"][0], "sandbox-id", 2, ["/h:/c:ro"])
    assert app["Labels"] == {
        "io.kubernetes.pod.name": "static-web-my-node1",
        "io.kubernetes.pod.namespace": "default",
        "io.kubernetes.pod.uid": pod.uid,
        "io.kubernetes.container.name": "web",
        "io.kubernetes.docker.type": "container",
        "io.kubernetes.sandbox.id": "sandbox-id",
        "annotation.io.kubernetes.container.restartCount": "2",
        "annotation.io.kubernetes.pod.terminationGracePeriod": "5",
    }
    assert app["HostConfig"]["NetworkMode"] == "container:sandbox-id"
    assert app["HostConfig"]["Binds"] == ["/h:/c:ro"]


def test_command_args_env_and_host_network(tmp_path) -> None:
    container = {
        "name": "job",
        "image": "i",
        "command": ["/bin/sh", "-c"],
        "args": ["echo hi"],
        "env": [{"name": "A", "value": "1"}],
        "workingDir": "/w",
        "securityContext": {"privileged": True},
    }
    pod = pod_at(tmp_path, "job.yaml", seed(hostNetwork=True, containers=[container]))
    app = app_config(pod, container, "sb", 0, [])
    assert (app["Entrypoint"], app["Cmd"], app["Env"]) == (["/bin/sh", "-c"], ["echo hi"], ["A=1"])
    assert (app["WorkingDir"], app["HostConfig"]["Privileged"]) == ("/w", True)
    assert app["HostConfig"]["NetworkMode"] == "host"
    assert sandbox_config(pod, {})["HostConfig"]["NetworkMode"] == "host"


def test_emptydir_lives_under_the_root_dir(tmp_path) -> None:
    container = {
        "name": "w",
        "image": "i",
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    pod = pod_at(
        tmp_path, "p.yaml", seed(containers=[container], volumes=[{"name": "data", "emptyDir": {}}])
    )
    binds = prepare_binds(pod, container, str(tmp_path / "root"))
    source = tmp_path / "root" / "pods" / pod.uid / "volumes" / "emptydir" / "data"
    assert binds == [f"{source}:/data"] and source.is_dir()


def api_entry(name: str, state: str = "running", **labels: str) -> dict[str, Any]:
    _, container, pod, namespace, uid, _attempt = name.split("_")
    base = {
        "io.kubernetes.pod.name": pod,
        "io.kubernetes.pod.namespace": namespace,
        "io.kubernetes.pod.uid": uid,
        "io.kubernetes.container.name": container,
    }
    return {
        "Id": name,
        "Names": ["/" + name],
        "State": state,
        "Created": 0,
        "Labels": {**base, **labels},
    }


def test_group_by_pod_sorts_attempts_and_ignores_others() -> None:
    entries = [
        api_entry("k8s_web_static-web-my-node1_default_u1_0", "exited"),
        api_entry("k8s_web_static-web-my-node1_default_u1_2"),
        api_entry("k8s_web_static-web-my-node1_default_u1_1", "exited"),
        api_entry("k8s_POD_static-web-my-node1_default_u1_0"),
        api_entry("k8s_web_static-web-my-node2_default_u2_0"),  # another node's pod
        {"Id": "x", "Names": ["/registry"], "State": "running", "Labels": {"app": "registry"}},
    ]
    pods = group_by_pod(entries, NODE)
    assert list(pods) == ["u1"]
    assert [c.attempt for c in pods["u1"].containers["web"]] == [2, 1, 0]
    assert pods["u1"].sandbox is not None and pods["u1"].sandbox.alive


def test_container_detail_from_inspect() -> None:
    info = {
        "State": {
            "Status": "exited",
            "ExitCode": 137,
            "StartedAt": "2025-01-01T00:00:00.5Z",
            "FinishedAt": "2025-01-01T00:00:10.25Z",
        }
    }
    detail = detail_from_inspect(info)
    assert (detail.exit_code, detail.reason) == (137, "Error")
    assert detail.finished_epoch() == pytest.approx(1735689610.25)
    never_ran = detail_from_inspect(
        {
            "State": {
                "Status": "created",
                "ExitCode": 0,
                "Error": "exec: not found",
                "StartedAt": "0001-01-01T00:00:00Z",
                "FinishedAt": "0001-01-01T00:00:00Z",
            }
        }
    )
    assert (never_ran.exit_code, never_ran.reason, never_ran.started_at) == (128, "StartError", "")

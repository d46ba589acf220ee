"""The sync loop (standin/kubelet.py) on a containerd in memory: runs, restarts and
recreates the sandbox; image pulls as a node with no registry has them."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from spctl_agent.system import kubelet_log
from spctl_lab.standin import pods as standin_pods
from spctl_lab.standin.config import Settings
from spctl_lab.standin.cri.api import CONTAINER_EXITED, CONTAINER_RUNNING, SANDBOX_NOTREADY
from spctl_lab.standin.kubelet import Kubelet
from spctl_lab.standin.kuberuntime import CRIRuntime
from spctl_lab.standin.restarts import RestartBackoff

from tests.fakes.containerd import FakeContainerd
from tests.fakes.standin import NODE, SEED, write


def cri_kubelet(tmp_path, monkeypatch) -> tuple[Any, FakeContainerd]:
    monkeypatch.setattr(standin_pods, "POD_LOGS_DIR", str(tmp_path / "logs"))
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    write(manifests, "static-web.yaml", SEED)
    settings = Settings(
        node_name=NODE, manifest_path=str(manifests), root_dir=str(tmp_path / "root")
    )
    fake = FakeContainerd()
    kubelet = Kubelet(settings, CRIRuntime(fake))
    return kubelet, fake


def sync(kubelet: Any) -> None:
    kubelet._read_file_source()
    kubelet.sync_once()
    deadline = time.monotonic() + 5
    while kubelet.terminator._busy and time.monotonic() < deadline:
        time.sleep(0.01)


def test_cri_kubelet_runs_restarts_and_recreates_the_sandbox(tmp_path, monkeypatch, capsys) -> None:
    kubelet, fake = cri_kubelet(tmp_path, monkeypatch)
    sync(kubelet)
    (s0,) = fake.sandboxes
    assert fake.web() == [("id2", s0, 0, CONTAINER_RUNNING)]
    assert (tmp_path / "logs").joinpath(next(iter(os.listdir(tmp_path / "logs"))), "web").is_dir()
    pod = kubelet.pod_list[0]
    assert pod["status"]["phase"] == "Running" and pod["status"]["podIP"] == "10.88.0.9"
    assert pod["status"]["containerStatuses"][0]["containerID"] == "containerd://id2"

    # The container's task is killed: restarted at once in the same sandbox, attempt 1.
    fake.exit("id2", 137)
    sync(kubelet)
    assert fake.web() == [
        ("id2", s0, 0, CONTAINER_EXITED),
        ("id3", s0, 1, CONTAINER_RUNNING),
    ]
    assert fake.containers["id3"]["annotations"]["io.kubernetes.container.restartCount"] == "1"

    # The sandbox dies: its container is stopped, a new sandbox (attempt 1) is made, and the
    # container restarts there after the back-off; the old sandbox stays (it holds id3).
    fake.sandboxes[s0]["state"] = SANDBOX_NOTREADY
    sync(kubelet)
    s1 = next(s for s in fake.sandboxes if s != s0)
    assert fake.sandboxes[s1]["metadata"]["attempt"] == 1
    assert fake.containers["id3"]["state"] == CONTAINER_EXITED
    sync(kubelet)
    status, meta = kubelet.pod_list[0]["status"], kubelet.pod_list[0]["metadata"]
    waiting = status["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CrashLoopBackOff" and "back-off 10s" in waiting["message"]
    # getPhase: a restartPolicy Always pod waiting to restart its container is Running,
    # with the restart counted and the last termination kept.
    assert status["phase"] == "Running"
    assert status["containerStatuses"][0]["restartCount"] == 1
    assert "exitCode" in status["containerStatuses"][0]["lastState"]["terminated"]
    # pod_workers.go's line, as the agent reads it (agent/system/kubelet_log.py).
    lines = [line for line in capsys.readouterr().err.splitlines() if "CrashLoopBackOff" in line]
    where, message, fields = kubelet_log.parse_line(lines[-1])
    assert (where, message) == ("pod_workers.go", "Error syncing pod, skipping")
    assert fields["err"] == (
        'failed to "StartContainer" for "web" with CrashLoopBackOff: "back-off 10s restarting'
        f' failed container=web pod={meta["name"]}_default({meta["uid"]})"'
    )
    assert kubelet_log.crash_loop_backoff(fields["err"])[:2] == ("web", 10.0)
    assert set(fake.sandboxes) == {s0, s1}

    kubelet.backoff = RestartBackoff(initial=0.0)  # skip the wait
    sync(kubelet)
    assert fake.web()[-1][1:] == (s1, 2, CONTAINER_RUNNING)
    assert set(fake.sandboxes) == {s0, s1}  # id3 is the newest dead container, in s0

    # The file goes: the pod goes, every sandbox and container with it.
    os.remove(tmp_path / "manifests" / "static-web.yaml")
    kubelet._next_relist = 0
    sync(kubelet)
    assert fake.sandboxes == {} and fake.containers == {}


def test_cri_kubelet_image_pulls(tmp_path, monkeypatch, capsys) -> None:
    from spctl_agent.system import kubelet_log

    kubelet, fake = cri_kubelet(tmp_path, monkeypatch)
    fake.images = set()
    sync(kubelet)
    status = kubelet.pod_list[0]["status"]["containerStatuses"][0]
    assert status["state"]["waiting"]["reason"] == "ErrImagePull"
    assert fake.containers == {}
    pod = kubelet.pod_list[0]["metadata"]
    first = kubelet_log.failure(
        capsys.readouterr().err.splitlines(), "/nowhere", pod["name"], pod["namespace"]
    )
    assert first == (
        'the kubelet cannot start default/static-web-my-node1: failed to "StartContainer" for'
        ' "web" with ErrImagePull: "Failed to pull image \\"spctl-lab/pod:1.0\\": rpc error:'
        ' code = NotFound desc = failed to pull and unpack image \\"spctl-lab/pod:1.0\\":'
        ' the lab has no registry"'
    )
    sync(kubelet)  # within the pull back-off
    status = kubelet.pod_list[0]["status"]["containerStatuses"][0]
    assert status["state"]["waiting"]["reason"] == "ImagePullBackOff"
    again = kubelet_log.failure(
        capsys.readouterr().err.splitlines(), "/nowhere", pod["name"], pod["namespace"]
    )
    assert again and "ImagePullBackOff" in again and "Back-off pulling image" in again


def test_cri_kubelet_never_pulls(tmp_path, monkeypatch) -> None:
    kubelet, fake = cri_kubelet(tmp_path, monkeypatch)
    fake.images = set()
    pull_never = kubelet.pulls.failure
    monkeypatch.setattr(
        kubelet.pulls,
        "failure",
        lambda pod, spec, now: pull_never(pod, dict(spec, imagePullPolicy="Never"), now),
    )
    sync(kubelet)
    status = kubelet.pod_list[0]["status"]["containerStatuses"][0]
    assert status["state"]["waiting"]["reason"] == "ErrImageNeverPull"
    assert fake.containers == {}


def test_cri_kubelet_pulls_a_latest_image_even_when_present(tmp_path, monkeypatch) -> None:
    """imagePullPolicy Always (the default for :latest) pulls at every start, so a present
    image does not help on a node that cannot reach a registry (image_manager.go
    shouldPullImage)."""
    kubelet, fake = cri_kubelet(tmp_path, monkeypatch)
    latest = json.loads(json.dumps(SEED))
    latest["spec"]["containers"][0]["image"] = "spctl-lab/pod:latest"
    write(tmp_path / "manifests", "static-web.yaml", latest)
    fake.images = {"spctl-lab/pod:latest"}
    sync(kubelet)
    status = kubelet.pod_list[0]["status"]["containerStatuses"][0]
    assert status["state"]["waiting"]["reason"] == "ErrImagePull"
    assert fake.containers == {}
    latest["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    write(tmp_path / "manifests", "static-web.yaml", latest)
    kubelet._next_relist = 0
    sync(kubelet)  # the pod of the old file goes first
    sync(kubelet)
    assert [c[3] for c in fake.web()] == [CONTAINER_RUNNING]


def test_a_command_not_in_the_image_is_logged_as_pod_workers_does(
    tmp_path, monkeypatch, capsys
) -> None:
    """StartContainer failing (containerd's runc cannot exec the command) is RunContainerError
    in the kubelet's failed sync; CreateContainer failing is CreateContainerError."""
    from spctl_agent.system import kubelet_log
    from spctl_lab.standin.cri.client import CRIError

    kubelet, fake = cri_kubelet(tmp_path, monkeypatch)
    message = (
        "failed to create containerd task: failed to create shim task: OCI runtime create"
        ' failed: runc create failed: unable to start container process: exec: "nope":'
        " executable file not found in $PATH: unknown"
    )

    def no_start(cid: str) -> None:
        raise CRIError("UNKNOWN", message)

    monkeypatch.setattr(fake, "start_container", no_start)
    sync(kubelet)
    pod = kubelet.pod_list[0]["metadata"]
    reason = kubelet_log.failure(
        capsys.readouterr().err.splitlines(), "/nowhere", pod["name"], pod["namespace"]
    )
    assert reason == (
        'the kubelet cannot start default/static-web-my-node1: failed to "StartContainer" for'
        f' "web" with RunContainerError: {json.dumps(message)}'
    )
    status = kubelet.pod_list[0]["status"]["containerStatuses"][0]
    assert status["state"]["waiting"]["reason"] == "RunContainerError"

    def no_create(*_args: Any) -> str:
        raise CRIError("UNKNOWN", 'failed to reserve container name "web": name is reserved')

    monkeypatch.setattr(fake, "create_container", no_create)
    kubelet.quiet.clear_about(pod["uid"])
    for c in list(fake.containers):
        fake.containers.pop(c)
    sync(kubelet)
    reason = kubelet_log.failure(
        capsys.readouterr().err.splitlines(), "/nowhere", pod["name"], pod["namespace"]
    )
    assert reason and "with CreateContainerError: " in reason and "name is reserved" in reason


def test_json_lines_read_back_by_the_agent(tmp_path, monkeypatch, capsys) -> None:
    """--logging-format=json: component-base's lines, which the agent reads as the text."""
    from spctl_agent.system import kubelet_log
    from spctl_lab.standin import log as standin_log

    monkeypatch.setattr(standin_log, "_format", {"name": "json"})
    kubelet, fake = cri_kubelet(tmp_path, monkeypatch)
    fake.images = set()
    sync(kubelet)
    lines = capsys.readouterr().err.splitlines()
    records = [json.loads(line) for line in lines]
    sync_error = next(r for r in records if r["msg"] == "Error syncing pod, skipping")
    assert list(sync_error)[:3] == ["ts", "caller", "msg"] and list(sync_error)[-1] == "err"
    assert "v" not in sync_error and isinstance(sync_error["ts"], float)
    assert sync_error["pod"] == {"name": f"static-web-{NODE}", "namespace": "default"}
    added = next(r for r in records if r["msg"] == "SyncLoop ADD")
    assert added["v"] == 0
    pod = kubelet.pod_list[0]["metadata"]
    reason = kubelet_log.failure(lines, "/nowhere", pod["name"], pod["namespace"])
    assert reason and reason.startswith(
        'the kubelet cannot start default/static-web-my-node1: failed to "StartContainer" for'
        ' "web" with ErrImagePull: "Failed to pull image'
    )


def test_no_sandbox_while_the_runtime_network_is_not_ready(tmp_path, monkeypatch, capsys) -> None:
    """kubelet.go SyncPod: a pod that is not hostNetwork gets no sandbox while the runtime's
    NetworkReady is false, and pod_workers.go logs the kubelet's error; hostNetwork pods run;
    the pod starts once the network is ready (asked again after updateRuntimeUp's 5 s)."""
    kubelet, fake = cri_kubelet(tmp_path, monkeypatch)
    fake.network_ready = False
    host = json.loads(json.dumps(SEED))
    host["metadata"]["name"] = "host-web"
    host["spec"]["hostNetwork"] = True
    write(tmp_path / "manifests", "host-web.yaml", host)
    sync(kubelet)
    names = [s["metadata"]["name"] for s in fake.sandboxes.values()]
    assert names == [f"host-web-{NODE}"]
    err = capsys.readouterr().err
    assert (
        '"Error syncing pod, skipping" err="network is not ready: container runtime network not '
        "ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns "
        f'error: cni plugin not initialized" pod="default/static-web-{NODE}"'
    ) in err
    assert (
        'kubelet.go] "Container runtime network not ready" networkReady="NetworkReady=false' in err
    )
    fake.network_ready = True
    sync(kubelet)
    assert len(fake.sandboxes) == 1  # the state is the one read 5 s ago
    kubelet.network._next = 0.0
    sync(kubelet)
    assert sorted(s["metadata"]["name"] for s in fake.sandboxes.values()) == [
        f"host-web-{NODE}",
        f"static-web-{NODE}",
    ]

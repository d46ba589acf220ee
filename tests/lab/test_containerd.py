"""containerd under the kubelet stand-in, looked at through the CRI (the lab's
`spctl-lab-cri`) and `ctr -n k8s.io`, without spctl: static pods on a kubeadm node
(my-node2) and on the k3s node (my-node4) run as the kubelet runs them on containerd, with
its labels, annotations, attempts, restarts, back-off and garbage collection."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from spctl_lab.layouts import k3s_node_name

from tests.fakes.lab import LabSession, wait_until

NODE = "my-node2"  # kubeadm-deb
K3S = "my-node4"
MANIFESTS = {NODE: "/etc/kubernetes/manifests", K3S: "/var/lib/rancher/k3s/agent/pod-manifests"}


def manifest(name: str, container: str = "web", command: list[str] | None = None) -> str:
    spec: dict[str, Any] = {"name": container, "image": "spctl-lab/pod:1.0"}
    if command:
        spec["command"] = command
    else:
        spec["ports"] = [{"name": "web", "containerPort": 80, "protocol": "TCP"}]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"role": "cri-test"}},
        "spec": {"containers": [spec]},
    }
    return json.dumps(pod)  # JSON is YAML


def view(lab: LabSession, node: str, pod: str) -> tuple[list[dict], list[dict]]:
    """The pod's sandboxes and containers as the runtime has them, oldest first."""
    seen = lab.cri(node)
    # <pod>-<node name>; the k3s node's is K3S_NODE_NAME, lowercased, not its host name.
    full = f"{pod}-{k3s_node_name(node).lower() if node == K3S else node}"
    sandboxes = [s for s in seen["sandboxes"] if s["labels"].get("io.kubernetes.pod.name") == full]
    ids = {s["id"] for s in sandboxes}
    containers = [c for c in seen["containers"] if c["sandbox_id"] in ids]
    return sandboxes, containers


@contextmanager
def static_pod(lab: LabSession, node: str, name: str, text: str) -> Iterator[None]:
    path, temporary = f"{MANIFESTS[node]}/{name}.yaml", f"{MANIFESTS[node]}/.{name}.yaml.tmp"
    with lab.conn(node) as conn:  # a dotfile first: the kubelet would run a *.tmp as a pod
        done = conn.run(
            ["sh", "-c", f"cat > {temporary} && mv {temporary} {path}"], stdin=text.encode()
        )
        assert done.exit_code == 0, done.stderr
    try:
        yield
    finally:
        lab.out(node, f"rm -f {path}")
        wait_until(lambda: view(lab, node, name) == ([], []), 90, 1, f"{name} to go")


def running(lab: LabSession, node: str, pod: str) -> tuple[dict, dict] | None:
    """(ready sandbox, running container) once the pod runs, else None."""
    sandboxes, containers = view(lab, node, pod)
    ready = [s for s in sandboxes if s["state"] == "SANDBOX_READY"]
    if not ready:
        return None
    live = [
        c
        for c in containers
        if c["sandbox_id"] == ready[-1]["id"] and c["state"] == "CONTAINER_RUNNING"
    ]
    return (ready[-1], live[-1]) if live else None


def epoch(rfc3339: str) -> float:
    whole, _, fraction = rfc3339.rstrip("Z").partition(".")
    moment = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return moment.timestamp() + float(f"0.{fraction or 0}")


def test_static_pod_runs_under_containerd_with_the_kubelets_labels(lab: LabSession) -> None:
    flags = lab.out(NODE, "cat /var/lib/kubelet/kubeadm-flags.env")
    assert "--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock" in flags
    with static_pod(lab, NODE, "cri-web", manifest("cri-web")):
        sandbox, container = wait_until(lambda: running(lab, NODE, "cri-web"), 60, 1, "cri-web")
        uid = sandbox["uid"]
        assert (sandbox["name"], sandbox["namespace"], sandbox["attempt"]) == (
            "cri-web-my-node2",
            "default",
            0,
        )
        assert sandbox["labels"] == {
            "role": "cri-test",
            "io.kubernetes.pod.name": "cri-web-my-node2",
            "io.kubernetes.pod.namespace": "default",
            "io.kubernetes.pod.uid": uid,
        }
        annotations = sandbox["annotations"]
        assert annotations["kubernetes.io/config.source"] == "file"
        assert annotations["kubernetes.io/config.hash"] == uid
        assert annotations["kubernetes.io/config.seen"]
        assert container["attempt"] == 0
        assert container["labels"] == {
            "io.kubernetes.pod.name": "cri-web-my-node2",
            "io.kubernetes.pod.namespace": "default",
            "io.kubernetes.pod.uid": uid,
            "io.kubernetes.container.name": "web",
        }
        notes = container["annotations"]
        assert notes["io.kubernetes.container.restartCount"] == "0"
        assert notes["io.kubernetes.pod.terminationGracePeriod"] == "30"
        assert int(notes["io.kubernetes.container.hash"], 16) > 0
        # containerd's own view: its CRI plugin marks what it made as sandbox or container.
        info = json.loads(lab.ctr(NODE, f"containers info {container['id']}"))
        assert info["Labels"]["io.cri-containerd.kind"] == "container"
        info = json.loads(lab.ctr(NODE, f"containers info {sandbox['id']}"))
        assert info["Labels"]["io.cri-containerd.kind"] == "sandbox"
        assert info["Image"] == "docker.io/spctl-lab/pause:latest"
        # The pod has an address on the node's CNI bridge and serves on it.
        assert sandbox["ip"].startswith("10.88.")
        page = lab.out(NODE, f"curl -fsS --max-time 5 http://{sandbox['ip']}/")
        assert "spctl lab pod" in page


def test_killed_container_task_is_restarted_with_a_counted_attempt(lab: LabSession) -> None:
    with static_pod(lab, NODE, "cri-restart", manifest("cri-restart")):
        sandbox, first = wait_until(lambda: running(lab, NODE, "cri-restart"), 60, 1, "start")
        lab.ctr(NODE, f"tasks kill --signal KILL {first['id']}")

        def restarted() -> dict | None:
            now = running(lab, NODE, "cri-restart")
            return now[1] if now and now[1]["id"] != first["id"] else None

        second = wait_until(restarted, 60, 1, "the container to be restarted")
        assert second["attempt"] == 1
        assert second["annotations"]["io.kubernetes.container.restartCount"] == "1"
        assert second["sandbox_id"] == sandbox["id"]  # same sandbox
        _, containers = view(lab, NODE, "cri-restart")
        dead = [c for c in containers if c["id"] == first["id"]]
        assert dead and dead[0]["state"] == "CONTAINER_EXITED"  # kept: the newest dead one
        assert (dead[0]["exit_code"], dead[0]["reason"]) == (137, "Error")


def test_dead_sandbox_is_replaced_and_kept_while_it_holds_a_dead_container(
    lab: LabSession,
) -> None:
    with static_pod(lab, NODE, "cri-sandbox", manifest("cri-sandbox")):
        first, container = wait_until(lambda: running(lab, NODE, "cri-sandbox"), 60, 1, "start")
        lab.ctr(NODE, f"tasks kill --signal KILL {first['id']}")

        def replaced() -> tuple[dict, dict] | None:
            now = running(lab, NODE, "cri-sandbox")
            return now if now and now[0]["id"] != first["id"] else None

        second, restarted = wait_until(replaced, 90, 1, "a new sandbox with the container")
        assert second["attempt"] == 1 and restarted["attempt"] == 1
        assert restarted["annotations"]["io.kubernetes.container.restartCount"] == "1"
        sandboxes, containers = view(lab, NODE, "cri-sandbox")
        # Two sandboxes: the old one is not ready but holds the old, dead container, so the
        # kubelet's garbage collector keeps it; the newest is the pod.
        assert [(s["id"], s["state"]) for s in sandboxes] == [
            (first["id"], "SANDBOX_NOTREADY"),
            (second["id"], "SANDBOX_READY"),
        ]
        old = [c for c in containers if c["sandbox_id"] == first["id"]]
        assert [(c["id"], c["state"]) for c in old] == [(container["id"], "CONTAINER_EXITED")]


def test_crash_looping_container_exits_1_and_restarts_with_back_off(lab: LabSession) -> None:
    finished: dict[int, float] = {}
    created: dict[int, float] = {}

    def third_attempt() -> bool:
        for c in view(lab, NODE, "cri-crash")[1]:
            created[c["attempt"]] = c["created_at"] / 1e9
            if c["state"] == "CONTAINER_EXITED":
                assert (c["exit_code"], c["reason"]) == (1, "Error"), c
                finished[c["attempt"]] = epoch(c["finished_at"])
        return 2 in created

    with static_pod(lab, NODE, "cri-crash", manifest("cri-crash", "crash", ["false"])):
        wait_until(third_attempt, 90, 0.5, "a third attempt")
    # The first restart is at once; the next waits the back-off (10 s) after the exit.
    # (`false` exits at once: if the poll missed attempt 0's exit, its start stands in.)
    assert created[1] - finished.get(0, created[0]) < 5, (created, finished)
    assert created[2] - finished[1] >= 9, (created, finished)


def test_k3s_node_runs_pods_on_k3s_containerd_socket(lab: LabSession) -> None:
    assert lab.sh(K3S, "test -S /run/k3s/containerd/containerd.sock").exit_code == 0
    assert lab.sh(K3S, "test -e /run/containerd/containerd.sock").exit_code != 0
    args = lab.out(K3S, "ps -C containerd -o args=")
    assert "-a /run/k3s/containerd/containerd.sock" in args
    assert "--root /var/lib/rancher/k3s/agent/containerd" in args
    with static_pod(lab, K3S, "cri-k3s", manifest("cri-k3s")):
        sandbox, container = wait_until(lambda: running(lab, K3S, "cri-k3s"), 60, 1, "cri-k3s")
        # <pod>-<node name>: the kubelet's node name is K3S_NODE_NAME, lowercased.
        assert (
            sandbox["labels"]["io.kubernetes.pod.name"] == f"cri-k3s-{k3s_node_name(K3S).lower()}"
        )
        assert container["labels"]["io.kubernetes.container.name"] == "web"
        tasks = lab.ctr(K3S, "tasks ls -q").split()
        assert {sandbox["id"], container["id"]} <= set(tasks)

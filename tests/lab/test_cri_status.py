"""spctl reads pods on containerd nodes through the CRI itself: what `status` and `deploy`
report after the runtime changes behind the kubelet's back (a killed container task, a
recreated sandbox), checked against what the runtime holds (`spctl-lab-cri`, `ctr`).

my-node3 is a kubeadm-rpm node on containerd; my-node4 is the k3s node on k3s's containerd
socket. The crash-looping update on containerd (Failed with its exit code, rolled back) is
`test_faults.py::test_crash_looping_update_is_rolled_back`, on my-node2."""

from __future__ import annotations

from tests.fakes.lab import LabSession, pod_row, spctl_json, wait_until

NODE = "my-node3"


def web_status(node: str) -> dict:
    return pod_row(spctl_json("status", "--node", node), node, "static-web")


def sandboxes_of(lab: LabSession, node: str, uid: str) -> list[dict]:
    return [
        s for s in lab.cri(node)["sandboxes"] if s["labels"].get("io.kubernetes.pod.uid") == uid
    ]


def test_status_reads_containerd_pods_through_the_cri(lab: LabSession) -> None:
    spctl_json("deploy", "--node", NODE)
    row = web_status(NODE)
    assert row["phase"] == "Running" and row["ready"] is True, row
    assert row["manifest"] == "in-sync"
    assert len(lab.running_pod_uids(NODE)) == 1
    # Read through the CRI, on the socket the kubelet was started with (kubeadm-flags.env),
    # in CRI v1 (Debian's containerd 1.6 serves v1 and v1alpha2: v1 is asked first).
    status = spctl_json("status", "--node", NODE)
    node = next(n for n in status["nodes"] if n["name"] == NODE)
    assert node["runtime"] == {
        "kind": "cri",
        "endpoint": "unix:///var/run/containerd/containerd.sock",
        "cri_version": "v1",
    }, node
    docker_node = next(n for n in spctl_json("status", "--node", "my-node1")["nodes"])
    assert docker_node["runtime"]["kind"] == "docker"
    assert docker_node["runtime"]["cri_version"] is None


def test_a_killed_container_task_shows_a_counted_restart(lab: LabSession) -> None:
    spctl_json("deploy", "--node", NODE)
    before = wait_until(
        lambda: (r := web_status(NODE))["phase"] == "Running" and r, 60, 1, "static-web running"
    )
    lab.kill_container(NODE)  # `ctr tasks kill -s KILL` of the web container's task

    def restarted() -> dict | None:
        row = web_status(NODE)
        return (
            row if row["phase"] == "Running" and row["restarts"] == before["restarts"] + 1 else None
        )

    after = wait_until(restarted, 60, 1, "the restart counted by spctl status")
    web = next(c for c in after["containers"] if c["name"] == "web")
    assert web["restarts"] == before["restarts"] + 1
    # The runtime agrees: the kubelet's restart-count annotation on the running container.
    running = [
        c
        for c in lab.cri(NODE)["containers"]
        if c["name"] == "web" and c["state"] == "CONTAINER_RUNNING"
    ]
    assert len(running) == 1
    assert running[0]["annotations"]["io.kubernetes.container.restartCount"] == str(web["restarts"])


def test_a_pod_with_a_recreated_sandbox_reads_running(lab: LabSession) -> None:
    spctl_json("deploy", "--node", NODE)
    wait_until(lambda: web_status(NODE)["phase"] == "Running", 60, 1, "static-web running")
    uid = lab.running_pod_uids(NODE)[0]
    first = [s for s in sandboxes_of(lab, NODE, uid) if s["state"] == "SANDBOX_READY"]
    assert len(first) == 1
    lab.ctr(NODE, f"tasks kill --signal KILL {first[0]['id']}")

    def two_sandboxes_newest_ready() -> list[dict] | None:
        found = sandboxes_of(lab, NODE, uid)
        ready = [s for s in found if s["state"] == "SANDBOX_READY"]
        return found if len(found) >= 2 and ready and ready[0]["id"] != first[0]["id"] else None

    # The kubelet keeps the dead sandbox while it holds a dead container: two sandboxes.
    wait_until(two_sandboxes_newest_ready, 90, 1, "a second sandbox, the first kept")
    # The phase is the kubelet's (getPhase): Running while its container is restarted in the
    # new sandbox, and ready once it runs again.
    row = wait_until(
        lambda: (r := web_status(NODE))["phase"] == "Running" and r["ready"] is True and r,
        60,
        1,
        "Running and ready again",
    )
    assert row["ready"] is True and row["manifest"] == "in-sync", row
    # Still the same pod (same UID), and a no-change deploy agrees it is up.
    assert lab.running_pod_uids(NODE) == [uid]
    result = spctl_json("deploy", "--node", NODE)
    node = next(n for n in result["nodes"] if n["name"] == NODE)
    assert node["ok"] is True and node["changed"] is False, node


def test_the_k3s_node_is_read_on_k3s_containerd_socket(lab: LabSession) -> None:
    node = "my-node4"
    spctl_json("deploy", "--node", node)
    row = wait_until(
        lambda: (r := web_status(node))["phase"] == "Running" and r, 60, 1, "static-web on k3s"
    )
    assert row["manifest"] == "in-sync"
    # k3s's own socket, not the system containerd's (masked on this node).
    assert lab.sh(node, "test -S /run/k3s/containerd/containerd.sock").exit_code == 0
    assert lab.sh(node, "test -S /run/containerd/containerd.sock").exit_code != 0
    assert len(lab.running_pod_uids(node)) == 1

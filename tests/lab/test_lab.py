"""The lab itself: real nodes, laid out per profile, secured like real machines, and the
kubelet stand-in honouring the real kubelet's static pod behaviour (the seed walkthrough,
done by hand over SSH, without spctl deploy)."""

from __future__ import annotations

import re

import paramiko
import pytest
from spctl_lab.layouts import k3s_node_name

from spctl.errors import SpctlError
from spctl.transport.known_hosts import HostKeyError
from spctl.transport.ssh import Connection
from tests.fakes.lab import LabSession, wait_until

SEED_MANIFEST = """\
apiVersion: v1
kind: Pod
metadata:
  name: static-web
  labels:
    role: myrole
spec:
  containers:
    - name: web
      image: spctl-lab/pod:1.0
      ports:
        - name: web
          containerPort: 80
          protocol: TCP
"""


def test_three_node_lab_then_reconciled_to_seven_keeps_the_first_three(lab: LabSession) -> None:
    assert sorted(lab.first_ids) == ["my-node1", "my-node2", "my-node3"]
    for name, container_id in lab.first_ids.items():
        assert lab.second_ids[name] == container_id, f"{name} was recreated by the second lab up"
    assert sorted(lab.second_ids) == sorted(f"my-node{i}" for i in range(1, 8))
    assert "kubelet stand-in" in lab.first_up.stderr
    assert [lab.nodes[f"my-node{i}"].profile for i in range(1, 8)] == [
        "fedora",
        "kubeadm-deb",
        "kubeadm-rpm",
        "k3s",
        "fedora",
        "kubeadm-deb",
        "rke2",
    ]


def test_lab_up_again_changes_nothing(lab: LabSession) -> None:
    from tests.fakes.lab import PROFILE_ARGS, PROFILES, spctl

    args = PROFILE_ARGS
    done = spctl("lab", "up", "--nodes", str(len(PROFILES)), *args, inventory=None)
    assert done.returncode == 0, done.stderr
    containers = lab.lab.client.containers.list(
        all=True, filters={"label": f"spctl-lab.instance={lab.lab.name}"}
    )
    assert {c.labels["spctl-lab.node"]: c.id for c in containers} == lab.second_ids


@pytest.mark.parametrize("node", ["my-node1", "my-node2", "my-node3", "my-node4", "my-node7"])
def test_node_is_a_real_machine(lab: LabSession, node: str) -> None:
    assert lab.out(node, "ps -p 1 -o comm=").strip() == "systemd"
    assert lab.out(node, "hostname").strip() == node
    runtime = lab.runtime(node)
    # Its own runtime, showing that node's pods only: dockerd on fedora nodes, containerd on
    # kubeadm nodes, k3s's (rke2's) own containerd on k3s (rke2) nodes (and no dockerd there).
    unit = {"docker": "docker", "containerd": "containerd", "k3s": "k3s", "rke2": "rke2-server"}[
        runtime
    ]
    assert lab.out(node, f"systemctl is-active ssh {unit}").split() == ["active", "active"]
    if runtime == "docker":
        names = [c["Names"] for c in lab.containers(node)]
        assert all(node in n for n in names if n.startswith("k8s_")), names
    else:
        assert lab.sh(node, "systemctl is-active docker").stdout.decode().strip() != "active"
        seen = lab.cri(node)
        names = [s["name"] for s in seen["sandboxes"]]
        # <pod>-<node name>: the k3s node's is K3S_NODE_NAME, lowercased.
        kubelet_node = k3s_node_name(node).lower() if runtime == "k3s" else node
        assert all(n.endswith("-" + kubelet_node) for n in names), names
        images = lab.ctr(node, "images ls -q").split()
        assert {"docker.io/spctl-lab/pod:1.0", "docker.io/spctl-lab/pause:latest"} <= set(images)
    assert lab.out(node, "curl -fsS http://127.0.0.1:10248/healthz").strip() == "ok"


def test_profiles_lay_nodes_out_like_their_distribution(lab: LabSession) -> None:
    # my-node5 is a fedora node that nothing has configured yet (my-node1 may be deployed to).
    fedora = lab.out("my-node5", "cat /etc/kubernetes/kubelet; . /etc/os-release; echo ID=$ID")
    assert 'KUBELET_ARGS="--cluster-dns=10.254.0.10 --cluster-domain=kube.local"' in fedora
    assert "pod-manifest-path" not in fedora
    assert "ID=fedora" in fedora
    assert "EnvironmentFile=-/etc/kubernetes/kubelet" in lab.out(
        "my-node5", "systemctl cat kubelet"
    )

    deb = lab.out(
        "my-node2",
        "cat /var/lib/kubelet/config.yaml; systemctl cat kubelet; . /etc/os-release; echo ID=$ID",
    )
    assert "staticPodPath: /etc/kubernetes/manifests" in deb
    assert "EnvironmentFile=-/etc/default/kubelet" in deb and "10-kubeadm.conf" in deb
    assert "ID=ubuntu" in deb

    rpm = lab.out("my-node3", "systemctl cat kubelet; . /etc/os-release; echo ID=$ID")
    assert "EnvironmentFile=-/etc/sysconfig/kubelet" in rpm and "ID=rocky" in rpm

    k3s = lab.out(
        "my-node4", "systemctl is-active k3s; ls -d /var/lib/rancher/k3s/agent/pod-manifests"
    )
    assert k3s.split() == ["active", "/var/lib/rancher/k3s/agent/pod-manifests"]


def test_host_keys_are_verified_and_passwords_refused(lab: LabSession, tmp_path) -> None:
    node = lab.nodes["my-node1"]
    target = lab.lab.target(node)
    # With the lab's known_hosts: accepted. Without it: refused, fingerprint shown.
    with Connection(target) as conn:
        assert conn.run(["true"]).exit_code == 0
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    from dataclasses import replace

    with pytest.raises(HostKeyError, match=r"host key not known \(ssh-ed25519 SHA256:"):
        Connection(replace(target, known_hosts=str(empty))).open()
    # A wrong key on record for the node: refused as changed.
    other = lab.nodes["my-node2"]
    lines = lab.lab.state_dir.joinpath("known_hosts").read_text().splitlines()
    other_key = next(
        entry for entry in lines if entry.startswith(f"[127.0.0.1]:{other.port} ")
    ).split(" ", 1)[1]
    empty.write_text(f"[127.0.0.1]:{node.port} {other_key}\n")
    with pytest.raises(HostKeyError, match="HOST KEY CHANGED"):
        Connection(replace(target, known_hosts=str(empty))).open()
    # No password logins, for anyone.
    client = paramiko.SSHClient()
    client.load_host_keys(str(lab.lab.state_dir / "known_hosts"))
    with pytest.raises(paramiko.AuthenticationException):
        client.connect(
            "127.0.0.1",
            port=node.port,
            username="ops",
            password="ops",
            allow_agent=False,
            look_for_keys=False,
            timeout=10,
        )
    client.close()


def test_ops_user_has_passwordless_sudo(lab: LabSession) -> None:
    done = lab.sh("my-node1", "id -un; sudo -n id -u", user="ops")
    assert done.exit_code == 0, done.stderr
    assert done.stdout.decode().split() == ["ops", "0"]


def _pod_containers(lab: LabSession, node: str, pod: str) -> list[dict]:
    return [c for c in lab.containers(node) if f"_{pod}-{node}_" in c["Names"]]


def _web(lab: LabSession, node: str, pod: str = "static-web", running: bool = True) -> list[dict]:
    return [
        c
        for c in _pod_containers(lab, node, pod)
        if c["Names"].startswith("k8s_web_") and (c["State"] == "running") == running
    ]


def test_seed_walkthrough_by_hand(lab: LabSession) -> None:
    node = "my-node5"
    # 1. Write the pod into /etc/kubelet.d, as the walkthrough does with cat <<EOF.
    with lab.conn(node) as conn:
        conn.run(["mkdir", "-p", "/etc/kubelet.d"])
        assert (
            conn.run(
                ["sh", "-c", "cat > /etc/kubelet.d/static-web.yaml"], stdin=SEED_MANIFEST.encode()
            ).exit_code
            == 0
        )
    # 2. Point the kubelet at it in KUBELET_ARGS and restart it.
    lab.out(
        node,
        'sed -i \'s|^KUBELET_ARGS="\\(.*\\)"|KUBELET_ARGS="\\1 --pod-manifest-path=/etc/kubelet.d/"|\' '
        "/etc/kubernetes/kubelet && systemctl restart kubelet",
    )
    # 3. docker ps shows the pod's container, named as cri-dockerd names it.
    running = wait_until(lambda: _web(lab, node), 60, what="static-web to start")
    name = running[0]["Names"]
    assert re.fullmatch(r"k8s_web_static-web-my-node5_default_[0-9a-f]{32}_0", name), name
    sandbox = [
        c for c in _pod_containers(lab, node, "static-web") if c["Names"].startswith("k8s_POD_")
    ]
    assert len(sandbox) == 1 and sandbox[0]["State"] == "running"
    labels = running[0]["Labels"]
    assert "io.kubernetes.pod.name=static-web-my-node5" in labels
    assert "io.kubernetes.container.name=web" in labels
    # The pod serves HTTP.
    assert "spctl lab pod" in lab.out(
        node, f"docker exec {running[0]['ID']} wget -qO- http://127.0.0.1/"
    )
    # 4. docker stop: the kubelet restarts it, with a higher attempt number.
    lab.out(node, f"docker stop -t 1 {running[0]['ID']}")
    restarted = wait_until(
        lambda: [c for c in _web(lab, node) if c["Names"].endswith("_1")],
        60,
        what="the container to be restarted as attempt 1",
    )
    assert restarted[0]["Names"].rsplit("_", 1)[0] == name.rsplit("_", 1)[0]
    # 5. Move the file out: the pod goes.
    lab.out(node, "mv /etc/kubelet.d/static-web.yaml /tmp/")
    wait_until(lambda: not _pod_containers(lab, node, "static-web"), 60, what="the pod to go")
    # 6. Move it back: the pod returns (same content at the same path: same UID).
    lab.out(node, "mv /tmp/static-web.yaml /etc/kubelet.d/")
    back = wait_until(lambda: _web(lab, node), 60, what="the pod to return")
    assert back[0]["Names"].split("_")[4] == name.split("_")[4]


def test_dotfiles_ignored_but_backups_parsed(lab: LabSession) -> None:
    node = "my-node5"
    dot = SEED_MANIFEST.replace("name: static-web", "name: dot-pod")
    bak = SEED_MANIFEST.replace("name: static-web", "name: bak-pod")
    with lab.conn(node) as conn:
        conn.run(["mkdir", "-p", "/etc/kubelet.d"])
        conn.run(["sh", "-c", "cat > /etc/kubelet.d/.dot-pod.yaml"], stdin=dot.encode())
        conn.run(["sh", "-c", "cat > /etc/kubelet.d/bak-pod.yaml.bak"], stdin=bak.encode())
    lab.out(
        node,
        "grep -q pod-manifest-path /etc/kubernetes/kubelet || "
        '{ sed -i \'s|^KUBELET_ARGS="\\(.*\\)"|KUBELET_ARGS="\\1 --pod-manifest-path=/etc/kubelet.d/"|\' '
        "/etc/kubernetes/kubelet && systemctl restart kubelet; }",
    )
    wait_until(lambda: _web(lab, node, "bak-pod"), 60, what="the .bak file to run as a pod")
    assert not _pod_containers(lab, node, "dot-pod")
    lab.out(node, "rm -f /etc/kubelet.d/.dot-pod.yaml /etc/kubelet.d/bak-pod.yaml.bak")
    wait_until(lambda: not _pod_containers(lab, node, "bak-pod"), 60, what="bak-pod to go")


def test_standin_refuses_unknown_flags(lab: LabSession) -> None:
    done = lab.sh("my-node5", "/usr/bin/kubelet --no-such-flag=1")
    assert done.exit_code != 0
    assert "unknown flag: --no-such-flag" in done.stderr.decode()
    assert "stand-in" in lab.out("my-node5", "head -20 /usr/bin/kubelet")
    assert lab.out("my-node5", "readlink -f /usr/bin/kubelet").strip() == (
        "/usr/lib/spctl-lab/kubelet_standin.py"
    )


def test_connection_errors_are_values_not_hangs(lab: LabSession) -> None:
    from dataclasses import replace

    target = replace(lab.lab.target(lab.nodes["my-node1"]), port=1, connect_timeout=2)
    with pytest.raises(SpctlError, match="cannot connect"):
        Connection(target).open()

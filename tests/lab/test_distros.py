"""Nodes as the distributions lay them out, and a kubelet stand-in as strict as the kubelet.

- my-node4 (k3s): its node name comes from K3S_NODE_NAME in the unit's environment file
  (mixed case; the kubelet lowercases it), its kubelet runs inside the k3s process, whose
  command line hides the flags.
- my-node7 (rke2): rke2's own control-plane manifests share its pod-manifests directory.
- my-node3 (kubeadm-rpm): the stand-in refuses a removed flag and a missing kubeconfig, and
  keeps the last file of a duplicate pod.
- my-node8 (fedora-config): added by `lab up --profile fedora-config` for one test, then removed.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import yaml
from spctl_lab.layouts import RKE2_COMPONENTS, k3s_node_name

from tests.fakes.lab import (
    INVENTORY,
    PROFILE_ARGS,
    PROFILES,
    LabSession,
    inventory,
    spctl,
    spctl_json,
    wait_until,
)

K3S = "my-node4"
RKE2 = "my-node7"
RKE2_MANIFESTS = "/var/lib/rancher/rke2/agent/pod-manifests"
KUBEADM = "my-node3"
KUBEADM_MANIFESTS = "/etc/kubernetes/manifests"


def node_row(result: dict, node: str) -> dict:
    return next(n for n in result["nodes"] if n["name"] == node)


def pod_row(status: dict, node: str, pod: str) -> dict:
    return next(p for p in node_row(status, node)["pods"] if p["name"] == pod)


def test_k3s_node_named_by_its_environment_file_gets_its_pod(lab: LabSession) -> None:
    env = lab.out(K3S, "cat /etc/systemd/system/k3s.service.env")
    assert f"K3S_NODE_NAME='{k3s_node_name(K3S)}'" in env, env
    assert k3s_node_name(K3S) != K3S and k3s_node_name(K3S).lower() != K3S
    # The kubelet runs inside k3s: no kubelet process of its own, and k3s's command line
    # (its rewritten process title) shows none of the kubelet's flags.
    main_pid = lab.out(K3S, "systemctl show -p MainPID --value k3s").strip()
    cmdline = lab.out(K3S, f"tr '\\0' ' ' < /proc/{main_pid}/cmdline").split()
    assert cmdline == ["/usr/local/bin/k3s", "server"], cmdline
    processes = lab.out(K3S, "ps -eo args=").splitlines()
    assert not [p for p in processes if p.split()[0].endswith("kubelet")], processes
    assert not [p for p in processes if "--pod-manifest-path" in p], processes

    result = spctl_json("deploy", "static-web", "--node", K3S)
    row = node_row(result, K3S)
    assert row["ok"] and row["pods"][0]["phase"] == "Running", row
    web = pod_row(spctl_json("status", "--node", K3S), K3S, "static-web")
    # The mirror pod's name: <pod>-<node name>, the node name from K3S_NODE_NAME, lowercased.
    assert (web["pod"], web["manifest"], web["phase"]) == (
        f"static-web-{k3s_node_name(K3S).lower()}",
        "in-sync",
        "Running",
    )
    sandboxes = [
        s["labels"]["io.kubernetes.pod.name"]
        for s in lab.cri(K3S)["sandboxes"]
        if s["state"] == "SANDBOX_READY"
    ]
    assert f"static-web-{k3s_node_name(K3S).lower()}" in sandboxes, sandboxes


NODE_IP = "10.250.0.4"  # on the k3s node's loopback: not its default route's address
NODE_IP_DROP_IN = "/etc/rancher/k3s/config.yaml.d/50-node-ip.yaml"
# A hostNetwork pod that serves only on the node IP, probed there.
NODE_IP_WEB = f"""\
apiVersion: v1
kind: Pod
metadata:
  name: node-ip-web
spec:
  hostNetwork: true
  containers:
    - name: web
      image: {{{{ image }}}}
      command: [/bin/busybox, httpd, -f, -p, "{NODE_IP}:8081", -h, /www]
      readinessProbe:
        httpGet: {{path: /index.html, port: 8081}}
        periodSeconds: 1
"""


def k3s_restarted(lab: LabSession) -> None:
    lab.out(K3S, "systemctl restart k3s")
    wait_until(
        lambda: node_row(spctl_json("status", "--node", K3S), K3S)["kubelet"]["healthy"],
        what="k3s's kubelet healthy again",
    )


def test_k3s_host_network_pod_is_probed_at_the_node_ip_of_its_config(
    lab: LabSession, tmp_path: Path
) -> None:
    """k3s gives its kubelet --node-ip from node-ip in config.yaml.d (its process title hides
    it): spctl reads the drop-in, and the agent probes a hostNetwork pod bound to that
    address there, not on the default route's address, in deploy's wait and in status."""
    lab.out(K3S, f"ip addr add {NODE_IP}/32 dev lo")
    lab.out(
        K3S,
        f"mkdir -p {NODE_IP_DROP_IN.rsplit('/', 1)[0]} && echo 'node-ip: {NODE_IP}' > {NODE_IP_DROP_IN}",
    )
    path = inventory(
        tmp_path,
        "node-ip",
        templates={"node-ip-web": NODE_IP_WEB},
        pods=["static-web", "node-ip-web"],
    )
    try:
        k3s_restarted(lab)
        done = spctl(
            "deploy",
            "node-ip-web",
            "--node",
            K3S,
            "-o",
            "json",
            "--timeout",
            "30",
            "--stable-for",
            "1",
            inventory=path,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        row = node_row(json.loads(done.stdout), K3S)
        assert row["pods"][0]["phase"] == "Running", row
        web = pod_row(
            spctl_json("status", "node-ip-web", "--node", K3S, inventory=path), K3S, "node-ip-web"
        )
        assert web["ready"] is True, web
    finally:
        spctl("remove", "node-ip-web", "--node", K3S, inventory=path)
        drop_in_dir = NODE_IP_DROP_IN.rsplit("/", 1)[0]
        lab.sh(
            K3S, f"rm -f {NODE_IP_DROP_IN}; rmdir {drop_in_dir}; ip addr del {NODE_IP}/32 dev lo"
        )
        k3s_restarted(lab)


def rke2_manifests(lab: LabSession) -> str:
    return lab.out(RKE2, f"cd {RKE2_MANIFESTS} && sha256sum $(ls -A)")


def test_rke2_node_deploy_next_to_its_control_plane_manifests(lab: LabSession) -> None:
    before = rke2_manifests(lab)
    assert sorted(line.split()[1] for line in before.splitlines()) == sorted(
        f"{c}.yaml" for c in RKE2_COMPONENTS
    )
    result = spctl_json("deploy", "static-web", "--node", RKE2)
    row = node_row(result, RKE2)
    assert row["ok"] and row["pods"][0]["phase"] == "Running", row
    assert row["kubelet_restarted"] is False, row
    status = spctl_json("status", "--node", RKE2)
    assert node_row(status, RKE2)["profile"] == "rke2"
    web = pod_row(status, RKE2, "static-web")
    assert (web["pod"], web["manifest"], web["phase"]) == (
        f"static-web-{RKE2}",
        "in-sync",
        "Running",
    )
    assert lab.sh(RKE2, f"test -f {RKE2_MANIFESTS}/static-web.yaml").exit_code == 0
    # rke2's own files are untouched, and their pods keep running.
    after = rke2_manifests(lab)
    assert set(before.splitlines()) <= set(after.splitlines())
    running = {
        c["labels"]["io.kubernetes.pod.name"]
        for c in lab.cri(RKE2)["containers"]
        if c["state"] == "CONTAINER_RUNNING"
    }
    assert {f"{c}-{RKE2}" for c in RKE2_COMPONENTS} <= running, running


def test_rke2_refuses_a_pod_name_rke2_owns(lab: LabSession, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(INVENTORY.parent.parent / "templates", templates)
    text = (templates / "static-web.yaml.j2").read_text()
    (templates / "kube-proxy.yaml.j2").write_text(
        text.replace("name: static-web", "name: kube-proxy")
    )
    inventory = yaml.safe_load(INVENTORY.read_text())
    inventory["templates"] = str(templates)
    inventory["defaults"]["pods"] = ["static-web", "kube-proxy"]
    for name in ("id_ed25519", "known_hosts"):
        (tmp_path / name).symlink_to(INVENTORY.parent / name)
    changed = tmp_path / "inventory.yaml"
    changed.write_text(yaml.safe_dump(inventory))

    before = rke2_manifests(lab)
    done = spctl("deploy", "kube-proxy", "--node", RKE2, inventory=changed)
    assert done.returncode != 0, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert "kube-proxy: rke2 writes its own static pods into" in said, said
    assert RKE2_MANIFESTS in said, said
    assert rke2_manifests(lab) == before


def journal_since(lab: LabSession, node: str, since: float) -> str:
    return lab.out(node, f"journalctl -u kubelet.service --since @{int(since)} -o cat --no-pager")


def healthy(lab: LabSession, node: str) -> bool:
    return (
        lab.sh(
            node, "systemctl is-active kubelet && curl -sf http://127.0.0.1:10248/healthz"
        ).exit_code
        == 0
    )


def kubelet_broken_then_restored(
    lab: LabSession, node: str, breaks: str, restores: str, expect: str
) -> str:
    """Break the kubelet's configuration, restart it, return what it logged once it logged
    ``expect`` and failed (the window may still hold an earlier test's failure); restore."""
    since = time.time() - 1
    try:
        lab.out(node, f"{breaks} && systemctl restart kubelet || true")
        text = wait_until(
            lambda: (
                expect in (t := journal_since(lab, node, since))
                and "status=1/FAILURE" in t.split(expect, 1)[1]
                and t
            ),
            30,
            0.5,
            f"the kubelet on {node} to fail with {expect!r}",
        )
        assert not healthy(lab, node)
        return text
    finally:
        lab.out(node, f"{restores} && systemctl reset-failed kubelet; systemctl restart kubelet")
        wait_until(lambda: healthy(lab, node), 60, 0.5, f"the kubelet on {node} back")


def test_standin_refuses_logtostderr_removed_in_1_26(lab: LabSession) -> None:
    extra = "/etc/sysconfig/kubelet"
    text = kubelet_broken_then_restored(
        lab,
        KUBEADM,
        f"cp {extra} /root/kubelet.saved && echo KUBELET_EXTRA_ARGS=--logtostderr=true > {extra}",
        f"mv /root/kubelet.saved {extra}",
        # As the kubelet's command line (cobra) says it, and the kubelet exits 1.
        "Error: unknown flag: --logtostderr",
    )
    assert "Error: unknown flag: --logtostderr" in text, text


def test_standin_refuses_to_start_without_its_kubeconfig(lab: LabSession) -> None:
    kubeconfig = "/etc/kubernetes/kubelet.conf"
    text = kubelet_broken_then_restored(
        lab,
        KUBEADM,
        f"mv {kubeconfig} /root/kubelet.conf.saved",
        f"mv /root/kubelet.conf.saved {kubeconfig}",
        # kubeadm's drop-in passes --bootstrap-kubeconfig too: with --kubeconfig missing, the
        # kubelet bootstraps from it, and that is missing as well (no API server in the lab).
        MISSING_BOOTSTRAP,
    )
    assert MISSING_BOOTSTRAP in text, text


MISSING_BOOTSTRAP = (
    "unable to load bootstrap kubeconfig: "
    "stat /etc/kubernetes/bootstrap-kubelet.conf: no such file or directory"
)


DUPLICATE = """\
apiVersion: v1
kind: Pod
metadata:
  name: dup
spec:
  terminationGracePeriodSeconds: 1  # sleep ignores SIGTERM: do not wait the default 30 s
  containers:
  - name: {container}
    image: spctl-lab/pod:1.0
    command: ["/bin/sleep", "3600"]
"""


def test_standin_keeps_the_last_file_of_a_duplicate_pod(lab: LabSession) -> None:
    # pkg/kubelet/config/file.go: a relist replaces the file source's store (keyed by
    # namespace/name) with every file's pod in sorted order, so the last file wins.
    node, first, second = KUBEADM, "dup-1.yaml", "dup-2.yaml"

    def containers() -> dict[str, str]:
        return {
            c["name"]: c["state"]
            for c in lab.cri(node)["containers"]
            if c["labels"]["io.kubernetes.pod.name"] == f"dup-{node}"
        }

    try:
        with lab.conn(node) as conn:
            for name, container in ((first, "from-first"), (second, "from-second")):
                done = conn.run(
                    ["sh", "-c", f"cat > {KUBEADM_MANIFESTS}/{name}"],
                    stdin=DUPLICATE.format(container=container).encode(),
                )
                assert done.exit_code == 0, done.stderr
        wait_until(
            lambda: (
                containers().get("from-second") == "CONTAINER_RUNNING"
                and containers().get("from-first") != "CONTAINER_RUNNING"
            ),
            60,
            1,
            "the second file's pod",
        )
        time.sleep(3)  # relists (every second in the lab) keep choosing it
        assert containers().get("from-second") == "CONTAINER_RUNNING"
        assert containers().get("from-first") != "CONTAINER_RUNNING"
    finally:
        lab.out(node, f"rm -f {KUBEADM_MANIFESTS}/{first} {KUBEADM_MANIFESTS}/{second}")
    wait_until(lambda: "CONTAINER_RUNNING" not in containers().values(), 60, 1, "dup gone")


def test_fedora_config_file_layout_offered_by_lab_up_profile(lab: LabSession) -> None:
    """Fedora's versioned packages (41+): the kubelet reads --config=/etc/kubernetes/kubelet.conf
    from KUBELET_ARGS; spctl sets staticPodPath there. A node of its own, for this test only."""
    extra = "my-node8"
    up = spctl(
        "lab", "up", "--nodes", "8", *PROFILE_ARGS, "--profile", "fedora-config", inventory=None
    )
    try:
        assert up.returncode == 0, up.stderr
        assert extra in up.stdout and "fedora-config" in up.stdout, up.stdout
        lab.nodes.update({n.name: n for n in lab.lab.nodes()})
        assert lab.nodes[extra].profile == "fedora-config"
        args = lab.out(extra, '. /etc/kubernetes/kubelet; echo "$KUBELET_ARGS"').split()
        assert args == ["--config=/etc/kubernetes/kubelet.conf"], args
        result = spctl_json("deploy", "static-web", "--node", extra)
        row = node_row(result, extra)
        assert row["ok"] and row["pods"][0]["phase"] == "Running", row
        config = yaml.safe_load(lab.out(extra, "cat /etc/kubernetes/kubelet.conf"))
        assert config["staticPodPath"] == "/etc/kubelet.d"
        assert lab.sh(extra, "test -f /etc/kubelet.d/static-web.yaml").exit_code == 0
        web = pod_row(spctl_json("status", "--node", extra), extra, "static-web")
        assert (web["pod"], web["manifest"], web["phase"]) == (
            f"static-web-{extra}",
            "in-sync",
            "Running",
        )
    finally:
        down = spctl("lab", "up", "--nodes", str(len(PROFILES)), *PROFILE_ARGS, inventory=None)
        assert down.returncode == 0, down.stderr
        lab.nodes.pop(extra, None)
    assert extra not in {n.name for n in lab.lab.nodes()}

"""A rolling change of a kubeadm control plane: kube-apiserver, as kubeadm wrote it on three
kubeadm nodes, imported with `spctl import`, then changed one node at a time, each node gated
on the pod's readiness probe. A change that leaves the pod running but never ready is rolled
back on the first node, and the other nodes are never touched.

The API server is the lab's stand-in (lab/control_plane.py): busybox httpd serving /livez
and /readyz on the port of --secure-port, in kubeadm's manifest, per-node advertise address
and all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from spctl_lab import control_plane

from tests.fakes.lab import STATE, LabSession, node_row, spctl, wait_until

NODES = ("my-node2", "my-node3", "my-node6")  # kubeadm-deb, kubeadm-rpm, kubeadm-deb
MANIFEST = control_plane.MANIFEST
STABLE_FOR = 2


def apiserver(lab: LabSession, node: str) -> dict:
    """The node's running kube-apiserver container, from its CRI runtime."""
    running = [
        c
        for c in lab.cri(node)["containers"]
        if c["name"] == "kube-apiserver" and c["state"] == "CONTAINER_RUNNING"
    ]
    assert len(running) == 1, f"{node}: {running}"
    return running[0]


def snapshot(lab: LabSession, node: str) -> tuple[str, str, str]:
    """What a node holds: the manifest's bytes (and mode), the running container's id and its
    pod's UID."""
    text = lab.out(node, f"stat -c %a {MANIFEST}; cat {MANIFEST}")
    container = apiserver(lab, node)
    return text, container["id"], container["labels"]["io.kubernetes.pod.uid"]


def readyz(lab: LabSession, node: str, address: str, port: int = 6443) -> bool:
    done = lab.sh(
        node,
        "python3 -c 'import sys, urllib.request; "
        "urllib.request.urlopen(sys.argv[1], timeout=2)' "
        f"http://{address}:{port}/readyz",
    )
    return done.exit_code == 0


@pytest.fixture
def control_planes(lab: LabSession) -> Iterator[tuple[Path, dict[str, str]]]:
    """kube-apiserver on the three kubeadm nodes as kubeadm writes it (`spctl lab
    control-plane`), and the inventory of them that it writes (group control-plane, no pods
    yet); afterwards the pods are removed."""
    template = STATE / "control-plane" / "kube-apiserver.yaml.j2"
    template.unlink(missing_ok=True)
    laid_out = spctl("lab", "control-plane", *NODES, inventory=None)
    assert laid_out.returncode == 0, laid_out.stderr
    path = STATE / "control-plane.yaml"
    addresses = {n: control_plane.node_address(lab.lab, lab.nodes[n]) for n in NODES}
    for node in NODES:
        assert f"kube-apiserver advertising {addresses[node]}" in laid_out.stderr
    for node in NODES:
        wait_until(
            lambda node=node: readyz(lab, node, addresses[node]),
            60,
            0.5,
            f"kube-apiserver on {node} to serve /readyz",
        )
    yield path, addresses
    spctl("remove", "kube-apiserver", "-n", "control-plane", inventory=path)
    assert spctl("lab", "control-plane", "--remove", *NODES, inventory=None).returncode == 0
    for node in NODES:
        wait_until(
            lambda node=node: (
                not [c for c in lab.cri(node)["containers"] if c["name"] == "kube-apiserver"]
            ),
            60,
            0.5,
            f"kube-apiserver on {node} to go",
        )


def test_rolling_change_of_a_control_plane(
    lab: LabSession, control_planes: tuple[Path, dict[str, str]]
) -> None:
    inventory, addresses = control_planes
    imported = spctl("import", "kube-apiserver", "-n", "control-plane", inventory=inventory)
    assert imported.returncode == 0, imported.stderr
    template_path = inventory.parent / "control-plane" / "kube-apiserver.yaml.j2"
    template = template_path.read_text()
    # One variable for the advertise address (flag, annotation and probe hosts), each node's
    # value in the inventory; the rest is kubeadm's text.
    edited = yaml.safe_load(inventory.read_text())
    variables = {n: edited["nodes"][n].get("vars", {}) for n in NODES}
    assert [list(v.values()) for v in variables.values()] == [[addresses[n]] for n in NODES]
    (name,) = set(next(iter(variables.values())))
    assert template.count("{{ " + name + " }}") == 5, template
    assert edited["groups"]["control-plane"]["pods"] == ["kube-apiserver"]

    # The first deploy adopts kubeadm's files: spctl owns them from now on; no pod restarts.
    before = {n: snapshot(lab, n) for n in NODES}
    done = spctl(
        "deploy", "kube-apiserver", "-n", "control-plane", "-o", "json", inventory=inventory
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for node in NODES:
        row = node_row(json.loads(done.stdout), node)
        assert row["ok"], row
        assert [(p["name"], p["action"]) for p in row["pods"]] == [("kube-apiserver", "unchanged")]
    adopted = {n: snapshot(lab, n) for n in NODES}
    assert {n: adopted[n][1:] for n in NODES} == {n: before[n][1:] for n in NODES}

    # An audit-log flag, one node at a time: each node's new pod must pass its probes and stay
    # ready before the next node's file is written.
    audited = template.replace(
        "    - --allow-privileged=true\n",
        "    - --allow-privileged=true\n    - --audit-log-path=-\n",
    )
    assert audited != template
    template_path.write_text(audited)
    done = spctl(
        "deploy", "kube-apiserver", "-n", "control-plane", "--serial", "1",
        "--stable-for", str(STABLE_FOR), "--timeout", "60", "-o", "json",
        inventory=inventory,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert [n["name"] for n in result["nodes"]] == list(NODES)
    for node in NODES:
        row = node_row(result, node)
        assert row["ok"] and row["changed"], row
        assert [(p["name"], p["action"]) for p in row["pods"]] == [("kube-apiserver", "updated")]
    after = {n: snapshot(lab, n) for n in NODES}
    created = []
    for node in NODES:
        text, _, uid = after[node]
        assert "--audit-log-path=-" in text and f"--advertise-address={addresses[node]}" in text
        assert uid != before[node][2], f"{node}: the pod did not restart"
        assert readyz(lab, node, addresses[node])
        created.append(apiserver(lab, node)["created_at"] / 1e9)
    # In turn: each node's pod was created after the previous node's had been ready and
    # stable for --stable-for seconds.
    gaps = [b - a for a, b in zip(created, created[1:])]
    assert all(gap >= STABLE_FOR for gap in gaps), gaps

    # A flag that moves the server off the probed port: the pod runs, never becomes ready.
    # The first node is rolled back; the others are never touched.
    template_path.write_text(audited.replace("--secure-port=6443", "--secure-port=6444"))
    done = spctl(
        "deploy", "kube-apiserver", "-n", "control-plane", "--serial", "1",
        "--stable-for", str(STABLE_FOR), "--timeout", "20", "-o", "json",
        inventory=inventory,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    result = json.loads(done.stdout)
    first = node_row(result, NODES[0])
    assert not first["ok"], first
    assert [(p["name"], p["action"]) for p in first["pods"]] == [("kube-apiserver", "failed")]
    # Running, but its probes fail: the kubelet's prober's reason, with the probed address.
    error = first["pods"][0]["error"]
    assert first["pods"][0]["phase"] == "Running", first
    assert "not ready" in error and f"http://{addresses[NODES[0]]}:6443/livez" in error, error
    for node in NODES[1:]:
        row = node_row(result, node)
        assert (row["ok"], row["started"]) == (False, False), row
        assert "not started" in row["error"], row
    # The first node: its previous file is back and its previous pod (same UID) is ready.
    text, _, uid = snapshot(lab, NODES[0])
    assert (text, uid) == (after[NODES[0]][0], after[NODES[0]][2])
    assert readyz(lab, NODES[0], addresses[NODES[0]])
    # The others: same file, same container, never restarted.
    for node in NODES[1:]:
        assert snapshot(lab, node) == after[node], f"{node} was touched"
        assert lab.sh(node, "ls /etc/kubernetes/manifests/.*spctl* 2>/dev/null").exit_code != 0


def kubeadm_upgrades(lab: LabSession, node: str, tag: str) -> str:
    """Rewrite the node's kube-apiserver manifest as `kubeadm upgrade apply` does, in a plain
    shell on the node (not through spctl): the new manifest, another image tag, is written in
    a temporary directory, the current one moved to a backup directory and the new one moved
    into the manifest directory (upgradeComponent in kubernetes
    cmd/kubeadm/app/phases/upgrade/staticpods.go); the image is pulled beforehand, as kubeadm's
    preflight does (here: tagged in containerd). Returns the bytes it wrote."""
    lab.ctr(node, f"images tag --force {control_plane_image()} {control_plane_image(tag)}")
    tmp = "/etc/kubernetes/tmp"
    lab.out(
        node,
        f"set -e; mkdir -p {tmp}/kubeadm-upgraded-manifests {tmp}/kubeadm-backup-manifests; "
        f"sed 's#spctl-lab/pod:1.0#spctl-lab/pod:{tag}#' {MANIFEST} "
        f"> {tmp}/kubeadm-upgraded-manifests/kube-apiserver.yaml; "
        f"mv {MANIFEST} {tmp}/kubeadm-backup-manifests/kube-apiserver.yaml; "
        f"mv {tmp}/kubeadm-upgraded-manifests/kube-apiserver.yaml {MANIFEST}; "
        f"rm -rf {tmp}",
    )
    wait_until(
        lambda: any(
            c["name"] == "kube-apiserver"
            and c["state"] == "CONTAINER_RUNNING"
            and tag in json.dumps(c)
            for c in lab.cri(node)["containers"]
        ),
        60,
        0.5,
        f"kube-apiserver on {node} to run spctl-lab/pod:{tag}",
    )
    text = lab.out(node, f"cat {MANIFEST}")
    assert f"spctl-lab/pod:{tag}" in text
    return text


def control_plane_image(tag: str = "1.0") -> str:
    return f"docker.io/spctl-lab/pod:{tag}"


def manifest_states(inventory: Path) -> dict[str, str]:
    done = spctl(
        "status", "kube-apiserver", "-n", "control-plane", "-o", "json", inventory=inventory
    )
    return {
        n["name"]: p["manifest"]
        for n in json.loads(done.stdout)["nodes"]
        for p in n["pods"]
        if p["name"] == "kube-apiserver"
    }


def test_a_kubeadm_upgrade_is_never_reverted_silently(
    lab: LabSession, control_planes: tuple[Path, dict[str, str]]
) -> None:
    inventory, _ = control_planes
    upgraded = NODES[0]
    assert (
        spctl("import", "kube-apiserver", "-n", "control-plane", inventory=inventory).returncode
        == 0
    )
    done = spctl("deploy", "kube-apiserver", "-n", "control-plane", inventory=inventory)
    assert done.returncode == 0, done.stdout + done.stderr
    ours = lab.out(upgraded, f"cat {MANIFEST}")

    # kubeadm upgrades the first node: the next deploy refuses that node, naming the file
    # and what changed, and leaves kubeadm's file as it is; the other nodes are deployed.
    theirs = kubeadm_upgrades(lab, upgraded, "1.1")
    done = spctl(
        "deploy", "kube-apiserver", "-n", "control-plane", "--max-fail", "1", "-o", "json",
        inventory=inventory,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    result = json.loads(done.stdout)
    refused = node_row(result, upgraded)
    assert not refused["ok"], refused
    error = refused["error"]
    assert f"{MANIFEST} changed on node since spctl wrote it" in error, error
    assert "-    image: spctl-lab/pod:1.0\n+    image: spctl-lab/pod:1.1" in error, error
    assert "`spctl import kube-apiserver --force`" in error and "--force` puts spctl" in error
    for node in NODES[1:]:
        row = node_row(result, node)
        assert row["ok"] and [p["action"] for p in row["pods"]] == ["unchanged"], row
    assert lab.out(upgraded, f"cat {MANIFEST}") == theirs
    assert manifest_states(inventory) == {
        upgraded: "changed-on-node",
        **{n: "in-sync" for n in NODES[1:]},
    }

    # deploy --force puts spctl's version back (its pod restarts on the old image).
    done = spctl(
        "deploy", "kube-apiserver", "-n", upgraded, "--force", "--timeout", "60", "-o", "json",
        inventory=inventory,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    row = node_row(json.loads(done.stdout), upgraded)
    assert [p["action"] for p in row["pods"]] == ["updated"], row
    assert lab.out(upgraded, f"cat {MANIFEST}") == ours
    assert manifest_states(inventory)[upgraded] == "in-sync"

    # kubeadm upgrades it again; `spctl import` takes its version into the template and the
    # next deploy adopts it as it is: nothing changes on any node.
    theirs = kubeadm_upgrades(lab, upgraded, "1.1")
    before = {n: snapshot(lab, n) for n in NODES}
    imported = spctl(
        "import", "kube-apiserver", "-n", "control-plane", "--force", inventory=inventory
    )
    assert imported.returncode == 0, imported.stderr
    assert manifest_states(inventory)[upgraded] != "changed-on-node"
    done = spctl(
        "deploy", "kube-apiserver", "-n", "control-plane", "-o", "json", inventory=inventory
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for node in NODES:
        row = node_row(json.loads(done.stdout), node)
        assert [p["action"] for p in row["pods"]] == ["unchanged"], row
    assert lab.out(upgraded, f"cat {MANIFEST}") == theirs
    # No pod restarted (same containers, same UIDs).
    assert {n: snapshot(lab, n)[1:] for n in NODES} == {n: before[n][1:] for n in NODES}
    assert manifest_states(inventory) == {n: "in-sync" for n in NODES}
    assert (
        spctl("diff", "kube-apiserver", "-n", "control-plane", inventory=inventory).returncode == 0
    )

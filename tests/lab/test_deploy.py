"""spctl deploy, status and remove end to end on the lab: the seed walkthrough through
spctl, on the fedora node my-node1, then across every profile."""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from spctl_lab.layouts import k3s_node_name

from tests.fakes.lab import INVENTORY, LabSession, node_row, pod_row, spctl, spctl_json, wait_until


def kubelet_starts(lab: LabSession, node: str, since: float) -> int:
    text = lab.out(node, f"journalctl -u kubelet.service --since @{int(since)} -o cat --no-pager")
    return sum(1 for line in text.splitlines() if line.startswith("Started kubelet.service"))


def test_seed_walkthrough_through_spctl(lab: LabSession) -> None:
    node = "my-node1"
    started = time.time() - 1
    result = spctl_json("deploy", "static-web", "--node", node)
    row = node_row(result, node)
    assert row["ok"] and row["changed"] and row["kubelet_restarted"], row
    assert row["pods"] == [
        {
            "name": "static-web",
            "action": "created",
            "phase": "Running",
            "ok": True,
            "error": None,
            "reason": "/etc/kubelet.d/static-web.yaml does not exist",
        }
    ]
    args = lab.out(node, '. /etc/kubernetes/kubelet; echo "$KUBELET_ARGS"').split()
    assert args == [
        "--cluster-dns=10.254.0.10",
        "--cluster-domain=kube.local",
        "--pod-manifest-path=/etc/kubelet.d/",
    ]
    assert kubelet_starts(lab, node, started) == 1
    status = spctl_json("status", "--node", node)
    web = pod_row(status, node, "static-web")
    assert (web["pod"], web["manifest"], web["phase"], web["ready"]) == (
        "static-web-my-node1",
        "in-sync",
        "Running",
        True,
    )
    assert web["file"] == "/etc/kubelet.d/static-web.yaml"
    assert status["nodes"][0]["kubelet"] == {
        "active": True,
        "healthy": True,
        "manifest_dir": "/etc/kubelet.d",
    }

    # Deploy again: nothing written, nothing restarted, and it says so.
    mtime = lab.out(node, "stat -c %Y.%Z /etc/kubelet.d/static-web.yaml /etc/kubernetes/kubelet")
    invocation = lab.out(node, "systemctl show -p InvocationID kubelet")
    again = spctl("deploy", "static-web", "--node", node)
    assert again.returncode == 0, again.stderr
    assert "no change" in again.stdout and "static-web: unchanged" in again.stdout
    assert (
        lab.out(node, "stat -c %Y.%Z /etc/kubelet.d/static-web.yaml /etc/kubernetes/kubelet")
        == mtime
    )
    assert lab.out(node, "systemctl show -p InvocationID kubelet") == invocation

    # docker stop the pod's container: the kubelet restarts it; status shows it.
    lab.kill_container(node, "web")

    def restarted() -> dict | None:
        p = pod_row(spctl_json("status", "--node", node), node, "static-web")
        return p if p["restarts"] >= 1 and p["phase"] == "Running" else None

    wait_until(restarted, 60, 1, "status to show a restart and Running again")

    # Remove: the file goes, the pod goes.
    removed = spctl_json("remove", "static-web", "--node", node)
    assert node_row(removed, node)["pods"][0]["action"] == "removed"
    assert lab.sh(node, "test -e /etc/kubelet.d/static-web.yaml").exit_code == 1
    web = pod_row(spctl_json("status", "--node", node), node, "static-web")
    assert (web["manifest"], web["phase"]) == ("missing", "Absent")


def test_deploy_all_across_profiles(lab: LabSession) -> None:
    nodes = ["my-node1", "my-node2", "my-node3", "my-node4"]
    args = [a for n in nodes for a in ("--node", n)]
    result = spctl_json("deploy", *args)
    for node in nodes:
        row = node_row(result, node)
        assert row["ok"], row
        assert row["pods"][0]["phase"] == "Running", row
    # kubeadm and k3s nodes already watch their directory: no kubelet restart there.
    assert [node_row(result, n)["kubelet_restarted"] for n in nodes[1:]] == [False, False, False]
    status = spctl_json("status", *args)
    # The k3s node's kubelet is named by K3S_NODE_NAME (lowercased), not by its host name.
    kubelet_names = {n: k3s_node_name(n).lower() if n == "my-node4" else n for n in nodes}
    for node in nodes:
        web = pod_row(status, node, "static-web")
        assert (web["manifest"], web["phase"], web["pod"]) == (
            "in-sync",
            "Running",
            f"static-web-{kubelet_names[node]}",
        )
    assert node_row(status, "my-node4")["profile"] == "k3s"
    assert (
        lab.sh(
            "my-node4", "test -f /var/lib/rancher/k3s/agent/pod-manifests/static-web.yaml"
        ).exit_code
        == 0
    )
    assert lab.sh("my-node3", "test -f /etc/kubernetes/manifests/static-web.yaml").exit_code == 0


def test_changed_variable_updates_the_pod(lab: LabSession, tmp_path: Path) -> None:
    node = "my-node2"
    spctl_json("deploy", "--node", node)
    before = pod_row(spctl_json("status", "--node", node), node, "static-web")
    uid_before = "".join(lab.running_pod_uids(node, "web"))
    assert before["phase"] == "Running" and uid_before

    inventory = yaml.safe_load(INVENTORY.read_text())
    inventory["nodes"][node]["vars"] = {"port": 8080}
    changed = tmp_path / "inventory.yaml"
    for name in ("id_ed25519", "known_hosts"):
        (tmp_path / name).symlink_to(INVENTORY.parent / name)
    changed.write_text(yaml.safe_dump(inventory))
    diff = spctl("diff", "--node", node, inventory=changed)
    assert diff.returncode == 1 and "+      containerPort: 8080" in diff.stdout, (
        diff.stdout + diff.stderr
    )
    result = spctl_json("deploy", "--node", node, inventory=changed)
    row = node_row(result, node)
    assert row["pods"][0]["action"] == "updated" and row["pods"][0]["phase"] == "Running", row
    uid_after = "".join(lab.running_pod_uids(node, "web"))
    assert uid_after and uid_after != uid_before
    assert "containerPort: 8080" in lab.out(node, "cat /etc/kubernetes/manifests/static-web.yaml")
    # The lab inventory still has port 80: drifted until deployed again.
    assert (
        pod_row(spctl_json("status", "--node", node), node, "static-web")["manifest"] == "drifted"
    )
    assert spctl("diff", "--node", node, inventory=changed).returncode == 0


def test_unmanaged_files_are_left_alone_and_reported(lab: LabSession) -> None:
    node = "my-node3"
    spctl_json("deploy", "--node", node)
    hand = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: hand-made\nspec:\n  containers:\n  - name: web\n    image: spctl-lab/pod:1.0\n"
    with lab.conn(node) as conn:
        conn.run(
            ["sh", "-c", "cat > /etc/kubernetes/manifests/hand-made.yaml"], stdin=hand.encode()
        )
        conn.run(
            [
                "cp",
                "/etc/kubernetes/manifests/static-web.yaml",
                "/etc/kubernetes/manifests/static-web.yaml.bak",
            ]
        )
    before = lab.out(node, "sha256sum /etc/kubernetes/manifests/hand-made.yaml")
    done = spctl("status", "--node", node)
    assert "hand-made" in done.stdout and "unmanaged" in done.stdout
    assert "static-web.yaml.bak looks like a backup" in done.stderr
    status = spctl_json("status", "--node", node)
    assert pod_row(status, node, "hand-made")["manifest"] == "unmanaged"
    warnings = node_row(status, node)["warnings"]
    assert any("defined by 2 files" in w for w in warnings), warnings
    # A second definition of static-web (the .bak copy): deploy refuses, changes nothing.
    manifest = lab.out(node, "stat -c %Y /etc/kubernetes/manifests/static-web.yaml")
    refused = spctl("deploy", "--node", node)
    assert refused.returncode == 1
    assert "static-web.yaml.bak also define(s) pod 'static-web'" in refused.stderr, refused.stderr
    assert lab.out(node, "stat -c %Y /etc/kubernetes/manifests/static-web.yaml") == manifest
    # Without it, deploy goes ahead and still leaves the hand-made pod alone.
    lab.out(node, "mv /etc/kubernetes/manifests/static-web.yaml.bak /root/")
    deployed = spctl_json("deploy", "--node", node)
    assert node_row(deployed, node)["ok"]
    assert lab.out(node, "sha256sum /etc/kubernetes/manifests/hand-made.yaml") == before
    # Removing a pod spctl did not write is refused, and the file stays.
    refused = spctl("remove", "hand-made", "--node", node)
    assert refused.returncode != 0
    assert "was not written by spctl" in refused.stderr + refused.stdout
    lab.out(node, "rm /etc/kubernetes/manifests/hand-made.yaml")


def test_unreachable_node_is_a_row_not_a_crash(lab: LabSession, tmp_path: Path) -> None:
    inventory = yaml.safe_load(INVENTORY.read_text())
    inventory["nodes"]["ghost"] = {"address": "127.0.0.1", "ssh": {"port": 1}}
    path = tmp_path / "inventory.yaml"
    for name in ("id_ed25519", "known_hosts"):
        (tmp_path / name).symlink_to(INVENTORY.parent / name)
    path.write_text(yaml.safe_dump(inventory))
    done = spctl("status", "-n", "ghost", "-n", "my-node1", "-o", "json", inventory=path)
    assert done.returncode == 1
    import json

    status = json.loads(done.stdout)
    ghost = node_row(status, "ghost")
    assert ghost["reachable"] is False and "cannot connect" in ghost["error"]
    assert node_row(status, "my-node1")["reachable"] is True


PLAIN_WEB = """\
apiVersion: v1
kind: Pod
metadata:
  name: plain-web
spec:
  containers:
    - name: plain
      image: {{ image }}
      ports:
        - containerPort: 80
"""
# The same pod with what the kubelet's scheme defaults written out (pkg/apis/core/v1/
# defaults.go), and zero values of fields that are no Go pointer (core/v1 types.go): the
# kubelet decodes both to one pod and keeps its UID.
SPELLED_OUT = (
    PLAIN_WEB.replace(
        "        - containerPort: 80\n",
        "        - containerPort: 80\n          protocol: TCP\n          hostPort: 0\n",
    ).replace(
        "      image: {{ image }}\n",
        "      image: {{ image }}\n      imagePullPolicy: IfNotPresent\n"
        "      terminationMessagePolicy: File\n      workingDir: ''\n      stdin: false\n",
    )
    + "  restartPolicy: Always\n  dnsPolicy: ClusterFirst\n  hostNetwork: false\n"
    + "  terminationGracePeriodSeconds: 30\n"
)


def _inventory_with(tmp_path: Path, node: str, template: str) -> Path:
    """The lab inventory with a templates directory of its own holding plain-web (and the
    lab's templates), plain-web assigned to ``node``."""
    templates = tmp_path / "tpl"
    templates.mkdir(exist_ok=True)
    inventory = yaml.safe_load(INVENTORY.read_text())
    for found in Path(inventory["templates"]).glob("*.j2"):
        target = templates / found.name
        if not target.exists():
            target.symlink_to(found)
    (templates / "plain-web.yaml.j2").write_text(template)
    inventory["templates"] = str(templates)
    inventory["nodes"][node]["pods"] = ["plain-web"]
    path = tmp_path / "inventory.yaml"
    for name in ("id_ed25519", "known_hosts"):
        if not (tmp_path / name).exists():
            (tmp_path / name).symlink_to(INVENTORY.parent / name)
    path.write_text(yaml.safe_dump(inventory))
    return path


def test_a_template_that_only_spells_out_defaults_restarts_nothing(
    lab: LabSession, tmp_path: Path
) -> None:
    """containerd node: a port without `protocol:` runs (the kubelet defaults it to TCP);
    then a template that only adds defaults is the same pod to the kubelet, so deploy
    rewrites the file and keeps the pod: same UID, same container, exit 0 within a timeout
    that an update waiting for a new UID could never meet."""
    node = "my-node3"  # kubeadm-rpm, containerd through the CRI
    first = _inventory_with(tmp_path, node, PLAIN_WEB)
    created = node_row(spctl_json("deploy", "plain-web", "--node", node, inventory=first), node)
    assert created["pods"][0]["action"] == "created", created
    assert created["pods"][0]["phase"] == "Running", created
    # Read through the runtime, not spctl: the pod's UID and its container.
    uids = lab.running_pod_uids(node, "plain")
    containers = [
        c["id"]
        for c in lab.cri(node)["containers"]
        if c["labels"].get("io.kubernetes.container.name") == "plain"
    ]
    assert len(uids) == 1 and len(containers) == 1, (uids, containers)
    path = "/etc/kubernetes/manifests/plain-web.yaml"
    assert "protocol" not in lab.out(node, f"cat {path}")
    try:
        spelled = _inventory_with(tmp_path, node, SPELLED_OUT)
        diff = spctl("diff", "plain-web", "--node", node, inventory=spelled)
        assert "plain-web: adopt: " in diff.stdout, diff.stdout + diff.stderr
        assert "+      protocol: TCP" in diff.stdout, diff.stdout  # what the rewrite changes
        assert diff.returncode == 0, diff.stdout  # no pod changes
        done = spctl(
            "deploy",
            "plain-web",
            "--node",
            node,
            "--timeout",
            "30",
            "-o",
            "json",
            inventory=spelled,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        import json

        step = node_row(json.loads(done.stdout), node)["pods"][0]
        assert step["action"] == "unchanged" and step["ok"], step  # adopted, not "updated"
        assert "has this pod in another form" in step["reason"], step
        assert "protocol: TCP" in lab.out(node, f"cat {path}")
        assert lab.running_pod_uids(node, "plain") == uids
        after = [
            c["id"]
            for c in lab.cri(node)["containers"]
            if c["labels"].get("io.kubernetes.container.name") == "plain"
        ]
        assert after == containers
        status = pod_row(spctl_json("status", "--node", node, inventory=spelled), node, "plain-web")
        assert status["manifest"] == "in-sync" and status["phase"] == "Running", status
    finally:
        removed = spctl("remove", "plain-web", "--node", node, inventory=first)
        assert removed.returncode == 0, removed.stdout + removed.stderr

"""Safe rollouts under hostile conditions: each fault is injected for real on a lab node,
and each test asserts what the operator sees and what is left on the node."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import yaml

from tests.fakes.lab import (
    INVENTORY,
    REPO,
    SPCTL,
    STATE,
    LabSession,
    node_row,
    pod_row,
    spctl,
    spctl_json,
    wait_until,
)

TEMPLATE = (REPO / "templates" / "static-web.yaml.j2").read_text()


def variant(
    tmp_path: Path,
    *,
    name: str = "variant",
    nodes: dict | None = None,
    template: str | None = None,
    defaults: dict | None = None,
    known_hosts: str | None = None,
) -> Path:
    """A copy of the lab inventory with changes, in its own directory."""
    directory = tmp_path / name
    directory.mkdir()
    inventory = yaml.safe_load(INVENTORY.read_text())
    inventory["defaults"]["ssh"]["key"] = str(STATE / "id_ed25519")
    inventory["defaults"]["ssh"]["known_hosts"] = known_hosts or str(STATE / "known_hosts")
    for node, fields in (nodes or {}).items():
        inventory["nodes"][node].update(fields)
    for key, value in (defaults or {}).items():
        inventory["defaults"].setdefault(key, {}).update(value)
    if template is not None:
        (directory / "templates").mkdir()
        (directory / "templates" / "static-web.yaml.j2").write_text(template)
        inventory["templates"] = "templates"
    path = directory / "inventory.yaml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def manifest_sha(lab: LabSession, node: str, path: str) -> str:
    return lab.out(node, f"sha256sum {path} | cut -d' ' -f1").strip()


def temporaries(lab: LabSession, node: str, directory: str) -> list[str]:
    return lab.out(node, f"ls -A {directory} | grep -E '^\\..*spctl' || true").split()


def web_uid(lab: LabSession, node: str) -> str:
    return "".join(lab.running_pod_uids(node, "web"))


def deploy_in_background(
    lab: LabSession, inventory: Path, node: str, manifest: str, marker: str, *extra: str
) -> subprocess.Popen:
    """Start a deploy and return once its new manifest (holding ``marker``) is on the node."""
    proc = subprocess.Popen(
        [SPCTL, "-i", str(inventory), "deploy", "--node", node, *extra],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    container = lab.lab.client.containers.get(lab.lab.container_name(node))
    wait_until(
        lambda: marker in container.exec_run(["cat", manifest]).output.decode(),
        30,
        0.1,
        "the new manifest to land",
    )
    return proc


def test_crash_looping_update_is_rolled_back(lab: LabSession, tmp_path: Path) -> None:
    node, path = "my-node2", "/etc/kubernetes/manifests/static-web.yaml"
    spctl_json("deploy", "--node", node)
    before, uid = manifest_sha(lab, node, path), web_uid(lab, node)
    crashing = TEMPLATE.replace(
        "      image: {{ image }}\n",
        "      image: {{ image }}\n      command: [/bin/sh, -c, 'sleep 1; exit 3']\n",
    )
    inventory = variant(tmp_path, template=crashing)
    done = spctl("deploy", "--node", node, "-o", "json", "--timeout", "60", inventory=inventory)
    assert done.returncode == 1, done.stderr
    pod = node_row(json.loads(done.stdout), node)["pods"][0]
    # A crash alone fails nothing (the kubelet keeps the pod Running and restarts it): the
    # crash that recurs does, with the container's exit code.
    assert pod["action"] == "failed", pod
    assert "keeps crashing" in pod["error"] or "CrashLoopBackOff" in pod["error"], pod
    assert "exit code 3" in pod["error"], pod
    # The previous manifest is back, and the previous pod (same UID) runs again.
    assert manifest_sha(lab, node, path) == before
    assert web_uid(lab, node) == uid
    assert pod_row(spctl_json("status", "--node", node), node, "static-web")["phase"] == "Running"
    assert temporaries(lab, node, "/etc/kubernetes/manifests") == []
    # The failed version is not kept as "previous": rollback has nothing newer to restore.
    backups = lab.out(node, "ls /var/lib/spctl/backups/manifests/static-web/").split()
    assert backups, "the replaced manifest was backed up outside the manifest directory"


def test_rollback_restores_the_previous_version(lab: LabSession, tmp_path: Path) -> None:
    node, path = "my-node3", "/etc/kubernetes/manifests/static-web.yaml"
    spctl_json("deploy", "--node", node)
    first = manifest_sha(lab, node, path)
    changed = variant(tmp_path, nodes={node: {"vars": {"port": 8081}}})
    spctl_json("deploy", "--node", node, inventory=changed)
    assert manifest_sha(lab, node, path) != first
    result = spctl_json("rollback", "static-web", "--node", node)
    assert node_row(result, node)["pods"][0]["phase"] == "Running"
    assert manifest_sha(lab, node, path) == first
    assert (
        pod_row(spctl_json("status", "--node", node), node, "static-web")["manifest"] == "in-sync"
    )


def test_full_manifest_directory_fails_cleanly(lab: LabSession, tmp_path: Path) -> None:
    node, directory = "my-node6", "/etc/kubernetes/manifests"
    spctl_json("deploy", "--node", node)
    uid = web_uid(lab, node)
    # A tiny tmpfs over the directory, holding the same manifest (same path and content:
    # the kubelet keeps the pod) and a dotfile filling it.
    lab.out(
        node,
        f"mkdir -p /tmp/keep && cp -a {directory}/. /tmp/keep/ && "
        f"mount -t tmpfs -o size=64k,mode=0755 tmpfs {directory} && cp -a /tmp/keep/. {directory}/ && "
        f"(dd if=/dev/zero of={directory}/.filler bs=1k count=100 2>/dev/null || true)",
    )
    try:
        before = manifest_sha(lab, node, f"{directory}/static-web.yaml")
        big = TEMPLATE.replace(
            "    role: myrole\n",
            "    role: myrole\n  annotations:\n    pad: \"{{ 'x' * 65536 }}\"\n",
        )
        done = spctl(
            "deploy", "--node", node, "-o", "json", inventory=variant(tmp_path, template=big)
        )
        assert done.returncode == 1
        error = node_row(json.loads(done.stdout), node)["error"]
        assert "No space left on device" in error and "nothing was changed" in error, error
        assert manifest_sha(lab, node, f"{directory}/static-web.yaml") == before
        assert temporaries(lab, node, directory) == []
        assert web_uid(lab, node) == uid
    finally:
        lab.out(node, f"umount {directory}")


def test_kubelet_that_does_not_start_is_restored(lab: LabSession, tmp_path: Path) -> None:
    node = "my-node1"
    spctl_json("deploy", "--node", node)
    original = lab.out(node, "cat /etc/kubernetes/kubelet")
    # A kubelet that refuses to start when pointed at /srv/broken.d (a unit precondition).
    lab.out(
        node,
        "mkdir -p /etc/systemd/system/kubelet.service.d && printf '[Service]\\n"
        'ExecStartPre=/bin/sh -c "! grep -q /srv/broken.d /etc/kubernetes/kubelet"\\n\' '
        "> /etc/systemd/system/kubelet.service.d/50-test-broken.conf && systemctl daemon-reload",
    )
    try:
        broken = variant(tmp_path, nodes={node: {"manifest_dir": "/srv/broken.d"}})
        done = spctl("deploy", "--node", node, "--timeout", "20", inventory=broken)
        assert done.returncode == 1
        assert "previous configuration restored and the kubelet is healthy again" in done.stderr, (
            done.stderr
        )
        assert lab.out(node, "cat /etc/kubernetes/kubelet") == original
        assert lab.out(node, "systemctl is-active kubelet").strip() == "active"
        assert lab.sh(node, "test -e /srv/broken.d/static-web.yaml").exit_code == 1
    finally:
        lab.out(
            node,
            "rm -f /etc/systemd/system/kubelet.service.d/50-test-broken.conf && systemctl daemon-reload",
        )
    assert pod_row(spctl_json("status", "--node", node), node, "static-web")["phase"] == "Running"


def test_two_deploys_at_once_do_not_interleave(lab: LabSession, tmp_path: Path) -> None:
    node, path = "my-node3", "/etc/kubernetes/manifests/static-web.yaml"
    spctl_json("deploy", "--node", node)
    inventories = [
        variant(tmp_path, name=f"v{port}", nodes={node: {"vars": {"port": port}}})
        for port in (9001, 9002)
    ]
    procs = [
        subprocess.Popen(
            [SPCTL, "-i", str(i), "deploy", "--node", node, "-o", "json"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in inventories
    ]
    outcomes = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    codes = sorted(o[2] for o in outcomes)
    assert codes == [0, 1], outcomes
    loser = next(o for o in outcomes if o[2] == 1)
    error = json.loads(loser[0])["nodes"][0]["error"]
    assert "locked by" in error or "changed on the node since spctl read it" in error, error
    port = (9001, 9002)[[o[2] for o in outcomes].index(0)]  # the winner's content is what landed
    assert f"containerPort: {port}" in lab.out(node, f"cat {path}")
    # With --wait-lock the second run waits for the first instead of failing.
    procs = [
        subprocess.Popen(
            [
                SPCTL,
                "-i",
                str(INVENTORY if k else inventories[0]),
                "deploy",
                "--node",
                node,
                "--wait-lock",
                "120",
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in (0, 1)
    ]
    time.sleep(0.3)
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    assert all(r[2] in (0, 1) for r in results)
    assert any("changed on the node since" in r[1] for r in results) or all(
        r[2] == 0 for r in results
    ), results


def test_sshd_killed_mid_deploy_leaves_no_half_written_file(
    lab: LabSession, tmp_path: Path
) -> None:
    node, directory = "my-node3", "/etc/kubernetes/manifests"
    spctl_json("deploy", "--node", node)
    changed = variant(tmp_path, nodes={node: {"vars": {"port": 8088}}})
    proc = deploy_in_background(lab, changed, node, f"{directory}/static-web.yaml", "8088")
    container = lab.lab.client.containers.get(lab.lab.container_name(node))
    container.exec_run(["sh", "-c", "pkill -KILL sshd"])
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "connection lost" in err or "agent" in err, err
    container.exec_run(["systemctl", "restart", "ssh"])
    wait_until(lambda: lab.sh(node, "true").exit_code == 0, 30, what="sshd back")
    # Whatever the agent finished, the file is whole and no temporary file is left.
    text = lab.out(node, f"cat {directory}/static-web.yaml")
    assert yaml.safe_load(text)["kind"] == "Pod"
    assert temporaries(lab, node, directory) == []
    again = spctl("-q", "deploy", "--node", node, "--wait-lock", "120", inventory=changed)
    assert again.returncode == 0, again.stderr
    assert (
        pod_row(spctl_json("status", "--node", node, inventory=changed), node, "static-web")[
            "manifest"
        ]
        == "in-sync"
    )


def test_interrupt_stops_cleanly_and_a_rerun_converges(lab: LabSession, tmp_path: Path) -> None:
    node, directory = "my-node2", "/etc/kubernetes/manifests"
    changed = variant(tmp_path, nodes={node: {"vars": {"port": 8090}}})
    proc = deploy_in_background(
        lab, changed, node, f"{directory}/static-web.yaml", "8090", "--stable-for", "8"
    )
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err
    assert temporaries(lab, node, directory) == []
    again = spctl("deploy", "--node", node, "--wait-lock", "60", inventory=changed)
    assert again.returncode == 0, again.stderr
    assert "8090" in lab.out(node, f"cat {directory}/static-web.yaml")


def test_host_keys(lab: LabSession, tmp_path: Path) -> None:
    node = "my-node2"
    state_before = lab.out(node, "stat -c %Y /var/lib/spctl/state.json")
    # Unknown host: refused with its fingerprint and how to trust it.
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    unknown = variant(tmp_path, name="unknown", known_hosts=str(empty))
    done = spctl("deploy", "--node", node, inventory=unknown)
    assert done.returncode == 1
    assert (
        "host key not known (ssh-ed25519 SHA256:" in done.stderr
        and "--host-key-policy accept-new" in done.stderr
    )
    # accept-new records it, and the next strict run trusts it.
    done = spctl("status", "--node", node, "--host-key-policy", "accept-new", inventory=unknown)
    assert done.returncode == 0, done.stderr
    port = lab.nodes[node].port
    assert empty.read_text().startswith(f"[127.0.0.1]:{port} ssh-ed25519 ")
    assert spctl("status", "--node", node, inventory=unknown).returncode == 0
    # A changed key: refused, even with accept-new, and nothing sent.
    other = next(
        line
        for line in (STATE / "known_hosts").read_text().splitlines()
        if not line.startswith(f"[127.0.0.1]:{port} ")
    )
    empty.write_text(f"[127.0.0.1]:{port} {other.split(' ', 1)[1]}\n")
    done = spctl("deploy", "--node", node, "--host-key-policy", "accept-new", inventory=unknown)
    assert done.returncode == 1 and "HOST KEY CHANGED" in done.stderr, done.stderr
    assert lab.out(node, "stat -c %Y /var/lib/spctl/state.json") == state_before


def test_sudo_user(lab: LabSession, tmp_path: Path) -> None:
    node = "my-node6"
    ops = variant(
        tmp_path, name="ops", nodes={node: {"ssh": {"port": lab.nodes[node].port, "user": "ops"}}}
    )
    done = spctl("deploy", "--node", node, inventory=ops)
    assert done.returncode == 0, done.stderr
    # A user whose sudo asks for a password: it travels on stdin only.
    password = "s3cret-Pa55-word"
    lab.out(
        node,
        "id deployer >/dev/null 2>&1 || useradd -m deployer; "
        f"echo 'deployer:{password}' | chpasswd; "
        "echo 'deployer ALL=(ALL) ALL' > /etc/sudoers.d/deployer; "
        "install -d -m 700 -o deployer -g deployer /home/deployer/.ssh; "
        "install -m 600 -o deployer -g deployer /root/.ssh/authorized_keys /home/deployer/.ssh/",
    )
    deployer = variant(
        tmp_path,
        name="deployer",
        nodes={node: {"ssh": {"port": lab.nodes[node].port, "user": "deployer"}}},
    )
    env = {**os.environ}
    done = subprocess.run(
        [SPCTL, "-i", str(deployer), "status", "--node", node],
        capture_output=True,
        text=True,
        env=env,
    )
    assert (
        done.returncode == 1 and "sudo needs a password for deployer" in done.stdout + done.stderr
    )
    env["SPCTL_SUDO_PASSWORD"] = "wrong"
    done = subprocess.run(
        [SPCTL, "-i", str(deployer), "status", "--node", node],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 1 and "sudo refused the password" in done.stdout + done.stderr
    env["SPCTL_SUDO_PASSWORD"] = password
    done = subprocess.run(
        [SPCTL, "-i", str(deployer), "deploy", "--node", node],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert password not in done.stdout + done.stderr
    assert password not in lab.out(node, "journalctl --no-pager -o cat | tail -2000")


def test_node_without_python3_or_kubelet(lab: LabSession) -> None:
    node = "my-node6"
    # Every python the agent's finder would try (python3, python3.N) goes away.
    hide = "mkdir -p /root/python-away && mv /usr/bin/python3 /usr/bin/python3.[0-9]* /root/python-away/"
    lab.out(node, hide)
    try:
        done = spctl("deploy", "--node", node)
        assert done.returncode == 1 and "no python3 on this node (" in done.stderr, done.stderr
        assert "use a node image that has python3" in done.stderr, done.stderr
    finally:
        lab.lab.client.containers.get(lab.lab.container_name(node)).exec_run(
            ["sh", "-c", "mv /root/python-away/* /usr/bin/"]
        )
    lab.out(
        node,
        "systemctl stop kubelet && mv /lib/systemd/system/kubelet.service /root/ && systemctl daemon-reload",
    )
    try:
        done = spctl("deploy", "--node", node)
        assert done.returncode == 1 and "no kubelet found" in done.stderr, done.stderr
    finally:
        lab.out(
            node,
            "mv /root/kubelet.service /lib/systemd/system/ && systemctl daemon-reload && systemctl start kubelet",
        )


def test_change_the_kubelet_never_read_is_undone(lab: LabSession, tmp_path: Path) -> None:
    # A Debian kubeadm node forced to the rpm layout: spctl edits /etc/sysconfig/kubelet, which
    # this kubelet's drop-in never reads (it reads /etc/default/kubelet). The kubelet restarts
    # healthy, without the flag.
    node = "my-node6"
    wrong = variant(
        tmp_path, nodes={node: {"profile": "kubeadm-rpm", "manifest_dir": "/etc/kubelet.d"}}
    )
    done = spctl("deploy", "--node", node, "--timeout", "30", inventory=wrong)
    assert done.returncode == 1
    assert "did not read the edited file (is the node's profile right?)" in done.stderr, done.stderr
    assert "previous configuration restored and the kubelet is healthy again" in done.stderr
    assert lab.sh(node, "test -e /etc/sysconfig/kubelet").exit_code == 1
    assert lab.sh(node, "test -e /etc/kubelet.d/static-web.yaml").exit_code == 1
    assert lab.out(node, "systemctl is-active kubelet").strip() == "active"


def test_stopped_and_hung_nodes_do_not_stall_the_others(lab: LabSession) -> None:
    stopped, hung, healthy = "my-node6", "my-node4", ["my-node2", "my-node3"]
    client = lab.lab.client
    client.containers.get(lab.lab.container_name(stopped)).stop(timeout=5)
    client.containers.get(lab.lab.container_name(hung)).pause()
    try:
        args = [a for n in [stopped, hung, *healthy] for a in ("--node", n)]
        started = time.monotonic()
        done = spctl("deploy", *args, "--connect-timeout", "3", "-o", "json")
        elapsed = time.monotonic() - started
        assert done.returncode == 1
        result = json.loads(done.stdout)
        for node in healthy:
            assert node_row(result, node)["ok"], node_row(result, node)
        assert "cannot connect" in node_row(result, stopped)["error"]
        assert "cannot connect" in node_row(result, hung)["error"]
        assert elapsed < 60, elapsed
    finally:
        client.containers.get(lab.lab.container_name(hung)).unpause()
        client.containers.get(lab.lab.container_name(stopped)).start()
        # The restarted node may have a new SSH port: reconcile the lab's inventory.
        from tests.fakes.lab import PROFILE_ARGS, PROFILES

        args = PROFILE_ARGS
        assert (
            spctl("lab", "up", "--nodes", str(len(PROFILES)), *args, inventory=None).returncode == 0
        )
        lab.nodes.update({n.name: n for n in lab.lab.nodes()})

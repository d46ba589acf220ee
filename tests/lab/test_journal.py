"""The node journal on real nodes: an agent killed mid-transaction, a node restarted, directory
moves carrying their pods, hand edits of the kubelet's file, hostile manifest directories,
concurrent runs. Each test asserts what spctl reports and the node's real state: file shas,
the running kubelet's command line (/proc), pod UIDs from the node's runtime, no journal,
no temporary file.

Nodes: my-node6 and my-node2 (kubeadm-deb: containerd, the kubelet's extra flags in
/etc/default/kubelet). Every test leaves its node as the lab made it: pods in
/etc/kubernetes/manifests, the kubelet on its original flags."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.fakes.lab import (
    REPO,
    SPCTL,
    WEB,
    LabSession,
    inventory,
    sha,
    spctl,
    spctl_json,
    wait_until,
)

MANIFESTS = "/etc/kubernetes/manifests"
ENV_FILE = "/etc/default/kubelet"  # where spctl puts --pod-manifest-path on kubeadm-deb
JOURNAL = "/var/lib/spctl/journal.json"
HOLDER = "/var/lib/spctl/lock.holder"
# A second pod spctl owns: the same server under another pod and container name.
API = WEB.replace("name: static-web", "name: static-api").replace("- name: web", "- name: api")
CRASHING = WEB.replace(
    "      image: {{ image }}\n",
    "      image: {{ image }}\n      command: [/bin/sh, -c, 'sleep 1; exit 3']\n",
)
# Short waits: the stand-in starts a pod in about a second.
FAST = ("--timeout", "40", "--stable-for", "1")
KILL_HOLDER = f'kill -9 $(python3 -c \'import json; print(json.load(open("{HOLDER}"))["pid"])\')'


def kubelet_cmdline(lab: LabSession, node: str) -> str:
    """The running kubelet's command line, from /proc (not from its files)."""
    return lab.out(
        node, "tr '\\0' ' ' < /proc/$(systemctl show -p MainPID --value kubelet)/cmdline"
    )


def uids(lab: LabSession, node: str, container: str = "web") -> list[str]:
    return sorted(lab.running_pod_uids(node, container))


def leftovers(lab: LabSession, node: str, *directories: str) -> list[str]:
    """The journal and spctl's temporary files, if any are left."""
    found = lab.out(node, f"ls {JOURNAL} 2>/dev/null || true").split()
    for directory in directories:
        found += lab.out(node, f"ls -A {directory} 2>/dev/null | grep spctl || true").split()
    return found


def manifests(lab: LabSession, node: str, directory: str) -> list[str]:
    return lab.out(node, f"ls -A {directory} 2>/dev/null || true").split()


def start(inv: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [SPCTL, "-i", str(inv), *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def journal_phase(lab: LabSession, node: str) -> str | None:
    container = lab.lab.client.containers.get(lab.lab.container_name(node))
    found = container.exec_run(["cat", JOURNAL])
    if found.exit_code != 0:
        return None
    try:
        return json.loads(found.output)["phase"]
    except ValueError:
        return None


def baseline(lab: LabSession, node: str) -> None:
    """The node as the lab made it, with static-web deployed from the lab's inventory."""
    spctl_json("deploy", "--node", node, *FAST)
    assert "--pod-manifest-path" not in kubelet_cmdline(lab, node)
    assert manifests(lab, node, MANIFESTS) == ["static-web.yaml"]


def test_agent_killed_during_the_wait_is_rolled_back_by_status(
    lab: LabSession, tmp_path: Path
) -> None:
    node, path = "my-node6", f"{MANIFESTS}/static-web.yaml"
    baseline(lab, node)
    before_sha, before_uids = sha(lab, node, path), uids(lab, node)
    changed = inventory(tmp_path, "changed", nodes={node: {"vars": {"port": 8091}}})
    proc = start(changed, "deploy", "--node", node, "--timeout", "60", "--stable-for", "30")
    wait_until(
        lambda: journal_phase(lab, node) == "manifests-written", 30, 0.1, "the wait to begin"
    )
    assert "8091" in lab.out(node, f"cat {path}")
    lab.out(node, KILL_HOLDER)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, (out, err)
    assert journal_phase(lab, node) == "manifests-written"  # the kill left it
    status = spctl("status", "--node", node)
    assert status.returncode == 0, status.stderr
    assert "was rolled back" in status.stderr and "phase manifests-written" in status.stderr, (
        status.stderr
    )
    assert sha(lab, node, path) == before_sha
    wait_until(lambda: uids(lab, node) == before_uids, 30, what="the previous pod")
    assert leftovers(lab, node, MANIFESTS) == []
    # Nothing left for the next run to do.
    again = spctl("status", "--node", node)
    assert again.returncode == 0 and "rolled back" not in again.stderr, again.stderr


def test_agent_killed_after_the_kubelet_edit_of_a_move_is_rolled_back(
    lab: LabSession, tmp_path: Path
) -> None:
    node, moved = "my-node6", "/etc/kubernetes/moved-pods"
    baseline(lab, node)
    env_before, before_uids = sha(lab, node, ENV_FILE), uids(lab, node)
    flags_before = kubelet_cmdline(lab, node)
    # On the node itself, so that the kill follows the edit within milliseconds.
    watcher = subprocess.Popen(
        [
            "docker",
            "exec",
            lab.lab.container_name(node),
            "sh",
            "-c",
            f'while [ "$(sha256sum < {ENV_FILE} | cut -d" " -f1)" = {env_before} ]; '
            f"do sleep 0.01; done; {KILL_HOLDER}",
        ]
    )
    move = inventory(tmp_path, "move", nodes={node: {"manifest_dir": moved}})
    done = spctl("deploy", "--node", node, *FAST, inventory=move)
    assert watcher.wait(timeout=30) == 0
    assert done.returncode == 1, done.stderr
    assert lab.sh(node, f"test -e {JOURNAL}").exit_code == 0  # the kill left it
    status = spctl("status", "--node", node)
    assert status.returncode == 0, status.stderr
    assert "was rolled back" in status.stderr, status.stderr
    assert sha(lab, node, ENV_FILE) == env_before
    assert moved not in kubelet_cmdline(lab, node)
    assert kubelet_cmdline(lab, node) == flags_before
    wait_until(lambda: uids(lab, node) == before_uids, 30, what="the previous pod")
    assert manifests(lab, node, moved) == []
    assert leftovers(lab, node, MANIFESTS) == []


def test_node_restarted_during_the_wait_is_rolled_back(lab: LabSession, tmp_path: Path) -> None:
    node, path = "my-node6", f"{MANIFESTS}/static-web.yaml"
    baseline(lab, node)
    before_sha, before_uids = sha(lab, node, path), uids(lab, node)
    changed = inventory(tmp_path, "changed", nodes={node: {"vars": {"port": 8092}}})
    proc = start(changed, "deploy", "--node", node, "--timeout", "60", "--stable-for", "30")
    wait_until(
        lambda: journal_phase(lab, node) == "manifests-written", 30, 0.1, "the wait to begin"
    )
    lab.lab.client.containers.get(lab.lab.container_name(node)).restart(timeout=5)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, (out, err)
    # The restarted node may have another SSH port: reconcile the lab's inventory.
    reconcile(lab)
    wait_until(lambda: lab.sh(node, "true").exit_code == 0, 60, 1, "sshd after the restart")
    status = spctl("status", "--node", node)
    assert status.returncode == 0, status.stderr
    assert "was rolled back" in status.stderr, status.stderr
    assert sha(lab, node, path) == before_sha
    # The kubelet derives a static pod's UID from its file: the same file, the same UID.
    wait_until(lambda: uids(lab, node) == before_uids, 60, what="the previous pod")
    assert leftovers(lab, node, MANIFESTS) == []


def reconcile(lab: LabSession) -> None:
    from tests.fakes.lab import PROFILE_ARGS, PROFILES

    args = PROFILE_ARGS
    done = spctl("lab", "up", "--nodes", str(len(PROFILES)), *args, inventory=None)
    assert done.returncode == 0, done.stderr
    lab.nodes.update({n.name: n for n in lab.lab.nodes()})


def test_unsafe_manifest_directories_are_refused(lab: LabSession, tmp_path: Path) -> None:
    node = "my-node6"
    baseline(lab, node)
    env_before = sha(lab, node, ENV_FILE)
    lab.out(node, "rm -rf /srv/open && mkdir -m 0777 /srv/open")
    try:
        for directory, named, mode in (
            ("/tmp/pods", "/tmp", "1777"),
            ("/srv/open", "/srv/open", "0777"),
        ):
            unsafe = inventory(
                tmp_path, directory.replace("/", "-"), nodes={node: {"manifest_dir": directory}}
            )
            done = spctl("deploy", "--node", node, *FAST, inventory=unsafe)
            assert done.returncode == 1, done.stderr
            assert named in done.stderr and "root" in done.stderr and mode in done.stderr, (
                done.stderr
            )
            assert manifests(lab, node, directory) == []
            assert sha(lab, node, ENV_FILE) == env_before
            assert directory not in kubelet_cmdline(lab, node)
            assert leftovers(lab, node, MANIFESTS) == []
    finally:
        lab.out(node, "rm -rf /srv/open /tmp/pods")


def test_a_directory_move_carries_every_owned_pod_and_comes_back_whole(
    lab: LabSession, tmp_path: Path
) -> None:
    node, moved = "my-node2", "/etc/kubernetes/moved-pods"
    two = {"templates": {"static-api": API}, "pods": ["static-web", "static-api"]}
    home = inventory(tmp_path, "home", nodes={node: {"manifest_dir": MANIFESTS}}, **two)
    try:
        spctl_json("deploy", "--node", node, *FAST, inventory=home)
        flags_before = kubelet_cmdline(lab, node)
        assert manifests(lab, node, MANIFESTS) == ["static-api.yaml", "static-web.yaml"]
        away = inventory(tmp_path, "away", nodes={node: {"manifest_dir": moved}}, **two)
        # Only static-web is deployed; static-api, which spctl also owns, moves with it.
        diff = spctl("diff", "--node", node, "static-web", inventory=away)
        assert diff.returncode == 1, diff.stderr
        assert "static-api: move" in diff.stdout + diff.stderr, diff.stdout + diff.stderr
        done = spctl("deploy", "--node", node, "static-web", *FAST, inventory=away)
        assert done.returncode == 0, done.stderr
        assert manifests(lab, node, moved) == ["static-api.yaml", "static-web.yaml"]
        assert manifests(lab, node, MANIFESTS) == []
        assert f"--pod-manifest-path={moved}" in kubelet_cmdline(lab, node)
        moved_uids = {c: uids(lab, node, c) for c in ("web", "api")}
        assert all(len(u) == 1 for u in moved_uids.values()), moved_uids
        flags_moved = kubelet_cmdline(lab, node)
        # A crashing version during a move back: the kubelet, both pods and their UIDs stay.
        crashing = inventory(
            tmp_path,
            "crashing",
            nodes={node: {"manifest_dir": MANIFESTS}},
            templates={"static-web": CRASHING, "static-api": API},
            pods=two["pods"],
        )
        done = spctl("deploy", "--node", node, "static-web", *FAST, inventory=crashing)
        assert done.returncode == 1, done.stderr
        # A crash that recurs (or a back-off longer than the wait has left), with its code.
        assert "exit code 3" in done.stderr, done.stderr
        assert manifests(lab, node, moved) == ["static-api.yaml", "static-web.yaml"]
        assert manifests(lab, node, MANIFESTS) == []
        assert kubelet_cmdline(lab, node) == flags_moved
        for container, before in moved_uids.items():
            wait_until(lambda c=container, b=before: uids(lab, node, c) == b, 30, what=container)
        assert leftovers(lab, node, MANIFESTS, moved) == []
    finally:
        # Back home, and static-api removed: the node as the lab made it.
        back = spctl("deploy", "--node", node, *FAST, inventory=home)
        assert back.returncode == 0, back.stderr
        gone = spctl("remove", "static-api", "--node", node, *FAST, inventory=home)
        assert gone.returncode == 0, gone.stderr
    assert kubelet_cmdline(lab, node) == flags_before
    assert manifests(lab, node, MANIFESTS) == ["static-web.yaml"]
    lab.out(node, f"rmdir {moved}")


def test_a_hand_edit_of_the_kubelets_file_is_completed_or_reverted(
    lab: LabSession, tmp_path: Path
) -> None:
    node, hand = "my-node6", "/etc/kubernetes/hand-pods"
    baseline(lab, node)
    original = lab.out(node, f"cat {ENV_FILE}")
    flags_before, before_uids = kubelet_cmdline(lab, node), uids(lab, node)
    edit = f"echo KUBELET_EXTRA_ARGS=--pod-manifest-path={hand} > {ENV_FILE}"
    try:
        # Reverted: the inventory wants the directory the kubelet runs with.
        lab.out(node, edit)
        status = spctl("status", "--node", node)
        assert status.returncode == 0, status.stderr
        assert f"running kubelet watches {MANIFESTS}" in status.stderr, status.stderr
        assert "in-sync" in status.stdout, status.stdout
        stay = inventory(tmp_path, "stay", nodes={node: {"manifest_dir": MANIFESTS}})
        diff = spctl("diff", "--node", node, inventory=stay)
        assert diff.returncode == 1 and hand in diff.stdout + diff.stderr, diff.stdout + diff.stderr
        done = spctl("deploy", "--node", node, *FAST, inventory=stay)
        assert done.returncode == 0, done.stderr
        # The flag is gone from the file (spctl writes the variable back quoted, empty).
        assert "--pod-manifest-path" not in lab.out(node, f"cat {ENV_FILE}")
        assert kubelet_cmdline(lab, node) == flags_before
        wait_until(lambda: uids(lab, node) == before_uids, 30, what="the pod, untouched")
        # Completed: the inventory names no directory, so the file's pending one is taken.
        lab.out(node, edit)
        diff = spctl("diff", "--node", node)
        assert diff.returncode == 1, diff.stderr
        why = f"the running kubelet watches {MANIFESTS} but its configuration already names {hand}"
        assert why in diff.stdout + diff.stderr, diff.stdout + diff.stderr
        done = spctl("deploy", "--node", node, *FAST)
        assert done.returncode == 0, done.stderr
        assert f"--pod-manifest-path={hand}" in kubelet_cmdline(lab, node)
        assert manifests(lab, node, hand) == ["static-web.yaml"]
        assert manifests(lab, node, MANIFESTS) == []
        assert leftovers(lab, node, MANIFESTS, hand) == []
    finally:
        home = inventory(tmp_path, "home", nodes={node: {"manifest_dir": MANIFESTS}})
        back = spctl("deploy", "--node", node, *FAST, inventory=home)
        assert back.returncode == 0, back.stderr
        lab.out(node, f"printf %s '{original}' > {ENV_FILE} && systemctl restart kubelet")
        lab.out(node, f"rmdir {hand} 2>/dev/null || true")
    wait_until(lambda: kubelet_cmdline(lab, node) == flags_before, 30, what="the kubelet")


def available_memory_kib(lab: LabSession, node: str) -> int:
    return int(lab.out(node, "awk '/MemAvailable/ {print $2}' /proc/meminfo"))


def test_fifos_devices_and_symlinks_are_typed_never_read(lab: LabSession, tmp_path: Path) -> None:
    node = "my-node6"
    baseline(lab, node)
    lab.out(node, f"mkfifo {MANIFESTS}/pipe && ln -s /dev/zero {MANIFESTS}/x")
    try:
        memory = available_memory_kib(lab, node)
        started = time.monotonic()
        status = spctl("status", "--node", node, timeout=60)
        assert time.monotonic() - started < 20
        assert status.returncode == 0, status.stderr
        assert f"{MANIFESTS}/pipe is a fifo" in status.stderr, status.stderr
        assert f"{MANIFESTS}/x is a symlink" in status.stderr, status.stderr
        assert "in-sync" in status.stdout
        dev = inventory(tmp_path, "dev", nodes={node: {"manifest_dir": "/dev"}})
        started = time.monotonic()
        status = spctl("status", "--node", node, timeout=60, inventory=dev)
        assert time.monotonic() - started < 20
        assert status.returncode == 0, status.stderr
        assert "/dev/zero is a char-device" in status.stderr, status.stderr
        assert "/dev/null is a char-device" in status.stderr, status.stderr
        # Nothing read from a device: the node's memory is where it was, no agent left running.
        assert available_memory_kib(lab, node) > memory - 256 * 1024
        assert lab.out(node, "pgrep -f '/var/lib/spctl/[a]gent' || true").strip() == ""
        assert lab.out(node, f"cat {MANIFESTS}/static-web.yaml")  # the pod file is intact
    finally:
        lab.out(node, f"rm -f {MANIFESTS}/pipe {MANIFESTS}/x")


def test_two_waiting_deploys_end_with_the_second_ones_content(
    lab: LabSession, tmp_path: Path
) -> None:
    node, path = "my-node6", f"{MANIFESTS}/static-web.yaml"
    baseline(lab, node)
    first = inventory(tmp_path, "first", nodes={node: {"vars": {"port": 9101}}})
    second = inventory(tmp_path, "second", nodes={node: {"vars": {"port": 9102}}})
    wait = ("--wait-lock", "120", "--timeout", "60", "--stable-for", "3")
    one = start(first, "deploy", "--node", node, "-o", "json", *wait)
    # The second reads its facts while the first holds the node.
    wait_until(lambda: journal_phase(lab, node) is not None, 30, 0.1, "the first's journal")
    two = start(second, "deploy", "--node", node, "-o", "json", *wait)
    results = [p.communicate(timeout=180) + (p.returncode,) for p in (one, two)]
    assert [r[2] for r in results] == [0, 0], results
    assert "containerPort: 9102" in lab.out(node, f"cat {path}")
    status = spctl_json("status", "--node", node, inventory=second)
    row = next(p for p in status["nodes"][0]["pods"] if p["name"] == "static-web")
    assert (row["manifest"], row["phase"]) == ("in-sync", "Running"), row
    assert leftovers(lab, node, MANIFESTS) == []
    spctl_json("deploy", "--node", node, *FAST)  # the lab's own version again


def test_a_non_utf8_byte_in_the_kubelets_file_survives_a_move(
    lab: LabSession, tmp_path: Path
) -> None:
    node, moved = "my-node6", "/etc/kubernetes/latin1-pods"
    baseline(lab, node)
    original = lab.out(node, f"cat {ENV_FILE}")
    # A comment in Latin-1 ("café"), as an old editor leaves it.
    lab.out(
        node, f"printf '# caf\\351\\n{original}' > {ENV_FILE} && head -n1 {ENV_FILE} > /root/line1"
    )
    try:
        move = inventory(tmp_path, "move", nodes={node: {"manifest_dir": moved}})
        done = spctl("deploy", "--node", node, *FAST, inventory=move)
        assert done.returncode == 0, done.stderr
        assert lab.sh(node, f"head -n1 {ENV_FILE} | cmp - /root/line1").exit_code == 0
        assert f"--pod-manifest-path={moved}" in kubelet_cmdline(lab, node)
        home = inventory(tmp_path, "home", nodes={node: {"manifest_dir": MANIFESTS}})
        done = spctl("deploy", "--node", node, *FAST, inventory=home)
        assert done.returncode == 0, done.stderr
        assert lab.sh(node, f"head -n1 {ENV_FILE} | cmp - /root/line1").exit_code == 0
    finally:
        lab.out(node, f"printf %s '{original}' > {ENV_FILE} && systemctl restart kubelet")
        lab.out(node, f"rmdir {moved} 2>/dev/null || true")

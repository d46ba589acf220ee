"""``spctl restart`` on real nodes: a new pod (another UID in the runtime) with the same
content, gated on readiness; a later deploy changes nothing (same UID, unchanged); a new
pod that never gets ready is rolled back to the previous file and pod (its UID again).

Nodes: my-node1 (fedora: Docker through the stand-in) and my-node2 (kubeadm-deb:
containerd's CRI), both at once. Each test leaves static-web deployed as the lab's inventory
renders it (removed and deployed anew: the restart annotation stays through deploys)."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.lab import WEB, LabSession, inventory, node_row, pod_row, sha, spctl_json

NODES = ("my-node1", "my-node2")
SELECT = tuple(arg for n in NODES for arg in ("--node", n))
MARKER_DIR = "/run/spctl-restart-test"

# The first container that finds the marker takes it and never gets ready: the pod
# deployed before the marker is ready, the restarted one is not, the one put back is.
NOT_READY_ONCE = """\
      command:
        - /bin/sh
        - -c
        - >-
          trap 'exit 0' TERM;
          if [ -e /cfg/broken ]; then rm /cfg/broken; touch /tmp/notready; fi;
          /bin/httpd -f -p 80 -h /www & wait
      readinessProbe:
        exec: {command: [/bin/sh, -c, 'test ! -e /tmp/notready']}
        periodSeconds: 1
        timeoutSeconds: 5
      volumeMounts:
        - {name: cfg, mountPath: /cfg}
  volumes:
    - name: cfg
      hostPath: {path: /run/spctl-restart-test}
"""


def uids(lab: LabSession) -> dict[str, list[str]]:
    return {n: sorted(lab.running_pod_uids(n, "web")) for n in NODES}


def manifests(result: dict) -> dict[str, str]:
    """Each node's static-web file, from a deploy's JSON (the profile's directory)."""
    return {n: f"{node_row(result, n)['manifest_dir']}/static-web.yaml" for n in NODES}


def shas(lab: LabSession, files: dict[str, str]) -> dict[str, str]:
    for node, file in files.items():
        lab.out(node, f"test -f {file}")
    return {node: sha(lab, node, file) for node, file in files.items()}


def test_restart_starts_a_new_pod_and_a_later_deploy_keeps_it(lab: LabSession) -> None:
    files = manifests(spctl_json("deploy", *SELECT, "--stable-for", "1"))
    deployed = shas(lab, files)
    before = uids(lab)
    assert all(len(u) == 1 for u in before.values()), before

    done = spctl_json("restart", "static-web", *SELECT, "--stable-for", "1")
    after = uids(lab)
    for node in NODES:
        row = node_row(done, node)
        assert row["ok"] and row["changed"], row
        assert [(p["name"], p["action"], p["phase"]) for p in row["pods"]] == [
            ("static-web", "restarted", "Running")
        ], row
        assert len(after[node]) == 1 and after[node] != before[node], (before, after)
        text = lab.out(node, f"cat {files[node]}")
        assert "spctl.io/restarted-at: '" in text, text

    # Status: in sync; deploy: nothing to do, the same pod keeps running.
    status = spctl_json("status", *SELECT)
    assert [pod_row(status, n, "static-web")["manifest"] for n in NODES] == ["in-sync"] * 2
    again = spctl_json("deploy", *SELECT, "--stable-for", "1")
    for node in NODES:
        row = node_row(again, node)
        assert not row["changed"], row
        assert [p["action"] for p in row["pods"]] == ["unchanged"], row
    assert uids(lab) == after

    # Out again as the lab deploys it, annotation and all: removed, then deployed anew (a
    # rollback brings back the version before the one restarted, not the restart's own).
    gone = spctl_json("remove", "static-web", *SELECT)
    assert all(node_row(gone, n)["ok"] for n in NODES), gone
    back = spctl_json("deploy", *SELECT, "--stable-for", "1")
    assert all(node_row(back, n)["ok"] for n in NODES), back
    assert shas(lab, files) == deployed


def test_a_restarted_pod_that_never_gets_ready_is_rolled_back(
    lab: LabSession, tmp_path: Path
) -> None:
    for node in NODES:
        lab.out(node, f"mkdir -p {MARKER_DIR} && rm -f {MARKER_DIR}/broken")
    path = inventory(tmp_path, "probed", templates={"static-web": WEB + NOT_READY_ONCE})
    try:
        files = manifests(spctl_json("deploy", *SELECT, "--stable-for", "1", inventory=path))
        before = shas(lab, files)
        running = uids(lab)
        for node in NODES:
            lab.out(node, f"touch {MARKER_DIR}/broken")

        done = spctl_json(
            "restart", "static-web", *SELECT, "--timeout", "8", inventory=path, ok=False
        )
        for node in NODES:
            row = node_row(done, node)
            assert not row["ok"], row
            (pod,) = row["pods"]
            assert pod["action"] == "failed", pod
            assert "readiness probe" in pod["error"], pod["error"]
        # The previous file is back at its path: the previous pod, by its UID, runs again.
        assert shas(lab, files) == before
        assert uids(lab) == running
    finally:
        spctl_json("deploy", *SELECT, "--stable-for", "1")
        for node in NODES:
            lab.out(node, f"rm -rf {MARKER_DIR}")

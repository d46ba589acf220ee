"""A crash is not a failed pod: the kubelet keeps a restartPolicy Always pod Running while it
restarts a crashed container (getPhase in pkg/kubelet/kubelet_pods.go, the restart back-off
of kuberuntime_manager.go doBackOff), so a container that exits once while a dependency
comes up deploys fine, with the restart counted and its last exit code shown; a container
that crashes at every start still fails the deploy, saying which rule decided, and is
rolled back.

Nodes: my-node5 (fedora: Docker through the stand-in, cri-dockerd's names) and my-node6
(kubeadm-deb: containerd's CRI). Each test leaves static-web deployed as the lab's
inventory has it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes.lab import (
    WEB,
    LabSession,
    inventory,
    node_row,
    pod_row,
    sha,
    spctl,
    spctl_json,
)

MANIFEST = "/etc/kubernetes/manifests/static-web.yaml"
NODES = ("my-node5", "my-node6")

# The first run finds no marker in its emptyDir (which lives as long as the pod, across
# container restarts), leaves one and exits 1; the restarted container serves.
CRASH_ONCE = """\
      command:
        - /bin/sh
        - -c
        - >-
          trap 'exit 0' TERM;
          if [ -e /work/ran ]; then /bin/httpd -f -p 80 -h /www & wait;
          else echo ran > /work/ran; echo 'dependency not up yet' >&2; sleep 1; exit 1; fi
      volumeMounts:
        - name: work
          mountPath: /work
  volumes:
    - name: work
      emptyDir: {}
"""
CRASH_ALWAYS = """\
      command: [/bin/sh, -c, 'sleep 1; exit 3']
"""


def fetch_in_web(lab: LabSession, node: str) -> str:
    """GET / from inside the running web container: docker exec, or a task exec through
    containerd's ctr on a CRI node."""
    get = "wget -qO- http://127.0.0.1/"
    if lab.runtime(node) == "docker":
        cid = lab.out(node, "docker ps -q --filter label=io.kubernetes.container.name=web")
        return lab.out(node, f"docker exec {cid.strip()} {get}")
    (running,) = [
        c
        for c in lab.cri(node)["containers"]
        if c["name"] == "web" and c["state"] == "CONTAINER_RUNNING"
    ]
    return lab.ctr(node, f"tasks exec --exec-id spctl-test {running['id']} {get}")


def with_container(extra: str) -> str:
    """The lab's static-web with ``extra`` after its container's fields (and, at two
    spaces, the pod's)."""
    return WEB.rstrip("\n") + "\n" + extra


@pytest.mark.parametrize("node", NODES)
def test_a_pod_that_crashes_once_and_then_serves_deploys_fine(
    lab: LabSession, tmp_path: Path, node: str
) -> None:
    spctl_json("deploy", "--node", node)
    path = inventory(tmp_path, "crash-once", templates={"static-web": with_container(CRASH_ONCE)})
    done = spctl("deploy", "--node", node, "-o", "json", inventory=path)
    assert done.returncode == 0, done.stdout + done.stderr
    pod = node_row(json.loads(done.stdout), node)["pods"][0]
    assert pod["action"] in ("created", "updated") and pod["phase"] == "Running", pod
    status = spctl_json("status", "--node", node, inventory=path)
    row = pod_row(status, node, "static-web")
    assert (row["phase"], row["restarts"], row["ready"]) == ("Running", 1, True), row
    (web,) = row["containers"]
    assert (web["state"], web["last_exit_code"]) == ("running", 1), web
    wide = spctl("status", "--node", node, "-o", "wide", inventory=path)
    line = next(line for line in wide.stdout.splitlines() if "static-web" in line)
    assert line.split()[3:6] == ["Running", "1/1", "1"], wide.stdout  # PHASE READY RESTARTS
    assert "web:running (last exit 1" in line, line
    # The restarted container is the one that serves.
    assert "spctl lab pod" in fetch_in_web(lab, node)
    spctl_json("deploy", "--node", node)


@pytest.mark.parametrize("node", NODES)
def test_a_pod_that_crashes_every_time_fails_with_the_reason(
    lab: LabSession, tmp_path: Path, node: str
) -> None:
    spctl_json("deploy", "--node", node)
    before = sha(lab, node, MANIFEST)
    path = inventory(tmp_path, "crash", templates={"static-web": with_container(CRASH_ALWAYS)})
    done = spctl("deploy", "--node", node, "-o", "json", "--timeout", "25", inventory=path)
    assert done.returncode == 1, done.stdout + done.stderr
    pod = node_row(json.loads(done.stdout), node)["pods"][0]
    assert pod["action"] == "failed", pod
    # The kubelet backs off 20 s before the third start: with 25 s to run and then stay up
    # 5 s, the wait cannot succeed, and says so with the container's exit code.
    assert "CrashLoopBackOff" in pod["error"] or "keeps crashing" in pod["error"], pod
    assert "exit code 3" in pod["error"], pod
    assert sha(lab, node, MANIFEST) == before  # rolled back
    row = pod_row(spctl_json("status", "--node", node), node, "static-web")
    assert row["phase"] == "Running" and row["ready"], row

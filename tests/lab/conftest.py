"""The lab, started once per test session, and helpers to look at its nodes.

Nodes and their roles in the tests (profiles in parentheses):
  my-node1 (fedora)       the seed walkthrough through spctl
  my-node2 (kubeadm-deb), my-node3 (kubeadm-rpm), my-node4 (k3s): deploy across profiles
  my-node5 (fedora)       the seed walkthrough by hand, and the kubelet stand-in's file rules
  my-node6 (kubeadm-deb)  fault injection
  my-node7 (rke2)         pods next to rke2's own control-plane manifests
The session starts the default 3-node lab first (what `make demo` does), then reconciles it
to seven nodes, which must keep the first three untouched.

Fedora nodes run Docker (cri-dockerd's names: `docker ps` shows the pods); kubeadm nodes run
containerd and the k3s node k3s's embedded containerd, both read through the CRI with the
lab's `spctl-lab-cri` tool (and `ctr -n k8s.io`), independently of spctl.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from spctl_lab.cluster import INSTANCE_LABEL, Lab, LabNode
from spctl_lab.layouts import CRI_SOCKETS, RUNTIMES

from spctl.transport.ssh import Completed, Connection

REPO = Path(__file__).resolve().parents[2]
STATE = REPO / ".spctl-lab"
INVENTORY = STATE / "inventory.yaml"
SPCTL = str(Path(sys.executable).parent / "spctl")
PROFILES = ("fedora", "kubeadm-deb", "kubeadm-rpm", "k3s", "fedora", "kubeadm-deb", "rke2")
# `spctl lab up` arguments that give each node of the suite its profile above.
PROFILE_ARGS = tuple(arg for p in PROFILES for arg in ("--profile", p))


@dataclass
class LabSession:
    lab: Lab
    nodes: dict[str, LabNode]
    first_ids: dict[str, str]  # container ids after the 3-node `lab up`
    second_ids: dict[str, str]  # after reconciling to seven nodes
    first_up: subprocess.CompletedProcess

    def conn(self, node: str, user: str = "root") -> Connection:
        return Connection(self.lab.target(self.nodes[node], user=user))

    def sh(self, node: str, script: str, user: str = "root", timeout: float = 60) -> Completed:
        with self.conn(node, user) as conn:
            return conn.run(["sh", "-c", script], timeout=timeout)

    def out(self, node: str, script: str) -> str:
        done = self.sh(node, script)
        assert done.exit_code == 0, f"{node}: {script}: {done.stderr.decode()}"
        return done.stdout.decode()

    def runtime(self, node: str) -> str:
        """docker, containerd or k3s (k3s's embedded containerd)."""
        return RUNTIMES[self.nodes[node].profile]

    def cri_socket(self, node: str) -> str:
        return CRI_SOCKETS[self.runtime(node)]

    def containers(self, node: str) -> list[dict[str, Any]]:
        """`docker ps -a` on a Docker node, as the seed walkthrough looks at it."""
        assert self.runtime(node) == "docker", f"{node} runs {self.runtime(node)}: use cri()"
        text = self.out(node, "docker ps -a --no-trunc --format '{{json .}}'")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def cri(self, node: str) -> dict[str, Any]:
        """The CRI runtime's sandboxes and containers on the node (`spctl-lab-cri`)."""
        socket = self.cri_socket(node)
        return json.loads(self.out(node, f"spctl-lab-cri -r unix://{socket}"))

    def ctr(self, node: str, args: str) -> str:
        """`ctr` in containerd's k8s.io namespace (where the CRI keeps pods), on the node."""
        return self.out(node, f"ctr --address {self.cri_socket(node)} --namespace k8s.io {args}")

    def running_pod_uids(self, node: str, container: str = "web") -> list[str]:
        """Pod UIDs of the running containers with this name, from the node's runtime."""
        if self.runtime(node) == "docker":
            text = self.out(
                node,
                f"docker ps --filter label=io.kubernetes.container.name={container} "
                "--format '{{.Label \"io.kubernetes.pod.uid\"}}'",
            )
            return text.split()
        return [
            c["labels"]["io.kubernetes.pod.uid"]
            for c in self.cri(node)["containers"]
            if c["name"] == container and c["state"] == "CONTAINER_RUNNING"
        ]

    def kill_container(self, node: str, container: str = "web") -> None:
        """Stop the running container of this name behind the kubelet's back: `docker stop`
        on Docker nodes, its task killed with `ctr` on containerd nodes."""
        if self.runtime(node) == "docker":
            cid = self.out(
                node, f"docker ps -q --filter label=io.kubernetes.container.name={container}"
            ).strip()
            self.out(node, f"docker stop -t 1 {cid}")
            return
        running = [
            c
            for c in self.cri(node)["containers"]
            if c["name"] == container and c["state"] == "CONTAINER_RUNNING"
        ]
        assert len(running) == 1, running
        self.ctr(node, f"tasks kill --signal KILL {running[0]['id']}")


def spctl(
    *args: str, inventory: Path | None = INVENTORY, timeout: float = 600
) -> subprocess.CompletedProcess:
    argv = [SPCTL]
    if inventory is not None:
        argv += ["-i", str(inventory)]
    return subprocess.run(
        argv + list(args), cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def spctl_json(*args: str, inventory: Path | None = INVENTORY, ok: bool = True) -> dict[str, Any]:
    done = spctl(*args, "-o", "json", inventory=inventory)
    if ok:
        assert done.returncode == 0, (
            f"spctl {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    return json.loads(done.stdout)


def wait_until(
    check: Callable[[], Any], timeout: float = 60, interval: float = 0.5, what: str = ""
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}: last={last!r}")


def _ids(lab: Lab) -> dict[str, str]:
    return {
        c.labels["spctl-lab.node"]: c.id
        for c in lab.client.containers.list(
            all=True, filters={"label": f"spctl-lab.instance={lab.name}"}
        )
    }


@pytest.fixture(scope="session")
def lab() -> Iterator[LabSession]:
    """The lab of the whole session: started from nothing (the images stay cached), and at
    the end taken down with `spctl lab down`, which must leave nothing of it behind."""
    os.chdir(REPO)
    assert spctl("lab", "down", inventory=None).returncode == 0
    first = spctl("lab", "up", "--nodes", "3", inventory=None)
    assert first.returncode == 0, first.stderr
    session_lab = Lab(STATE)
    first_ids = _ids(session_lab)
    second = spctl("lab", "up", "--nodes", str(len(PROFILES)), *PROFILE_ARGS, inventory=None)
    assert second.returncode == 0, second.stderr
    nodes = {n.name: n for n in session_lab.nodes()}
    yield LabSession(session_lab, nodes, first_ids, _ids(session_lab), first)
    assert_lab_down_leaves_nothing(session_lab)


def assert_lab_down_leaves_nothing(lab: Lab) -> None:
    """`spctl lab down` removes the lab's containers, volumes, network and inventory, and
    keeps the cached images (the next `lab up` builds nothing)."""
    client = lab.client
    mine = f"{INSTANCE_LABEL}={lab.name}"
    images_before = {i.id for i in client.images.list()}
    done = spctl("lab", "down", inventory=None)
    assert done.returncode == 0, done.stderr
    assert client.containers.list(all=True, filters={"label": mine}) == []
    assert client.volumes.list(filters={"label": mine}) == []
    # ... and no volume named as its own, unlabelled (another lab's name may share a prefix).
    named = [v for v in client.volumes.list() if v.name.startswith(f"{lab.name}-")]
    assert [
        v.name for v in named if (v.attrs.get("Labels") or {}).get(INSTANCE_LABEL) in (None, lab.name)
    ] == []
    assert client.networks.list(filters={"label": mine}) == []
    assert [n.name for n in client.networks.list() if n.name == lab.name] == []
    assert not (STATE / "inventory.yaml").exists()
    assert {i.id for i in client.images.list()} == images_before

"""The lab, started once per test session (its helpers are in tests/fakes/lab.py).

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

import os
from collections.abc import Iterator

import pytest
from spctl_lab.cluster import INSTANCE_LABEL, Lab

from tests.fakes.lab import PROFILE_ARGS, PROFILES, REPO, STATE, LabSession, spctl


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
        v.name
        for v in named
        if (v.attrs.get("Labels") or {}).get(INSTANCE_LABEL) in (None, lab.name)
    ] == []
    assert client.networks.list(filters={"label": mine}) == []
    assert [n.name for n in client.networks.list() if n.name == lab.name] == []
    assert not (STATE / "inventory.yaml").exists()
    assert {i.id for i in client.images.list()} == images_before

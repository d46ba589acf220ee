"""A node whose manifest changed since spctl wrote it (kubeadm upgrade apply) is left exactly
as it was: deploy refuses it in its plan (no apply call at all), and deploy --force, which
plans an update from the file's sha256 on the node now, is refused by the agent when the
file changes again between the plan and the apply. The node here is the real agent
(``spctl_agent.main.handle``) on a temporary tree; the control host's side is the real
``deploy_node``."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from spctl_agent.main import handle
from spctl_agent.system.state import save_state

from spctl.desired.inventory import Node, SSHSettings
from spctl.desired.render import DesiredPod
from spctl.errors import NodeError
from spctl.plan.model import PlanError
from spctl.verbs import deploy
from spctl.verbs.settings import Settings
from spctl.verbs.source import DirectorySource
from tests.fakes.agent_node import make_node, tree

WROTE = (
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\nspec:\n  containers:\n"
    "  - name: kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.30.4\n"
)
KUBEADM = WROTE.replace("v1.30.4", "v1.31.1")
AGAIN = WROTE.replace("v1.30.4", "v1.31.2")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def kubeadm_writes(path: Path, text: str) -> None:
    """As kubeadm's upgradeComponent does (cmd/kubeadm/app/phases/upgrade/staticpods.go):
    the new manifest written in a temporary directory, then moved into place."""
    staged = path.parent.parent / "kubeadm-upgraded-manifests" / path.name
    staged.parent.mkdir(exist_ok=True)
    staged.write_text(text)
    os.rename(staged, path)


class LocalAgent:
    """spctl's Agent for a node that is the real agent on a temporary tree: the facts
    answer gets a fedora kubelet whose --pod-manifest-path is the tree's directory; every
    request is recorded, and ``before_apply`` runs just before an apply is handled."""

    def __init__(self, node: Any, manifests: Path) -> None:
        self.node = node
        self.manifests = manifests
        self.ops: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.before_apply: Optional[Callable[[], None]] = None

    def call(self, request: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
        self.ops.append(request["op"])
        self.requests.append(request)
        if request["op"] == "apply" and self.before_apply is not None:
            self.before_apply()
        answer = handle(request, self.node)
        if not answer.get("ok"):  # as spctl.transport.agent.Agent.call
            raise NodeError(f"my-node2: {answer.get('error')}")
        if request["op"] == "facts":
            answer["os_release"] = {"ID": "fedora"}
            answer["files"]["/etc/kubernetes/kubelet"] = (
                f'KUBELET_ARGS="--pod-manifest-path={self.manifests}"\n'
            )
            answer["units"] = {
                "kubelet": {
                    "LoadState": "loaded",
                    "ActiveState": "active",
                    "EnvironmentFiles": "/etc/kubernetes/kubelet (ignore_errors=yes)",
                }
            }
            answer["kubelets"] = {}
        return answer


@pytest.fixture
def upgraded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple]:
    """A node where spctl wrote kube-apiserver and kubeadm then rewrote it with another
    image tag."""
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    node = make_node(tmp_path)
    live = manifests / "kube-apiserver.yaml"
    live.write_text(WROTE)
    # The ownership record as the agent keeps it when it writes a manifest
    # (agent/transaction/manifest_change.py, PodChange.write).
    save_state(node, {"manifests": {str(live): {"pod": "kube-apiserver", "sha256": sha(WROTE)}}})
    kubeadm_writes(live, KUBEADM)
    agent = LocalAgent(node, manifests)

    @contextmanager
    def agent_for(*_args: Any, **_kwargs: Any) -> Iterator[LocalAgent]:
        yield agent

    monkeypatch.setattr(deploy, "agent_for", agent_for)
    inventory_node = Node(
        name="my-node2", address="127.0.0.1", ssh=SSHSettings(), manifest_dir=str(manifests)
    )
    desired = [DesiredPod("kube-apiserver", "kube-apiserver.yaml.j2", WROTE)]
    yield inventory_node, desired, agent, live, tmp_path


def test_a_refused_node_is_left_exactly_as_it_was(upgraded) -> None:
    node, desired, agent, live, root = upgraded
    before = tree(root)
    with pytest.raises(PlanError) as raised:
        deploy.deploy_node(node, desired, Settings(), DirectorySource(None))
    assert f"{live} changed on node since spctl wrote it" in str(raised.value)
    assert "+    image: registry.k8s.io/kube-apiserver:v1.31.1" in str(raised.value)
    assert agent.ops == ["facts"]  # never an apply call
    assert tree(root) == before  # file bytes, ownership record, backups: all as they were
    assert live.read_text() == KUBEADM


def test_force_still_goes_through_the_agents_check_of_the_sha_on_the_node(upgraded) -> None:
    node, desired, agent, live, root = upgraded
    # kubeadm writes once more after spctl read the facts, before its apply arrives.
    agent.before_apply = lambda: kubeadm_writes(live, AGAIN)
    before = tree(root / "state")
    with pytest.raises(NodeError, match=f"{live} changed on the node since spctl read it"):
        deploy.deploy_node(node, desired, Settings(force=True), DirectorySource(None))
    assert agent.ops == ["facts", "apply"]
    # Planned from what was on the node when spctl read it: kubeadm's first rewrite.
    (change,) = agent.requests[-1]["changes"]
    assert (change["action"], change["expected_sha256"]) == ("update", sha(KUBEADM))
    assert live.read_text() == AGAIN  # the agent refused: the file is kubeadm's second one
    # Ownership record and backups untouched (the agent's lock file comes and goes).
    assert {k: v for k, v in tree(root / "state").items() if "lock" not in k} == before


def test_a_hand_edit_that_keeps_the_pod_is_refused_too(upgraded) -> None:
    """Someone added a comment to the file spctl wrote: the kubelet would not restart the
    pod, but spctl does not rewrite the edit without --force."""
    node, desired, agent, live, root = upgraded
    live.write_text("# pinned: ops ticket 4711\n" + WROTE)
    before = tree(root)
    with pytest.raises(PlanError) as raised:
        deploy.deploy_node(node, desired, Settings(), DirectorySource(None))
    assert f"{live} changed on node since spctl wrote it, in its bytes only" in str(raised.value)
    assert "+# pinned: ops ticket 4711" in str(raised.value)
    assert agent.ops == ["facts"]  # never an apply call
    assert tree(root) == before  # file bytes, ownership record, backups: all as they were

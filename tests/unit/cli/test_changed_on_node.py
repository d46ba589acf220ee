"""The CLI on a node whose manifest changed since spctl wrote it (kubeadm upgrade apply):
deploy refuses that node (exit 1, the file, the diff and both remedies; the other node is
deployed), --dry-run and diff show the refusal, status says changed-on-node, and
deploy --force sends the update."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
from pathlib import Path

from tests.fakes.agent import FakeAgent, write_inventory
from tests.fakes.pty import SPCTL
from tests.fakes.ssh_server import FakeNode

PATH = "/etc/kubelet.d/static-web.yaml"
# What write_inventory's template renders for static-web: what spctl wrote.
WROTE = (
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: static-web\nspec:\n  containers:\n"
    "  - name: web\n    image: nginx:1.27\n"
)
REWRITTEN = WROTE.replace("nginx:1.27", "nginx:1.28")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class UpgradedAgent(FakeAgent):
    """A node whose static-web.yaml spctl wrote (WROTE) and someone rewrote (REWRITTEN)."""

    def facts(self) -> dict:
        facts = copy.deepcopy(super().facts())
        facts["dirs"]["/etc/kubelet.d"]["entries"] = [
            {
                "name": "static-web.yaml",
                "type": "file",
                "size": len(REWRITTEN),
                "sha256": sha(REWRITTEN),
                "pod_name": "static-web",
            }
        ]
        facts["files"][PATH] = REWRITTEN
        facts["owned"] = {PATH: {"pod": "static-web", "sha256": sha(WROTE)}}
        return facts


def spctl(tmp_path: Path, inv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SPCTL, "-i", str(inv), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )


def test_deploy_refuses_the_changed_node_and_deploys_the_other(tmp_path: Path) -> None:
    upgraded, fresh = UpgradedAgent("my-node1"), FakeAgent("my-node2")
    with FakeNode(upgraded) as n1, FakeNode(fresh) as n2:
        nodes = {"my-node1": n1, "my-node2": n2}
        inv = write_inventory(tmp_path, nodes, ("static-web",))
        done = spctl(tmp_path, inv, "deploy", "--all", "--max-fail", "1")
        dry = spctl(tmp_path, inv, "deploy", "--node", "my-node1", "--dry-run")
        diff = spctl(tmp_path, inv, "diff", "--node", "my-node1")
        status = spctl(tmp_path, inv, "status", "--node", "my-node1", "-o", "json")
        table = spctl(tmp_path, inv, "status", "--node", "my-node1")
    assert done.returncode == 1, done.stdout + done.stderr
    text = done.stderr
    assert f"my-node1: failed: node my-node1: {PATH} changed on node since spctl wrote it" in text
    assert "-    image: nginx:1.27\n+    image: nginx:1.28" in text
    assert "`spctl import static-web --force`" in text
    assert "`spctl deploy static-web --node my-node1 --force`" in text
    assert "spctl: my-node2: done (changed)" in text
    # The table holds the first line; never an apply on the refused node.
    assert "(details on stderr)" in done.stdout
    assert [r["op"] for r in upgraded.requests if r.get("op") == "apply"] == []
    assert [r["op"] for r in fresh.requests if r.get("op") == "apply"] == ["apply"]
    # --dry-run and diff show the refusal as well.
    assert dry.returncode == 1 and "changed on node since spctl wrote it" in dry.stderr
    assert diff.returncode == 2 and "changed on node since spctl wrote it" in diff.stderr
    assert "+    image: nginx:1.28" in diff.stderr
    # status: its own manifest state, in JSON and in the table, with what to do.
    (node,) = json.loads(status.stdout)["nodes"]
    assert [(p["name"], p["manifest"]) for p in node["pods"]] == [("static-web", "changed-on-node")]
    assert any("spctl import static-web --force" in w for w in node["warnings"])
    assert "changed-on-node" in table.stdout


def test_deploy_force_sends_the_update_from_the_sha_on_the_node(tmp_path: Path) -> None:
    upgraded = UpgradedAgent("my-node1")
    with FakeNode(upgraded) as n1:
        inv = write_inventory(tmp_path, {"my-node1": n1}, ("static-web",))
        done = spctl(tmp_path, inv, "deploy", "--node", "my-node1", "--force", "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    (apply,) = [r for r in upgraded.requests if r.get("op") == "apply"]
    (change,) = apply["changes"]
    assert change["action"] == "update" and change["content"] == WROTE
    assert change["expected_sha256"] == sha(REWRITTEN)
    (pod,) = json.loads(done.stdout)["nodes"][0]["pods"]
    assert pod["action"] == "updated"


def test_remove_and_rollback_take_force_too(tmp_path: Path) -> None:
    upgraded = UpgradedAgent("my-node1")
    with FakeNode(upgraded) as n1:
        inv = write_inventory(tmp_path, {"my-node1": n1}, ("static-web",))
        refused = spctl(tmp_path, inv, "remove", "static-web", "--node", "my-node1")
        forced = spctl(tmp_path, inv, "remove", "static-web", "--node", "my-node1", "--force")
    assert refused.returncode == 1
    assert "spctl will not delete it silently" in refused.stderr, refused.stderr
    assert "`spctl remove static-web --node my-node1 --force` removes it anyway" in refused.stderr
    assert forced.returncode == 0, forced.stdout + forced.stderr
    (apply,) = [r for r in upgraded.requests if r.get("op") == "apply"]
    assert [(c["action"], c["expected_sha256"]) for c in apply["changes"]] == [
        ("remove", sha(REWRITTEN))
    ]


class HostileAgent(UpgradedAgent):
    """The node's file holds escape sequences (it is whatever someone wrote there)."""

    def facts(self) -> dict:
        facts = super().facts()
        text = REWRITTEN + "# \x1b[2J\x1b]0;owned\x07\n"
        facts["files"][PATH] = text
        facts["dirs"]["/etc/kubelet.d"]["entries"][0]["sha256"] = sha(text)
        return facts


def test_the_diff_of_the_nodes_file_reaches_the_terminal_inert(tmp_path: Path) -> None:
    with FakeNode(HostileAgent("my-node1")) as n1:
        inv = write_inventory(tmp_path, {"my-node1": n1}, ("static-web",))
        done = spctl(tmp_path, inv, "deploy", "--node", "my-node1")
        diff = spctl(tmp_path, inv, "diff", "--node", "my-node1")
    assert done.returncode == 1 and diff.returncode == 2
    for out in (done.stdout + done.stderr, diff.stdout + diff.stderr):
        assert "\x1b" not in out and "\x07" not in out
        assert "+# \\x1b[2J\\x1b]0;owned\\x07" in out

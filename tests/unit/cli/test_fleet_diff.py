"""A change to a group re-renders every node whose templates read it, and `spctl diff` shows it:
lb1's load balancer lists the control-plane group's members; lb1 runs what spctl wrote for the
group as it was (cp1, cp2, cp3). Taking cp3 out of the group changes lb1's rendering, although
nothing of lb1 itself changed, and `spctl diff --node lb1` shows the line that goes away. Only
lb1 is served (tests.fakes.ssh_server); the control-plane nodes are never contacted.
"""

from __future__ import annotations

import copy
import hashlib
import subprocess
from pathlib import Path

from spctl.desired.inventory import load_inventory
from spctl.desired.render import render_node
from tests.fakes.agent import FakeAgent
from tests.fakes.cli import SPCTL
from tests.fakes.ssh_server import FakeNode, client_key

PATH = "/etc/kubelet.d/lb.yaml"
TEMPLATE = """\
apiVersion: v1
kind: Pod
metadata:
  name: lb
  annotations:
    example.com/upstreams: |
{%- for n in groups['control-plane'] %}
      server {{ n }} {{ nodes[n].address }}:6443
{%- endfor %}
spec:
  containers:
    - name: lb
      image: haproxy:3.0
"""


def write_inventory(tmp_path: Path, lb1: FakeNode, members: str) -> Path:
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "lb.yaml.j2").write_text(TEMPLATE)
    known = tmp_path / "known_hosts"
    known.write_text(lb1.known_hosts_line())
    key = client_key(tmp_path)
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "templates: templates\n"
        f"groups:\n  control-plane:\n    members: {members}\n"
        "  lb:\n    members: [lb1]\n    pods: [lb]\n"
        "nodes:\n"
        "  cp1: {address: 10.0.0.1}\n  cp2: {address: 10.0.0.2}\n  cp3: {address: 10.0.0.3}\n"
        f"  lb1:\n    address: 127.0.0.1\n"
        f"    ssh: {{port: {lb1.port}, user: root, key: {key}, known_hosts: {known}}}\n"
    )
    return inventory


class WroteAgent(FakeAgent):
    """lb1, running the lb.yaml spctl wrote (``content``), unchanged since."""

    content = ""

    def facts(self) -> dict:
        facts = copy.deepcopy(super().facts())
        sha = hashlib.sha256(self.content.encode()).hexdigest()
        facts["dirs"]["/etc/kubelet.d"]["entries"] = [
            {
                "name": "lb.yaml",
                "type": "file",
                "size": len(self.content),
                "sha256": sha,
                "pod_name": "lb",
            }
        ]
        facts["files"][PATH] = self.content
        facts["owned"] = {PATH: {"pod": "lb", "sha256": sha}}
        return facts


def diff(tmp_path: Path, inventory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SPCTL, "-i", str(inventory), "diff", "--node", "lb1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )


def test_taking_a_node_out_of_a_group_shows_in_the_diff_of_the_nodes_that_read_it(
    tmp_path: Path,
) -> None:
    agent = WroteAgent("lb1")
    with FakeNode(agent) as lb1:
        inventory = write_inventory(tmp_path, lb1, "[cp1, cp2, cp3]")
        inv = load_inventory(inventory, ssh_config=tmp_path / "none")
        (wrote,) = render_node(inv.nodes["lb1"], inv.fleet)
        agent.content = wrote.content
        agent.set_pod("lb")
        unchanged = diff(tmp_path, inventory)
        write_inventory(tmp_path, lb1, "[cp1, cp2]")
        changed = diff(tmp_path, inventory)
    assert "server cp3 10.0.0.3:6443" in wrote.content
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert "# lb1: lb: update" in changed.stdout
    assert "\n-      server cp3 10.0.0.3:6443\n" in changed.stdout
    assert "server cp2 10.0.0.2:6443" in changed.stdout  # context: the members that stay
    assert "+    server" not in changed.stdout
    assert not [r for r in agent.requests if r.get("op") == "apply"]  # diff changes nothing

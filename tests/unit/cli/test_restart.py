"""``spctl restart`` through the CLI, on nodes served by tests.fakes.ssh_server: the apply it
sends (an update of spctl's file to the node's manifest plus the restart annotation), the
nodes it picks, --dry-run, -o json, the exit codes, a failure (rolled back by the agent),
and a later deploy that sends nothing."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import subprocess
from pathlib import Path

from tests.fakes.agent import FakeAgent, write_inventory
from tests.fakes.cli import SPCTL
from tests.fakes.ssh_server import FakeNode

PATH = "/etc/kubelet.d/static-web.yaml"
# What write_inventory's template renders for static-web, as deploy wrote it.
WROTE = (
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: static-web\nspec:\n  containers:\n"
    "  - name: web\n    image: nginx:1.27\n"
)
ANNOTATION = "spctl.io/restarted-at"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class DeployedAgent(FakeAgent):
    """A node where spctl deployed static-web (its file, recorded as spctl's); an apply
    writes the changes' content and records it, as the agent does."""

    def __init__(self, hostname: str, content: str | None = WROTE) -> None:
        super().__init__(hostname)
        self.content = content
        self.set_pod("static-web")

    def facts(self) -> dict:
        facts = copy.deepcopy(super().facts())
        if self.content is not None:
            facts["dirs"]["/etc/kubelet.d"]["entries"] = [
                {
                    "name": "static-web.yaml",
                    "type": "file",
                    "size": len(self.content),
                    "sha256": sha(self.content),
                    "pod_name": "static-web",
                }
            ]
            facts["files"][PATH] = self.content
            facts["owned"] = {PATH: {"pod": "static-web", "sha256": sha(self.content)}}
        return facts

    def apply(self, request: dict) -> dict:
        answer = super().apply(request)
        if self.apply_error is None:
            for change in request["changes"]:
                self.content = change["content"]
        return answer


def spctl(tmp_path: Path, inv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SPCTL, "-i", str(inv), *args], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )


def applies(agent: FakeAgent) -> list[dict]:
    return [r for r in agent.requests if r.get("op") == "apply"]


def test_restart_updates_each_node_to_its_manifest_plus_the_annotation(tmp_path: Path) -> None:
    a1, a2 = DeployedAgent("my-node1"), DeployedAgent("my-node2")
    with FakeNode(a1) as n1, FakeNode(a2) as n2:
        inv = write_inventory(tmp_path, {"my-node1": n1, "my-node2": n2}, ("static-web",))
        done = spctl(tmp_path, inv, "restart", "static-web", "-o", "json")
        deploy = spctl(tmp_path, inv, "deploy", "--all", "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    stamps = set()
    for agent in (a1, a2):
        (apply,) = applies(agent)
        (change,) = apply["changes"]
        assert change["action"] == "update" and change["pod"] == "static-web"
        assert change["expected_sha256"] == sha(WROTE)
        stamp = re.search(f"{ANNOTATION}: (.*)\n", change["content"]).group(1)  # type: ignore[union-attr]
        assert re.fullmatch(r"'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ'", stamp), stamp
        assert change["content"] == WROTE.replace(
            "  name: static-web\n",
            f"  name: static-web\n  annotations:\n    {ANNOTATION}: {stamp}\n",
        )
        stamps.add(stamp)
    assert len(stamps) == 1  # one time for the whole run
    nodes = json.loads(done.stdout)["nodes"]
    assert [(n["name"], n["ok"], n["changed"]) for n in nodes] == [
        ("my-node1", True, True),
        ("my-node2", True, True),
    ]
    assert [p["action"] for n in nodes for p in n["pods"]] == ["restarted", "restarted"]
    # The later deploy renders the pod without the annotation: no change, no apply.
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    assert [len(applies(a)) for a in (a1, a2)] == [1, 1]
    after = json.loads(deploy.stdout)["nodes"]
    assert [(n["changed"], [p["action"] for p in n["pods"]]) for n in after] == [
        (False, ["unchanged"]),
        (False, ["unchanged"]),
    ]


def test_dry_run_shows_the_annotation_and_changes_nothing(tmp_path: Path) -> None:
    agent = DeployedAgent("my-node1")
    with FakeNode(agent) as n1:
        inv = write_inventory(tmp_path, {"my-node1": n1}, ("static-web",))
        dry = spctl(tmp_path, inv, "restart", "static-web", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert applies(agent) == []
    assert "would change" in dry.stdout and "static-web: restart" in dry.stdout
    assert f"+  annotations:\n+    {ANNOTATION}: '" in dry.stdout


def test_only_the_nodes_the_inventory_runs_the_pod_on(tmp_path: Path) -> None:
    a1, a2 = DeployedAgent("my-node1"), DeployedAgent("my-node2")
    with FakeNode(a1) as n1, FakeNode(a2) as n2:
        inv = write_inventory(tmp_path, {"my-node1": n1, "my-node2": n2}, ("static-web",))
        # my-node2 runs another pod per the inventory.
        text = inv.read_text().replace("pods: [static-web]", "pods: []")
        text = text.replace("  my-node1:\n", "  my-node1:\n    pods: [static-web]\n")
        text = text.replace("  my-node2:\n", "  my-node2:\n    pods: [other]\n")
        inv.write_text(text)
        (tmp_path / "templates" / "other.yaml.j2").write_text(WROTE.replace("static-web", "other"))
        default = spctl(tmp_path, inv, "restart", "static-web")
        everywhere = spctl(tmp_path, inv, "restart", "static-web", "--all")
        elsewhere = spctl(tmp_path, inv, "restart", "static-web", "--node", "my-node2")
        unknown = spctl(tmp_path, inv, "restart", "nope")
        bad = spctl(tmp_path, inv, "restart", "Bad_Name")
    assert default.returncode == 0, default.stdout + default.stderr
    assert everywhere.returncode == 0, everywhere.stdout + everywhere.stderr
    assert len(applies(a1)) == 2 and a2.requests == []  # never even connected to
    assert "my-node2" not in default.stdout
    for refused in (elsewhere, unknown):
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "not assigned to any selected node" in refused.stderr
    assert bad.returncode == 2 and "POD" in bad.stderr


def test_a_node_without_the_pod_fails_and_the_other_is_restarted(tmp_path: Path) -> None:
    bare, deployed = DeployedAgent("my-node1", content=None), DeployedAgent("my-node2")
    with FakeNode(bare) as n1, FakeNode(deployed) as n2:
        inv = write_inventory(tmp_path, {"my-node1": n1, "my-node2": n2}, ("static-web",))
        done = spctl(tmp_path, inv, "restart", "static-web", "--max-fail", "1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "node my-node1: pod 'static-web' is not deployed on this node "
        f"({PATH} does not exist): nothing to restart; `spctl deploy static-web --node "
        "my-node1` deploys it"
    ) in done.stderr
    assert applies(bare) == [] and len(applies(deployed)) == 1


def test_a_changed_on_node_file_is_refused(tmp_path: Path) -> None:
    class Edited(DeployedAgent):
        def facts(self) -> dict:
            facts = super().facts()
            facts["owned"][PATH]["sha256"] = sha("what spctl wrote before the edit")
            return facts

    agent = Edited("my-node1")
    with FakeNode(agent) as n1:
        inv = write_inventory(tmp_path, {"my-node1": n1}, ("static-web",))
        done = spctl(tmp_path, inv, "restart", "static-web")
    assert done.returncode == 1
    assert f"node my-node1: {PATH} changed on node since spctl wrote it" in done.stderr
    assert "`spctl deploy static-web --node my-node1 --force`" in done.stderr
    assert applies(agent) == []


def test_a_new_pod_that_fails_is_reported_failed(tmp_path: Path) -> None:
    agent = DeployedAgent("my-node1")
    agent.apply_error = "static-web: not ready within 300s; rolled back"
    with FakeNode(agent) as n1:
        inv = write_inventory(tmp_path, {"my-node1": n1}, ("static-web",))
        done = spctl(tmp_path, inv, "restart", "static-web", "-o", "json")
    assert done.returncode == 1
    (node,) = json.loads(done.stdout)["nodes"]
    assert node["ok"] is False and "rolled back" in node["error"]
    assert [(p["action"], p["ok"]) for p in node["pods"]] == [("failed", False)]
    assert agent.content == WROTE  # the file the agent put back
